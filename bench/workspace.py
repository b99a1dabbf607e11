"""The workspace on a real server: what listing and adding large files cost, and what that
does to a reply streaming to another client meanwhile.

A server and the bench upstream in their own processes; one client fills the workspace
with FILES files of SIZE kilobytes of prose (benched: listed, not sent), then calls
``ws_list`` ROUNDS times while a second client streams a reply paced at a chunk every
5 ms. The figures: ``ws_add``'s and ``ws_list``'s latency, and the longest gap between
two chunks of that reply (the event loop is one: what a listing holds it for, every
stream waits).

    .venv/bin/python bench/workspace.py [--files 20] [--size 400] [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from _harness import PASSPHRASE, PROFILE, Processes
from chatthy.client.core import Client
from chatthy.wire.signing import derive_key

PROSE = "The giraffe is a large African hoofed mammal that lives in the savanna. "


async def stream_gaps(
    client: Client, flowing: asyncio.Event, done: asyncio.Event
) -> list[tuple[float, float]]:
    """(when, seconds since the one before) for the chunks of a reply paced at one chunk
    every 5 ms, from its first chunk (``flowing`` is set then) until ``done``."""
    stream, _ = await client.start("chat", "streaming", text="bench 20000 0.005")
    gaps: list[tuple[float, float]] = []
    last = 0.0
    async for event in stream.events():
        now = time.perf_counter()
        if event.kind == "text":
            if flowing.is_set():
                gaps.append((now, now - last))
            flowing.set()
            last = now
        if done.is_set():
            await client.call("cancel", chat="streaming")
            break
    return gaps


def longest(gaps: list[tuple[float, float]], start: float, end: float) -> float:
    """The longest gap that ended between ``start`` and ``end``, in ms."""
    return 1000 * max((gap for when, gap in gaps if start <= when <= end), default=0.0)


async def run(files: int, size: int, rounds: int) -> None:
    key = derive_key(PASSPHRASE, PROFILE)
    with Processes() as procs:
        worker = Client(procs.address, PROFILE, key, timeout=120)
        streamer = Client(procs.address, PROFILE, key, timeout=120)
        worker.connect()
        streamer.connect()
        flowing, done = asyncio.Event(), asyncio.Event()
        gaps_task = asyncio.create_task(stream_gaps(streamer, flowing, done))
        await flowing.wait()
        text = PROSE * (size * 1024 // len(PROSE))
        added, listed = [], []
        adding = time.perf_counter()
        for i in range(files):
            started = time.perf_counter()
            await worker.call("ws_add", name=f"doc-{i}.md", text=f"{i}\n{text}")
            added.append(time.perf_counter() - started)
            await worker.call("ws_bench", name=f"doc-{i}.md")  # listed, not sent
        listing = time.perf_counter()
        for _ in range(rounds):
            started = time.perf_counter()
            await worker.call("ws_list")
            listed.append(time.perf_counter() - started)
        ended = time.perf_counter()
        done.set()
        gaps = await gaps_task
        await worker.aclose()
        await streamer.aclose()
    ms = 1000
    print(f"workspace: {files} files of {size} KB, a stream of a chunk per 5 ms meanwhile")
    print(f"  ws_add   median {statistics.median(added) * ms:7.1f} ms", end="")
    print(f"   stream's longest gap meanwhile {longest(gaps, adding, listing):7.1f} ms")
    print(f"  ws_list  median {statistics.median(listed) * ms:7.1f} ms", end="")
    print(f"   stream's longest gap meanwhile {longest(gaps, listing, ended):7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--size", type=int, default=400, help="kilobytes per file")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(run(args.files, args.size, args.rounds))


if __name__ == "__main__":
    main()
