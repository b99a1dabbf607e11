"""Limits a user meets: requests over the server's size, imports in pieces."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import pytest
import zmq
import zmq.asyncio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chatthy.client.core import Client
from chatthy.config import LimitsConfig
from chatthy.errors import (
    ArgumentError,
    ConflictError,
    DeniedError,
    NotFoundError,
    QuotaExceededError,
    RateLimitedError,
    RegistrationError,
    TooLargeError,
)
from chatthy.server.app import Server
from chatthy.wire import api
from chatthy.wire.messages import Reply as WireReply
from chatthy.wire.messages import decode_server_message
from chatthy.wire.signing import SigningKey
from helpers import (
    ClientMaker,
    RawPeer,
    ServerFactory,
    key_for,
    openai_provider,
    request,
    turn,
)
from test_cli import chatthy
from upstream import Reply, Upstream


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


# --- who may register, and how fast -------------------------------------------------


def _stranger() -> SigningKey:
    """A fresh key without scrypt (as an attacker would make them)."""
    return SigningKey(Ed25519PrivateKey.generate())


async def test_auto_registration_is_open_on_loopback_and_closed_beyond(
    servers: ServerFactory, connect: ClientMaker
) -> None:
    local = await servers.start()
    assert (await connect(local, profile="carol").rpc(api.Account())).profile == "carol"
    config = servers.config()
    config.server.listen = "tcp://0.0.0.0:0"
    wide = await servers.start_with(config)
    port = wide.address.rsplit(":", 1)[1]
    client = connect(f"tcp://127.0.0.1:{port}", "dave", server_key=wide.public_key.encode())
    with pytest.raises(DeniedError, match="registration is closed"):
        await client.rpc(api.Account())


async def test_an_invite_code_is_asked_of_new_profiles_only(
    servers: ServerFactory, connect: ClientMaker
) -> None:
    srv = await servers.start(registration="open", invite="sesame")
    with pytest.raises(RegistrationError, match=r"invite code .* CHATTHY_INVITE"):
        await connect(srv).rpc(api.Status())
    with pytest.raises(RegistrationError, match="invite code"):
        await connect(srv, invite="open up").rpc(api.Status())
    invited = connect(srv, invite="sesame")
    assert (await invited.rpc(api.Status())).profile == "alice"  # registered on the way
    assert (await connect(srv).rpc(api.Account())).profile == "alice"  # known now


async def test_a_flood_of_registrations_from_one_address_is_throttled(
    servers: ServerFactory, connect: ClientMaker
) -> None:
    config = servers.config()
    config.limits = LimitsConfig(registration_burst=3, registrations_per_hour=1.0)
    srv = await servers.start_with(config)
    known = connect(srv)
    await known.rpc(api.Status())  # alice registers (1 of 3)
    peer = RawPeer(srv.address)
    codes = []
    try:
        for n in range(20):
            key = _stranger()
            body = request(key, profile=f"bot{n}")
            reply = await peer.send(body, key.sign(body))
            codes.append(reply.error.code if reply.error else "ok")
            if reply.error and reply.error.code == "rate_limited":
                assert re.search(
                    r"too many new profiles from 127\.0\.0\.1 \(retry in \d+", reply.error.message
                )
    finally:
        peer.close()
    assert codes.count("ok") == 2 and codes.count("rate_limited") == 18
    began = time.monotonic()
    assert (await known.rpc(api.Status())).profile == "alice"  # known profiles still answer
    assert time.monotonic() - began < 0.5


async def test_a_flood_of_requests_is_throttled_and_others_still_answer(
    servers: ServerFactory, connect: ClientMaker
) -> None:
    config = servers.config()
    config.limits = LimitsConfig(connection_rate=5.0, connection_burst=20, profile_burst=30)
    srv = await servers.start_with(config)
    flooder, other = connect(srv), connect(srv, profile="bob")
    await other.rpc(api.Status())
    began = time.monotonic()
    results = await asyncio.gather(
        *(flooder.rpc(api.Status()) for _ in range(100)), return_exceptions=True
    )
    # 101 requests with its hello: the burst of 20 and 5 a second while they ran get in
    allowed = 20 + 5 * (time.monotonic() - began)
    limited = [r for r in results if isinstance(r, RateLimitedError)]
    assert 101 - allowed - 2 <= len(limited) <= 81, len(limited)
    assert limited[0].retry_after is not None and 0 < limited[0].retry_after < 1
    assert "too many requests on this connection (retry in" in limited[0].message
    began = time.monotonic()
    await other.rpc(api.Status())
    assert time.monotonic() - began < 0.5
    # a second connection of the same profile shares the profile's bucket (30)
    second = connect(srv)
    results = await asyncio.gather(
        *(second.rpc(api.Status()) for _ in range(20)), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, RateLimitedError)]
    assert refused and "from profile 'alice'" in refused[0].message


async def test_the_stored_bytes_quota_refuses_writes_and_lets_deletes_free_room(
    servers: ServerFactory, connect: ClientMaker
) -> None:
    config = servers.config()
    config.limits = LimitsConfig(stored_bytes=5000)
    srv = await servers.start_with(config)
    client = connect(srv)
    await client.rpc(api.WsAdd(name="a.md", text="a" * 3000))
    await client.rpc(api.WsAdd(name="b.md", text="b" * 3000))
    with pytest.raises(QuotaExceededError, match=r"stores 6\.0 KB of its 5\.0 KB: delete"):
        await client.rpc(api.WsAdd(name="c.md", text="c"))
    with pytest.raises(QuotaExceededError):
        await client.rpc(api.PromptSet(name="p", text="c"))
    assert [f.name for f in await client.rpc(api.WsList())] == ["a.md", "b.md"]  # reads work
    await client.rpc(api.WsDrop(name="b.md"))
    await client.rpc(api.WsAdd(name="c.md", text="c"))  # room again
    assert await connect(srv, profile="bob").rpc(api.WsAdd(name="x", text="x" * 4000))


async def test_a_provider_offers_only_its_listed_models_and_max_tokens_up_to_its_ceiling(
    servers: ServerFactory, connect: ClientMaker, upstream: Upstream
) -> None:
    srv = await servers.start(
        {"up": openai_provider(upstream, models=["small"], max_tokens_ceiling=512)}
    )
    client = connect(srv)
    with pytest.raises(
        ArgumentError, match="provider 'up' offers only these models: test-model, small"
    ):
        await client.rpc(api.Use(chat="c", model="gpt-huge"))
    with pytest.raises(ArgumentError, match="offers only these models"):
        await client.start("chat", "d", text="hi", model="gpt-huge")
    with pytest.raises(
        ArgumentError, match=r"params max_tokens=100000 is over provider 'up''s ceiling of 512"
    ):
        await client.start("chat", "c", text="hi", params={"max_tokens": 100_000})
    upstream.push(Reply(chunks=["fine"]))
    seen = await turn(client, "c", "hi", model="small", params={"max_tokens": 512})
    assert seen.text == "fine"
    assert upstream.requests[-1].body["model"] == "small"


async def test_tokens_per_day_are_a_quota_per_profile_and_provider(
    servers: ServerFactory, connect: ClientMaker, upstream: Upstream
) -> None:
    srv = await servers.start({"up": openai_provider(upstream, tokens_per_day=20)})
    alice, bob = connect(srv), connect(srv, profile="bob")
    upstream.push(Reply(chunks=["one"], usage=(15, 10)))
    assert (await turn(alice, "c", "hi")).text == "one"
    with pytest.raises(QuotaExceededError, match="spent its 20 tokens of today on provider 'up'"):
        await alice.start("chat", "c", text="again")
    upstream.push(Reply(chunks=["two"]))
    assert (await turn(bob, "c", "hi")).text == "two"  # bob's own day


# --- slow readers ---------------------------------------------------------------------


async def _big_chat(client: Client, messages: int = 40, size: int = 40_000) -> None:
    await client.import_text(_export(messages, size), chat="big")


async def test_a_peer_that_stops_reading_gets_refusals_not_a_queue(
    server: Server, connect: ClientMaker
) -> None:
    await _big_chat(connect(server))  # one messages page: about 1.6 MB
    key = key_for("alice")
    ctx = zmq.asyncio.Context()
    slow = ctx.socket(zmq.DEALER)
    slow.setsockopt(zmq.RCVHWM, 1)  # its transport stops taking in answers at once
    slow.setsockopt(zmq.RCVBUF, 65536)
    slow.setsockopt(zmq.LINGER, 0)
    slow.connect(server.address)
    try:
        for _ in range(30):
            body = request(key, method="messages", args={"chat": "big", "limit": 200})
            await slow.send_multipart([body, key.sign(body)])
        other = connect(server, profile="bob")
        began = time.monotonic()
        await other.rpc(api.Status())  # the server still answers others at once
        assert time.monotonic() - began < 0.5
        await asyncio.sleep(0.5)
        answers = []
        for _ in range(30):
            async with asyncio.timeout(10):
                answers.append(decode_server_message((await slow.recv_multipart())[0]))
    finally:
        slow.close(0)
        ctx.term()
    full = [a for a in answers if isinstance(a, WireReply) and a.ok]
    refused = [a.error for a in answers if isinstance(a, WireReply) and a.error]
    # 16 MB queued in the server at most (reply_queue), a few more in the kernel's buffers
    assert 1 <= len(full) <= 16, len(full)
    assert len(full) + len(refused) == 30
    assert {e.code for e in refused} == {"rate_limited"}
    assert "still waiting for this connection to read them" in refused[0].message


async def test_an_answer_over_max_reply_is_refused_with_a_reason(
    servers: ServerFactory, connect: ClientMaker
) -> None:
    config = servers.config()
    config.limits = LimitsConfig(max_reply=200_000)
    srv = await servers.start_with(config)
    client = connect(srv)
    await _big_chat(client, messages=20, size=20_000)
    with pytest.raises(TooLargeError, match=r"over the server's limit of 200000 \(max_reply\)"):
        await client.rpc(api.Messages(chat="big"))
    assert len((await client.rpc(api.Messages(chat="big", limit=5))).messages) == 5


async def test_chatthy_says_in_one_line_what_a_limit_refused(
    servers: ServerFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    srv = await servers.start(registration="open", invite="sesame", max_body=65536)
    monkeypatch.setenv("CHATTHY_SERVER", srv.address)
    monkeypatch.setenv("CHATTHY_PROFILE", "cli")
    monkeypatch.setenv("CHATTHY_PASSPHRASE", "pw")
    code, _, err = await chatthy("chats")
    assert code == 1
    assert err == (
        "chatthy: profile 'cli' is not registered: this server asks new profiles for its "
        "invite code (set invite in client.toml, or CHATTHY_INVITE)\n"
    )
    code, _out, err = await chatthy("chats", env={"CHATTHY_INVITE": "sesame"})
    assert (code, err) == (0, "")
    big = tmp_path / "big.md"
    big.write_text("x" * 100_000, encoding="utf-8")
    code, _, err = await chatthy("ws", "add", str(big))
    assert code == 1 and err.count("\n") == 1
    assert "100 KB, over the server's limit of 66 KB (its max_body)" in err
