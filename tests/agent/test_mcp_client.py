"""The MCP client core against the tests' own MCP server (mcp_upstream.py), run as a real
process over stdio and over streamable HTTP on loopback: listing, calls and their
results, a server that fails, crashes, hangs or goes away, servers that cannot start,
prompts and resources, and that closing leaves no process behind."""

from __future__ import annotations

import asyncio
import base64
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from chatthy.agent.mcp.connection import Backoff
from chatthy.agent.mcp.manager import McpManager
from chatthy.agent.tools import Tool, ToolContext, ToolOutcome
from chatthy.config import McpServerConfig
from chatthy.errors import ToolError
from mcp_kit import HttpUpstream, alive, started, stdio_config
from mcp_upstream import PICTURE

QUICK = Backoff(first=0.05, most=0.2, tries=3)
"""Restarts paced for tests: 0.05 s, 0.1 s, then failed."""

CONTEXT = ToolContext("alice")


class Upstream:
    """The upstream over the transport of the test's run: stdio (chatthy runs the
    process) or streamable HTTP (the test runs it, on a port of its own)."""

    def __init__(self, kind: str, folder: Path) -> None:
        self.kind = kind
        self.folder = folder
        self.http: HttpUpstream | None = None

    async def config(self, **options: object) -> McpServerConfig:
        if self.kind == "stdio":
            return stdio_config(self.folder / "starts", **options)
        if self.http is None:
            self.http = HttpUpstream(self.folder)
            await self.http.start()
        return self.http.config(**options)

    async def revive(self) -> None:
        """After a crash: an HTTP server is started again by whoever runs it (a stdio
        one chatthy restarts itself)."""
        if self.http is not None:
            await self.http.start()

    def starts(self) -> list[int]:
        path = self.folder / "starts" if self.http is None else self.http.starts
        return started(path)

    async def aclose(self) -> None:
        if self.http is not None:
            await self.http.stop()


@pytest.fixture(params=["stdio", "http"])
async def upstream(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Upstream]:
    server = Upstream(request.param, tmp_path)
    yield server
    await server.aclose()


@pytest.fixture
async def managers() -> AsyncIterator[Callable[..., McpManager]]:
    """``managers(servers, environ=…)``: a manager closed after the test."""
    made: list[McpManager] = []

    def make(servers: dict[str, McpServerConfig], **options: object) -> McpManager:
        options.setdefault("backoff", QUICK)
        manager = McpManager(servers, **options)  # type: ignore[arg-type]
        made.append(manager)
        return manager

    yield make
    for manager in made:
        await manager.aclose()


Managers = Callable[..., McpManager]


async def call(manager: McpManager, name: str, arguments: str = "{}") -> ToolOutcome:
    """One call of the tool ``name`` as the agent loop makes it."""
    return await by_name(manager)[name].call(CONTEXT, arguments)


def by_name(manager: McpManager) -> dict[str, Tool]:
    return {tool.name: tool for tool in manager.tools()}


async def test_the_tools_are_listed_as_server__tool_with_their_schemas(
    upstream: Upstream, managers: Managers
) -> None:
    manager = managers({"up": await upstream.config(timeout=7.5)})
    assert await manager.start() == []
    tools = by_name(manager)
    assert {"up__echo", "up__add", "up__fail", "up__crash", "up__hang"} <= set(tools)
    add = tools["up__add"]
    assert add.spec.description == "Adds two whole numbers."
    assert add.spec.parameters["properties"]["a"]["type"] == "integer"
    assert sorted(add.spec.parameters["required"]) == ["a", "b"]
    assert add.origin == "mcp:up" and add.timeout == 7.5
    # readOnlyHint: echo runs without approval, add (no hint) asks
    assert tools["up__echo"].changes is False
    assert add.changes is True
    [state] = manager.infos()
    assert state.state == "ready" and "up__add" in state.tools
    assert state.prompts == ["up__review"]
    assert set(state.resources) == {"note://hello", "note://blob"}


async def test_a_call_gives_the_text_the_model_reads(
    upstream: Upstream, managers: Managers
) -> None:
    manager = managers({"up": await upstream.config()})
    await manager.start()
    assert await call(manager, "up__add", '{"a": 2, "b": 40}') == ToolOutcome("42")
    picture = await call(manager, "up__picture")  # its line, and the image to check
    assert picture.content == "[image image/png, 12.3 KB]"
    assert [i.media_type for i in picture.images] == ["image/png"]
    assert base64.b64decode(picture.images[0].url.split(",", 1)[1]) == PICTURE
    assert await call(manager, "up__doc") == ToolOutcome("note://doc\nthe document's text")
    failed = await call(manager, "up__fail")
    assert failed.is_error and "the upstream tool failed on purpose" in failed.content


async def test_a_tool_used_before_start_starts_its_server(
    upstream: Upstream, managers: Managers
) -> None:
    manager = managers({"up": await upstream.config()})
    assert manager.tools() == []
    await manager.start(["other"])  # not this one
    assert manager.infos()[0].state == "stopped"
    assert (await manager.get_prompt("up__review", {"topic": "tests"})) == "Please review tests."


