"""The fake upstream of tests/upstream.py in its own process, scripted by the message.

A user message ``bench N D`` gets a reply of N one-character chunks, each stamped with
its emit time, D seconds apart (0: as fast as the upstream can send). Any other message
gets ``--default-chunks`` plain word chunks. Prints the base URL, then serves until killed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from upstream import Reply, Upstream, _last_user_text


class BenchUpstream(Upstream):
    """Answers every chat request from its text instead of a pushed script."""

    default_chunks = 200

    def _next_reply(self, body: Any) -> Reply:
        words = _last_user_text(body).split()
        if len(words) == 3 and words[0] == "bench":
            n, delay = int(words[1]), float(words[2])
            return Reply(chunks=["."] * n, stamp=True, delay=delay, usage=(1, n))
        return Reply(chunks=["word "] * self.default_chunks, usage=(1, self.default_chunks))


def main() -> None:
    parser = argparse.ArgumentParser(description="bench upstream")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--default-chunks", type=int, default=200)
    args = parser.parse_args()
    upstream = BenchUpstream()
    upstream.default_chunks = args.default_chunks
    upstream.requests = _Forgetful()
    upstream.serve_forever(args.port)


class _Forgetful(list[Any]):
    """A benchmark sends thousands of requests: keep none of them."""

    def append(self, item: Any) -> None:
        pass


if __name__ == "__main__":
    main()
