"""Routing a streamed reply's reasoning, and its stored text at every checkpoint.

The turn engine feeds each chunk to a ``ThinkSplitter`` and, at every checkpoint (about
every second) and at the end, saves the reply less its reasoning. The old way re-scans
the whole reply each time (``strip_think("".join(raw))``); the new way asks the splitter
for what it already routed (``stored_text()``). Two replies full of ``<``, which is what
made the scan slow (every ``<`` copied the rest of the buffer):

- (a) 5,000 chunks ``<b>x</b> `` each, a checkpoint every 100 chunks;
- (b) 32 KB of HTML after a short ``<think>`` block, in 4-character chunks, a checkpoint
  every 100 chunks.

For each: feeding alone, the old and the new way (feed + checkpoints + end), and one
``strip_think`` of the whole reply. Medians of ``--runs`` runs, in-process, no server.
On code without ``stored_text()`` (the "before" code) the new way is skipped.

    python bench/think.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from chatthy.context import ThinkSplitter, strip_think

EVERY = 100


def tags_chunks() -> list[str]:
    return ["<b>x</b> "] * 5000


def html_chunks() -> list[str]:
    row = '<tr><td class="n">{i}</td><td><a href="#r{i}">row {i}</a> <em>ok</em></td></tr>\n'
    body = "".join(row.format(i=i) for i in range(500))
    html = "<think>Lay it out as a table.</think>\n<table>\n" + body + "</table>\n"
    html = html[: 32 * 1024]
    return [html[i : i + 4] for i in range(0, len(html), 4)]


def feed_only(chunks: list[str]) -> None:
    splitter = ThinkSplitter()
    for chunk in chunks:
        splitter.feed(chunk)
    splitter.flush()


def old_way(chunks: list[str]) -> str:
    """What ``_Reply`` did: keep the raw pieces, strip the joined reply each time."""
    raw: list[str] = []
    splitter = ThinkSplitter()
    for n, chunk in enumerate(chunks, 1):
        raw.append(chunk)
        splitter.feed(chunk)
        if n % EVERY == 0:
            strip_think("".join(raw))
    splitter.flush()
    return strip_think("".join(raw))


def new_way(chunks: list[str]) -> str:
    splitter = ThinkSplitter()
    for n, chunk in enumerate(chunks, 1):
        splitter.feed(chunk)
        if n % EVERY == 0:
            splitter.stored_text()
    splitter.flush()
    return splitter.stored_text()


def median_ms(run: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def scenario(name: str, chunks: list[str], runs: int) -> None:
    whole = "".join(chunks)
    print(f"{name}: {len(chunks):,} chunks, {len(whole):,} characters")
    rows: list[tuple[str, Callable[[], object]]] = [
        ("feed + flush only", lambda: feed_only(chunks)),
        (f"old: + strip_think(joined) every {EVERY}", lambda: old_way(chunks)),
    ]
    if hasattr(ThinkSplitter, "stored_text"):
        assert new_way(chunks) == old_way(chunks)
        rows.append((f"new: + stored_text() every {EVERY}", lambda: new_way(chunks)))
    rows.append(("strip_think(whole reply) once", lambda: strip_think(whole)))
    for label, run in rows:
        print(f"  {label:<40} {median_ms(run, runs):9.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    scenario("(a) <b>x</b> chunks", tags_chunks(), args.runs)
    scenario("(b) HTML, 4-character chunks", html_chunks(), args.runs)


if __name__ == "__main__":
    main()
