"""What one abusive client can make the server hold or refuse, measured on a real server
process (``python -m chatthy serve``) with clients in this process. Prints each figure.

    python bench/abuse.py                        # every scenario
    python bench/abuse.py --only refused         # 10,000 refused requests: server RSS growth
    python bench/abuse.py --only slow_readers    # 120 unread large answers: server RSS growth
    python bench/abuse.py --only flood           # registrations and requests from one peer
    python bench/abuse.py --only stalls          # long requests beside a stream (bench/_stalls.py)

Each scenario is a function of its own (``--only NAME``); others may add theirs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import zmq
import zmq.asyncio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from _harness import PASSPHRASE, PROFILE, Processes
from _stalls import stalls as long_requests
from chatthy.client.core import Client
from chatthy.errors import ChatthyError
from chatthy.server.auth import load_server_id
from chatthy.wire import api
from chatthy.wire.messages import PROTOCOL_VERSION, Reply, Request, decode_server_message, encode
from chatthy.wire.signing import SigningKey, derive_key


def server_id(procs: Processes) -> str:
    """The id the bench server signs for (every request names it)."""
    return load_server_id(procs.home / "data")


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid``, MB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def signed(
    key: SigningKey,
    profile: str,
    method: str,
    args: dict[str, object],
    server: str,
    nonce: bytes | None = None,
) -> list[bytes]:
    body = encode(
        Request(
            v=PROTOCOL_VERSION,
            id=os.urandom(4).hex(),
            profile=profile,
            ts=time.time(),
            nonce=os.urandom(16) if nonce is None else nonce,
            key=key.public_key,
            method=method,
            args=args,
            server=server,
        )
    )
    return [body, key.sign(body)]


def export(messages: int, size: int) -> str:
    body = "lorem ipsum dolor sit amet, " * (size // 28)
    doc = {
        "format": "chatthy-chat",
        "version": 1,
        "name": "big",
        "messages": [
            {"role": ("user", "assistant")[i % 2], "content": f"{i}: {body}"}
            for i in range(messages)
        ],
    }
    return json.dumps(doc)


async def latencies(client: Client, stop: asyncio.Event, gap: float = 0.005) -> list[float]:
    """``status`` round trips (ms) of a client, one every ``gap`` seconds until ``stop``."""
    seen: list[float] = []
    while not stop.is_set():
        began = time.perf_counter()
        await client.rpc(api.Status())
        seen.append((time.perf_counter() - began) * 1000)
        await asyncio.sleep(gap)
    return seen


def p99(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.99) - 1)] if values else 0.0


async def refused(procs: Processes, key: SigningKey) -> None:
    """10,000 validly signed requests the server must refuse: half with the largest nonce
    a body can carry (not of the fixed size), half from an unregistered profile on a
    closed server; the server's RSS growth while they are answered and just after."""
    ctx = zmq.asyncio.Context()
    peer = ctx.socket(zmq.DEALER)
    peer.setsockopt(zmq.LINGER, 0)
    peer.connect(procs.address)
    mallory = SigningKey(Ed25519PrivateKey.generate())
    sid = server_id(procs)
    pid = procs.server.pid
    codes: dict[str, int] = {}
    before = peak = rss_mb(pid)
    for n in range(10_000):
        if n % 2:
            frames = signed(mallory, "mallory", "destroy", {"chat": "x"}, sid)
        else:
            frames = signed(mallory, "mallory", "status", {}, sid, nonce=os.urandom(60_000))
        await peer.send_multipart(frames)
        if n % 100 == 99:  # answers read as they come, as a client would
            for _ in range(100):
                message = decode_server_message((await peer.recv_multipart())[0])
                if isinstance(message, Reply):
                    code = message.error.code if message.error else "ok"
                    codes[code] = codes.get(code, 0) + 1
            peak = max(peak, rss_mb(pid))
    await asyncio.sleep(0.5)
    after = rss_mb(pid)
    peer.close(0)
    ctx.term()
    print(
        f"refused: 10,000 refused requests (5,000 with 60 KB nonces): server RSS {before:.0f}"
        f" -> peak {peak:.0f} MB, {after:.0f} MB after (growth {max(peak, after) - before:.1f}"
        f" MB, must be < 20); answers {codes}"
    )


