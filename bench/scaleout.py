"""Scale-out benchmark: several chatthy servers on one PostgreSQL database.

Every server is its own ``python -m chatthy serve`` process on a fresh schema of the
database (``--url``, default the project machines' own), with the upstream of
bench/_upstream.py in another. Three figures:

* **watched from another server**: a client on server A asks for a reply of stamped
  chunks, a client on server B watches the same chat. Each chunk carries its upstream
  emit time, so both clients know its latency; the *added* latency is B's minus A's
  for the same chunk (the batch, its NOTIFY, B's read). Target p99 ≤ 150 ms. Also the
  chunks/s B keeps up with when the upstream sends as fast as it can.
* **failover**: a client session lists A and B (``servers``), has a chat open, and A is
  killed; the time until the session works on B (target < 2 s).
* **2 servers vs 1**: K clients × one reply each, all on one server, then spread over
  two; total chunks/s (on these 2 cores the upstream, the servers and the clients share
  the machine, so this says what a second process buys here, not on two machines).

    python bench/scaleout.py                 # all three (~1 min)
    python bench/scaleout.py --only watched --reps 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import quote

from _harness import BENCH, PASSPHRASE, PROFILE, Processes, cpu_seconds, free_port, wait_listening
from chatthy.client.core import Client
from chatthy.wire.signing import SigningKey, derive_key
from stream import _stamps, one_reply, pct

sys.path.insert(0, str(BENCH.parent / "tests"))  # the tests' recording front end

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


@contextlib.contextmanager
def schema(url: str) -> Iterator[str]:
    """A fresh schema for the run, as the URL that uses it; dropped at the end."""
    import psycopg

    name = f"chatthy_bench_{secrets.token_hex(4)}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    try:
        options = quote(f"-c search_path={name}", safe="")
        yield f"{url}{'&' if '?' in url else '?'}options={options}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


class Cluster(Processes):
    """The upstream and ``n`` servers on one database."""

    def __init__(self, store_url: str, n: int) -> None:
        self.store_url = store_url
        super().__init__()
        self.addresses = [self.address]
        self.servers = [self.server]
        for _ in range(n - 1):
            self.add_server()

    def env(self) -> dict[str, str]:
        env = super().env()
        if self.store_url:  # else the SQLite file, for comparison
            env["CHATTHY_STORE_URL"] = self.store_url
        return env

    def __enter__(self) -> Cluster:
        return self

    def add_server(self) -> subprocess.Popen[bytes]:
        address = f"tcp://127.0.0.1:{free_port()}"
        log_path = self.home / f"server-{len(self.servers)}.log"
        log = open(log_path, "wb")  # noqa: SIM115 - lives as long as the server
        proc = subprocess.Popen(
            [sys.executable, "-m", "chatthy", "serve", "--listen", address],
            env=self.env(),
            stderr=log,
            stdout=log,
        )
        self.procs.append(proc)
        wait_listening(proc, log_path)
        self.addresses.append(address)
        self.servers.append(proc)
        return proc


def connected(address: str, key: SigningKey) -> Client:
    client = Client(address, PROFILE, key, timeout=60)
    client.connect()
    return client


# --- watched from another server ------------------------------------------------------


async def watch(client: Client, chat: str) -> dict[float, float]:
    """Stamp → the moment this client saw it, for the next reply of ``chat``."""
    stream = await asyncio.wait_for(client.incoming.get(), 30)
    seen: dict[float, float] = {}
    async for event in stream.events():
        now = time.time()
        if event.kind == "text":
            for stamp in _stamps(event.text):
                seen[stamp] = now
    return seen


async def stamped(client: Client, chat: str, n: int, delay: float) -> dict[float, float]:
    seen: dict[float, float] = {}
    stream, _ = await client.start("chat", chat, text=f"bench {n} {delay}")
    async for event in stream.events():
        now = time.time()
        if event.kind == "text":
            for stamp in _stamps(event.text):
                seen[stamp] = now
    return seen


async def watched(store_url: str, key: SigningKey, reps: int, n: int, delay: float) -> None:
    with Cluster(store_url, 2) as cluster:
        on_a = connected(cluster.addresses[0], key)
        on_b = connected(cluster.addresses[1], key)
        rows = []
        try:
            for rep in range(reps + 1):  # the first warms up
                chat = f"watched-{n}-{delay}-{rep}"
                await on_a.call("new", chat=chat)
                await on_b.attach(chat)
                t0 = time.perf_counter()
                mine, theirs = await asyncio.gather(
                    stamped(on_a, chat, n, delay), watch(on_b, chat)
                )
                wall = time.perf_counter() - t0
                added = [theirs[s] - mine[s] for s in mine if s in theirs]
                a_lat = [mine[s] - s for s in mine]
                b_lat = [theirs[s] - s for s in theirs]
                if rep:
                    rows.append(
                        {
                            "a_p99_ms": pct(a_lat, 99) * 1000,
                            "b_p50_ms": pct(b_lat, 50) * 1000,
                            "b_p99_ms": pct(b_lat, 99) * 1000,
                            "added_p50_ms": pct(added, 50) * 1000,
                            "added_p99_ms": pct(added, 99) * 1000,
                            "b_chunks_per_s": len(theirs) / wall,
                            "lost_on_b": n - len(theirs),
                        }
                    )
        finally:
            await on_a.aclose()
            await on_b.aclose()
    label = f"reply of {n} chunks, {delay * 1000:g} ms apart, asked on A, watched on B"
    show(label, rows)


# --- failover -------------------------------------------------------------------------


async def failover(store_url: str, key: SigningKey, reps: int) -> None:
    """A session on [A, B] with a chat open; A killed; until the session says it moved
    and shows the chat again (the tests' recording front end stands for a window)."""
    from chatthy.client.session import Session
    from sessionkit import Recorder

    times = []
    for _ in range(reps):
        with Cluster(store_url, 2) as cluster:
            first, second = cluster.addresses
            client = Client(first, PROFILE, key, addresses=[first, second], timeout=5)
            client.connect()
            view = Recorder()
            session = Session(client, view, f"moving-{time.time()}")
            try:
                await session.start()
                await session.send("bench 20 0")
                await session.wait_reply(session.started)
                await asyncio.sleep(0.5)
                cluster.servers[0].kill()
                killed = time.perf_counter()
                shown = len(view.statuses)
                while f"moved to {second}" not in view.statuses[shown:]:
                    await asyncio.sleep(0.005)
                times.append(time.perf_counter() - killed)
            finally:
                await session.close()
    print(f"\nfailover: A killed → the session works on B  (median of {len(times)})")
    runs = ", ".join(f"{t * 1000:.0f}" for t in times)
    print(f"  {statistics.median(times) * 1000:8.0f} ms   (target < 2000; each: {runs})")


# --- 2 servers vs 1 ------------------------------------------------------------------


async def throughput(store_url: str, key: SigningKey, k: int, n: int, reps: int) -> None:
    """K replies at once on one server, then spread over two; one server on its SQLite
    file for comparison (no events written to a database)."""
    setups = {"1 server, SQLite": ("", 1), "1 server": (store_url, 1), "2 servers": (store_url, 2)}
    results: dict[str, list[float]] = {name: [] for name in setups}
    cpu: dict[str, float] = {}
    for name, (url, servers) in setups.items():
        with Cluster(url, servers) as cluster:
            clients = [connected(cluster.addresses[i % servers], key) for i in range(k)]
            try:
                await asyncio.gather(
                    *(one_reply(c, f"warm-{i}", 50, 0) for i, c in enumerate(clients))
                )
                used = sum(cpu_seconds(p.pid) for p in cluster.servers)
                for rep in range(reps):
                    t0 = time.perf_counter()
                    seen = await asyncio.gather(
                        *(one_reply(c, f"t-{rep}-{i}", n, 0) for i, c in enumerate(clients))
                    )
                    wall = time.perf_counter() - t0
                    results[name].append(sum(s.stamps for s in seen) / wall)
                used = sum(cpu_seconds(p.pid) for p in cluster.servers) - used
                cpu[name] = used / (reps * k * n / 1000)
            finally:
                for c in clients:
                    await c.aclose()
    base = statistics.median(results["1 server"])
    print(f"\n{k} clients × {n} chunks, all at once  (median of {reps})")
    for name, runs in results.items():
        rate = statistics.median(runs)
        print(
            f"  {name:17} {rate:10.0f} chunks/s  ({rate / base:.2f}×)"
            f"   servers' CPU {cpu[name] * 1000:5.1f} ms per 1,000 chunks"
        )


# --- report -----------------------------------------------------------------------------


def show(title: str, rows: list[dict[str, float]]) -> None:
    print(f"\n{title}  (median of {len(rows)})")
    for key in rows[0]:
        print(f"  {key:18} {statistics.median(r[key] for r in rows):10.1f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("CHATTHY_TEST_POSTGRES", DEFAULT_URL))
    parser.add_argument("--only", choices=("watched", "failover", "throughput"), action="append")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    only = set(args.only or ("watched", "failover", "throughput"))
    key = derive_key(PROFILE, PASSPHRASE)
    with schema(args.url) as store_url:
        if "watched" in only:
            await watched(store_url, key, args.reps, 1000, 0.005)
            await watched(store_url, key, args.reps, 5000, 0.0)
        if "failover" in only:
            await failover(store_url, key, args.reps)
        if "throughput" in only:
            await throughput(store_url, key, 20, 500, args.reps)


if __name__ == "__main__":
    asyncio.run(main())
