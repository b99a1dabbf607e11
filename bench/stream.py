"""Streaming benchmark: K clients × one reply of N stamped chunks each, through chatthy.

The fake upstream (tests/upstream.py) and the chatthy server (``python -m chatthy serve``)
each run in their own process; the clients run here. Every chunk the upstream sends is
its emit time, so each client can tell the added latency, the order and what is lost
(a text event the server merged carries several stamps). The ceiling is the same
upstream read by one process with the ``openai`` SDK's raw streaming response and
msgspec, with no chatthy in between.

    python bench/stream.py                       # the default scenarios (~1.5 min)
    python bench/stream.py --clients 50 --chunks 500 --delay 0 --reps 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _harness import BENCH, PASSPHRASE, PROFILE, Processes, cpu_seconds
from chatthy.client.core import Client
from chatthy.wire.signing import SigningKey, derive_key


@dataclass
class Seen:
    """What one client saw of one reply."""

    stamps: int = 0
    events: int = 0
    faults: int = 0
    wire_faults: int = 0
    resyncs: int = 0
    latencies: list[float] = field(default_factory=list)
    first: float | None = None
    status: str = ""


def _stamps(text: str) -> list[float]:
    return [float(piece[1:]) for piece in text.split(">") if piece]


async def one_reply(client: Client, chat: str, n: int, delay: float) -> Seen:
    seen = Seen()
    last = 0.0
    started = time.time()
    stream, _ = await client.start("chat", chat, text=f"bench {n} {delay}")
    async for event in stream.events():
        now = time.time()
        seen.events += 1
        if event.kind == "text":
            if seen.first is None:
                seen.first = now - started
            for stamp in _stamps(event.text):
                seen.stamps += 1
                seen.latencies.append(now - stamp)
                if stamp < last:
                    seen.faults += 1
                last = stamp
        elif event.kind == "end":
            seen.status = str((event.data or {}).get("status"))
    seen.wire_faults, seen.resyncs = stream.ordering_faults, stream.resyncs
    return seen


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def chatthy_rep(
    clients: list[Client], server_pid: int, n: int, delay: float, tag: str
) -> dict[str, float]:
    cpu0 = cpu_seconds(server_pid)
    t0 = time.perf_counter()
    seen = await asyncio.gather(
        *(one_reply(c, f"{tag}-{i}", n, delay) for i, c in enumerate(clients))
    )
    wall = time.perf_counter() - t0
    cpu = cpu_seconds(server_pid) - cpu0
    latencies = [x for s in seen for x in s.latencies]
    firsts = sorted(s.first for s in seen if s.first is not None)
    stamps = sum(s.stamps for s in seen)
    sent = n * len(clients)
    return {
        "chunks_per_s": stamps / wall,
        "p50_ms": pct(latencies, 50) * 1000,
        "p99_ms": pct(latencies, 99) * 1000,
        "ttft_first_ms": firsts[0] * 1000 if firsts else float("nan"),
        "ttft_last_ms": firsts[-1] * 1000 if firsts else float("nan"),
        "cpu_per_1k": cpu / (sent / 1000),
        "faults": sum(s.faults for s in seen),
        "lost": sent - stamps,
        "wire_reorders": sum(s.wire_faults for s in seen),
        "resyncs": sum(s.resyncs for s in seen),
        "events_per_reply": statistics.mean(s.events for s in seen),
        "not_complete": sum(s.status != "complete" for s in seen),
        "wall_s": wall,
    }


async def chatthy_scenario(
    procs: Processes, key: SigningKey, k: int, n: int, delay: float, reps: int, name: str
) -> list[dict[str, float]]:
    clients = [Client(procs.address, PROFILE, key, timeout=60) for _ in range(k)]
    for c in clients:
        c.connect()
    try:
        await asyncio.gather(*(c.call("status") for c in clients))
        await chatthy_rep(clients[: min(k, 10)], procs.server.pid, 50, 0.0, f"{name}-warm")
        runs = []
        for rep in range(reps):
            runs.append(await chatthy_rep(clients, procs.server.pid, n, delay, f"{name}-{rep}"))
        return runs
    finally:
        for c in clients:
            await c.aclose()


# --- the ceiling: the upstream read directly, no chatthy ------------------------------


async def direct_rep(k: int, n: int, delay: float, base_url: str) -> dict[str, float]:
    import msgspec
    import openai

    decode = msgspec.json.Decoder(dict[str, Any]).decode
    client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0)

    async def read() -> tuple[int, list[float]]:
        count, latencies = 0, []
        async with client.chat.completions.with_streaming_response.create(
            model="bench-model",
            messages=[{"role": "user", "content": f"bench {n} {delay}"}],
            stream=True,
        ) as response:
            async for line in response.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                now = time.time()
                for choice in decode(line[6:]).get("choices") or []:
                    for stamp in _stamps((choice.get("delta") or {}).get("content") or ""):
                        count += 1
                        latencies.append(now - stamp)
        return count, latencies

    await asyncio.gather(*(read() for _ in range(min(k, 10))))
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    results = await asyncio.gather(*(read() for _ in range(k)))
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    await client.close()
    stamps = sum(c for c, _ in results)
    latencies = [x for _, lat in results for x in lat]
    return {
        "chunks_per_s": stamps / wall,
        "p50_ms": pct(latencies, 50) * 1000,
        "p99_ms": pct(latencies, 99) * 1000,
        "cpu_per_1k": cpu / (stamps / 1000),
        "lost": k * n - stamps,
    }


def direct_scenario(procs: Processes, k: int, n: int, delay: float, reps: int) -> list[Any]:
    """Each repetition in a fresh process, so that nothing of the bench shares its GIL."""
    runs = []
    for _ in range(reps):
        out = subprocess.run(
            [
                *(sys.executable, str(BENCH / "stream.py"), "--direct", procs.upstream_url),
                *("--clients", str(k), "--chunks", str(n), "--delay", str(delay)),
            ],
            check=True,
            capture_output=True,
        )
        runs.append(json.loads(out.stdout))
    return runs


# --- report -----------------------------------------------------------------------------


def median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def report(title: str, runs: list[dict[str, float]], keys: list[str]) -> dict[str, float]:
    medians = {key: median(runs, key) for key in keys}
    print(f"\n{title}  (median of {len(runs)})")
    for key in keys:
        spread = ", ".join(f"{r[key]:.4g}" for r in runs)
        print(f"  {key:<17} {medians[key]:>10.4g}   [{spread}]")
    return medians


CHATTHY_KEYS = [
    "chunks_per_s",
    "p50_ms",
    "p99_ms",
    "ttft_first_ms",
    "ttft_last_ms",
    "cpu_per_1k",
    "faults",
    "lost",
    "wire_reorders",
    "resyncs",
    "events_per_reply",
    "not_complete",
]
DIRECT_KEYS = ["chunks_per_s", "p50_ms", "p99_ms", "cpu_per_1k", "lost"]


async def run(args: argparse.Namespace) -> None:
    key = derive_key(PASSPHRASE, PROFILE)
    with Processes() as procs:
        spy = _py_spy(procs.server.pid, args.py_spy) if args.py_spy else None
        if args.clients is not None:
            scenarios = [("custom", args.clients, args.chunks, args.delay)]
        else:
            scenarios = [
                ("throughput", 50, 500, 0.0),
                ("latency", 10, 400, 0.005),
                ("first-chunk", 10, 20, 0.0),
            ]
        summary = []
        for name, k, n, delay in scenarios:
            label = f"K={k} N={n} delay={delay * 1000:g} ms"
            ceiling = None
            if not args.no_ceiling and (name in ("throughput", "custom")):
                direct = direct_scenario(procs, k, n, delay, args.reps)
                ceiling = report(f"[{name}] direct ceiling, {label}", direct, DIRECT_KEYS)
            reps = args.reps if name != "first-chunk" else max(args.reps, 5)
            runs = await chatthy_scenario(procs, key, k, n, delay, reps, name)
            got = report(f"[{name}] chatthy, {label}", runs, CHATTHY_KEYS)
            if ceiling is not None:
                share = got["chunks_per_s"] / ceiling["chunks_per_s"]
                print(f"  chatthy / ceiling  {share:>10.1%}")
            summary.append((name, label, got, ceiling))
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        errors = [line for line in procs.server_log().splitlines() if "ERROR" in line]
        if errors:
            print("\nserver errors:\n" + "\n".join(errors[:10]))


def _py_spy(pid: int, out: str) -> subprocess.Popen[bytes]:
    """py-spy (not a dependency: ``pip install py-spy``) sampling the server."""
    spy = subprocess.Popen(
        [
            *(str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(pid)),
            *("-o", out, "-f", "raw", "-r", "1000", "--nonblocking"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    return spy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, help="K (with --chunks, --delay)")
    parser.add_argument("--chunks", type=int, default=500, help="N")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between chunks")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--no-ceiling", action="store_true")
    parser.add_argument("--py-spy", metavar="FILE", help="profile the server (collapsed stacks)")
    parser.add_argument("--direct", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.direct:
        result = asyncio.run(direct_rep(args.clients, args.chunks, args.delay, args.direct))
        print(json.dumps(result))
        return
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
