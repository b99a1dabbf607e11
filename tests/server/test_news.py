"""Chat news: every client of a profile hears when one of its chats is made, renamed,
destroyed or changed, or a reply in it ends, whichever client did it; other profiles
hear nothing."""

from __future__ import annotations

import asyncio
import json

import pytest

from chatthy.client.core import Client
from chatthy.conversation.events import ChatNews
from chatthy.errors import ConflictError, DecodeError, NotFoundError
from chatthy.server.app import Server
from chatthy.server.frames import news_frame
from chatthy.wire import api
from chatthy.wire.messages import News, Reply, decode_server_message, encode
from helpers import (
    ClientMaker,
    RawPeer,
    ServerFactory,
    collect,
    key_for,
    openai_provider,
    request,
    turn,
)
from upstream import Reply as Scripted
from upstream import Upstream


async def heard(client: Client) -> list[tuple[str, str, str]]:
    """The news ``client`` has had so far, as (kind, chat, the new name or, for a reply
    that ended, its status): a request of its own answered first means every frame the
    server sent it before that answer has been read."""
    await client.rpc(api.Status())
    found = []
    while not client.news.empty():
        news = client.news.get_nowait()
        found.append((news.kind, news.chat, news.status if news.kind == "replied" else news.new))
    return found


@pytest.fixture
async def trio(server: Server, connect: ClientMaker) -> tuple[Client, Client, Client]:
    """Two clients of alice (the one acting, the one watching) and one of bob, each
    known to the server by a first request."""
    clients = connect(server), connect(server), connect(server, profile="bob")
    for client in clients:
        assert await heard(client) == []
    return clients


async def test_another_client_of_the_profile_hears_of_made_renamed_destroyed_chats(
    trio: tuple[Client, Client, Client],
) -> None:
    a, b, bob = trio
    await a.rpc(api.New(chat="plans"))
    await a.rpc(api.Rename(chat="plans", new="ideas"))
    await a.rpc(api.Destroy(chat="ideas"))
    expected = [
        ("created", "plans", ""),
        ("renamed", "plans", "ideas"),
        ("destroyed", "ideas", ""),
    ]
    assert await heard(b) == expected
    assert await heard(a) == expected  # the one that did it too: front ends take it as done
    assert await heard(bob) == []


async def test_chats_made_by_a_turn_a_fork_use_and_import_are_news(
    trio: tuple[Client, Client, Client],
) -> None:
    a, b, bob = trio
    await turn(a, "talk", "hello")
    await turn(a, "talk", "again")  # a chat that exists: only its reply's end is news
    await a.rpc(api.Fork(chat="talk", new="copy"))
    await a.rpc(api.Use(chat="fresh"))
    await a.rpc(api.Use(chat="fresh"))  # nothing changed
    doc = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
    await a.rpc(api.Import(data=json.dumps(doc), chat="brought"))
    assert await heard(b) == [
        ("created", "talk", ""),
        ("replied", "talk", "complete"),
        ("replied", "talk", "complete"),
        ("created", "copy", ""),
        ("created", "fresh", ""),
        ("created", "brought", ""),
    ]
    assert await heard(bob) == []


async def test_changed_settings_and_messages_are_news(
    trio: tuple[Client, Client, Client],
) -> None:
    a, b, bob = trio
    await a.rpc(api.PromptSet(name="pirate", text="Talk like a pirate."))
    await turn(a, "talk", "one")
    await turn(a, "talk", "two")
    assert await heard(b) == [
        ("created", "talk", ""),
        ("replied", "talk", "complete"),
        ("replied", "talk", "complete"),
    ]
    await a.rpc(api.Use(chat="talk", prompt="pirate"))
    await a.rpc(api.Use(chat="talk", prompt="pirate"))  # the same again: nothing changed
    await a.rpc(api.Undo(chat="talk"))
    assert await heard(b) == [("updated", "talk", ""), ("updated", "talk", "")]
    stream, _ = await a.start("regenerate", "talk")
    await collect(stream)
    stream, _ = await a.start("edit", "talk", text="one, edited")
    await collect(stream)
    assert await heard(b) == [
        ("updated", "talk", ""),
        ("replied", "talk", "complete"),
        ("updated", "talk", ""),
        ("replied", "talk", "complete"),
    ]
    assert await heard(bob) == []


