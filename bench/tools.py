"""Chat server CPU per tool step, in-process: what one more round of the tool loop costs.

An Engine in this process (SQLite in a temp dir), the upstream in another process. The
upstream answers ``tools K`` with a call of the tool ``noop`` until the conversation it is
sent holds K tool results, then with a short text. The tool is an async function that
returns at once, so what is measured is the loop's own work for a step: the call parsed,
the tool looked up, its arguments checked, the result emitted and stored, the history
grown, the next request to the provider built and its stream read.

Per step = (CPU of a turn of K steps − CPU of a turn of 0 steps) / K, medians over the
rounds. Also the wall time of a step (the upstream's answer included).

    python bench/tools.py [--rounds 100] [--steps 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _harness import BENCH
from chatthy.agent.tools import Tool
from chatthy.config import ProviderConfig, ServerConfig, ServerSection
from chatthy.conversation.engine import Engine

sys.path.insert(0, str(BENCH.parent / "tests"))


def serve_upstream() -> None:
    from upstream import Reply, Upstream, _last_user_text

    class ToolUpstream(Upstream):
        def _next_reply(self, body: Any) -> Reply:
            messages = body.get("messages", [])
            done = sum(1 for m in messages if m.get("role") == "tool")
            words = _last_user_text(body).split()
            wanted = int(words[1]) if len(words) == 2 and words[0] == "tools" else 0
            if done < wanted:
                return Reply(chunks=[], tool_calls=[(f"c{done}", "noop", '{"n": 1}')])
            return Reply(chunks=["done"], usage=(1, 1))

    upstream = ToolUpstream()
    upstream.requests = []
    upstream.serve_forever(0)


async def noop(n: int) -> str:
    """Do nothing."""
    return "ok"


async def turn(engine: Engine, n: int, steps: int) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    started = await engine.chat(f"t{n}", "bench", f"c{n}", f"tools {steps}")
    assert started.task is not None
    await started.task
    return time.process_time() - cpu, time.perf_counter() - wall


async def measure(url: str, rounds: int, steps: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(prefix="chatthy-bench-") as tmp:
        provider = ProviderConfig(
            scheme="openai", base_url=url + "/v1", api_key="x", model="m", retries=0
        )
        cfg = ServerConfig(
            server=ServerSection(),
            providers={"up": provider},
            config_dir=str(Path(tmp) / "config"),
            data_dir=str(Path(tmp) / "data"),
        )
        engine = await Engine.open(cfg)
        engine.tools.add(Tool.from_function(noop))
        try:
            for n in range(5):  # warm: connections, caches
                await turn(engine, -n - 1, steps)
            out: dict[str, list[float]] = {"cpu0": [], "cpu": [], "wall0": [], "wall": []}
            for n in range(rounds):
                cpu0, wall0 = await turn(engine, 2 * n, 0)
                cpu, wall = await turn(engine, 2 * n + 1, steps)
                out["cpu0"].append(cpu0)
                out["cpu"].append(cpu)
                out["wall0"].append(wall0)
                out["wall"].append(wall)
            return out
        finally:
            await engine.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--upstream", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.upstream:
        serve_upstream()
        return
    proc = subprocess.Popen(
        [sys.executable, __file__, "--upstream"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        figures = asyncio.run(measure(url, args.rounds, args.steps))
    finally:
        proc.terminate()
        proc.wait()
    k = args.steps
    per_cpu = [(c - c0) / k * 1000 for c, c0 in zip(figures["cpu"], figures["cpu0"], strict=True)]
    per_wall = [
        (w - w0) / k * 1000 for w, w0 in zip(figures["wall"], figures["wall0"], strict=True)
    ]
    q = statistics.quantiles(per_cpu, n=10)
    print(f"tool steps: {args.rounds} rounds of a turn with {k} steps and one with none")
    print(f"  turn without tools   CPU ms {statistics.median(figures['cpu0']) * 1000:6.2f}")
    print(f"  turn with {k} steps    CPU ms {statistics.median(figures['cpu']) * 1000:6.2f}")
    print(
        f"  per tool step        CPU ms {statistics.median(per_cpu):6.2f}"
        f"  (p10 {q[0]:.2f}, p90 {q[-1]:.2f})   target ≤ 2 ms"
    )
    print(f"  per tool step        wall ms {statistics.median(per_wall):5.2f}")


if __name__ == "__main__":
    main()