async def test_a_server_that_crashes_mid_call_is_restarted_for_the_next_call(
    upstream: Upstream, managers: Managers
) -> None:
    manager = managers({"up": await upstream.config()})
    await manager.start()
    tools = by_name(manager)
    crashed = await tools["up__crash"].call(CONTEXT, "{}")
    assert crashed.is_error
    assert crashed.content.startswith("MCP server 'up' stopped during the call: ")
    await upstream.revive()
    assert await tools["up__echo"].call(CONTEXT, '{"text": "back"}') == ToolOutcome("back")
    assert manager.infos()[0].state == "ready"
    assert len(upstream.starts()) == 2


async def test_a_call_that_never_answers_times_out_and_the_server_stays_usable(
    upstream: Upstream, managers: Managers
) -> None:
    manager = managers({"up": await upstream.config(timeout=0.5)})
    await manager.start()
    began = time.monotonic()
    outcome = await call(manager, "up__hang")
    took = time.monotonic() - began
    assert outcome.is_error and "took longer than 0.5 s" in outcome.content
    assert 0.45 < took < 1.5
    assert await call(manager, "up__echo", '{"text": "still here"}') == ToolOutcome("still here")
    assert len(upstream.starts()) == 1  # the same server, not a restarted one


async def test_an_http_server_stopped_and_started_again_is_used_again(
    managers: Managers, tmp_path: Path
) -> None:
    server = HttpUpstream(tmp_path)
    await server.start()
    try:
        manager = managers({"web": server.config()})
        await manager.start()
        echo = by_name(manager)["web__echo"]
        assert await echo.call(CONTEXT, '{"text": "one"}') == ToolOutcome("one")
        await server.stop()
        await server.start()
        assert await echo.call(CONTEXT, '{"text": "two"}') == ToolOutcome("two")
        assert len(started(server.starts)) == 2
    finally:
        await server.stop()


async def test_servers_that_cannot_start_are_one_line_each_and_the_others_still_work(
    managers: Managers, tmp_path: Path
) -> None:
    manager = managers(
        {
            "good": stdio_config(),
            "missing": McpServerConfig(command="no-such-command-for-chatthy"),
            "secret": McpServerConfig(
                command=sys.executable, args=["-c", "pass"], env={"KEY": "${MCP_TEST_KEY}"}
            ),
        },
        environ={"PATH": "/usr/bin:/bin"},
    )
    lines = await manager.start()
    assert sorted(lines) == [
        "MCP server 'missing' failed to start: command 'no-such-command-for-chatthy' not found",
        "MCP server 'secret' failed to start: ${MCP_TEST_KEY} is not set",
    ]
    assert {tool.origin for tool in manager.tools()} == {"mcp:good"}
    states = {info.name: (info.state, info.error) for info in manager.infos()}
    assert states["missing"][0] == states["secret"][0] == "failed"
    assert states["good"] == ("ready", None)
    # a tool of a server that failed says so, in one line, when used
    with pytest.raises(ToolError, match="MCP server 'secret' is not running"):
        await manager.read_resource("secret", "note://hello")


async def test_a_failed_server_is_tried_again_on_a_later_start(
    managers: Managers, tmp_path: Path
) -> None:
    environ: dict[str, str] = {}
    config = stdio_config(env={"MCP_UPSTREAM_STDERR": "${GREETING}"})
    manager = managers({"up": config}, environ=environ)
    assert len(await manager.start()) == 1
    environ["GREETING"] = "set at last"
    await asyncio.sleep(QUICK.first)
    assert await manager.start() == []
    assert "up__echo" in by_name(manager)


async def test_a_command_that_dies_at_start_is_quoted_and_its_stderr_kept_from_us(
    managers: Managers, capfd: pytest.CaptureFixture[str]
) -> None:
    dies = stdio_config(
        env={"MCP_UPSTREAM_STDERR": "no licence key found", "MCP_UPSTREAM_EXIT": "1"}
    )
    talks = stdio_config(env={"MCP_UPSTREAM_STDERR": "a chatty server says hello"})
    manager = managers({"dies": dies, "talks": talks})
    assert await manager.start() == [
        "MCP server 'dies' failed to start: "
        "the command ended before it answered: no licence key found"
    ]
    assert await call(manager, "talks__echo", '{"text": "hi"}') == ToolOutcome("hi")
    out, err = capfd.readouterr()
    assert "licence" not in out + err and "chatty" not in out + err


async def test_a_server_that_never_answers_at_start_fails_within_its_startup_timeout(
    managers: Managers,
) -> None:
    silent = McpServerConfig(
        command=sys.executable,
        args=["-c", "import sys; sys.stdin.read()"],  # ends when its stdin closes
        startup_timeout=0.5,
    )
    manager = managers({"silent": silent, "good": stdio_config()})
    began = time.monotonic()
    lines = await manager.start()
    assert lines == ["MCP server 'silent' failed to start: it did not answer within 0.5 s"]
    assert time.monotonic() - began < 2.0
    assert any(tool.origin == "mcp:good" for tool in manager.tools())


