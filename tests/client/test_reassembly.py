"""The client puts a stream back in order, drops duplicates and fetches what was lost."""

from __future__ import annotations

import random

from chatthy.server.app import Server
from chatthy.wire.messages import Event
from helpers import ClientMaker, collect


async def record(server: Server, connect: ClientMaker, text: str) -> list[Event]:
    client = connect(server)
    stream, _ = await client.start("chat", "c", text=text)
    return [event async for event in stream.events()]


async def test_shuffled_and_duplicated_events_come_out_in_order(
    server: Server, connect: ClientMaker
) -> None:
    events = await record(server, connect, " ".join(f"w{i}" for i in range(30)))
    mixed = events + events[3:9]
    random.Random(7).shuffle(mixed)
    other = connect(server)
    stream = other.follow(events[0].id, "c")
    for event in mixed:
        stream.feed(event)
    seen = await collect(stream)
    assert seen.seqs == list(range(len(events)))
    assert seen.text == "".join(e.text for e in events)
    assert stream.ordering_faults > 0


async def test_lost_events_are_fetched_from_the_server(
    server: Server, connect: ClientMaker
) -> None:
    events = await record(server, connect, " ".join(f"w{i}" for i in range(30)))
    kept = [e for e in events if e.seq not in (2, 3, 11)]
    other = connect(server)
    stream = other.follow(events[0].id, "c")
    for event in kept:
        stream.feed(event)
    seen = await collect(stream)
    assert stream.resyncs >= 1
    assert seen.seqs == list(range(len(events)))
    assert seen.text == "echo: " + " ".join(f"w{i}" for i in range(30))


async def test_silence_triggers_resend_of_the_tail(server: Server, connect: ClientMaker) -> None:
    events = await record(server, connect, "short reply here")
    other = connect(server)
    stream = other.follow(events[0].id, "c")
    stream.feed(events[0])
    seen = [e async for e in stream.events(idle=0.1)]
    assert [e.seq for e in seen] == [e.seq for e in events]
