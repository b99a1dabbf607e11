"""``chatthy mcp serve``, run as a real process and spoken to with the official SDK's
client: over stdio as Claude Desktop starts it, and over streamable HTTP on loopback with
its bearer token. The workspace is made through the store API in the SQLite file the
process opens, as the chat server would have left it; alice has files, bob has one of
his own she must never see."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx2
import msgspec
import pytest
from mcp import types
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from chatthy.config import ServerConfig
from chatthy.rag.service import RagService
from chatthy.store.sqlite import SQLiteStore

NOTES = "# Notes\nship on Friday\n"
PLAN = "step one\nstep two\n"

Spawn = Callable[..., Awaitable["Served"]]


@pytest.fixture
async def data(isolated_env: Path) -> Path:
    """The data dir the process will use: alice's two files, bob's secret."""
    folder = Path(os.environ["CHATTHY_DATA_DIR"])
    store = await SQLiteStore.open(folder / "chatthy.db")
    try:
        for name, key in (("alice", b"a" * 32), ("bob", b"b" * 32)):
            await store.register_profile(name, key)
        await store.put_workspace_file("alice", "docs/notes.md", NOTES, "test")
        await store.put_workspace_file("alice", "plan.txt", PLAN, "test")
        await store.put_workspace_file("bob", "secret.md", "bob's secret", "test")
        rag = RagService(ServerConfig(), store)
        await rag.add("alice", "okapi.md", "# Okapi\n\nThe okapi is a shy giraffid of the Congo.")
        await rag.add("bob", "bobs.md", "# Okapi\n\nBob's private okapi notes.")
    finally:
        await store.aclose()
    return folder


def _stdio(*args: str) -> Any:
    """The SDK's stdio transport to ``chatthy mcp serve ARGS``; the process's stderr goes
    to the real stderr (a test run capturing ``sys.stderr`` leaves it no file number)."""
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "chatthy", "mcp", "serve", *args], env=dict(os.environ)
    )
    errlog = sys.__stderr__
    assert errlog is not None
    return stdio_client(params, errlog=errlog)


def _text(result: types.CallToolResult) -> str:
    assert len(result.content) == 1
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


async def _chatthy(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run ``chatthy mcp serve ARGS`` to its end (one that cannot start)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chatthy",
        "mcp",
        "serve",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


class Served:
    """A ``chatthy mcp serve --http`` process, once it has said where it listens."""

    def __init__(self, proc: asyncio.subprocess.Process, url: str, said: list[str]) -> None:
        self.proc = proc
        self.url = url
        self.said = said

    async def stop(self) -> tuple[int, str]:
        """SIGTERM, then its exit code and the rest of its stderr."""
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.stderr is not None
        rest = await asyncio.wait_for(self.proc.stderr.read(), 10)
        return await asyncio.wait_for(self.proc.wait(), 10), rest.decode()


@pytest.fixture
async def spawn(data: Path) -> AsyncIterator[Spawn]:
    """``await spawn("--token", "T", env=…)``: an HTTP server on a free loopback port;
    any still running at the end is killed."""
    started: list[asyncio.subprocess.Process] = []

    async def start(*args: str, env: dict[str, str] | None = None) -> Served:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "chatthy",
            "mcp",
            "serve",
            "--profile",
            "alice",
            "--http",
            "127.0.0.1:0",
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **(env or {})},
        )
        started.append(proc)
        assert proc.stderr is not None
        said: list[str] = []
        while True:
            line = (await asyncio.wait_for(proc.stderr.readline(), 20)).decode()
            assert line, f"it ended before listening: {''.join(said)}"
            said.append(line)
            if found := re.search(r"listening on (http://\S+/mcp)", line):
                return Served(proc, found.group(1), said)

    yield start
    for proc in started:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@contextlib.asynccontextmanager
async def _http(url: str, token: str) -> AsyncIterator[Client]:
    """The SDK's client over streamable HTTP, sending ``token``."""
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as session,
        Client(streamable_http_client(url, http_client=session)) as client,
    ):
        yield client


