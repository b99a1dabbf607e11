"""Limits a user meets: requests over the server's size, imports in pieces."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from chatthy.errors import ConflictError, NotFoundError, TooLargeError
from chatthy.server.app import Server
from chatthy.wire import api
from helpers import ClientMaker, ServerFactory
from test_cli import chatthy


def _export(messages: int, size: int) -> str:
    """A chatthy JSON export of ``messages`` messages of about ``size`` characters."""
    body = "lorem ipsum dolor sit amet, " * (size // 28)
    doc = {
        "format": "chatthy-chat",
        "version": 1,
        "name": "big",
        "personality": "default",
        "messages": [
            {"role": ("user", "assistant")[i % 2], "content": f"{i}: {body}"}
            for i in range(messages)
        ],
    }
    return json.dumps(doc)


async def test_a_request_over_the_servers_limit_is_refused_at_once(
    servers: ServerFactory, connect: ClientMaker
) -> None:
    srv = await servers.start(max_body=65536)
    client = connect(srv)
    began = time.monotonic()
    refused = r"ws_add: the request is 100 KB, over the server.s limit of 66 KB \(its max_body\)"
    with pytest.raises(TooLargeError, match=refused):
        await client.rpc(api.WsAdd(name="big.md", text="x" * 100_000))
    assert time.monotonic() - began < 2  # not the 30 s of "no answer from the server"
    assert (await client.rpc(api.Status())).max_body == 65536
    assert await client.rpc(api.WsList()) == []  # nothing half-stored


async def test_a_chat_larger_than_one_request_imports_in_pieces(
    servers: ServerFactory, connect: ClientMaker
) -> None:
    srv = await servers.start(max_body=65536)
    client = connect(srv)
    data = _export(400, 600)
    assert len(data.encode()) > 3 * 65536
    imported = await client.import_text(data, chat="mine")
    assert (imported.chat, imported.messages) == ("mine", 400)
    page = await client.rpc(api.Messages(chat="mine", limit=1000))
    sent = [m["content"] for m in json.loads(data)["messages"]]
    assert [m.content for m in page.messages] == sent


async def test_import_pieces_must_arrive_in_order_and_whole(
    server: Server, connect: ClientMaker
) -> None:
    client = connect(server)
    other = connect(server, profile="bob")
    raw = _export(4, 100).encode()
    upload = (await client.rpc(api.ImportBegin(size=len(raw)))).upload
    await client.rpc(api.ImportAppend(upload=upload, offset=0, data=raw[:50]))
    with pytest.raises(ConflictError, match="at byte 0, but 50 bytes have arrived"):
        await client.rpc(api.ImportAppend(upload=upload, offset=0, data=raw[:50]))
    with pytest.raises(ConflictError, match="has 50 of its"):
        await client.rpc(api.ImportFinish(upload=upload))
    with pytest.raises(NotFoundError):  # another profile cannot touch it
        await other.rpc(api.ImportAppend(upload=upload, offset=50, data=raw[50:]))
    await client.rpc(api.ImportAppend(upload=upload, offset=50, data=raw[50:]))
    assert (await client.rpc(api.ImportFinish(upload=upload))).messages == 4
    with pytest.raises(NotFoundError):  # finished: gone
        await client.rpc(api.ImportFinish(upload=upload))


async def test_an_import_over_max_import_is_refused_before_sending(
    servers: ServerFactory, connect: ClientMaker
) -> None:
    srv = await servers.start(max_body=65536, max_import=100_000)
    client = connect(srv)
    with pytest.raises(TooLargeError, match="over the server's limit of 100 KB"):
        await client.import_text(_export(300, 600))
    with pytest.raises(TooLargeError, match="max_import"):
        await client.rpc(api.ImportBegin(size=200_000))


async def test_chatthy_import_of_a_20000_message_export(
    servers: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = await servers.start()
    monkeypatch.setenv("CHATTHY_SERVER", srv.address)
    monkeypatch.setenv("CHATTHY_PROFILE", "cli")
    monkeypatch.setenv("CHATTHY_PASSPHRASE", "pw")
    path = tmp_path / "big.json"
    path.write_text(_export(20_000, 280), encoding="utf-8")
    assert 6_000_000 < path.stat().st_size < 6_500_000
    code, out, err = await chatthy("import", str(path))
    assert (code, err) == (0, "")
    assert "imported 20000 message(s) into chat 'big'" in out
