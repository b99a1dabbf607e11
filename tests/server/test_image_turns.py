"""Images through a real server: what reaches each API (the exact bytes and media type),
kept once by digest and fetched back, fitted to the provider, refused in one line when
they are not images or the provider takes none, freed with the chat."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path
from typing import Any, cast

import pytest
from PIL import Image

from chatthy.client.commands import read_chat_file, save_export
from chatthy.client.core import Client
from chatthy.errors import ArgumentError, ChatthyError, NotFoundError
from chatthy.server.app import Server
from chatthy.wire import api
from helpers import ClientMaker, ServerFactory, openai_provider, png_bomb
from upstream import Reply, Upstream


def png(width: int = 64, height: int = 48, colour: str = "teal") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def photo(width: int, height: int) -> bytes:
    """A JPEG of a smooth gradient: large in pixels, small in bytes."""
    out = io.BytesIO()
    Image.radial_gradient("L").resize((width, height)).convert("RGB").save(out, "JPEG")
    return out.getvalue()


def data_url(data: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


def asking(data: bytes, name: str = "cat.png", media_type: str = "image/png") -> list[Any]:
    return [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": data_url(data, media_type)}, "name": name},
    ]


async def start(servers: ServerFactory, upstream: Upstream, **provider: Any) -> Server:
    config = openai_provider(upstream, **provider)
    return await servers.start({"up": config})


async def send(client: Client, chat: str, content: Any) -> tuple[api.Started, list[Any]]:
    said = {"text": content} if isinstance(content, str) else {"content": content}
    stream, started = await client.start("chat", chat, **said)
    events = [event async for event in stream.events()]
    return started, events


def sent_image(upstream: Upstream) -> tuple[str, bytes]:
    """The media type and bytes of the image in the last request upstream."""
    body = upstream.requests[-1].body
    for message in body["messages"]:
        for part in message["content"] if isinstance(message["content"], list) else []:
            if part.get("type") == "image_url":  # OpenAI's Chat Completions
                head, _, b64 = part["image_url"]["url"].partition(";base64,")
                return head.removeprefix("data:"), base64.b64decode(b64)
            if part.get("type") == "image":  # Anthropic's Messages
                source = part["source"]
                return source["media_type"], base64.b64decode(source["data"])
    raise AssertionError(f"no image in {body}")


@pytest.mark.parametrize("scheme", ["openai", "anthropic"])
async def test_the_exact_bytes_reach_each_api_and_are_kept_once_by_digest(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker, scheme: str
) -> None:
    extra = {"scheme": scheme, "base_url": upstream.base_url} if scheme == "anthropic" else {}
    client = connect(await start(servers, upstream, **extra))
    image = png()
    upstream.push(Reply(chunks=["a teal square"]))
    _, events = await send(client, "pets", asking(image))
    assert events[-1].data["status"] == "complete"
    assert sent_image(upstream) == ("image/png", image)

    page = await client.rpc(api.Messages(chat="pets"))
    question = page.messages[0].content
    digest = hashlib.sha256(image).hexdigest()
    assert question[1] == {
        "type": "image_url",
        "image_url": {"url": f"chatthy-image:{digest}"},
        "name": "cat.png",
        "media_type": "image/png",
        "width": 64,
        "height": 48,
    }
    kept = await client.rpc(api.ImageGet(digest=digest))
    assert (kept.data, kept.media_type, kept.width, kept.height) == (image, "image/png", 64, 48)

    upstream.push(Reply(chunks=["still teal"]))
    await send(client, "pets", "and now?")  # the history's image is sent again, whole
    assert sent_image(upstream) == ("image/png", image)


async def test_a_large_photo_is_downscaled_to_the_provider_with_a_notice(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    client = connect(await start(servers, upstream, scheme="anthropic", base_url=upstream.base_url))
    upstream.push(Reply(chunks=["a photo"]))
    _, events = await send(client, "pics", asking(photo(2400, 1800), "beach.jpg", "image/jpeg"))
    media_type, data = sent_image(upstream)
    with Image.open(io.BytesIO(data)) as seen:
        assert media_type == "image/jpeg" and max(seen.size) == 1568
    notices = [e.data for e in events if e.kind == "info" and e.data.get("notice") == "image"]
    assert notices and "beach.jpg" in notices[0]["message"]
    assert "downscaled" in notices[0]["message"]


async def test_a_provider_without_vision_refuses_images_before_sending_anything(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    client = connect(await start(servers, upstream, vision=False))
    (info,) = await client.rpc(api.Providers())
    assert info.capabilities.vision is False
    with pytest.raises(ArgumentError, match="provider 'up' does not take images"):
        await client.start("chat", "pets", content=asking(png()))
    assert not [r for r in upstream.requests if r.method == "POST"]  # nothing sent
    assert await client.rpc(api.Chats()) == []


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (png()[: len(png()) // 2], "cat.png is truncated or damaged"),
        (b"just some text, named .png\n" * 4, "part 2 of the message is not a PNG image"),
        (png_bomb(100_000, 100_000), "100000×100000"),
    ],
    ids=["truncated", "text", "bomb"],
)
async def test_what_is_not_a_usable_image_is_one_line_and_the_server_goes_on(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker, data: bytes, said: str
) -> None:
    client = connect(await start(servers, upstream))
    with pytest.raises(ChatthyError) as refused:
        await client.start("chat", "pets", content=asking(data))
    assert said in refused.value.message and "\n" not in refused.value.message
    assert upstream.requests == []
    upstream.push(Reply(chunks=["fine"]))
    _, events = await send(client, "pets", asking(png()))
    assert events[-1].data["status"] == "complete"


async def test_destroying_the_chat_frees_its_images(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    srv = await start(servers, upstream)
    client = connect(srv)
    image = png(colour="plum")
    upstream.push(Reply(chunks=["plum"]))
    await send(client, "pets", asking(image))
    digest = hashlib.sha256(image).hexdigest()
    assert (await client.rpc(api.ImageGet(digest=digest))).data == image
    with pytest.raises(NotFoundError):  # another profile's
        await connect(srv, "bob").rpc(api.ImageGet(digest=digest))
    await client.rpc(api.Destroy(chat="pets"))
    with pytest.raises(NotFoundError):
        await client.rpc(api.ImageGet(digest=digest))


async def test_exports_carry_images_and_an_import_keeps_them_again(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker, tmp_path: Path
) -> None:
    client = connect(await start(servers, upstream))
    image = png(colour="gold")
    digest = hashlib.sha256(image).hexdigest()
    upstream.push(Reply(chunks=["gold"]))
    await send(client, "pets", asking(image))

    exported = await client.rpc(api.Export(chat="pets", format="json"))
    assert data_url(image) in exported.data  # the file stands alone: the bytes inline
    openai = await client.rpc(api.Export(chat="pets", format="openai"))
    assert data_url(image) in openai.data and "chatthy-image:" not in openai.data

    md = tmp_path / "out" / "pets.md"
    md.parent.mkdir()
    result = await client.rpc(api.Export(chat="pets", format="md"))
    assert await save_export(client, result, md) == 1
    link = f"images/{digest[:16]}.png"
    assert f"![cat.png]({link})" in md.read_text()
    assert (md.parent / link).read_bytes() == image

    await client.rpc(api.Destroy(chat="pets"))
    with pytest.raises(NotFoundError):
        await client.rpc(api.ImageGet(digest=digest))
    await client.rpc(api.Import(data=exported.data, chat="back"))
    content = (await client.rpc(api.Messages(chat="back"))).messages[0].content
    assert content[1]["image_url"]["url"] == f"chatthy-image:{digest}"
    assert (content[1]["width"], content[1]["height"]) == (64, 48)
    assert (await client.rpc(api.ImageGet(digest=digest))).data == image

    # the Markdown export, read back: the files beside it go in again, kept by digest
    await client.import_text(read_chat_file(md), "from md")
    first, reply = (await client.rpc(api.Messages(chat="from md"))).messages[:2]
    assert first.content[0] == {"type": "text", "text": "what is this?"}
    assert first.content[1]["image_url"]["url"] == f"chatthy-image:{digest}"
    assert first.content[1]["name"] == "cat.png" and reply.content == "gold"


async def test_an_imported_image_that_is_not_one_is_left_out_with_a_line(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    client = connect(await start(servers, upstream))
    broken = png()[:40]
    messages = [{"role": "user", "content": asking(broken)}, {"role": "assistant", "content": "?"}]
    await client.rpc(api.Import(data=json.dumps(messages), chat="old"))
    content = (await client.rpc(api.Messages(chat="old"))).messages[0].content
    assert content[0] == {"type": "text", "text": "what is this?"}
    assert content[1]["type"] == "text" and "image left out" in content[1]["text"]
    assert "truncated or damaged" in content[1]["text"]


async def test_an_image_address_never_passes_for_an_image_on_a_clients_word(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    client = connect(await start(servers, upstream))
    sneaky = {
        "type": "image_url",
        "image_url": {"url": "http://169.254.169.254/latest/x.png"},
        "media_type": "image/png",
        "width": 4,
        "height": 3,
    }
    with pytest.raises(ArgumentError, match="an image at a URL"):
        await client.start("chat", "c", content=[{"type": "text", "text": "hi"}, sneaky])
    await client.rpc(api.Import(data=json.dumps([{"role": "user", "content": [sneaky]}])))
    (imported,) = await client.rpc(api.Chats())
    page = await client.rpc(api.Messages(chat=imported.name))
    assert page.messages[0].content == "[image: http://169.254.169.254/latest/x.png]"


async def test_an_export_naming_a_file_outside_its_images_folder_writes_nothing(
    tmp_path: Path,
) -> None:
    (tmp_path / "out").mkdir()
    for name in ("../evil.png", "/tmp/evil.png", "images/../../evil.png", "images/x.sh"):
        result = api.Exported(chat="c", format="md", data="# c\n", images={name: "0" * 64})
        with pytest.raises(ChatthyError, match="not written"):
            await save_export(cast(Any, None), result, tmp_path / "out" / "c.md")
    assert list((tmp_path / "out").iterdir()) == []  # not even the .md
    assert not (tmp_path / "evil.png").exists()


async def test_a_chat_moved_to_another_provider_sends_its_images_as_that_one_takes_them(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    srv = await servers.start(
        {
            "up": openai_provider(upstream),
            "an": openai_provider(upstream, scheme="anthropic", base_url=upstream.base_url),
            "blind": openai_provider(upstream, vision=False),
        }
    )
    client = connect(srv)
    upstream.push(Reply(chunks=["a wide photo"]))
    await send(client, "pics", asking(photo(2000, 1500), "wide.jpg", "image/jpeg"))
    with Image.open(io.BytesIO(sent_image(upstream)[1])) as seen:
        assert seen.size == (2000, 1500)  # OpenAI takes it as it is

    await client.rpc(api.Use(chat="pics", provider="an"))
    upstream.push(Reply(chunks=["smaller now"]))
    _, events = await send(client, "pics", "and here?")
    assert events[-1].data["status"] == "complete"
    with Image.open(io.BytesIO(sent_image(upstream)[1])) as seen:
        assert seen.size == (1568, 1176)  # fitted again for Anthropic

    await client.rpc(api.Use(chat="pics", provider="blind"))
    upstream.push(Reply(chunks=["no picture"]))
    _, events = await send(client, "pics", "and without eyes?")
    assert events[-1].data["status"] == "complete"
    first = upstream.requests[-1].body["messages"][1]["content"]
    assert {"type": "text", "text": "[image wide.jpg left out: this model takes no images]"} in (
        first
    )


async def test_a_json_export_too_large_for_an_import_says_to_export_markdown(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    config = servers.config({"up": openai_provider(upstream)})
    config.server.max_import = 2000
    client = connect(await servers.start_with(config))
    upstream.push(Reply(chunks=["noise"]))
    await send(client, "pics", asking(photo(300, 200), "noise.jpg", "image/jpeg"))
    with pytest.raises(ArgumentError, match="export it as Markdown"):
        await client.rpc(api.Export(chat="pics", format="json"))
    result = await client.rpc(api.Export(chat="pics", format="md"))  # files beside it
    assert len(result.images) == 1 and "noise.jpg" in result.data
