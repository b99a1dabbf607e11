"""``chatthy router`` benchmark: what the router adds over reading the upstream directly,
and its CPU per tool step.

The fake upstream (this file with ``--serve-upstream``: the bench upstream, plus replies
that call ``current_time`` a scripted number of times) and ``chatthy router`` each run in
their own process; the client (raw ``httpx2`` streaming, the same code for both paths)
runs here. Figures:

- **added latency per chunk**: each upstream chunk is its emit time; a chunk's latency is
  emit → client receive, read directly and through the router, requests taking turns;
  added = router − direct, at p50 and p99 (200-chunk replies, chunks ``--pace`` apart so
  that the figure is the pipeline's, not a queue's);
- **added time per whole reply**: 200 chunks as fast as the upstream sends them, request
  start → ``[DONE]``, median of router − median of direct;
- **router CPU per tool step**: the router process's CPU (``/proc``) for replies that
  take ``--steps`` tool steps minus the same replies with none, per step, less what the
  tool itself costs (``current_time`` called here as many times); beside it, what the
  ``openai`` provider alone spends on one such request (in this process), since every
  step is one more upstream request.

    .venv/bin/python bench/router.py [--requests 40] [--pace 0.002] [--steps 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2

from _harness import BENCH, cpu_seconds, free_port, stop_all, wait_listening

sys.path.insert(0, str(BENCH.parent / "tests"))

_STAMP = re.compile(rb"<(\d+\.\d+)>")


def serve_upstream() -> None:
    """The bench upstream, plus ``tools N``: a reply that calls ``current_time`` until
    the conversation holds N tool results, then 20 words."""
    from _upstream import BenchUpstream, _Forgetful
    from upstream import Reply, _last_user_text

    class ToolUpstream(BenchUpstream):
        def _next_reply(self, body: Any) -> Reply:
            words = _last_user_text(body).split()
            if len(words) != 2 or words[0] != "tools":
                return super()._next_reply(body)
            done = sum(1 for m in body.get("messages") or [] if m.get("role") == "tool")
            if done < int(words[1]):
                call = (f"call_{done}", "current_time", '{"timezone": "UTC"}')
                return Reply(chunks=[], tool_calls=[call], usage=(1, 1))
            return Reply(chunks=["word "] * 20, usage=(1, 20))

    upstream = ToolUpstream()
    upstream.requests = _Forgetful()
    upstream.serve_forever(0)


class Procs:
    """The upstream and the router, each in its own process."""

    def __init__(self) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="chatthy-bench-router-")
        home = Path(self.tmp.name)
        self.procs: list[subprocess.Popen[bytes]] = []
        upstream = subprocess.Popen(
            [sys.executable, __file__, "--serve-upstream"], stdout=subprocess.PIPE
        )
        self.procs.append(upstream)
        assert upstream.stdout is not None
        self.upstream_url = upstream.stdout.readline().decode().strip() + "/v1"
        (home / "config").mkdir()
        (home / "config" / "server.toml").write_text(
            "[providers.up]\n"
            'scheme = "openai"\n'
            f'base_url = "{self.upstream_url}"\n'
            'api_key = "sk-bench"\n'
            'model = "bench-model"\n'
            "context_length = 32000\n"
            "retries = 0\n"
        )
        env = dict(os.environ, HOME=str(home), CHATTHY_CONFIG_DIR=str(home / "config"))
        env["CHATTHY_DATA_DIR"] = str(home / "data")
        for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
            env.pop(var, None)
        port = free_port()
        self.router_url = f"http://127.0.0.1:{port}/v1"
        log = home / "router.log"
        with log.open("wb") as out:
            self.router = subprocess.Popen(
                [sys.executable, "-m", "chatthy", "router", "--listen", f"127.0.0.1:{port}"],
                env=env,
                stdout=out,
                stderr=out,
            )
        self.procs.append(self.router)
        wait_listening(self.router, log)

    def close(self) -> None:
        stop_all(self.procs)
        self.tmp.cleanup()


async def one(
    client: httpx2.AsyncClient, url: str, model: str, text: str
) -> tuple[float, float, list[float]]:
    """Seconds from the request to its first bytes of the body and to ``[DONE]``, and
    each stamped chunk's latency."""
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": text}]}
    latencies: list[float] = []
    first = 0.0
    started = time.perf_counter()
    async with client.stream("POST", url + "/chat/completions", json=body) as response:
        assert response.status_code == 200, response.status_code
        async for data in response.aiter_bytes():
            now = time.time()
            first = first or time.perf_counter() - started
            latencies.extend(now - float(s) for s in _STAMP.findall(data))
    return first, time.perf_counter() - started, latencies


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def latency(procs: Procs, requests: int, pace: float) -> None:
    async with httpx2.AsyncClient(timeout=30) as client:
        paths = (("direct", procs.upstream_url, "bench-model"), ("router", procs.router_url, "up"))
        for _, url, model in paths:  # warm up both: connections, the router's first request
            for _ in range(5):
                await one(client, url, model, "bench 200 0")
        chunks: dict[str, list[float]] = {"direct": [], "router": []}
        whole: dict[str, list[float]] = {"direct": [], "router": []}
        firsts: dict[str, list[float]] = {"direct": [], "router": []}
        for _ in range(requests):
            for name, url, model in paths:
                _, _, lat = await one(client, url, model, f"bench 200 {pace}")
                chunks[name].extend(lat)
                first, seconds, _ = await one(client, url, model, "bench 200 0")
                whole[name].append(seconds)
                firsts[name].append(first)
    print(f"per chunk, 200-chunk replies {pace * 1000:g} ms apart, {requests} requests each:")
    for p in (50, 99):
        direct, routed = pct(chunks["direct"], p), pct(chunks["router"], p)
        print(
            f"  p{p}: direct {direct * 1000:.3f} ms, router {routed * 1000:.3f} ms, "
            f"added {(routed - direct) * 1000:.3f} ms"
        )
    for title, times in (("first body bytes", firsts), ("whole reply", whole)):
        direct, routed = statistics.median(times["direct"]), statistics.median(times["router"])
        print(
            f"{title}, 200 chunks as fast as sent (median): direct {direct * 1000:.2f} ms, "
            f"router {routed * 1000:.2f} ms, added {(routed - direct) * 1000:.2f} ms"
        )


