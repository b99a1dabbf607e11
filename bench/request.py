"""Server CPU per ``chat`` request, measured in-process: what serialises simultaneous turns.

One server in this process (no socket peer: replies go nowhere), the bench upstream in
another. Each round sends a signed ``chat`` frame straight to ``Server._handle`` and
waits for the reply to end; the CPU of this process is split into the request (frame →
reply started: signature, store, context) and the reply task (the provider's request
build and send, the stream, the final store write). Sequential on purpose: the figure is
what ten simultaneous requests queue behind on the one event loop.

    python bench/request.py [--rounds 400] [--chunks 1] [--history 0] [--same-chat]
    python bench/request.py --profile out.prof      # cProfile of the rounds
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import BENCH, PASSPHRASE, PROFILE
from chatthy.config import ProviderConfig, ServerConfig, ServerSection
from chatthy.server.app import Server
from chatthy.wire.messages import PROTOCOL_VERSION, Request, encode
from chatthy.wire.signing import SigningKey, derive_key


def frames(key: SigningKey, n: int, chat: str, text: str, server: str) -> list[bytes]:
    body = encode(
        Request(
            v=PROTOCOL_VERSION,
            id=f"r-{n}",
            profile=PROFILE,
            ts=time.time(),
            nonce=os.urandom(16),
            key=key.public_key,
            method="chat",
            args={"chat": chat, "text": text},
            server=server,
        )
    )
    return [b"peer-%d" % n, body, key.sign(body)]


async def rounds(server: Server, key: SigningKey, args: argparse.Namespace) -> dict[str, float]:
    handle, task, wall = [], [], []
    text = f"bench {args.chunks} 0"
    for n in range(args.warmup + args.rounds):
        chat = "same" if args.same_chat else f"c-{n}"
        if not args.same_chat and args.history:
            await _seed(server, chat, args.history)
        f = frames(key, n, chat, text, server.auth.server_id)
        t0, c0 = time.perf_counter(), time.process_time()
        server._receive(f)  # the receive loop's checks, then the request's task
        await asyncio.gather(*server._tasks)
        c1 = time.process_time()
        turn = server.engine.turns.latest(PROFILE, chat)
        assert turn is not None and turn.task is not None, chat
        await turn.task
        c2, t2 = time.process_time(), time.perf_counter()
        if n >= args.warmup:
            handle.append(c1 - c0)
            task.append(c2 - c1)
            wall.append(t2 - t0)
    total = [h + t for h, t in zip(handle, task, strict=True)]
    return {
        "request_cpu_ms": statistics.median(handle) * 1000,
        "reply_cpu_ms": statistics.median(task) * 1000,
        "total_cpu_ms": statistics.median(total) * 1000,
        "mean_total_cpu_ms": statistics.mean(total) * 1000,
        "wall_ms": statistics.median(wall) * 1000,
    }


async def _seed(server: Server, chat: str, history: int) -> None:
    store = server.store
    await store.create_chat(PROFILE, chat, "default", "up", "")
    for i in range(history):
        role = "user" if i % 2 == 0 else "assistant"
        await store.add_message(PROFILE, chat, role, f"message {i} " + "lorem ipsum " * 40)


async def run(args: argparse.Namespace, upstream_url: str, home: Path) -> None:
    config = ServerConfig(
        server=ServerSection(registration="open"),  # never bound: "auto" would stay closed
        providers={
            "up": ProviderConfig(
                scheme="openai",
                base_url=upstream_url,
                api_key="sk-bench",
                model="bench-model",
                context_length=32000,
                max_tokens=1024,
                retries=0,
            )
        },
        config_dir=str(home / "config"),
        data_dir=str(home / "data"),
    )
    server = await Server.open(config)
    key = derive_key(PASSPHRASE, PROFILE)
    try:
        if args.same_chat and args.history:
            await _seed(server, "same", args.history)
        if args.profile:
            import cProfile

            with cProfile.Profile() as prof:
                result = await rounds(server, key, args)
            prof.dump_stats(args.profile)
        else:
            result = await rounds(server, key, args)
    finally:
        await server.aclose()
    print(f"chat requests: {args.rounds} (median per request)")
    for name, value in result.items():
        print(f"  {name:<18} {value:8.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--chunks", type=int, default=1, help="chunks in each reply")
    parser.add_argument("--history", type=int, default=0, help="messages already in a chat")
    parser.add_argument("--same-chat", action="store_true", help="every turn in one chat")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the rounds")
    args = parser.parse_args()
    upstream = subprocess.Popen(
        [sys.executable, str(BENCH / "_upstream.py")], stdout=subprocess.PIPE
    )
    try:
        assert upstream.stdout is not None
        url = upstream.stdout.readline().decode().strip() + "/v1"
        with tempfile.TemporaryDirectory(prefix="chatthy-bench-") as tmp:
            (Path(tmp) / "config").mkdir()
            asyncio.run(run(args, url, Path(tmp)))
    finally:
        upstream.terminate()
        upstream.wait(5)


if __name__ == "__main__":
    main()
