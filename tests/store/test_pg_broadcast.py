"""The broadcaster of a shared PostgreSQL database, below the servers: events published
on one are replayed in order on another, chat news travel, and a server whose database
session ended is known to have stopped.

These tests need PostgreSQL (tests/pgkit.py): without one they skip with one line."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest

from chatthy.conversation.events import ChatNews, TextDelta, TurnEnd, TurnEvent, TurnStarted
from chatthy.conversation.turns import Turn, Turns
from chatthy.store.pg_broadcast import PgBroadcaster, RemoteTurn
from chatthy.store.postgres import PostgresStore


@pytest.fixture
async def pair(pg_url: str) -> AsyncIterator[tuple[PgBroadcaster, Turns, PgBroadcaster, Turns]]:
    """Two servers' broadcasters on one database, A's turns and B's."""
    store = await PostgresStore.open(pg_url)
    a, b = PgBroadcaster(pg_url, store), PgBroadcaster(pg_url, store)
    turns_a, turns_b = Turns(), Turns()
    await a.start(turns_a, "host-a/1/aaaa")
    await b.start(turns_b, "host-b/2/bbbb")
    try:
        yield a, turns_a, b, turns_b
    finally:
        await a.aclose()
        await b.aclose()
        await store.aclose()


async def test_events_published_on_one_server_reach_another_in_order(
    pair: tuple[PgBroadcaster, Turns, PgBroadcaster, Turns],
) -> None:
    a, turns_a, b, turns_b = pair
    seen: list[tuple[str, int, TurnEvent]] = []
    b.listen(lambda turn, seq, event: seen.append((turn.id, seq, event)))
    turn = Turn(a, "t1", "alice", "plans")
    turns_a.add(turn)
    turn.emit(TurnStarted("plans", 7, "up", "m", 12))
    for i in range(60):
        turn.emit(TextDelta(f"{i} "))
        if i % 7 == 0:
            await asyncio.sleep(0.01)
    turn.emit(TurnEnd("complete", 7))
    for _ in range(100):
        if len(seen) == 62:
            break
        await asyncio.sleep(0.05)
    assert [seq for _, seq, _ in seen] == list(range(62))
    assert "".join(e.text for _, _, e in seen if isinstance(e, TextDelta)) == "".join(
        f"{i} " for i in range(60)
    )
    followed = turns_b.find("alice", "t1")
    assert isinstance(followed, RemoteTurn) and not followed.running
    assert followed.started is not None and followed.started.message_id == 7
    assert turns_b.find("bob", "t1") is None  # another profile's lookup finds nothing


async def test_chat_news_reach_the_other_server(
    pair: tuple[PgBroadcaster, Turns, PgBroadcaster, Turns],
) -> None:
    a, _, b, _ = pair
    news: list[tuple[str, ChatNews]] = []
    b.listen_news(lambda profile, item: news.append((profile, item)))
    a.publish_news("alice", ChatNews("renamed", "old", new="new"))
    for _ in range(100):
        if news:
            break
        await asyncio.sleep(0.05)
    assert news == [("alice", ChatNews("renamed", "old", new="new"))]


async def test_a_server_whose_session_ended_is_gone(
    pair: tuple[PgBroadcaster, Turns, PgBroadcaster, Turns], pg_url: str
) -> None:
    a, _, b, _ = pair
    assert await b.gone([a.owner, "never/9/seen"]) == []
    # what a machine's death does: PostgreSQL ends its sessions
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as admin:
        await admin.execute(
            "SELECT pg_terminate_backend(backend_pid) FROM servers WHERE owner = %s", (a.owner,)
        )
    found: list[str] = []
    for _ in range(40):  # A connects again after a second: see it gone before that
        found = await b.gone([a.owner])
        if found:
            break
        await asyncio.sleep(0.02)
    assert found == [a.owner]


async def test_a_chat_nobody_watches_is_read_only_when_someone_opens_it(
    pair: tuple[PgBroadcaster, Turns, PgBroadcaster, Turns],
) -> None:
    a, turns_a, b, turns_b = pair
    watched: set[tuple[str, str]] = set()
    b.follow_only(lambda profile, chat: (profile, chat) in watched)
    seen: list[int] = []
    b.listen(lambda turn, seq, event: seen.append(seq))
    turn = Turn(a, "t2", "alice", "quiet")
    turns_a.add(turn)
    turn.emit(TurnStarted("quiet", 3, "up", "m", 5))
    for i in range(10):
        turn.emit(TextDelta(f"{i} "))
    await asyncio.sleep(0.3)
    assert seen == [] and turns_b.latest("alice", "quiet") is None  # nobody here watches
    watched.add(("alice", "quiet"))  # a client opens the chat here
    await b.catch_up("alice", "quiet")
    followed = turns_b.latest("alice", "quiet")
    assert isinstance(followed, RemoteTurn) and followed.running
    assert seen == list(range(11))  # from its start
    turn.emit(TextDelta("more"))
    turn.emit(TurnEnd("complete", 3))
    for _ in range(100):
        if len(seen) == 13:
            break
        await asyncio.sleep(0.05)
    assert seen == list(range(13)) and not followed.running


async def test_a_stopped_servers_reply_keeps_its_last_batch_though_nobody_followed_it(
    pair: tuple[PgBroadcaster, Turns, PgBroadcaster, Turns],
) -> None:
    a, turns_a, b, _ = pair
    b.follow_only(lambda profile, chat: False)
    store = b.store
    await store.register_profile("alice", b"a" * 32)
    await store.create_chat("alice", "cut", "helper", "up", "m")
    question, reply = await store.add_messages(
        "alice",
        "cut",
        [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": "", "status": "streaming"},
        ],
    )
    turn = Turn(a, "t3", "alice", "cut")
    turns_a.add(turn)
    turn.emit(TurnStarted("cut", reply.id, "up", "m", 5, user_message_id=question.id))
    for word in ("kept ", "up ", "to ", "here"):
        turn.emit(TextDelta(word))
    await asyncio.sleep(0.3)  # written in a batch; then A dies before its next
    await b.salvage([a.owner])
    stored = await store.messages("alice", "cut")
    assert [m.content for m in stored] == ["go", "kept up to here"]
    assert stored[1].status == "streaming"  # marking it interrupted is the leases' part