# -- stdio ------------------------------------------------------------------------------


async def test_stdio_offers_read_only_tools_over_the_profiles_files(data: Path) -> None:
    async with Client(_stdio("--profile", "alice")) as client:
        tools = (await client.list_tools()).tools
        assert sorted(t.name for t in tools) == ["rag_search", "workspace_list", "workspace_read"]
        for tool in tools:
            assert tool.annotations is not None and tool.annotations.read_only_hint is True
            assert tool.description

        listed = await client.call_tool("workspace_list", {})
        assert not listed.is_error
        assert msgspec.json.decode(_text(listed)) == [
            {"name": "docs/notes.md", "bytes": len(NOTES), "benched": False},
            {"name": "plan.txt", "bytes": len(PLAN), "benched": False},
        ]

        read = await client.call_tool("workspace_read", {"name": "docs/notes.md"})
        assert (read.is_error, _text(read)) == (False, NOTES)

        found = await client.call_tool("rag_search", {"query": "shy okapi"})
        assert not found.is_error
        assert (
            _text(found)
            == "[1] okapi.md — Okapi\n# Okapi\n\nThe okapi is a shy giraffid of the Congo."
        )
        assert "Bob" not in _text(found)  # another profile's documents are not searched


async def test_stdio_a_missing_or_foreign_file_is_a_tool_error_not_a_crash(data: Path) -> None:
    async with Client(_stdio("--profile", "alice")) as client:
        missing = await client.call_tool("workspace_read", {"name": "nope.md"})
        assert missing.is_error
        assert _text(missing) == "no workspace file 'nope.md' (the files: docs/notes.md, plan.txt)"

        # bob's file, by its exact name: alice is told it is not there, nothing more
        foreign = await client.call_tool("workspace_read", {"name": "secret.md"})
        assert foreign.is_error and "bob" not in _text(foreign)
        assert _text(foreign).startswith("no workspace file 'secret.md'")

        bad = await client.call_tool("workspace_read", {"name": "../secret.md"})
        assert bad.is_error and "'..'" in _text(bad)
        unknown = await client.call_tool("workspace_write", {"name": "x", "text": "y"})
        assert unknown.is_error
        assert (
            _text(unknown) == "no tool 'workspace_write' here "
            "(the tools: workspace_list, workspace_read, rag_search)"
        )
        wrong = await client.call_tool("workspace_read", {})
        assert wrong.is_error and "name" in _text(wrong)

        # and the connection still serves
        read = await client.call_tool("workspace_read", {"name": "plan.txt"})
        assert (read.is_error, _text(read)) == (False, PLAN)


async def test_stdio_workspace_files_are_resources(data: Path) -> None:
    async with Client(_stdio("--profile", "alice")) as client:
        resources = (await client.list_resources()).resources
        assert [(r.uri, r.name, r.size) for r in resources] == [
            ("chatthy://workspace/docs/notes.md", "docs/notes.md", len(NOTES)),
            ("chatthy://workspace/plan.txt", "plan.txt", len(PLAN)),
        ]
        read = await client.read_resource("chatthy://workspace/docs/notes.md")
        [contents] = read.contents
        assert isinstance(contents, types.TextResourceContents)
        assert contents.text == NOTES
        with pytest.raises(MCPError, match=r"no workspace file 'secret\.md'"):
            await client.read_resource("chatthy://workspace/secret.md")


async def test_stdio_other_profile_sees_only_its_own_files(data: Path) -> None:
    async with Client(_stdio("--profile", "bob")) as client:
        listed = await client.call_tool("workspace_list", {})
        assert [f["name"] for f in msgspec.json.decode(_text(listed))] == ["secret.md"]


async def test_stdio_profile_from_client_toml(data: Path) -> None:
    config = Path(os.environ["CHATTHY_CONFIG_DIR"])
    config.mkdir(parents=True, exist_ok=True)
    (config / "client.toml").write_text('profile = "bob"\n')
    async with Client(_stdio()) as client:
        listed = await client.call_tool("workspace_list", {})
        assert [f["name"] for f in msgspec.json.decode(_text(listed))] == ["secret.md"]