async def slow_readers(procs: Processes, key: SigningKey) -> None:
    """120 requests for a large ``messages`` page from a peer whose transport stops
    taking in answers: the server's RSS growth while they are unread."""
    async with Client(procs.address, PROFILE, key, timeout=60) as client:
        await client.import_text(export(200, 40_000), chat="big")
        page = await client.rpc(api.Messages(chat="big"))
        size = len(
            encode(Reply(id="x", result=json.loads(json.dumps([m.content for m in page.messages]))))
        )
    pid = procs.server.pid
    ctx = zmq.asyncio.Context()
    slow = ctx.socket(zmq.DEALER)
    slow.setsockopt(zmq.RCVHWM, 1)
    slow.setsockopt(zmq.RCVBUF, 65536)
    slow.setsockopt(zmq.LINGER, 0)
    slow.connect(procs.address)
    before = rss_mb(pid)
    peak = before
    sent = 0
    for _ in range(120):
        await slow.send_multipart(
            signed(key, PROFILE, "messages", {"chat": "big"}, server_id(procs))
        )
        sent += 1
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        peak = max(peak, rss_mb(pid))
        await asyncio.sleep(0.05)
    answers = []
    for _ in range(sent):
        message = decode_server_message((await slow.recv_multipart())[0])
        answers.append(message)
    full = sum(1 for a in answers if isinstance(a, Reply) and a.ok)
    refused = sum(1 for a in answers if isinstance(a, Reply) and a.error)
    slow.close(0)
    ctx.term()
    print(
        f"slow_readers: 120 unread answers of ~{size / 1e6:.1f} MB each: server RSS "
        f"{before:.0f} -> peak {peak:.0f} MB (growth {peak - before:.1f} MB, must be < 50); "
        f"{full} sent in full, {refused} refused (rate_limited)"
    )


async def flood(procs: Processes, key: SigningKey) -> None:
    """1,000 registrations with fresh keys and 2,000 requests from one peer, while
    another profile asks ``status`` every 5 ms."""
    other_key = derive_key(PASSPHRASE, "other")
    async with Client(procs.address, "other", other_key) as other:
        await other.rpc(api.Status())
        stop = asyncio.Event()
        watcher = asyncio.create_task(latencies(other, stop))
        ctx = zmq.asyncio.Context()
        peer = ctx.socket(zmq.DEALER)
        peer.setsockopt(zmq.LINGER, 0)
        peer.connect(procs.address)
        codes: dict[str, int] = {}

        async def drain(n: int) -> None:
            for _ in range(n):
                message = decode_server_message((await peer.recv_multipart())[0])
                if isinstance(message, Reply):
                    code = message.error.code if message.error else "ok"
                    codes[code] = codes.get(code, 0) + 1

        began = time.perf_counter()
        reader = asyncio.create_task(drain(3000))
        for n in range(1000):
            stranger = SigningKey(Ed25519PrivateKey.generate())
            await peer.send_multipart(signed(stranger, f"bot{n}", "status", {}, server_id(procs)))
        registrations = time.perf_counter() - began
        for _ in range(2000):
            await peer.send_multipart(signed(key, PROFILE, "status", {}, server_id(procs)))
        await asyncio.wait_for(reader, 60)
        elapsed = time.perf_counter() - began
        await asyncio.sleep(0.2)
        stop.set()
        seen = await watcher
        peer.close(0)
        ctx.term()
    print(
        f"flood: 1,000 registrations + 2,000 requests from one peer in {elapsed:.2f} s "
        f"(registrations sent in {registrations:.2f} s): answers {codes}"
    )
    print(
        f"flood: another profile's status meanwhile: {len(seen)} calls, "
        f"p50 {statistics.median(seen):.1f} ms, p99 {p99(seen):.1f} ms, "
        f"max {max(seen):.1f} ms (p99 must be < 50)"
    )


async def stalls(procs: Processes, key: SigningKey) -> None:
    """A 4 MB import, a search over 60,000 messages and the largest page, over and over,
    beside another profile's stream and status calls (see bench/_stalls.py)."""
    await long_requests(procs)


SCENARIOS: dict[str, Callable[[Processes, SigningKey], Awaitable[None]]] = {
    "refused": refused,
    "slow_readers": slow_readers,
    "flood": flood,
    "stalls": stalls,
}


SERVER_TOML = {
    # refused measures what the refusals hold, not the rate limits (which would refuse
    # most of them before they reach the checks); registration closed, as beyond loopback
    "refused": '[server]\nregistration = "closed"\n[limits]\nconnection_rate = 100000.0\n'
    "connection_burst = 100000\nprofile_rate = 100000.0\nprofile_burst = 100000\n",
    # stalls measures what long requests cost others, not the rate limits: its heavy
    # profile and its pinging client (50 status calls a second) are let through
    "stalls": "[limits]\nconnection_rate = 1000.0\nconnection_burst = 10000\n"
    "profile_rate = 1000.0\nprofile_burst = 10000\n",
}


async def main(only: list[str]) -> None:
    key = derive_key(PASSPHRASE, PROFILE)
    for name in only or list(SCENARIOS):
        with Processes(server_toml=SERVER_TOML.get(name, "")) as procs:
            try:
                await SCENARIOS[name](procs, key)
            except ChatthyError as exc:
                print(f"{name}: failed: {exc.message}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=sorted(SCENARIOS), default=[])
    asyncio.run(main(parser.parse_args().only))
