"""What MCP tests share: the tests' own MCP server (``mcp_upstream.py``) as a stdio
command, or running over streamable HTTP (or SSE) on a free loopback port, and ways to
count its starts and see that its processes are gone."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from chatthy.config import McpServerConfig

__all__ = ["UPSTREAM", "HttpUpstream", "alive", "free_port", "started", "stdio_config"]

UPSTREAM = Path(__file__).with_name("mcp_upstream.py")


def stdio_config(starts: Path | None = None, **options: Any) -> McpServerConfig:
    """The upstream as a stdio server; each start appends its pid to ``starts``."""
    env = dict(options.pop("env", {}))
    if starts is not None:
        env["MCP_UPSTREAM_STARTS"] = str(starts)
    return McpServerConfig(
        command=sys.executable, args=[str(UPSTREAM), "stdio"], env=env, **options
    )


def started(starts: Path) -> list[int]:
    """The pids the upstream wrote to ``starts``, one per start."""
    if not starts.exists():
        return []
    return [int(line) for line in starts.read_text().split()]


def alive(pid: int) -> bool:
    """Whether process ``pid`` is still running (a zombie is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class HttpUpstream:
    """The upstream over streamable HTTP (``kind="http"``) or SSE on one loopback port,
    which it keeps when stopped and started again."""

    def __init__(self, folder: Path, kind: str = "http") -> None:
        self.kind = kind
        self.port = free_port()
        self.starts = folder / f"starts-{kind}-{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        path = "/sse" if self.kind == "sse" else "/mcp"
        return f"http://127.0.0.1:{self.port}{path}"

    def config(self, **options: Any) -> McpServerConfig:
        return McpServerConfig(url=self.url, transport=self.kind, **options)  # type: ignore[arg-type]

    async def start(self) -> None:
        """Start it (reaping the last process, which may have crashed) and wait until it
        takes connections."""
        await self.stop()
        env = os.environ | {"MCP_UPSTREAM_STARTS": str(self.starts)}
        self._process = subprocess.Popen(
            [sys.executable, str(UPSTREAM), self.kind, str(self.port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        async with asyncio.timeout(15):
            while True:
                if self._process.poll() is not None:
                    raise RuntimeError(f"the upstream exited with {self._process.returncode}")
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                except OSError:
                    await asyncio.sleep(0.02)
                    continue
                writer.close()
                await writer.wait_closed()
                return

    async def stop(self) -> None:
        """Kill it (as a crash would) and wait until it is gone."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            await asyncio.to_thread(process.wait)
