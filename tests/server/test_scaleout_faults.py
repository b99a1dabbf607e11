"""Several servers on one PostgreSQL when something goes wrong that is not a server's
death: a database session of a live server cut, a server stopped on purpose, a killed
server's reply followed by two others. Nothing a user reads may end wrongly.

These tests need PostgreSQL (tests/pgkit.py): without one they skip with one line."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import psycopg
import pytest

from chatthy.client.core import Client, ReplyStream
from chatthy.server.app import Server
from helpers import ClientMaker, ServerFactory, collect
from scaleoutkit import serve_killable, start_shared
from upstream import Reply, Upstream

WORDS = [f"c{i} " for i in range(300)]


async def end_session(pg_url: str, pid: int) -> None:
    """What a network blip or a database restart does to one session."""
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as admin:
        await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


async def watched_from_b(
    pg_url: str, servers: ServerFactory, upstream: Upstream, connect: ClientMaker, chat: str
) -> tuple[Server, Server, Client, ReplyStream, ReplyStream]:
    """Servers A and B; a reply of 300 words asked on A in ``chat``, watched from B:
    A, B, B's client, the asker's stream and the watcher's."""
    a = await start_shared(servers, upstream, pg_url)
    b = await start_shared(servers, upstream, pg_url)
    upstream.push(Reply(chunks=WORDS, delay=0.01))
    on_a, on_b = connect(a), connect(b)
    await on_a.call("new", chat=chat)
    await on_b.attach(chat)
    stream, _ = await on_a.start("chat", chat, text="go")
    followed = await asyncio.wait_for(on_b.incoming.get(), 10)
    await asyncio.sleep(0.3)
    return a, b, on_b, stream, followed


async def test_a_live_servers_cut_session_neither_ends_its_reply_nor_frees_its_chat(
    pg_url: str, servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    a, _, on_b, stream, followed = await watched_from_b(pg_url, servers, upstream, connect, "blip")
    listening = a.engine.broadcaster._listen  # type: ignore[attr-defined]
    await end_session(pg_url, listening.info.backend_pid)
    await asyncio.sleep(1.2)  # A has its session again; B must not take A for stopped
    with pytest.raises(Exception, match="already running"):
        await on_b.start("chat", "blip", text="a second reply at once")
    ours, theirs = await asyncio.gather(collect(stream), collect(followed))
    assert ours.status == theirs.status == "complete"
    assert theirs.text == ours.text == "".join(WORDS)
    stored = (await on_b.call("messages", chat="blip")).messages
    assert [m.status for m in stored] == ["complete", "complete"]


async def test_a_servers_cut_writing_session_is_made_again_and_nothing_is_lost(
    pg_url: str, servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    a, _, _, stream, followed = await watched_from_b(pg_url, servers, upstream, connect, "w")
    writing = a.engine.broadcaster._write  # type: ignore[attr-defined]
    await end_session(pg_url, writing.info.backend_pid)
    ours = await collect(stream)
    theirs = await asyncio.wait_for(collect(followed), 10)
    assert ours.status == theirs.status == "complete"
    assert theirs.text == ours.text
    assert theirs.seqs == list(range(len(theirs.seqs)))


async def test_stopping_a_server_that_follows_a_reply_leaves_that_reply_alone(
    pg_url: str, servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    _, b, _, stream, _ = await watched_from_b(pg_url, servers, upstream, connect, "roll")
    await servers.stop(b)  # a rolling restart: B goes, A is not touched
    ours = await collect(stream)
    assert ours.status == "complete"
    assert ours.text == "".join(WORDS)


async def test_a_killed_servers_reply_ends_on_every_server_that_follows_it(
    pg_url: str,
    isolated_env: Path,
    servers: ServerFactory,
    upstream: Upstream,
    connect: ClientMaker,
    unused_tcp_port: int,
) -> None:
    address = f"tcp://127.0.0.1:{unused_tcp_port}"
    killed = await serve_killable(isolated_env, upstream, pg_url, address)
    try:
        b = await start_shared(servers, upstream, pg_url)
        c = await start_shared(servers, upstream, pg_url)
        on_a = connect(address, connect_timeout=1, timeout=2)
        on_b, on_c = connect(b), connect(c)
        await on_a.call("new", chat="cut")
        await on_b.attach("cut")
        await on_c.attach("cut")
        upstream.push(Reply(chunks=[f"c{i} " for i in range(1000)], delay=0.01))
        await on_a.start("chat", "cut", text="a long one")
        on_b_stream = await asyncio.wait_for(on_b.incoming.get(), 10)
        on_c_stream = await asyncio.wait_for(on_c.incoming.get(), 10)
        await asyncio.sleep(0.5)
    finally:
        os.kill(killed.pid, signal.SIGKILL)
        await killed.wait()
    seen_b, seen_c = await asyncio.gather(
        asyncio.wait_for(collect(on_b_stream), 15), asyncio.wait_for(collect(on_c_stream), 15)
    )
    assert seen_b.status == seen_c.status == "interrupted"
    assert seen_b.text == seen_c.text
    for follower in (b, c):  # and the chat is free again on both
        turn = follower.engine.turns.latest("alice", "cut")
        assert turn is not None and not turn.running
    upstream.push(Reply(chunks=["after"]))
    again, _ = await on_c.start("chat", "cut", text="still there?")
    assert (await collect(again)).text == "after"
