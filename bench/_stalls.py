"""The ``stalls`` part of ``bench/abuse.py``: what one client's long requests cost the
others. The fake upstream and the chatthy server each run in their own process.

While one profile runs, over and over, a 4 MB ``import``, a ``search``
  over its 60,000 messages and a ``messages`` page of the largest allowed size, another
  profile streams a reply of chunks 5 ms apart and asks ``status`` every 20 ms. Prints
  the stream's largest gap between events and ``status``'s latency (p50, p99, max); the
  issue asks for no gap over 50 ms and a p99 within 50 ms. The same stream without the
  load is measured first: the floor of this machine (its other processes, the upstream).
  The heavy profile runs in a process of its own, so its JSON and signing do not stall
  the loop that measures.

    python bench/abuse.py --only stalls
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _harness import PASSPHRASE, PROFILE, Processes
from chatthy.client.core import Client
from chatthy.errors import RateLimitedError
from chatthy.wire import api
from chatthy.wire.signing import derive_key

HEAVY = "heavy"
"""The profile whose requests are long."""


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def _messages(n: int, size: int, tag: str) -> list[dict[str, str]]:
    """``n`` messages of about ``size`` characters; every one holds the word ``needle``."""
    filler = "lorem ipsum dolor sit amet consectetur "
    body = (filler * (size // len(filler) + 1))[: max(0, size - 30)]
    return [
        {"role": ("user", "assistant")[i % 2], "content": f"{tag} {i} needle {body}"}
        for i in range(n)
    ]


def _export(n: int, size: int, tag: str) -> str:
    return json.dumps(_messages(n, size, tag))


# stalls ---------------------------------------------------------------------------------
def _heavy(address: str, ready: Any, go: Any, stop: Any, results: Any) -> None:
    """In a process of its own (its JSON and signing must not stall the measuring loop):
    fill the heavy profile with 60,000 messages, say so (``ready``), then on ``go``
    import, search and page over and over until told to ``stop``; puts its timings on
    ``results``."""
    asyncio.run(_heavy_load(address, ready, go, stop, results))


async def _heavy_load(address: str, ready: Any, go: Any, stop: Any, results: Any) -> None:
    page_max = getattr(api, "PAGE_MAX", 100_000)  # older servers: their own largest
    search_max = getattr(api, "SEARCH_MAX", 200)
    clients = [
        Client(address, HEAVY, derive_key("heavy-secret", HEAVY), timeout=120) for _ in range(3)
    ]
    for client in clients:
        client.connect()
    importer, searcher, pager = clients
    ops: dict[str, list[float]] = {"import": [], "search": [], "messages": []}
    try:
        for part in range(3):
            await importer.rpc(
                api.Import(data=_export(20_000, 60, f"hay{part}"), chat=f"hay{part}")
            )
        big = _export(20_000, 150, "big")  # ~3.4 MB of JSON, under max_body
        ready.set()
        await asyncio.to_thread(go.wait)
        n = 0

        async def one_import() -> None:
            nonlocal n
            n += 1
            await importer.rpc(api.Import(data=big, chat=f"big{n}"))

        async def timed(name: str, call: Callable[[], Awaitable[Any]]) -> None:
            while not stop.is_set():
                start = time.perf_counter()
                try:
                    await call()
                except RateLimitedError as exc:  # throttled as any client would be
                    await asyncio.sleep(exc.retry_after or 0.1)
                    continue
                ops[name].append(time.perf_counter() - start)

        await asyncio.gather(
            timed("import", one_import),
            timed("search", lambda: searcher.rpc(api.Search(query="needle", limit=search_max))),
            timed("messages", lambda: pager.rpc(api.Messages(chat="hay0", limit=page_max))),
        )
    finally:
        for client in clients:
            await client.aclose()
        results.put({**ops, "page_max": page_max})


async def _stream_and_ping(
    victim: Client, pinger: Client, seconds: float, chat: str
) -> tuple[str, list[float], list[float]]:
    """Stream a reply of chunks 5 ms apart to ``victim`` while ``pinger`` asks ``status``
    every 20 ms: the stream's end status, its gaps between text events (s), the status
    latencies (ms)."""
    gaps: list[float] = []
    status_ms: list[float] = []
    done = asyncio.Event()

    async def stream() -> str:
        s, _ = await victim.start("chat", chat, text=f"bench {int(seconds / 0.005)} 0.005")
        last: float | None = None
        status = ""
        async for event in s.events():
            now = time.perf_counter()
            if event.kind == "text":
                if last is not None:
                    gaps.append(now - last)
                last = now
            elif event.kind == "end":
                status = str((event.data or {}).get("status"))
        done.set()
        return status

    async def ping() -> None:
        while not done.is_set():
            start = time.perf_counter()
            await pinger.call("status")
            status_ms.append((time.perf_counter() - start) * 1000)
            await asyncio.sleep(0.02)

    pinging = asyncio.create_task(ping())
    ended = await stream()
    await pinging
    return ended, gaps, status_ms


async def stalls(procs: Processes, seconds: float = 6.0) -> dict[str, Any]:
    """See the module docs. Returns the figures it prints."""
    spawn = multiprocessing.get_context("spawn")
    ready, go, stop, results = spawn.Event(), spawn.Event(), spawn.Event(), spawn.Queue()
    heavy = spawn.Process(target=_heavy, args=(procs.address, ready, go, stop, results))
    victim = Client(procs.address, PROFILE, derive_key(PASSPHRASE, PROFILE), timeout=60)
    pinger = Client(procs.address, PROFILE, derive_key(PASSPHRASE, PROFILE), timeout=60)
    for client in (victim, pinger):
        client.connect()
    heavy.start()
    try:
        print("stalls: filling the heavy profile with 60,000 messages …", flush=True)
        await asyncio.to_thread(ready.wait, 300)
        await victim.call("status")
        await pinger.call("status")
        quiet = await _stream_and_ping(victim, pinger, seconds, "quiet")
        go.set()
        await asyncio.sleep(1.0)  # the load is running before the stream starts
        ended, gaps, status_ms = await _stream_and_ping(victim, pinger, seconds, "loaded")
        stop.set()
        ops = await asyncio.to_thread(results.get, True, 300)
        await asyncio.to_thread(heavy.join, 60)
    finally:
        go.set()
        stop.set()
        if heavy.is_alive():
            heavy.terminate()
        for client in (victim, pinger):
            await client.aclose()
    page_max = ops.pop("page_max")
    _, quiet_gaps, quiet_status = quiet

    figures = {
        "stream_status": ended,
        "stream_events": len(gaps) + 1,
        "gap_max_ms": max(gaps, default=float("nan")) * 1000,
        "gap_p99_ms": pct(gaps, 99) * 1000,
        "gaps_over_50ms": sum(g > 0.05 for g in gaps),
        "status_p50_ms": pct(status_ms, 50),
        "status_p99_ms": pct(status_ms, 99),
        "status_max_ms": max(status_ms, default=float("nan")),
        "status_calls": len(status_ms),
        **{f"{name}_runs": len(times) for name, times in ops.items()},
        **{f"{name}_p50_s": pct(times, 50) for name, times in ops.items()},
        "messages_limit": page_max,
        "quiet_gap_max_ms": max(quiet_gaps, default=float("nan")) * 1000,
        "quiet_status_p99_ms": pct(quiet_status, 99),
    }
    print(
        f"stalls: stream {ended}, {figures['stream_events']} events, largest gap"
        f" {figures['gap_max_ms']:.1f} ms (p99 {figures['gap_p99_ms']:.1f} ms,"
        f" {figures['gaps_over_50ms']} over 50 ms)"
    )
    print(
        f"stalls: status p50 {figures['status_p50_ms']:.1f} ms, p99"
        f" {figures['status_p99_ms']:.1f} ms, max {figures['status_max_ms']:.1f} ms"
        f" ({len(status_ms)} calls)"
    )
    print(
        f"stalls: without the load (this machine's floor): largest gap"
        f" {figures['quiet_gap_max_ms']:.1f} ms, status p99 {figures['quiet_status_p99_ms']:.1f} ms"
    )
    print(
        "stalls: meanwhile "
        + ", ".join(
            f"{len(times)} × {name} (median {pct(times, 50) * 1000:.0f} ms)"
            for name, times in ops.items()
        )
        + f"; messages limit {page_max}"
    )
    return figures
