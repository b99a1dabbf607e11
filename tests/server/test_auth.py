"""Authentication and replay: nothing a stranger sends is kept, a captured request cannot
be replayed (here, after a restart, or on another server), admin rights need a listed
key, and an owner can change its passphrase."""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from chatthy.client.core import Client
from chatthy.config import LimitsConfig, ProviderConfig
from chatthy.errors import AuthError, DeniedError, SignatureError
from chatthy.server.app import Server
from chatthy.server.auth import Authenticator
from chatthy.wire import api
from chatthy.wire.messages import decode_request
from chatthy.wire.signing import SigningKey, derive_key, fingerprint
from helpers import ClientMaker, RawPeer, ServerFactory, key_for, request

ECHO = {"echo": ProviderConfig(scheme="echo", model="echo", params={"delay": 0.0})}


async def test_refused_messages_leave_the_replay_memory_empty(servers: ServerFactory) -> None:
    config = servers.config(ECHO, registration="closed")
    # the rate limits would refuse most of the flood before authentication: lifted here,
    # so every message reaches the checks this test is about
    config.limits = LimitsConfig(connection_burst=20_000, profile_burst=20_000)
    srv = await servers.start_with(config)
    mallory = key_for("mallory")
    peer = RawPeer(srv.address)
    try:
        frames: list[list[bytes]] = []
        for n in range(10_000):
            if n % 2:  # an unregistered profile on a closed server, validly signed
                body = request(mallory, "mallory", method="destroy", args={"chat": "x"})
                frames.append([body, mallory.sign(body)])
            else:  # the largest nonce that fits in a body: not of the fixed size
                body = request(mallory, "mallory", nonce=os.urandom(3000))
                frames.append([body, mallory.sign(body)])
        for each in frames:
            await peer.sock.send_multipart(each)
        codes: dict[str, int] = {}
        for _ in frames:
            reply = await peer.read()
            assert reply.error is not None
            codes[reply.error.code] = codes.get(reply.error.code, 0) + 1
    finally:
        peer.close()
    assert codes == {"bad_message": 5_000, "denied": 5_000}
    assert srv.auth.remembered == 0


async def test_a_replayed_request_is_still_refused(server: Server) -> None:
    key = key_for("alice")
    body = request(key, method="new", args={"chat": "once"})
    peer = RawPeer(server.address)
    try:
        assert (await peer.send(body, key.sign(body))).ok
        assert server.auth.remembered == 1
        again = await peer.send(body, key.sign(body))
    finally:
        peer.close()
    assert again.error is not None and again.error.code == "replay"


async def test_the_replay_memory_is_bounded(server: Server) -> None:
    """Full, it forgets the oldest nonces and refuses what was signed before them."""
    auth = Authenticator(server.store, server_id="0" * 32, max_nonces=100, started=0.0)
    key = key_for("alice")
    bodies = []
    for n in range(300):
        body = request(key, server="0" * 32, ts=time.time() - 30 + n * 0.01)
        await auth.check(decode_request(body), body, key.sign(body))
        bodies.append(body)
        assert auth.remembered <= 100
    from chatthy.errors import ClockError, ReplayError

    with pytest.raises(ClockError, match="before what this server still remembers"):
        await auth.check(decode_request(bodies[0]), bodies[0], key.sign(bodies[0]))
    with pytest.raises(ReplayError):
        await auth.check(decode_request(bodies[-1]), bodies[-1], key.sign(bodies[-1]))
    fresh = request(key, server="0" * 32)
    await auth.check(decode_request(fresh), fresh, key.sign(fresh))


async def test_a_captured_destroy_is_refused_after_a_restart_and_on_another_server(
    servers: ServerFactory, connect: ClientMaker, tmp_path: Path
) -> None:
    srv = await servers.start(ECHO)
    client = connect(srv)
    await client.rpc(api.New(chat="keep"))
    key = key_for("alice")
    captured = request(key, method="destroy", args={"chat": "keep"})
    signature = key.sign(captured)
    peer = RawPeer(srv.address)
    try:
        assert (await peer.send(captured, signature)).ok
    finally:
        peer.close()
    await client.rpc(api.New(chat="keep"))  # made again after the captured destroy

    address = srv.address
    await servers.stop(srv)
    restarted = await servers.start_with(servers.config(ECHO, listen=address))
    peer = RawPeer(address)
    try:
        reply = await peer.send(captured, signature)
    finally:
        peer.close()
    assert reply.error is not None and reply.error.code == "wrong_server", reply.error
    assert "before this server started" in reply.error.message
    # The same client goes on across the restart (same id, new requests).
    assert [c.name for c in await client.rpc(api.Chats())] == ["keep"]
    assert client.server_id == restarted.auth.server_id

    other_config = servers.config(ECHO)
    other_config.data_dir = str(tmp_path / "other")
    other = await servers.start_with(other_config)
    await connect(other).rpc(api.New(chat="keep"))  # alice, same passphrase, there too
    peer = RawPeer(other.address)
    try:
        fresh = request(key, method="destroy", args={"chat": "keep"})
        reply = await peer.send(fresh, key.sign(fresh))
    finally:
        peer.close()
    assert reply.error is not None and reply.error.code == "wrong_server", reply.error
    assert [c.name for c in await connect(other).rpc(api.Chats())] == ["keep"]


