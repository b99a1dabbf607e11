"""MCP servers through a real chatthy server: a model calls an MCP tool in a turn, a
server that cannot start is one notice and the turn goes on, `mcp_servers` shows the
state, a resource goes into the workspace, a prompt runs as a template. The MCP server is
the tests' own (``mcp_upstream.py``, a real process over stdio); the model is the local
upstream."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec
import pytest

from chatthy.client.core import Client
from chatthy.config import McpServerConfig, ToolsConfig
from chatthy.errors import ChatthyError
from chatthy.server.app import Server
from chatthy.wire import api
from helpers import ClientMaker, ServerFactory, openai_provider
from mcp_kit import alive, started, stdio_config
from tool_kit import cli
from upstream import Reply, Upstream


async def start(
    servers: ServerFactory, upstream: Upstream, mcp: dict[str, McpServerConfig], **tools: Any
) -> Server:
    config = servers.config({"up": openai_provider(upstream)})
    config = msgspec.structs.replace(config, mcp_servers=mcp, tools=ToolsConfig(**tools))
    return await servers.start_with(config)


async def events(client: Client, text: str, chat: str = "c") -> list[Any]:
    stream, _ = await client.start("chat", chat, text=text, approve="yes")
    return [event async for event in stream.events()]


def tool_names(body: dict[str, Any]) -> list[str]:
    return [tool["function"]["name"] for tool in body.get("tools", [])]


async def test_a_model_calls_an_mcp_tool_in_a_turn(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker, tmp_path: Path
) -> None:
    starts = tmp_path / "starts"
    srv = await start(servers, upstream, {"up": stdio_config(starts)})
    assert started(starts) == []  # nothing starts before its first use
    upstream.push(Reply(chunks=["Echoing."], tool_calls=[("c1", "up__echo", '{"text": "hi"}')]))
    upstream.push(Reply(chunks=["It said hi."]))
    seen = await events(connect(srv), "echo hi")
    results = [e for e in seen if e.kind == "tool_result"]
    assert [(r.data or {}).get("content") for r in results] == ["hi"]
    assert seen[-1].data["status"] == "complete"
    first = upstream.requests[0].body
    assert {"up__echo", "up__add", "up__fail"} <= set(tool_names(first))
    echo = next(t for t in first["tools"] if t["function"]["name"] == "up__echo")
    assert echo["function"]["parameters"]["properties"]["text"]["type"] == "string"
    sent = upstream.requests[1].body["messages"]
    assert sent[-1] == {"role": "tool", "tool_call_id": "c1", "content": "hi"}
    assert len(started(starts)) == 1
    pid = started(starts)[0]
    await servers.stop(srv)
    assert not alive(pid)  # stopped with chatthy


async def test_an_mcp_tool_that_fails_is_the_calls_error_and_the_turn_goes_on(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    srv = await start(servers, upstream, {"up": stdio_config()})
    upstream.push(Reply(chunks=[], tool_calls=[("c1", "up__fail", "{}")]))
    upstream.push(Reply(chunks=["It failed."]))
    seen = await events(connect(srv), "try it")
    result = next(e for e in seen if e.kind == "tool_result")
    assert result.data["is_error"] is True
    assert "failed on purpose" in result.data["content"]
    assert seen[-1].data["status"] == "complete"


async def test_a_server_that_cannot_start_is_one_notice_and_the_others_still_serve(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    broken = McpServerConfig(command="/nonexistent/mcp-server", startup_timeout=5)
    srv = await start(servers, upstream, {"broken": broken, "up": stdio_config()})
    upstream.push(Reply(chunks=["Fine."]))
    seen = await events(connect(srv), "hello")
    notices = [e for e in seen if e.kind == "info" and (e.data or {}).get("notice") == "mcp"]
    assert len(notices) == 1
    said = notices[0].data["message"]
    assert "MCP server 'broken'" in said and "\n" not in said
    assert seen[-1].data["status"] == "complete"
    offered = tool_names(upstream.requests[-1].body)
    assert "up__echo" in offered and not any(n.startswith("broken__") for n in offered)
    infos = {i.name: i for i in await connect(srv, "bob").rpc(api.McpServers(start=False))}
    assert infos["broken"].state in ("failed", "restarting") and infos["broken"].error
    assert infos["up"].state == "ready" and "up__echo" in infos["up"].tools


async def test_enabled_names_choose_which_servers_start(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker, tmp_path: Path
) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    srv = await start(
        servers,
        upstream,
        {"one": stdio_config(one), "two": stdio_config(two)},
        enabled=["current_time", "one__echo"],
    )
    upstream.push(Reply(chunks=["ok"]))
    await events(connect(srv), "hi")
    assert tool_names(upstream.requests[-1].body) == ["current_time", "one__echo"]
    assert len(started(one)) == 1 and started(two) == []


async def test_mcp_servers_lists_state_tools_prompts_and_resources(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    srv = await start(servers, upstream, {"up": stdio_config()})
    client = connect(srv)
    (before,) = await client.rpc(api.McpServers(start=False))
    assert (before.name, before.transport, before.state) == ("up", "stdio", "stopped")
    assert not [t for t in await client.rpc(api.Tools()) if t.origin == "mcp:up"]
    (info,) = await client.rpc(api.McpServers())
    assert info.state == "ready" and info.error is None
    listed = {t.name: t for t in await client.rpc(api.Tools()) if t.origin == "mcp:up"}
    assert not listed["up__echo"].changes and listed["up__add"].changes  # readOnlyHint
    assert "up__echo" in info.tools and "up__review" in info.prompts
    assert "note://hello" in info.resources


async def test_a_resource_goes_into_the_workspace(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    srv = await start(servers, upstream, {"up": stdio_config()})
    client = connect(srv)
    added = await client.rpc(api.WsMcp(server="up", uri="note://hello"))
    assert added.name == "mcp-up-hello" and added.source == "mcp up note://hello"
    shown = await client.rpc(api.WsShow(name="mcp-up-hello"))
    assert shown.text == "hello from the upstream"
    with pytest.raises(ChatthyError) as refused:
        await client.rpc(api.WsMcp(server="up", uri="note://blob", name="blob"))
    assert "text" in refused.value.message
    with pytest.raises(ChatthyError) as unknown:
        await client.rpc(api.WsMcp(server="nope", uri="note://hello"))
    assert "nope" in unknown.value.message
    names = [f.name for f in await client.rpc(api.WsList())]
    assert names == ["mcp-up-hello"]  # nothing of the refused ones stored


async def test_a_prompt_is_a_template(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    srv = await start(servers, upstream, {"up": stdio_config()})
    client = connect(srv)
    # listing does not wait for servers to start: it starts them on the side, and
    # their prompts are there the next time
    first = await client.rpc(api.Templates())
    assert not [t for t in first if t.name.startswith("up__")]
    for _ in range(200):
        listed = {t.name: t for t in await client.rpc(api.Templates())}
        if "up__review" in listed:
            break
        await asyncio.sleep(0.05)
    review = listed["up__review"]
    assert review.placeholders == ["topic"] and review.origin == "mcp:up"
    upstream.push(Reply(chunks=["Reviewed."]))
    stream, _ = await client.start("template", "c", name="up__review", args={"topic": "tea"})
    seen = [event async for event in stream.events()]
    assert (seen[-1].data or {})["status"] == "complete"
    assert upstream.requests[-1].body["messages"][-1] == {
        "role": "user",
        "content": "Please review tea.",
    }
    with pytest.raises(ChatthyError) as missing:
        await client.start("template", "c", name="up__review", args={})
    assert "topic" in missing.value.message


async def test_mcp_list_on_the_command_line(
    servers: ServerFactory, upstream: Upstream, tmp_path: Path
) -> None:
    srv = await start(servers, upstream, {"up": stdio_config()})
    code, out, err = await cli(srv, tmp_path, "mcp", "list")
    assert code == 0, err
    assert out.splitlines()[0].split()[:3] == ["up", "stdio", "ready"]
    assert "up__echo" in out and "note://hello" in out
    code, out, err = await cli(srv, tmp_path, "ws", "mcp", "up", "note://hello", "--name", "n")
    assert code == 0, err
    assert out == "added n (5 tokens) from mcp up note://hello\n"


async def test_a_pattern_enables_and_approves_a_whole_server(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker, tmp_path: Path
) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    srv = await start(
        servers,
        upstream,
        {"one": stdio_config(one), "two": stdio_config(two)},
        enabled=["one__*"],
        auto_approve=["one__*"],
    )
    upstream.push(Reply(chunks=[], tool_calls=[("c1", "one__add", '{"a": 2, "b": 3}')]))
    upstream.push(Reply(chunks=["Five."]))
    client = connect(srv)
    stream, _ = await client.start("chat", "c", text="add")  # approve="no": nobody asked
    seen = [event async for event in stream.events()]
    result = next(e for e in seen if e.kind == "tool_result")
    assert (result.data or {})["content"] == "5"  # changes something, but auto-approved
    offered = tool_names(upstream.requests[0].body)
    assert offered and all(name.startswith("one__") for name in offered)
    assert "one__echo" in offered and started(two) == []
    listed = {t.name: t.enabled for t in await client.rpc(api.Tools())}
    assert listed["one__echo"] and not listed["current_time"]