async def tool_steps(procs: Procs, requests: int, steps: int) -> None:
    async with httpx2.AsyncClient(timeout=30) as client:
        for _ in range(5):
            await one(client, procs.router_url, "up", f"tools {steps}")
        cpu: dict[int, float] = {}
        for n in (0, steps, 0, steps):
            before = cpu_seconds(procs.router.pid)
            for _ in range(requests):
                await one(client, procs.router_url, "up", f"tools {n}")
            cpu[n] = cpu.get(n, 0.0) + cpu_seconds(procs.router.pid) - before
    from chatthy.agent.builtin import current_time

    started = time.process_time()
    for _ in range(2 * requests * steps):
        await current_time("UTC")
    tool = (time.process_time() - started) / (2 * requests * steps)
    per_step = (cpu[steps] - cpu[0]) / (2 * requests * steps) - tool
    plain = cpu[0] / (2 * requests)
    provider = await provider_cpu(procs, 4 * requests)
    print(
        f"the provider's own request, here in-process (the same 20-chunk reply): "
        f"{provider * 1000:.3f} ms CPU (each tool step makes one)"
    )
    print(f"router CPU per request without tools (20-chunk reply): {plain * 1000:.3f} ms")
    print(
        f"router CPU per tool step: {per_step * 1000:.3f} ms "
        f"(the tool itself {tool * 1000:.3f} ms, left out; replies of {steps} steps vs none, "
        f"{2 * requests} each)"
    )


async def provider_cpu(procs: Procs, requests: int) -> float:
    """CPU seconds the ``openai`` provider alone spends on one request and its reply:
    what a tool step costs before the router does anything."""
    from chatthy.config import ProviderConfig
    from chatthy.conversation.model import Message
    from chatthy.providers.base import Options
    from chatthy.providers.registry import build_provider

    cfg = ProviderConfig(base_url=procs.upstream_url, api_key="k", model="bench-model", retries=0)
    provider = build_provider("up", cfg)
    messages = [Message.of_text("user", "tools 0")]
    try:
        for n in (10, requests):
            started = time.process_time()
            for _ in range(n):
                async for _event in provider.stream(messages, Options()):
                    pass
        return (time.process_time() - started) / requests
    finally:
        await provider.aclose()


async def run(args: argparse.Namespace) -> None:
    procs = Procs()
    try:
        await latency(procs, args.requests, args.pace)
        await tool_steps(procs, args.requests * 2, args.steps)
    finally:
        procs.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--pace", type=float, default=0.002, help="seconds between chunks")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--serve-upstream", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream:
        serve_upstream()
        return
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