async def test_a_client_relearns_the_id_of_a_server_replaced_at_its_address(
    servers: ServerFactory, connect: ClientMaker, tmp_path: Path
) -> None:
    srv = await servers.start(ECHO)
    client = connect(srv)
    await client.rpc(api.Status())
    first_id = client.server_id
    address = srv.address
    await servers.stop(srv)
    config = servers.config(ECHO, listen=address)
    config.data_dir = str(tmp_path / "elsewhere")
    replacement = await servers.start_with(config)
    assert (await client.rpc(api.Status())).profile == "alice"
    assert client.server_id == replacement.auth.server_id != first_id


async def test_hello_tells_a_new_profile_and_registers_nothing(
    server: Server, connect: ClientMaker
) -> None:
    asked: list[str] = []

    async def refuse() -> None:
        asked.append("again?")
        raise DeniedError("the passphrases do not match: nothing registered")

    client = connect(server, "newbie")
    client.on_new_profile = refuse
    with pytest.raises(DeniedError, match="do not match"):
        await client.rpc(api.Status())
    assert asked == ["again?"]
    assert await server.store.get_profile("newbie") is None

    client.on_new_profile = None
    assert not (await client.hello()).registered
    await client.rpc(api.Status())
    assert (await client.hello()).registered


async def test_admin_rights_need_a_listed_key(servers: ServerFactory, connect: ClientMaker) -> None:
    srv = await servers.start(ECHO, admins=["root"])
    squatter = connect(srv, "root", "first come")
    assert (await squatter.rpc(api.Status())).profile == "root"  # the name is taken …
    with pytest.raises(AuthError, match="only the server's admins"):
        await squatter.rpc(api.Load(provider="echo", model="x"))  # … but not the rights


async def test_an_owner_changes_its_passphrase(server: Server, connect: ClientMaker) -> None:
    old = connect(server, "alice", "old")
    await old.rpc(api.New(chat="mine"))
    new_key = key_for("alice", "new")
    done = await old.rpc(api.Rekey(key=new_key.public_key))
    assert done.fingerprint == fingerprint(new_key.public_key)
    with pytest.raises(SignatureError, match="wrong passphrase"):
        await connect(server, "alice", "old").rpc(api.Chats())
    chats = await connect(server, "alice", "new").rpc(api.Chats())
    assert [c.name for c in chats] == ["mine"]


async def test_a_listed_profile_keeps_its_listed_key(
    servers: ServerFactory, connect: ClientMaker
) -> None:
    srv = await servers.start(ECHO, profiles={"carol": key_for("carol").public_key.hex()})
    with pytest.raises(DeniedError, match=r"server\.toml"):
        await connect(srv, "carol").rpc(api.Rekey(key=key_for("carol", "x").public_key))
    assert (await connect(srv, "carol").rpc(api.Status())).profile == "carol"


def _legacy(profile: str, passphrase: str = "secret") -> Callable[[], SigningKey]:
    return functools.partial(derive_key, passphrase, profile, legacy=True)


async def test_a_profile_of_the_old_key_cost_gets_in_and_moves_to_the_new_one(
    server: Server, connect: ClientMaker
) -> None:
    old_key = derive_key("secret", "olga", legacy=True)
    before = Client(server.address, "olga", old_key)
    async with before:
        await before.rpc(api.New(chat="kept"))
    client = connect(server, "olga", legacy_key=_legacy("olga"))
    assert [c.name for c in await client.rpc(api.Chats())] == ["kept"]
    new_key = key_for("olga")
    assert client.key.public_key == new_key.public_key
    record = await server.store.get_profile("olga")
    assert record is not None and record.public_key == new_key.public_key
    # From now on the new key alone gets in, and a wrong passphrase still does not.
    assert (await connect(server, "olga").rpc(api.Status())).profile == "olga"
    with pytest.raises(SignatureError, match="wrong passphrase"):
        await connect(server, "olga", "typo", legacy_key=_legacy("olga", "typo")).rpc(api.Status())


async def test_a_listed_key_of_the_old_cost_still_gets_in(
    servers: ServerFactory, connect: ClientMaker
) -> None:
    old_key = derive_key("secret", "lena", legacy=True)
    srv = await servers.start(
        ECHO, registration="closed", profiles={"lena": old_key.public_key.hex()}
    )
    client = connect(srv, "lena", legacy_key=_legacy("lena"))
    assert (await client.rpc(api.Status())).profile == "lena"
    assert client.key.public_key == old_key.public_key  # server.toml's key stays
    with pytest.raises(DeniedError):
        await connect(srv, "lena", "typo", legacy_key=_legacy("lena", "typo")).rpc(api.Status())


async def test_a_request_made_while_the_server_restarts_goes_through(
    servers: ServerFactory, connect: ClientMaker
) -> None:
    """Signed before the restart, it is refused as such, and the client sends it anew."""
    srv = await servers.start(ECHO)
    client = connect(srv)
    await client.rpc(api.Status())
    address = srv.address
    await servers.stop(srv)
    # once the client has seen the connection go (a request written into the closing
    # connection would be lost, as ZeroMQ gives at most once), and before the new start
    await asyncio.sleep(0.3)
    pending = asyncio.create_task(client.rpc(api.New(chat="during")))
    await asyncio.sleep(0.3)  # signed now, it waits for the server to come back
    await servers.start_with(servers.config(ECHO, listen=address))
    assert (await pending).name == "during"
    assert [c.name for c in await client.rpc(api.Chats())] == ["during"]
