"""MCP benchmark: what chatthy adds to one MCP tool call, over stdio and over
streamable HTTP, and the CPU one call costs the chat server's process.

The MCP server is the tests' own (``tests/mcp_upstream.py``, made with the SDK), in
a process of its own: over stdio as chatthy starts it, over HTTP started here. Two ways
to call its ``echo`` tool, taking turns call by call in this process:

- **bare**: the SDK's ``Client`` alone, one session held open (the least any MCP client
  can spend on a call);
- **chatthy**: the tool as a model's call runs it — ``Tool.call`` of the tool
  ``McpManager`` made (arguments decoded from the model's JSON, the call through the
  connection that owns the session, the result rendered as text, capped).

Added latency = chatthy − bare per call, at p50 and p99. CPU per call: this process's
CPU over many chatthy calls (the chat server's share of a call: the SDK client and
chatthy's part; the MCP server's own process is not counted), beside the bare SDK's.

    .venv/bin/python bench/mcp_calls.py [--calls 2000]

(Not bench/mcp.py: a script's folder comes first on sys.path, so a file of that name here
would shadow the SDK's own ``mcp`` package for every bench script.)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _harness import BENCH

sys.path.insert(0, str(BENCH.parent / "tests"))

ARGUMENTS = '{"text": "hello"}'


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def bare_client(kind: str, url: str | None) -> Any:
    """The SDK's client on its own, entered (the caller exits it)."""
    from mcp import Client, StdioServerParameters

    from mcp_kit import UPSTREAM

    if kind == "stdio":
        from mcp.client.stdio import stdio_client

        params = StdioServerParameters(command=sys.executable, args=[str(UPSTREAM), "stdio"])
        transport: Any = stdio_client(params)
    else:
        from mcp.client.streamable_http import streamable_http_client

        assert url is not None
        transport = streamable_http_client(url)
    client = Client(transport, cache=None)
    await client.__aenter__()
    return client


async def one_transport(kind: str, calls: int, folder: Path) -> dict[str, float]:
    from chatthy.agent.mcp.manager import McpManager
    from chatthy.agent.tools import ToolContext
    from mcp_kit import HttpUpstream, stdio_config

    http: HttpUpstream | None = None
    if kind == "stdio":
        config = stdio_config()
        url = None
    else:
        http = HttpUpstream(folder, "http")
        await http.start()
        config = http.config()
        url = http.url
    manager = McpManager({"up": config})
    bare = await bare_client(kind, url)
    try:
        problems = await manager.start()
        assert not problems, problems
        tool = next(t for t in manager.tools() if t.name == "up__echo")
        context = ToolContext("bench")
        for _ in range(50):  # warm both paths
            await bare.call_tool("echo", {"text": "hello"})
            outcome = await tool.call(context, ARGUMENTS)
            assert outcome.content == "hello", outcome
        added: list[float] = []
        bare_times: list[float] = []
        for _ in range(calls):
            started = time.perf_counter()
            await bare.call_tool("echo", {"text": "hello"})
            middle = time.perf_counter()
            await tool.call(context, ARGUMENTS)
            ended = time.perf_counter()
            bare_times.append(middle - started)
            added.append((ended - middle) - (middle - started))
        cpu: dict[str, float] = {}
        for name, call in (
            ("bare", lambda: bare.call_tool("echo", {"text": "hello"})),
            ("chatthy", lambda: tool.call(context, ARGUMENTS)),
        ):
            started_cpu = time.process_time()
            for _ in range(calls):
                await call()
            cpu[name] = (time.process_time() - started_cpu) / calls
        return {
            "bare_p50": statistics.median(bare_times),
            "bare_p99": pct(bare_times, 99),
            "added_p50": pct(added, 50),
            "added_p99": pct(added, 99),
            "cpu_bare": cpu["bare"],
            "cpu_chatthy": cpu["chatthy"],
        }
    finally:
        await bare.__aexit__(None, None, None)
        await manager.aclose()
        if http is not None:
            await http.stop()


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="chatthy-bench-mcp-") as tmp:
        for kind in ("stdio", "http"):
            f = await one_transport(kind, args.calls, Path(tmp))
            ms = {k: v * 1000 for k, v in f.items()}
            print(
                f"{kind:<5} one call, bare SDK: p50 {ms['bare_p50']:.3f} ms, "
                f"p99 {ms['bare_p99']:.3f} ms"
            )
            print(
                f"{kind:<5} added by chatthy: p50 {ms['added_p50']:.3f} ms, "
                f"p99 {ms['added_p99']:.3f} ms"
            )
            print(
                f"{kind:<5} CPU per call in the chat server's process: "
                f"{ms['cpu_chatthy']:.3f} ms (the bare SDK client: {ms['cpu_bare']:.3f} ms)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