async def test_a_reply_that_ends_is_news_with_how_it_ended(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    srv = await servers.start({"up": openai_provider(upstream)})
    a, b, bob = connect(srv), connect(srv), connect(srv, profile="bob")
    for client in (a, b, bob):
        await heard(client)
    upstream.push(Scripted(chunks=["slow "] * 100, delay=0.05))
    stream, _ = await a.start("chat", "slow", text="take your time")
    async for event in stream.events():
        if event.kind == "text":  # the upstream is answering: cancel it from elsewhere
            await b.rpc(api.Cancel(chat="slow"))
            break
    assert (await collect(stream)).status == "cancelled"
    upstream.push(Scripted(status=400, error_message="no such model"))
    await turn(a, "broken", "hello")
    replied = [news for news in await heard(b) if news[0] == "replied"]
    assert replied == [("replied", "slow", "cancelled"), ("replied", "broken", "error")]
    assert await heard(bob) == []


async def test_a_refused_change_is_no_news(trio: tuple[Client, Client, Client]) -> None:
    a, b, _ = trio
    await a.rpc(api.New(chat="x"))
    await a.rpc(api.New(chat="y"))
    await heard(b)
    with pytest.raises(ConflictError):
        await a.rpc(api.Rename(chat="x", new="y"))
    with pytest.raises(NotFoundError, match="no provider"):
        await a.start("chat", "z", text="hi", provider="nowhere")
    assert await heard(b) == []


async def test_news_follows_the_answer_to_the_request_that_caused_it(server: Server) -> None:
    key = key_for("alice")
    peer = RawPeer(server.address)
    try:
        body = request(key, method="new", args={"chat": "first"})
        await peer.sock.send_multipart([body, key.sign(body)])
        frames = []
        for _ in range(2):
            async with asyncio.timeout(5):
                frames.append(decode_server_message((await peer.sock.recv_multipart())[0]))
    finally:
        peer.close()
    assert isinstance(frames[0], Reply) and frames[0].ok
    assert frames[1] == News("created", "first")


async def test_a_hello_in_anothers_name_hears_nothing(server: Server, connect: ClientMaker) -> None:
    alice = connect(server)
    await alice.rpc(api.New(chat="secret-plans"))
    stranger_key = key_for("alice", "not her passphrase")
    peer = RawPeer(server.address)
    try:
        hello = request(stranger_key, method="hello")
        await peer.sock.send_multipart([hello, stranger_key.sign(hello)])
        assert not (await peer.read()).ok  # the key is not alice's
        await alice.rpc(api.New(chat="more-plans"))
        status = request(stranger_key, profile="stranger", method="status")
        await peer.sock.send_multipart([status, stranger_key.sign(status)])
        async with asyncio.timeout(5):
            first = decode_server_message((await peer.sock.recv_multipart())[0])
    finally:
        peer.close()
    assert isinstance(first, Reply)  # no news of alice's chats came before it


async def test_a_connection_that_went_away_is_forgotten(
    server: Server, connect: ClientMaker
) -> None:
    a = connect(server)
    gone = Client(server.address, "alice", key_for("alice"))
    gone.connect()
    await gone.rpc(api.Status())
    await a.rpc(api.Status())
    assert server.news.connections("alice") == 2
    await gone.aclose()
    async with asyncio.timeout(10):
        n = 0
        while server.news.connections("alice") == 2:  # until the server saw it go
            n += 1
            await a.rpc(api.New(chat=f"chat {n}"))
            await asyncio.sleep(0.02)
    assert server.news.connections("alice") == 1
    await a.rpc(api.Rename(chat="chat 1", new="first"))
    assert ("renamed", "chat 1", "first") in await heard(a)


async def test_a_connection_belongs_to_the_last_profile_it_signed_as(server: Server) -> None:
    peer = RawPeer(server.address)
    try:
        for profile in ("alice", "bob"):
            key = key_for(profile)
            body = request(key, profile=profile, method="status")
            await peer.sock.send_multipart([body, key.sign(body)])
            assert (await peer.read()).ok
        assert (server.news.connections("alice"), server.news.connections("bob")) == (0, 1)
    finally:
        peer.close()


def test_news_crosses_the_wire_and_an_unknown_kind_of_message_does_not_decode() -> None:
    frame = news_frame(ChatNews("renamed", "old", "new"))
    assert decode_server_message(frame) == News("renamed", "old", "new")
    assert decode_server_message(news_frame(ChatNews("destroyed", "x"))) == News("destroyed", "x")
    # what an older client meets in a newer server's kind of message: an error it skips
    later = encode(News("renamed", "a", "b")).replace(b"news", b"tidy")
    with pytest.raises(DecodeError):
        decode_server_message(later)
