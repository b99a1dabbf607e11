"""Images a client sends: only the image itself (a data: URL) reaches a model; a part of
the wrong shape is a coded refusal, never an internal error."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from chatthy.errors import ArgumentError
from chatthy.server.app import Server
from chatthy.wire import api
from helpers import PNG_URL, ClientMaker, png_bytes

PNG = PNG_URL


@pytest.mark.parametrize(
    "image",
    [["data:image/png;base64,iVBORw0KGgo="], 5, None, {"url": 5}, {"link": PNG}],
    ids=["list", "number", "null", "url-number", "no-url"],
)
async def test_an_image_part_of_the_wrong_shape_is_bad_args(
    server: Server, connect: ClientMaker, image: Any
) -> None:
    client = connect(server)
    content = [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": image}]
    with pytest.raises(ArgumentError, match=r"part 2 of the message \(image_url\) is missing"):
        await client.start("chat", "c", content=content)
    assert await client.rpc(api.Chats()) == []  # nothing stored


@pytest.mark.parametrize(
    "url", ["https://example.org/a.png", "http://127.0.0.1:8080/admin.png", "file:///etc/passwd"]
)
async def test_an_image_at_a_url_is_refused_in_a_turn(
    server: Server, connect: ClientMaker, url: str
) -> None:
    client = connect(server)
    content = [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": url}}]
    with pytest.raises(
        ArgumentError, match=r"part 2 of the message is (an image at a URL|not an image)"
    ):
        await client.start("chat", "c", content=content)
    stream, _ = await client.start(
        "chat", "c", content=[{"type": "image_url", "image_url": {"url": PNG}}]
    )
    async for _event in stream.events():
        pass  # the image itself is taken


async def test_an_imported_image_at_a_url_is_kept_as_text_naming_it(
    server: Server, connect: ClientMaker
) -> None:
    client = connect(server)
    data = (
        '[{"role": "user", "content": [{"type": "text", "text": "what is this?"},'
        ' {"type": "image_url", "image_url": {"url": "https://example.org/heron.png"}},'
        f' {{"type": "image_url", "image_url": {{"url": "{PNG}"}}}}]}}]'
    )
    await client.rpc(api.Import(data=data, chat="old"))
    page = await client.rpc(api.Messages(chat="old"))
    assert page.messages[0].content == [
        {"type": "text", "text": "what is this?"},
        {"type": "text", "text": "[image: https://example.org/heron.png]"},
        {  # the image itself kept by digest, as a turn's would be
            "type": "image_url",
            "image_url": {"url": f"chatthy-image:{hashlib.sha256(png_bytes()).hexdigest()}"},
            "media_type": "image/png",
            "width": 4,
            "height": 3,
        },
    ]
