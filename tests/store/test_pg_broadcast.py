"""The broadcaster of a shared PostgreSQL database, below the servers: events published
on one are replayed in order on another, chat news travel, and a server whose database
session ended is known to have stopped.

These tests need PostgreSQL (tests/pgkit.py): without one they skip with one line."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import psycopg
import pytest

from chatthy.conversation.events import ChatNews, TextDelta, TurnEnd, TurnEvent, TurnStarted
from chatthy.conversation.turns import Turn, Turns
from chatthy.store.pg_broadcast import PgBroadcaster, RemoteTurn
from chatthy.store.postgres import PostgresStore
from sessionkit import until


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
    await until(lambda: len(seen) >= 62, 5, "every event on B")
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
    await until(lambda: bool(news), 5, "the news on B")
    assert news == [("alice", ChatNews("renamed", "old", new="new"))]


async def test_a_server_whose_session_ended_is_gone_but_not_one_that_comes_back(
    pair: tuple[PgBroadcaster, Turns, PgBroadcaster, Turns], pg_url: str
) -> None:
    a, _, b, _ = pair
    # a server of its own: its presence is a session that will end (its machine dies)
    dead = "host-x/9/dead"
    doomed = await psycopg.AsyncConnection.connect(pg_url, autocommit=True)
    await doomed.execute(
        "INSERT INTO servers (owner, backend_pid, backend_start, started)"
        " SELECT %s, pid, backend_start, 0 FROM pg_stat_activity WHERE pid = pg_backend_pid()",
        (dead,),
    )
    assert await b.gone([a.owner, dead, "never/9/seen"]) == []
    await doomed.close()
    # A's listening session is cut too (a network blip): A makes it again at once
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as admin:
        await admin.execute(
            "SELECT pg_terminate_backend(backend_pid) FROM servers WHERE owner = %s", (a.owner,)
        )
    found: list[str] = []
    for _ in range(100):  # seen gone once missing for GRACE seconds, not before
        found = await b.gone([a.owner, dead])
        if found:
            break
        await asyncio.sleep(0.05)
    assert found == [dead]


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
    await until(lambda: len(seen) >= 13, 5, "the rest of the reply")
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


async def test_events_published_while_the_database_is_away_arrive_once_it_is_back(
    pair: tuple[PgBroadcaster, Turns, PgBroadcaster, Turns], pg_url: str
) -> None:
    a, turns_a, b, turns_b = pair
    seen: list[int] = []
    b.listen(lambda turn, seq, event: seen.append(seq))
    turn = Turn(a, "t1", "alice", "gap")
    turns_a.add(turn)
    turn.emit(TurnStarted("gap", 7, "up", "m", 12))
    for i in range(5):
        turn.emit(TextDelta(f"{i} "))
    await asyncio.sleep(0.3)
    good, a.url = a.url, "postgresql://postgres@127.0.0.1:1/test"  # away for a while
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as admin:
        await admin.execute(
            "SELECT pg_terminate_backend(backend_pid) FROM servers WHERE owner = %s", (a.owner,)
        )
    await asyncio.sleep(1.5)
    for i in range(5, 10):
        turn.emit(TextDelta(f"{i} "))
    a.url = good
    for i in range(10, 15):
        turn.emit(TextDelta(f"{i} "))
    turn.emit(TurnEnd("complete", 7))
    followed = turns_b.find("alice", "t1")
    await until(lambda: followed is not None and not followed.running, 5, "the reply's end")
    assert followed is not None and not followed.running
    assert seen == list(range(17))


async def test_news_committed_after_a_later_one_still_arrives(
    pair: tuple[PgBroadcaster, Turns, PgBroadcaster, Turns], pg_url: str
) -> None:
    a, _, b, _ = pair
    news: list[str] = []
    b.listen_news(lambda profile, item: news.append(item.chat))
    encode = msgspec.msgpack.Encoder().encode
    # a third server's news took its id first, and commits after A's
    async with await psycopg.AsyncConnection.connect(pg_url) as third:
        await third.execute(
            "INSERT INTO chat_news (owner, profile, body) VALUES ('c/3/cc', 'alice', %s)",
            (encode(ChatNews("created", "from-c")),),
        )
        await third.execute("SELECT pg_notify('chatthy_news', '')")
        a.publish_news("alice", ChatNews("created", "from-a"))
        await asyncio.sleep(0.5)
        await third.commit()
    await until(lambda: len(news) >= 2, 2, "both news")
    assert sorted(news) == ["from-a", "from-c"]


async def test_the_end_of_a_reply_written_after_the_next_reply_began_still_ends_it(
    pg_url: str,
) -> None:
    store = await PostgresStore.open(pg_url)
    a, b, c = (PgBroadcaster(pg_url, store) for _ in range(3))
    turns_a, turns_b, turns_c = Turns(), Turns(), Turns()
    await a.start(turns_a, "a/1/aa")
    await b.start(turns_b, "b/2/bb")
    await c.start(turns_c, "c/3/cc")
    try:
        first = Turn(a, "first", "alice", "room")
        turns_a.add(first)
        first.emit(TurnStarted("room", 1, "up", "m", 1))
        first.emit(TextDelta("hi"))
        await asyncio.sleep(0.3)
        write = a._write_batch

        async def slow(*args: Any) -> None:  # A's last batch is late (a busy database)
            await asyncio.sleep(0.5)
            await write(*args)

        a._write_batch = slow  # type: ignore[method-assign, assignment]
        first.emit(TurnEnd("complete", 1))  # A gave the chat back just before
        await asyncio.sleep(0.1)
        second = Turn(c, "second", "alice", "room")  # C's reply in the same chat
        turns_c.add(second)
        second.emit(TurnStarted("room", 3, "up", "m", 1))
        second.emit(TextDelta("yo"))
        await until(
            lambda: (turn := turns_b.find("alice", "first")) is not None and not turn.running,
            3,
            "the first reply's end on B",
        )
        assert turns_b.latest("alice", "room") is turns_b.find("alice", "second")
    finally:
        for bus in (a, b, c):
            await bus.aclose()
        await store.aclose()
