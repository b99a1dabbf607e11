"""Images a tool returns, through a real chatthy server: an MCP server's picture reaches
each API as that API takes a tool's images (the exact bytes), the clients get it with the
result, the reply keeps it by digest (fetched back, freed with the chat, exported and
imported), and one the model cannot take, or that is not an image, is a line instead.
The MCP server is the tests' own (``mcp_upstream.py`` over stdio); the model is the local
upstream."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import msgspec
import pytest
from PIL import Image

from chatthy.client.commands import read_chat_file, save_export
from chatthy.client.core import Client
from chatthy.config import McpServerConfig
from chatthy.errors import NotFoundError
from chatthy.server.app import Server
from chatthy.wire import api
from helpers import ClientMaker, ServerFactory, openai_provider
from mcp_kit import stdio_config
from tool_kit import cli
from upstream import Reply, Upstream

PHOTO = ("c1", "up__photo", '{"width": 64, "height": 48}')


def navy_png(width: int, height: int) -> bytes:
    """What ``photo(width, height)`` of the MCP server returns."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), "navy").save(out, "PNG")
    return out.getvalue()


async def start(
    servers: ServerFactory,
    upstream: Upstream,
    scheme: str = "openai",
    server: dict[str, Any] | None = None,
    **provider: Any,
) -> Server:
    extra: dict[str, Any] = dict(provider)
    if scheme == "anthropic":
        extra.update(scheme="anthropic", base_url=upstream.base_url)
    config = servers.config({"up": openai_provider(upstream, **extra)}, **(server or {}))
    mcp: dict[str, McpServerConfig] = {"up": stdio_config()}
    return await servers.start_with(msgspec.structs.replace(config, mcp_servers=mcp))


async def turn(client: Client, text: str, chat: str = "c") -> list[Any]:
    stream, _ = await client.start("chat", chat, text=text, approve="yes")
    return [event async for event in stream.events()]


def images_sent(body: dict[str, Any]) -> list[tuple[str, bytes]]:
    """The images of a request upstream, as media type and bytes, in order."""
    found: list[tuple[str, bytes]] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            if node.get("type") == "image_url":
                head, _, b64 = node["image_url"]["url"].partition(";base64,")
                found.append((head.removeprefix("data:"), base64.b64decode(b64)))
            elif node.get("type") == "image":
                source = node["source"]
                found.append((source["media_type"], base64.b64decode(source["data"])))
            else:
                for value in node.values():
                    walk(value)

    walk(body["messages"])
    return found


def decoded(url: str) -> bytes:
    return base64.b64decode(url.partition(";base64,")[2])


