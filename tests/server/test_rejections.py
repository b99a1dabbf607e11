"""Every bad message gets a coded error reply, and the server keeps serving."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator

import msgspec
import pytest

from chatthy.config import ProviderConfig
from chatthy.errors import ArgumentError, UnknownMethodError
from chatthy.server.app import Server
from chatthy.wire.messages import PROTOCOL_VERSION, Reply
from helpers import ClientMaker, RawPeer, ServerFactory, key_for, request


@pytest.fixture
async def small_server(servers: ServerFactory) -> Server:
    return await servers.start(
        {"echo": ProviderConfig(scheme="echo", model="echo")}, max_body=4096, clock_window=30
    )


@pytest.fixture
async def peer(small_server: Server) -> AsyncIterator[RawPeer]:
    p = RawPeer(small_server.address)
    yield p
    p.close()


async def assert_rejected(peer: RawPeer, code: str, *frames: bytes) -> Reply:
    reply = await peer.send(*frames)
    assert not reply.ok
    assert reply.error is not None
    assert reply.error.code == code, reply.error
    assert "Traceback" not in reply.error.message
    return reply


async def test_undecodable_body(peer: RawPeer) -> None:
    await assert_rejected(peer, "bad_message", b"\xc1\xff not msgpack", b"sig")


async def test_wrong_envelope_types(peer: RawPeer) -> None:
    body = msgspec.msgpack.encode({"v": "one", "id": 5, "method": ["x"]})
    await assert_rejected(peer, "bad_message", body, b"sig")


async def test_missing_signature_frame(peer: RawPeer) -> None:
    await assert_rejected(peer, "bad_message", request(key_for("alice")))


async def test_oversize_body(peer: RawPeer) -> None:
    key = key_for("alice")
    body = request(key, method="chat", args={"chat": "x", "text": "a" * 10_000})
    await assert_rejected(peer, "too_large", body, key.sign(body))


async def test_bad_signature(peer: RawPeer) -> None:
    key = key_for("alice")
    body = request(key)
    await assert_rejected(peer, "bad_signature", body, key_for("mallory").sign(body))


async def test_body_changed_after_signing(peer: RawPeer) -> None:
    key = key_for("alice")
    body = request(key)
    signature = key.sign(body)
    tampered = body.replace(b"status", b"chats!")
    await assert_rejected(peer, "bad_signature", tampered, signature)


async def test_stale_and_future_timestamps(peer: RawPeer) -> None:
    key = key_for("alice")
    for ts in (time.time() - 120, time.time() + 120):
        body = request(key, ts=ts)
        reply = await assert_rejected(peer, "stale", body, key.sign(body))
        assert "clock" in reply.error.message  # type: ignore[union-attr]


async def test_replayed_nonce(peer: RawPeer) -> None:
    key = key_for("alice")
    body = request(key)
    first = await peer.send(body, key.sign(body))
    assert first.ok
    await assert_rejected(peer, "replay", body, key.sign(body))


async def test_other_protocol_version(peer: RawPeer) -> None:
    key = key_for("alice")
    body = request(key, v=PROTOCOL_VERSION + 1)
    reply = await assert_rejected(peer, "version", body, key.sign(body))
    assert "upgrade" in reply.error.message  # type: ignore[union-attr]


async def test_wrong_passphrase_for_registered_profile(peer: RawPeer) -> None:
    good = key_for("alice", "right")
    body = request(good)
    assert (await peer.send(body, good.sign(body))).ok
    bad = key_for("alice", "wrong")
    body = request(bad)
    reply = await assert_rejected(peer, "bad_signature", body, bad.sign(body))
    assert "wrong passphrase" in reply.error.message  # type: ignore[union-attr]


async def test_unknown_method_and_bad_args(small_server: Server, connect: ClientMaker) -> None:
    client = connect(small_server)
    with pytest.raises(UnknownMethodError, match="unknown command 'launch'"):
        await client.call("launch")
    with pytest.raises(ArgumentError, match="rename"):
        await client.call("rename", chat=3, new=["x"])
    with pytest.raises(ArgumentError):
        await client.call("chats", colour="blue")


async def test_server_still_serves_after_garbage(
    peer: RawPeer, small_server: Server, connect: ClientMaker
) -> None:
    for junk in (b"", b"\x00" * 100, msgspec.msgpack.encode([1, 2, 3]), os.urandom(3000)):
        await peer.send(junk, b"")
    client = connect(small_server)
    status = await client.call("status")
    assert status.profile == "alice"


async def test_closed_registration(servers: ServerFactory, connect: ClientMaker) -> None:
    listed = key_for("carol")
    srv = await servers.start(
        {"echo": ProviderConfig(scheme="echo", model="echo")},
        registration="closed",
        profiles={"carol": listed.public_key.hex()},
    )
    from chatthy.errors import DeniedError

    # An unknown profile and a wrong passphrase get the same answer: a stranger cannot
    # tell which profiles exist; the owner is told to check for a typo.
    with pytest.raises(DeniedError) as unknown:
        await connect(srv, "dave").call("status")
    with pytest.raises(DeniedError) as typo:
        await connect(srv, "carol", "not carol's").call("status")
    assert unknown.value.message.replace("dave", "X") == typo.value.message.replace("carol", "X")
    assert "typo" in typo.value.message
    assert (await connect(srv, "carol").call("status")).profile == "carol"
    assert (await connect(srv, "carol").call("account")).profile == "carol"
