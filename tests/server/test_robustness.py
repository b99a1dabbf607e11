"""Bad requests and failed starts change nothing; hostile bytes get a coded answer."""

from __future__ import annotations

import asyncio
import json
import sys

import msgspec
import pytest

from chatthy.config import ProviderConfig
from chatthy.errors import ArgumentError, NotFoundError, SignatureError
from chatthy.server.app import Server
from helpers import ClientMaker, RawPeer, ServerFactory, key_for, openai_provider, request, turn
from upstream import Reply, Upstream


async def contents(client: object, chat: str) -> list[tuple[str, str]]:
    page = await client.call("messages", chat=chat)  # type: ignore[attr-defined]
    return [(m.role, m.content) for m in page.messages]


async def test_edit_that_cannot_fit_changes_nothing(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    srv = await servers.start(
        {"small": openai_provider(upstream, context_length=300, max_tokens=100)}
    )
    client = connect(srv)
    upstream.push(Reply(chunks=["short answer"]))
    await turn(client, "c", "short question")
    before = await contents(client, "c")
    with pytest.raises(ArgumentError, match="provider accepts"):
        await client.start("edit", "c", text="word " * 2000)
    assert await contents(client, "c") == before
    upstream.push(Reply(chunks=["still works"]))
    assert (await turn(client, "c", "next")).text == "still works"


async def test_a_message_too_long_leaves_no_new_chat_and_an_old_one_as_it_was(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    srv = await servers.start(
        {"small": openai_provider(upstream, context_length=300, max_tokens=100)}
    )
    client = connect(srv)
    with pytest.raises(ArgumentError, match="provider accepts"):
        await client.start("chat", "new", text="word " * 2000)
    assert await client.call("chats") == []
    upstream.push(Reply(chunks=["short answer"]))
    await turn(client, "old", "short question")
    before = await contents(client, "old")
    with pytest.raises(ArgumentError, match="provider accepts"):
        await client.start("chat", "old", text="word " * 2000)
    assert await contents(client, "old") == before
    assert [c.name for c in await client.call("chats")] == ["old"]


async def test_regenerate_with_provider_gone_changes_nothing(
    server: Server, connect: ClientMaker
) -> None:
    client = connect(server)
    await turn(client, "c", "keep me")
    await server.store.update_chat("alice", "c", provider="retired")
    with pytest.raises(NotFoundError, match="no provider 'retired'"):
        await client.start("regenerate", "c")
    assert await contents(client, "c") == [("user", "keep me"), ("assistant", "echo: keep me")]


async def test_destroyed_chat_does_not_replay(server: Server, connect: ClientMaker) -> None:
    client = connect(server)
    await turn(client, "secret", "old secret content")
    await client.call("destroy", chat="secret")
    await client.call("new", chat="secret")
    other = connect(server)
    assert await other.attach("secret") is None


async def test_out_of_range_numbers_are_bad_args(server: Server, connect: ClientMaker) -> None:
    client = connect(server)
    await turn(client, "c", "hi")
    for method, args in [
        ("messages", {"chat": "c", "before": 2**64 - 1}),
        ("messages", {"chat": "c", "limit": -1}),
        ("fork", {"chat": "c", "new": "d", "message_id": 2**64 - 1}),
        ("attach", {"chat": "c", "from_seq": -5}),
        ("search", {"query": "x", "limit": 10**9}),
    ]:
        with pytest.raises(ArgumentError):
            await client.call(method, **args)


async def test_reserved_params_and_bad_parts_are_refused(
    server: Server, connect: ClientMaker
) -> None:
    client = connect(server)
    with pytest.raises(ArgumentError, match="params may not set model"):
        await client.start("chat", "c", text="hi", params={"model": "x"})
    with pytest.raises(ArgumentError, match="part 1"):
        await client.start("chat", "c", content=[1, 2])
    with pytest.raises(ArgumentError, match="import: message 1: part 1"):
        await client.call("import", data='[{"role": "user", "content": [1, 2]}]')
    with pytest.raises(ArgumentError, match="nested too deeply"):
        await client.call("import", data="[" * 100_000)
    assert await client.call("chats") == []


async def test_import_with_infinite_time_exports_valid_json(
    server: Server, connect: ClientMaker
) -> None:
    client = connect(server)
    data = '[{"role": "user", "content": "hi", "created": 1e400}]'
    await client.call("import", data=data, chat="odd")
    exported = (await client.call("export", chat="odd", format="json")).data
    assert json.loads(exported, parse_constant=lambda c: pytest.fail(c))["messages"]


async def test_deep_nesting_before_auth(servers: ServerFactory, connect: ClientMaker) -> None:
    srv = await servers.start({"echo": ProviderConfig(scheme="echo")})
    peer = RawPeer(srv.address)
    try:
        reply = await peer.send(b"\x91" * 200_000 + b"\xc0", b"sig")
        assert reply.error is not None and reply.error.code == "bad_message"
        key = key_for("alice")
        body = msgspec.msgpack.encode({"v": 1, "args": {"a": [[[[[[1]]]]]]}})
        reply = await peer.send(body, key.sign(body))
        assert reply.error is not None and reply.error.code == "bad_message"
    finally:
        peer.close()
    assert (await connect(srv).call("status")).profile == "alice"


async def test_frame_over_transport_limit_is_dropped(
    servers: ServerFactory, connect: ClientMaker
) -> None:
    srv = await servers.start({"echo": ProviderConfig(scheme="echo")}, max_body=1024)
    peer = RawPeer(srv.address)
    key = key_for("alice")
    body = request(key, args={"blob": "x" * 100_000})
    drops = peer.watch_drops()
    try:
        await peer.sock.send_multipart([body, key.sign(body)])
        await peer.dropped(drops)
    finally:
        peer.close()
    assert (await connect(srv).call("status")).profile == "alice"


async def test_listed_key_beats_an_earlier_squatter(
    servers: ServerFactory, connect: ClientMaker
) -> None:
    echo = {"echo": ProviderConfig(scheme="echo")}
    first = await servers.start(echo)
    await connect(first, "carol", "mallory's guess").call("status")
    await servers.stop(first)
    second = await servers.start(echo, profiles={"carol": key_for("carol").public_key.hex()})
    assert (await connect(second, "carol").call("status")).profile == "carol"
    with pytest.raises(SignatureError, match="wrong passphrase"):
        await connect(second, "carol", "mallory's guess").call("status")


HIT_AND_RUN = """
import os, sys, zmq
address, rounds = sys.argv[1], int(sys.argv[2])
aborted = 0
for _ in range(rounds):
    pid = os.fork()
    if pid == 0:
        ctx = zmq.Context()
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(address)
        sock.send_multipart([b"\\x81" + b"x" * 200_000, b"sig"])
        sock.close(0)
        ctx.term()
        os._exit(0)
    aborted += os.waitpid(pid, 0)[1] != 0
print(rounds, aborted)
"""


async def test_clients_that_send_oversized_frames_and_vanish_leave_the_server_up(
    servers: ServerFactory, connect: ClientMaker
) -> None:
    # Each peer runs in a process of its own: libzmq 4.3.5 may abort a peer
    # that closes while its frame is being refused, and that must cost the
    # server (this process) nothing.
    srv = await servers.start({"echo": ProviderConfig(scheme="echo")}, max_body=1024)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HIT_AND_RUN, srv.address, "100", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(child.communicate(), 60)
    assert child.returncode == 0 and out.split()[0] == b"100"
    assert (await connect(srv).call("status")).profile == "alice"