async def test_an_mcp_picture_reaches_openai_after_its_tool_message(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    srv = await start(servers, upstream)
    upstream.push(Reply(chunks=["Looking."], tool_calls=[PHOTO]))
    upstream.push(Reply(chunks=["A calm sea."]))
    seen = await turn(connect(srv), "show me the sea")
    assert seen[-1].data["status"] == "complete"
    expected = navy_png(64, 48)
    messages = upstream.requests[1].body["messages"]
    tool, after = messages[-2], messages[-1]
    # the tool message is text (the API takes no image there); the picture follows it
    assert tool == {
        "role": "tool",
        "tool_call_id": "c1",
        "content": f"the sea at dawn\n[image image/png, {len(expected)} bytes]",
    }
    assert after["role"] == "user"
    assert after["content"][0] == {"type": "text", "text": "The images tool call c1 returned:"}
    assert images_sent(upstream.requests[1].body) == [("image/png", expected)]
    assert images_sent(upstream.requests[0].body) == []


async def test_an_mcp_picture_reaches_anthropic_inside_its_tool_result(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    srv = await start(servers, upstream, "anthropic")
    upstream.push(Reply(chunks=["Looking."], tool_calls=[PHOTO]))
    upstream.push(Reply(chunks=["A calm sea."]))
    seen = await turn(connect(srv), "show me the sea")
    assert seen[-1].data["status"] == "complete"
    last = upstream.requests[1].body["messages"][-1]
    assert last["role"] == "user"
    [result] = [b for b in last["content"] if b["type"] == "tool_result"]
    assert result["tool_use_id"] == "c1"
    text, image = result["content"]
    assert text["type"] == "text" and text["text"].startswith("the sea at dawn")
    assert image["type"] == "image"
    assert image["source"]["media_type"] == "image/png"
    assert base64.b64decode(image["source"]["data"]) == navy_png(64, 48)


async def test_a_picture_too_large_for_anthropic_is_downscaled_before_it_is_sent(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    srv = await start(servers, upstream, "anthropic")
    upstream.push(Reply(tool_calls=[("c1", "up__photo", '{"width": 3000, "height": 2000}')]))
    upstream.push(Reply(chunks=["Wide."]))
    await turn(connect(srv), "a wide one")
    [(media_type, data)] = images_sent(upstream.requests[1].body)
    with Image.open(io.BytesIO(data)) as image:
        assert max(image.size) <= 1568
        assert image.size[0] / image.size[1] == pytest.approx(1.5, rel=0.01)
    assert media_type in ("image/png", "image/jpeg")


async def test_the_client_gets_the_picture_with_the_result_and_the_reply_keeps_it(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    srv = await start(servers, upstream)
    client = connect(srv)
    upstream.push(Reply(chunks=["Looking."], tool_calls=[PHOTO]))
    upstream.push(Reply(chunks=["A calm sea."]))
    seen = await turn(client, "show me the sea")
    expected = navy_png(64, 48)
    [result] = [e for e in seen if e.kind == "tool_result"]
    [shown] = result.data["images"]
    assert shown["media_type"] == "image/png"
    assert (shown["width"], shown["height"]) == (64, 48)
    assert decoded(shown["image_url"]["url"]) == expected
    # stored: the reply names it by digest, and the store gives the bytes back
    page = await client.rpc(api.Messages(chat="c"))
    reply = page.messages[-1]
    [stored] = [p for p in reply.content if p.get("type") == "tool_result"]
    digest = hashlib.sha256(expected).hexdigest()
    assert stored["images"][0]["image_url"]["url"] == f"chatthy-image:{digest}"
    got = await client.rpc(api.ImageGet(digest=digest))
    assert got.data == expected and got.media_type == "image/png"
    # the next turn sends the kept picture again, from the store
    upstream.push(Reply(chunks=["Still calm."]))
    await turn(client, "and now?")
    assert images_sent(upstream.requests[-1].body) == [("image/png", expected)]
    # the chat gone, the picture goes with it
    await client.rpc(api.Destroy(chat="c"))
    with pytest.raises(NotFoundError):
        await client.rpc(api.ImageGet(digest=digest))


async def test_a_model_without_vision_gets_a_line_instead_of_the_picture(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    srv = await start(servers, upstream, vision=False)
    upstream.push(Reply(tool_calls=[PHOTO]))
    upstream.push(Reply(chunks=["I cannot see it."]))
    seen = await turn(connect(srv), "show me the sea")
    [result] = [e for e in seen if e.kind == "tool_result"]
    assert "images" not in result.data
    assert result.data["content"].endswith("[image 1 left out: this model takes no images]")
    assert images_sent(upstream.requests[1].body) == []
    assert (
        "left out: this model takes no images"
        in upstream.requests[1].body["messages"][-1]["content"]
    )


async def test_a_damaged_picture_from_a_tool_is_a_line_and_the_turn_goes_on(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    srv = await start(servers, upstream)
    upstream.push(Reply(tool_calls=[("c1", "up__picture", "{}")]))
    upstream.push(Reply(chunks=["Broken."]))
    seen = await turn(connect(srv), "a picture")
    [result] = [e for e in seen if e.kind == "tool_result"]
    assert "images" not in result.data and not result.data["is_error"]
    last = result.data["content"].splitlines()[-1]
    assert last.startswith("[image left out: image 1 ") and "damaged" in last
    assert images_sent(upstream.requests[1].body) == []
    assert seen[-1].data["status"] == "complete"


async def test_a_tool_picture_is_exported_and_imported_with_its_chat(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker, tmp_path: Path
) -> None:
    srv = await start(servers, upstream)
    client = connect(srv)
    upstream.push(Reply(chunks=["Looking."], tool_calls=[PHOTO]))
    upstream.push(Reply(chunks=["A calm sea."]))
    await turn(client, "show me the sea")
    expected = navy_png(64, 48)
    digest = hashlib.sha256(expected).hexdigest()
    # JSON: the picture inline, as base64
    exported = await client.rpc(api.Export(chat="c", format="json"))
    doc = json.loads(exported.data)
    [result] = [p for p in doc["messages"][-1]["content"] if p["type"] == "tool_result"]
    assert decoded(result["images"][0]["image_url"]["url"]) == expected
    # Markdown: a file beside it, linked under the result
    md = await client.rpc(api.Export(chat="c", format="md"))
    target = tmp_path / "sea.md"
    await save_export(client, md, target)
    link = f"images/{digest[:16]}.png"
    assert f"]({link})" in target.read_text()
    assert (tmp_path / link).read_bytes() == expected
    # both come back as a chat of another profile that keeps the same picture
    other = connect(srv, "bob")
    for name, path in (("from-json", None), ("from-md", target)):
        if path is None:
            path = tmp_path / "sea.json"
            path.write_text(exported.data)
        await other.rpc(api.Import(data=read_chat_file(path), chat=name))
    assert (await other.rpc(api.ImageGet(digest=digest))).data == expected
    page = await other.rpc(api.Messages(chat="from-json"))
    [kept] = [p for p in page.messages[-1].content if p.get("type") == "tool_result"]
    assert kept["images"][0]["image_url"]["url"] == f"chatthy-image:{digest}"


async def test_chatthy_ask_names_the_image_a_tool_returned(
    servers: ServerFactory, upstream: Upstream, tmp_path: Path
) -> None:
    srv = await start(servers, upstream)
    upstream.push(Reply(chunks=[], tool_calls=[PHOTO]))
    upstream.push(Reply(chunks=["A calm sea."]))
    code, out, err = await cli(srv, tmp_path, "ask", "show me the sea")
    assert code == 0 and out.strip() == "A calm sea."
    lines = err.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("⚙ up__photo → ok"))
    assert lines[at + 1] == "  [image image 1 64×48]"


CHART = '''
"""A plugin tool that draws."""

import io

from PIL import Image

from chatthy.agent import ToolOutcome, picture, tool


@tool(changes=False)
def chart(width: int) -> ToolOutcome:
    """Draw a chart."""
    out = io.BytesIO()
    Image.new("RGB", (width, 30), "navy").save(out, "PNG")
    return ToolOutcome("a chart", images=(picture(out.getvalue(), "chart.png"),))


@tool(changes=False)
def not_a_chart() -> ToolOutcome:
    """Draw nothing."""
    return ToolOutcome("oops", images=(picture(b"plain text", "chart.png"),))


@tool(changes=False)
def one_chart() -> ToolOutcome:
    """Draw, and hand the picture over wrongly (not in a tuple)."""
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "navy").save(out, "PNG")
    return ToolOutcome("a chart", images=picture(out.getvalue(), "chart.png"))
'''


async def test_a_python_tool_returns_a_picture_the_model_sees(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker, tmp_path: Path
) -> None:
    config_dir = Path(os.environ["CHATTHY_CONFIG_DIR"])
    (config_dir / "tools").mkdir(parents=True, exist_ok=True)
    (config_dir / "tools" / "chart.py").write_text(CHART)
    srv = await start(servers, upstream)
    calls = [("c1", "chart", '{"width": 40}'), ("c2", "not_a_chart", "{}")]
    upstream.push(Reply(chunks=[], tool_calls=calls))
    upstream.push(Reply(chunks=["Done."]))
    seen = await turn(connect(srv), "chart it")
    first, second = [e.data for e in seen if e.kind == "tool_result"]
    assert first["content"] == "a chart" and first["images"][0]["name"] == "chart.png"
    assert images_sent(upstream.requests[1].body) == [("image/png", navy_png(40, 30))]
    assert second["is_error"] and second["content"] == "chart.png is not an image (it holds text)"


async def test_a_tool_that_hands_its_images_over_wrongly_fails_alone(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    config_dir = Path(os.environ["CHATTHY_CONFIG_DIR"])
    (config_dir / "tools").mkdir(parents=True, exist_ok=True)
    (config_dir / "tools" / "chart.py").write_text(CHART)
    srv = await start(servers, upstream)
    calls = [("c1", "one_chart", "{}"), ("c2", "chart", '{"width": 20}')]
    upstream.push(Reply(chunks=[], tool_calls=calls))
    upstream.push(Reply(chunks=["Done."]))
    seen = await turn(connect(srv), "chart it")
    wrong, right = [e.data for e in seen if e.kind == "tool_result"]
    assert wrong["is_error"] and "not a tuple of picture() parts" in wrong["content"]
    assert not right["is_error"] and right["images"][0]["width"] == 20
    assert seen[-1].data["status"] == "complete"


async def test_several_calls_of_a_step_each_with_a_picture_keep_openais_order(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    srv = await start(servers, upstream)
    calls = [
        ("c1", "up__photo", '{"width": 10, "height": 10}'),
        ("c2", "up__photo", '{"width": 20, "height": 10}'),
    ]
    upstream.push(Reply(chunks=[], tool_calls=calls))
    upstream.push(Reply(chunks=["Two."]))
    await turn(connect(srv), "two photos")
    messages = upstream.requests[1].body["messages"]
    roles = [m["role"] for m in messages]
    assert roles[-4:] == ["assistant", "tool", "tool", "user"]  # the results, then the images
    assert [m.get("tool_call_id") for m in messages[-3:-1]] == ["c1", "c2"]
    said = [p.get("text") for p in messages[-1]["content"] if p["type"] == "text"]
    assert said == ["The images tool call c1 returned:", "The images tool call c2 returned:"]
    assert images_sent(upstream.requests[1].body) == [
        ("image/png", navy_png(10, 10)),
        ("image/png", navy_png(20, 10)),
    ]


async def test_a_checkpoint_keeps_the_picture_while_the_reply_still_streams(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    srv = await start(servers, upstream, server={"checkpoint_interval": 0.05})
    client = connect(srv)
    upstream.push(Reply(chunks=[], tool_calls=[PHOTO]))
    upstream.push(Reply(chunks=[f"w{i} " for i in range(40)], delay=0.05))
    stream, _ = await client.start("chat", "c", text="slowly", approve="yes")
    digest = hashlib.sha256(navy_png(64, 48)).hexdigest()
    checked = False
    async for event in stream.events():
        if event.kind == "text" and "w20" in event.text:
            checked = True
            # mid-stream: the stored reply already names the picture, and it is kept
            page = await client.rpc(api.Messages(chat="c"))
            reply = page.messages[-1]
            assert reply.status == "streaming"
            [stored] = [p for p in reply.content if p.get("type") == "tool_result"]
            assert stored["images"][0]["image_url"]["url"] == f"chatthy-image:{digest}"
            assert (await client.rpc(api.ImageGet(digest=digest))).data == navy_png(64, 48)
    assert checked
    assert (await client.rpc(api.ImageGet(digest=digest))).data == navy_png(64, 48)
