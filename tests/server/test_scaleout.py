"""Several servers on one PostgreSQL database: a reply streamed on one is seen live, whole
and in order from the others; a server killed mid-reply has it marked interrupted by
another within seconds, its text kept to the last batch.

These tests need PostgreSQL (tests/pgkit.py): without one they skip with one line."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from chatthy.wire import api
from helpers import ClientMaker, Collected, ServerFactory, collect
from scaleoutkit import serve_killable, start_shared
from upstream import Reply, Upstream


async def watched(stream_source: asyncio.Queue[object]) -> Collected:
    """The next reply a watching client is told of, read to its end."""
    stream = await asyncio.wait_for(stream_source.get(), 10)
    return await asyncio.wait_for(collect(stream), 30)


async def test_a_reply_on_one_server_is_seen_live_and_in_order_on_another(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker, pg_url: str
) -> None:
    a = await start_shared(servers, upstream, pg_url)
    b = await start_shared(servers, upstream, pg_url)
    chunks = [f"<{i}>" for i in range(120)]
    upstream.push(Reply(chunks=chunks, delay=0.005))
    on_a, on_b = connect(a), connect(b)
    await on_a.call("new", chat="shared")
    assert await on_b.attach("shared") is None
    stream, _ = await on_a.start("chat", "shared", text="count")
    mine = asyncio.create_task(collect(stream))
    told = await asyncio.wait_for(on_b.incoming.get(), 10)
    # seen while it streamed, not after: B's client was told of it before A's ended
    assert not mine.done()
    theirs = await asyncio.wait_for(collect(told), 30)
    ours = await mine
    assert theirs.text == ours.text == "".join(chunks)
    assert theirs.seqs == ours.seqs == list(range(len(ours.seqs)))
    assert theirs.status == "complete"
    # and B's own answer of the chat holds the reply, stored once
    messages = (await on_b.call("messages", chat="shared")).messages
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[1].content == "".join(chunks)


async def test_a_client_reconnecting_elsewhere_catches_up_from_its_last_number(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker, pg_url: str
) -> None:
    a = await start_shared(servers, upstream, pg_url)
    b = await start_shared(servers, upstream, pg_url)
    chunks = [f"[{i}]" for i in range(80)]
    upstream.push(Reply(chunks=chunks, delay=0.01))
    on_a = connect(a)
    stream, started = await on_a.start("chat", "moving", text="go")
    seen = ""
    last = -1
    async for event in stream.events():
        last = event.seq
        seen += event.text
        if seen.count("[") >= 20:
            break
    on_b = connect(b)
    resumed = None
    for _ in range(50):  # B hears of the turn with its next batch
        resumed = await on_b.attach("moving", from_seq=last + 1)
        if resumed is not None:
            break
        await asyncio.sleep(0.05)
    assert resumed is not None and resumed.id == started.stream
    rest = await asyncio.wait_for(collect(resumed), 30)
    assert seen + rest.text == "".join(chunks)
    assert rest.seqs == list(range(last + 1, last + 1 + len(rest.seqs)))


async def test_one_reply_per_chat_across_servers(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker, pg_url: str
) -> None:
    a = await start_shared(servers, upstream, pg_url)
    b = await start_shared(servers, upstream, pg_url)
    upstream.push(Reply(chunks=[f"{i} " for i in range(40)], delay=0.01))
    on_a, on_b = connect(a), connect(b)
    stream, _ = await on_a.start("chat", "one", text="first")
    with pytest.raises(Exception, match="already running"):
        await on_b.start("chat", "one", text="second")
    assert (await collect(stream)).status == "complete"


async def test_cancel_on_the_server_that_only_follows_stops_the_reply(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker, pg_url: str
) -> None:
    a = await start_shared(servers, upstream, pg_url)
    b = await start_shared(servers, upstream, pg_url)
    upstream.push(Reply(chunks=[f"{i} " for i in range(400)], delay=0.01))
    on_a, on_b = connect(a), connect(b)
    await on_a.call("new", chat="stop")
    await on_b.attach("stop")
    stream, _ = await on_a.start("chat", "stop", text="go on")
    followed = await asyncio.wait_for(on_b.incoming.get(), 10)
    await on_b.call("cancel", chat="stop")
    ours, theirs = await asyncio.gather(collect(stream), collect(followed))
    assert ours.status == theirs.status == "cancelled"
    assert theirs.text == ours.text
    assert ours.text.count(" ") < 400


async def test_twenty_clients_on_three_servers_lose_nothing(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker, pg_url: str
) -> None:
    three = [await start_shared(servers, upstream, pg_url) for _ in range(3)]
    chunks = [f"<{i}>" for i in range(50)]
    upstream.push(Reply(chunks=chunks, delay=0.005), times=10)
    # ten chats: each asked on one server and watched from the next
    senders = [connect(three[i % 3], f"user{i % 4}") for i in range(10)]
    watchers = [connect(three[(i + 1) % 3], f"user{i % 4}") for i in range(10)]
    for i, (sender, watcher) in enumerate(zip(senders, watchers, strict=True)):
        await sender.call("new", chat=f"room{i}")
        await watcher.attach(f"room{i}")
    started = [await s.start("chat", f"room{i}", text="go") for i, s in enumerate(senders)]
    results = await asyncio.gather(
        *(collect(stream) for stream, _ in started),
        *(watched(w.incoming) for w in watchers),  # type: ignore[arg-type]
    )
    for seen in results:
        assert seen.text == "".join(chunks)
        assert seen.seqs == list(range(len(seen.seqs)))
        assert seen.status == "complete"


async def test_a_server_killed_mid_reply_has_it_interrupted_by_another_within_seconds(
    isolated_env: Path,
    servers: ServerFactory,
    upstream: Upstream,
    connect: ClientMaker,
    pg_url: str,
    unused_tcp_port: int,
) -> None:
    address = f"tcp://127.0.0.1:{unused_tcp_port}"
    killed = await serve_killable(isolated_env, upstream, pg_url, address)
    try:
        b = await start_shared(servers, upstream, pg_url)
        on_a, on_b = connect(address, connect_timeout=1, timeout=2), connect(b)
        await on_a.call("new", chat="cut")
        await on_b.attach("cut")
        upstream.push(Reply(chunks=[f"c{i} " for i in range(1000)], delay=0.01))
        stream, _ = await on_a.start("chat", "cut", text="a long one")
        followed = await asyncio.wait_for(on_b.incoming.get(), 10)
        seen = ""
        async for event in followed.events():
            seen += event.text
            if seen.count("c") >= 50:
                break
    finally:
        os.kill(killed.pid, signal.SIGKILL)
        await killed.wait()
    gone = time.monotonic()
    rest = await asyncio.wait_for(collect(followed), 10)
    took = time.monotonic() - gone
    assert rest.status == "interrupted"
    assert took < 5.0, f"marked interrupted {took:.1f} s after the kill"
    # the client of the dead server, moved to B, sees the chat whole
    moved = connect(b)
    messages = (await moved.call("messages", chat="cut")).messages
    assert messages[0].content == "a long one"
    reply = messages[1]
    assert reply.status == "interrupted"
    # kept as far as B saw it stream (its last batch), not A's checkpoint of 5 s
    assert reply.content == seen + rest.text
    assert reply.content.startswith("c0 c1 c2 ")
    assert len(reply.content.split()) >= 50
    del stream


@pytest.mark.timeout(90)
async def test_a_session_on_a_killed_server_moves_and_sees_its_reply_whole(
    isolated_env: Path,
    servers: ServerFactory,
    upstream: Upstream,
    pg_url: str,
    unused_tcp_port: int,
) -> None:
    """The user's side of a server's death: the session moves to the next server, the
    reply it was reading ends there as interrupted, and the chat it shows again holds
    the question and the reply as far as it streamed."""
    from chatthy.client.core import Client
    from chatthy.client.session import Session
    from helpers import key_for
    from sessionkit import Recorder, until

    first = f"tcp://127.0.0.1:{unused_tcp_port}"
    killed = await serve_killable(isolated_env, upstream, pg_url, first)
    b = await start_shared(servers, upstream, pg_url)
    client = Client(first, "alice", key_for("alice"), addresses=[first, b.address], timeout=5)
    client.connect()
    view = Recorder()
    session = Session(client, view, "story")
    try:
        await session.start()
        upstream.push(Reply(chunks=[f"w{i} " for i in range(2000)], delay=0.01))
        await session.send("tell me a long one")
        await until(
            lambda: bool(view.replies) and view.replies[-1].said.count("w") >= 40, 10, "words"
        )
        os.kill(killed.pid, signal.SIGKILL)
        gone = time.monotonic()
        await killed.wait()
        await until(lambda: f"moved to {b.address}" in view.statuses, 10, "the move")
        moved = time.monotonic() - gone
        stored: list[api.MessageInfo] = []

        async def interrupted() -> bool:
            stored[:] = (await client.rpc(api.Messages(chat="story"))).messages
            return len(stored) == 2 and stored[1].status == "interrupted"

        while not await interrupted():
            assert time.monotonic() - gone < 5.0, "not marked interrupted within 5 s"
            await asyncio.sleep(0.05)
        assert moved < 3.0, f"moved {moved:.1f} s after the kill"
        kept = stored[1].content
        assert stored[0].content == "tell me a long one"
        # kept as far as the last batch A wrote: what the session read from A, less at
        # most the words of the batch A died before writing (a word every 10 ms)
        seen = view.replies[0].said
        assert kept.startswith("w0 w1 w2 ") and seen.startswith(kept)
        assert kept.count("w") >= seen.count("w") - 20
        # shown whole: the chat drawn again from B after the reply ended there, or the
        # reply followed on B to its end (when the session reopened the chat first)
        await until(
            lambda: (
                view.shown[-2:] == ["tell me a long one", kept]
                or (len(view.replies) > 1 and view.replies[-1].status == "interrupted")
            ),
            5,
            "the chat shown whole",
        )
        if len(view.replies) > 1:
            assert view.replies[-1].said == kept
    finally:
        await session.close()
        if killed.returncode is None:
            killed.kill()
            await killed.wait()