async def test_stdio_sigterm_ends_it_cleanly_and_stdout_holds_only_the_protocol(
    data: Path,
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chatthy",
        "mcp",
        "serve",
        "--profile",
        "alice",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        hello = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "test", "version": "1"},
            },
        }
        proc.stdin.write(json.dumps(hello).encode() + b"\n")
        await proc.stdin.drain()
        answer = json.loads(await asyncio.wait_for(proc.stdout.readline(), 20))
        assert answer["id"] == 1 and answer["result"]["serverInfo"]["name"] == "chatthy"
        # stdin stays open and quiet: only the signal can end it now
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 10)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert out == b""
    # the store was closed: SQLite removes its write-ahead log with the last connection
    assert not (data / "chatthy.db-wal").exists()


async def test_unknown_profile_is_one_line_and_exit_1(data: Path) -> None:
    code, out, err = await _chatthy("--profile", "carol")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "no profile 'carol'" in err


async def test_no_database_is_one_line_and_exit_1(isolated_env: Path) -> None:
    code, out, err = await _chatthy("--profile", "alice")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "no database at" in err
    assert not (Path(os.environ["CHATTHY_DATA_DIR"]) / "chatthy.db").exists()


# -- HTTP -------------------------------------------------------------------------------


async def test_http_serves_the_workspace_to_the_token_only(spawn: Spawn, data: Path) -> None:
    served = await spawn("--token", "s3cret-token")
    async with _http(served.url, "s3cret-token") as client:
        tools = (await client.list_tools()).tools
        assert all(t.annotations and t.annotations.read_only_hint for t in tools)
        read = await client.call_tool("workspace_read", {"name": "plan.txt"})
        assert (read.is_error, _text(read)) == (False, PLAN)
        missing = await client.call_tool("workspace_read", {"name": "secret.md"})
        assert missing.is_error and _text(missing).startswith("no workspace file 'secret.md'")

    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    accept = {"accept": "application/json, text/event-stream"}
    async with httpx2.AsyncClient() as web:
        for headers in (
            {},
            {"authorization": "Bearer wrong-token"},
            {"authorization": "Bearer s3cret-token-and-more"},
            {"authorization": "s3cret-token"},
            {"authorization": "Basic s3cret-token"},
        ):
            answer = await web.post(served.url, json=body, headers={**accept, **headers})
            assert (answer.status_code, answer.content) == (401, b""), headers
        bare = await web.get(served.url.removesuffix("/mcp") + "/elsewhere")
        assert bare.status_code == 401

    code, rest = await served.stop()
    assert code == 0, rest
    assert not (data / "chatthy.db-wal").exists()


async def test_http_token_from_the_environment(spawn: Spawn) -> None:
    served = await spawn(env={"CHATTHY_MCP_TOKEN": "from-env"})
    assert not any("Bearer" in line for line in served.said)
    async with _http(served.url, "from-env") as client:
        listed = await client.call_tool("workspace_list", {})
        assert not listed.is_error
    assert (await served.stop())[0] == 0


async def test_http_without_a_token_makes_one_and_says_it_once(spawn: Spawn) -> None:
    served = await spawn()
    [line] = [line for line in served.said if "Bearer" in line]
    found = re.search(r"Bearer (\S+?)'", line)
    assert found
    async with _http(served.url, found.group(1)) as client:
        read = await client.call_tool("workspace_read", {"name": "docs/notes.md"})
        assert _text(read) == NOTES
    code, rest = await served.stop()
    assert code == 0 and found.group(1) not in rest


async def test_http_beyond_loopback_needs_a_chosen_token(data: Path) -> None:
    code, _, err = await _chatthy("--profile", "alice", "--http", "0.0.0.0:0")
    assert code == 1
    assert err.count("\n") == 1 and "--token" in err and "0.0.0.0" in err
    code, _, err = await _chatthy("--profile", "alice", "--http", "nowhere")
    assert code == 1 and err.count("\n") == 1 and "HOST:PORT" in err