async def test_a_disabled_server_is_never_started(managers: Managers, tmp_path: Path) -> None:
    manager = managers({"off": stdio_config(tmp_path / "starts", enabled=False)})
    assert await manager.start() == []
    assert manager.tools() == []
    assert manager.infos()[0].state == "disabled"
    with pytest.raises(ToolError, match="disabled"):
        await manager.read_resource("off", "note://hello")
    assert started(tmp_path / "starts") == []


async def test_prompts_and_resources(upstream: Upstream, managers: Managers) -> None:
    manager = managers({"up": await upstream.config()})
    [review] = await manager.prompts()
    assert review.name == "up__review"
    assert review.description == "Asks for a review of a topic."
    assert review.arguments == [("topic", "", True)]
    assert await manager.get_prompt("up__review", {"topic": "MCP"}) == "Please review MCP."
    with pytest.raises(ToolError, match="needs topic"):
        await manager.get_prompt("up__review", {})
    with pytest.raises(ToolError, match="takes no colour"):
        await manager.get_prompt("up__review", {"topic": "MCP", "colour": "red"})
    with pytest.raises(ToolError, match="no prompt 'up__nothing'"):
        await manager.get_prompt("up__nothing", {})
    with pytest.raises(ToolError, match="no MCP server has a prompt 'elsewhere__x'"):
        await manager.get_prompt("elsewhere__x", {})
    assert await manager.read_resource("up", "note://hello") == (
        "hello from the upstream",
        "text/plain",
    )
    with pytest.raises(ToolError, match=r"note://blob is not text \(application/octet-stream"):
        await manager.read_resource("up", "note://blob")
    with pytest.raises(ToolError, match="MCP server 'up': "):
        await manager.read_resource("up", "note://nothing")
    with pytest.raises(ToolError, match="no MCP server 'down'"):
        await manager.read_resource("down", "note://hello")


async def test_a_tool_added_later_is_listed_when_the_server_says_so(
    upstream: Upstream, managers: Managers
) -> None:
    manager = managers({"up": await upstream.config()})
    await manager.start()
    assert "up__extra" not in by_name(manager)
    assert await call(manager, "up__grow") == ToolOutcome("grown")
    async with asyncio.timeout(2):
        while "up__extra" not in by_name(manager):
            await asyncio.sleep(0.02)
    assert await call(manager, "up__extra") == ToolOutcome("extra")


async def test_a_server_that_keeps_crashing_stays_failed_until_used_again(
    managers: Managers, tmp_path: Path
) -> None:
    starts = tmp_path / "starts"
    manager = managers({"up": stdio_config(starts)}, backoff=Backoff(0.05, 0.05, tries=2))
    await manager.start()
    crash = by_name(manager)["up__crash"]
    assert (await crash.call(CONTEXT, "{}")).is_error  # restarted after it
    assert (await crash.call(CONTEXT, "{}")).is_error  # the second in a row: failed
    [state] = manager.infos()
    assert state.state == "failed" and state.error is not None
    assert "stopped" in state.error
    assert manager.tools() == []
    await asyncio.sleep(0.3)
    assert len(started(starts)) == 2  # nothing restarted it meanwhile
    assert await manager.get_prompt("up__review", {"topic": "x"}) == "Please review x."
    assert len(started(starts)) == 3


async def test_closing_leaves_no_process_behind(managers: Managers, tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    manager = managers({"a": stdio_config(starts), "b": stdio_config(starts)})
    await manager.start()
    await call(manager, "a__crash")  # one restart too
    await call(manager, "a__echo", '{"text": "x"}')
    pids = started(starts)
    assert len(pids) == 3
    await manager.aclose()
    assert [pid for pid in pids if alive(pid)] == []
    assert {info.state for info in manager.infos()} == {"stopped"}


async def test_an_sse_server_is_used_too(managers: Managers, tmp_path: Path) -> None:
    server = HttpUpstream(tmp_path, kind="sse")
    await server.start()
    try:
        manager = managers({"old": server.config()})
        assert await manager.start() == []
        assert manager.infos()[0].transport == "sse"
        assert await call(manager, "old__add", '{"a": 1, "b": 1}') == ToolOutcome("2")
    finally:
        await server.stop()


async def test_closing_while_a_server_starts_ends_it_and_nothing_starts_it_again(
    managers: Managers, tmp_path: Path
) -> None:
    starts = tmp_path / "starts"
    manager = managers({"up": stdio_config(starts)})
    starting = asyncio.create_task(manager.start())
    async with asyncio.timeout(5):
        while not started(starts):  # the process runs, but has not answered yet
            await asyncio.sleep(0.01)
    began = time.monotonic()
    await manager.aclose()
    assert time.monotonic() - began < 1.0
    assert await starting == []
    with pytest.raises(ToolError, match="was stopped with its chatthy server"):
        await manager.get_prompt("up__review", {"topic": "x"})
    assert [pid for pid in started(starts) if alive(pid)] == []
    assert len(started(starts)) == 1
