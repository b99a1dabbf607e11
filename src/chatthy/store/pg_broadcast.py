"""Live streams across servers on one PostgreSQL: the broadcaster of a shared database.

Every server delivers its own turns' events to its own watchers at once, as
:class:`~chatthy.conversation.turns.LocalBroadcaster` does, and also appends them to the
``turn_events`` table in small batches (every :data:`FLUSH` seconds, one transaction
each) whose commit sends ``NOTIFY chatthy_events`` with the chat and the last event's
number — nothing else travels in the notification. Every other server listens: on a
notification it reads the chat's new rows and replays them into a :class:`RemoteTurn`,
a turn it follows without running it, kept in its engine's ``Turns`` like its own. So
a client attached to any server sees every reply of its chat live and in order, and one
that reconnects elsewhere asks that server to resend from its last number, as it would
ask the first.

Ordering: one server writes a chat's events at a time (the chat's reply lease), on one
connection, batch after batch, so within a turn the rows commit in order. The reader
keeps, per chat, the last row id it applied; and for a turn it follows that is still
running it also asks for its rows past the last number it has, so a batch that committed
after a later one (the end of one reply, racing the start of the next on another
server) is still read.

Chat news (made, renamed, destroyed …) travel the same way through ``chat_news``.
Cancelling a reply, or answering a tool call's approval, on a server that only follows
it is sent to the server running it (``NOTIFY chatthy_control``).

Liveness: each server registers its listening session in ``servers``. PostgreSQL ends a
session as soon as its process dies, so a server whose session is gone has stopped:
:meth:`PgBroadcaster.gone` tells the reply leases (:mod:`chatthy.conversation.ownership`),
which then keep the text up to its last batch (:meth:`PgBroadcaster.salvage`) and mark
its replies interrupted within a second or two, not at the end of the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from chatthy.conversation.events import (
    ChatNews,
    EndError,
    ToolApproval,
    TurnEnd,
    TurnEvent,
    TurnStarted,
)
from chatthy.conversation.reply import streamed_content
from chatthy.conversation.turns import LocalBroadcaster, NewsSink, Sink, Turn, Turns
from chatthy.errors import ChatthyError, StoreError

if TYPE_CHECKING:
    from psycopg import AsyncConnection

    from chatthy.store.base import Store

__all__ = ["FLUSH", "PgBroadcaster", "RemoteTurn"]

log = logging.getLogger("chatthy.server")

FLUSH = 0.05
"""Seconds a batch of events gathers before it is written (the issue's 50-100 ms)."""
KEEP = 600.0
"""Seconds events and news stay in their tables (a reply followed or resent later is
read from the store)."""
EVENTS, NEWS, CONTROL = "chatthy_events", "chatthy_news", "chatthy_control"

_encode = msgspec.msgpack.Encoder().encode
_event = msgspec.msgpack.Decoder(TurnEvent).decode
_news = msgspec.msgpack.Decoder(ChatNews).decode

ChatKey = tuple[str, str]


class RemoteTurn(Turn):
    """A reply another server runs, followed here: its events come from the database.
    Stopping it, or answering its tool call, asks the server that runs it."""

    def __init__(self, bus: PgBroadcaster, turn_id: str, profile: str, chat: str, owner: str):
        super().__init__(bus.local, turn_id, profile, chat)
        self.bus = bus
        self.owner = owner
        """The :class:`~chatthy.conversation.ownership.ReplyOwner` id of its server."""

    def stop(self, reason: str) -> bool:
        if not self.running:
            return False
        self.stop_reason = reason
        self.bus.control(self, {"stop": reason})
        return True

    def answer(self, call_id: str, answer: str) -> bool:
        asked = {e.call_id for e in self.events if type(e) is ToolApproval}
        if not self.running or call_id not in asked:
            return False
        self.bus.control(self, {"call": call_id, "answer": answer})
        return True


class _Row(msgspec.Struct):
    id: int
    turn_id: str
    owner: str
    seq: int
    body: bytes


class PgBroadcaster:
    """The :class:`~chatthy.conversation.turns.Broadcaster` of a server on a shared
    PostgreSQL database; see the module docs. :meth:`start` it once the engine exists
    (it follows into the engine's turns), :meth:`aclose` it before the store."""

    def __init__(self, url: str, store: Store) -> None:
        self.url = url
        self.store = store
        self.local = LocalBroadcaster()
        """This server's sinks; what it follows is replayed to them too."""
        self.owner = ""
        self._turns: Turns | None = None
        self._pending: list[tuple[Turn, int, TurnEvent]] = []
        self._pending_news: list[tuple[str, ChatNews]] = []
        self._wake = asyncio.Event()
        self._dirty: dict[ChatKey, None] = {}
        self._news_due = False
        self._read_wake = asyncio.Event()
        self._cursors: dict[ChatKey, int] = {}
        self._following: dict[ChatKey, RemoteTurn] = {}
        self._news_cursor = 0
        self._listen: AsyncConnection[Any] | None = None
        self._write: AsyncConnection[Any] | None = None
        self._read: AsyncConnection[Any] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._next_prune = 0.0
        self._closing = False
        self._wanted: Callable[[str, str], bool] = lambda profile, chat: True
        self._reads = asyncio.Lock()
        """One read of a chat at a time: the reader's and a catch-up's."""

    # --- the Broadcaster port ------------------------------------------------------------
    def publish(self, turn: Turn, seq: int, event: TurnEvent) -> None:
        self.local.publish(turn, seq, event)
        if self._write is not None:
            self._pending.append((turn, seq, event))
            self._wake.set()

    def listen(self, sink: Sink) -> None:
        self.local.listen(sink)

    def publish_news(self, profile: str, news: ChatNews) -> None:
        self.local.publish_news(profile, news)
        if self._write is not None:
            self._pending_news.append((profile, news))
            self._wake.set()

    def listen_news(self, sink: NewsSink) -> None:
        self.local.listen_news(sink)

    def follow_only(self, wanted: Callable[[str, str], bool]) -> None:
        self._wanted = wanted

    async def catch_up(self, profile: str, chat: str) -> None:
        """Read the chat's newest reply of another server now, unless it is followed
        already (a client opens the chat here). A database that fails leaves it to the
        next notification."""
        key = (profile, chat)
        if key in self._following or self._read is None:
            return
        try:
            await self._read_chat(key)
        except Exception as exc:
            log.warning("other servers: could not read %s/%s: %s", profile, chat, exc)

    # --- starting and stopping -----------------------------------------------------------
    async def start(self, turns: Turns, owner: str) -> None:
        """Connect (one session listens, one writes, one reads), register this server
        as ``owner``, and follow the other servers' replies into ``turns``. A lost
        connection is made again, every second until it is.

        Raises:
            StoreError: the database cannot be reached.
        """
        import psycopg

        self._turns, self.owner = turns, owner
        try:
            await self._connect()
            assert self._read is not None
            cur = await self._read.execute("SELECT COALESCE(max(id), 0) FROM chat_news")
            row = await cur.fetchone()
            self._news_cursor = int(row[0]) if row else 0
        except psycopg.Error as exc:
            await self._close_connections()
            raise StoreError(f"cannot follow the other servers: {exc}") from exc
        self._tasks = [
            asyncio.create_task(self._listening(), name="other servers: listen"),
            asyncio.create_task(self._reading(), name="other servers: read"),
            asyncio.create_task(self._flushing(), name="other servers: write"),
        ]

    async def _connect(self) -> None:
        """Open the three sessions; the listening one is this server's presence."""
        import psycopg

        await self._close_connections()
        self._listen = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        self._write = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        self._read = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        await self._listen.execute(
            "INSERT INTO servers (owner, backend_pid, backend_start, started)"
            " SELECT %s, pid, backend_start, %s FROM pg_stat_activity"
            " WHERE pid = pg_backend_pid()"
            " ON CONFLICT (owner) DO UPDATE SET backend_pid = excluded.backend_pid,"
            " backend_start = excluded.backend_start",
            (self.owner, time.time()),
        )
        await self._listen.execute("LISTEN chatthy_events")
        await self._listen.execute("LISTEN chatthy_news")
        await self._listen.execute("LISTEN chatthy_control")

    async def aclose(self) -> None:
        """Write what is pending, say this server stopped, close the sessions."""
        self._closing = True
        self._wake.set()
        if self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._tasks[-1]), 5)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self._read is not None and self.owner:
            with contextlib.suppress(Exception):
                await self._read.execute("DELETE FROM servers WHERE owner = %s", (self.owner,))
        await self._close_connections()

    async def _close_connections(self) -> None:
        for conn in (self._listen, self._write, self._read):
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
        self._listen = self._write = self._read = None

    # --- writing ---------------------------------------------------------------------
    async def _flushing(self) -> None:
        """Write a batch every :data:`FLUSH` seconds while there are events; once
        closing, the last batch, then return."""
        while not self._closing:
            await self._wake.wait()
            if not self._closing:
                await asyncio.sleep(FLUSH)  # what comes meanwhile goes in the same batch
            self._wake.clear()
            try:
                await self._flush()
            except Exception as exc:  # the database went away: the next batch retries
                log.warning("other servers: a batch of events was not written: %s", exc)
                if self._closing:
                    return
                await asyncio.sleep(1.0)
                self._wake.set()

    async def _flush(self) -> None:
        """Write the pending events and news in one transaction whose commit notifies
        the other servers: per chat, its last event's number."""
        conn = self._write
        if conn is None:
            return
        batch, news = self._pending, self._pending_news
        if not batch and not news:
            return
        self._pending, self._pending_news = [], []
        try:
            await self._write_batch(conn, batch, news)
        except BaseException:  # not written: it goes first in the next batch
            self._pending[:0] = batch
            self._pending_news[:0] = news
            raise
        if time.monotonic() >= self._next_prune:
            self._next_prune = time.monotonic() + 60.0
            await self._prune(conn)

    async def _write_batch(
        self,
        conn: AsyncConnection[Any],
        batch: list[tuple[Turn, int, TurnEvent]],
        news: list[tuple[str, ChatNews]],
    ) -> None:
        last: dict[ChatKey, int] = {}
        rows = []
        for turn, seq, event in batch:
            rows.append((turn.profile, turn.chat, turn.id, self.owner, seq, _encode(event)))
            last[(turn.profile, turn.chat)] = seq
        async with conn.transaction(), conn.cursor() as cur:
            if rows:
                await cur.executemany(
                    "INSERT INTO turn_events (profile, chat, turn_id, owner, seq, body)"
                    " VALUES (%s, %s, %s, %s, %s, %s)",
                    rows,
                )
            if news:
                await cur.executemany(
                    "INSERT INTO chat_news (owner, profile, body) VALUES (%s, %s, %s)",
                    [(self.owner, profile, _encode(item)) for profile, item in news],
                )
                await cur.execute("SELECT pg_notify(%s, '')", (NEWS,))
            for (profile, chat), seq in last.items():
                payload = json.dumps([profile, chat, seq])
                await cur.execute("SELECT pg_notify(%s, %s)", (EVENTS, payload))

    async def _prune(self, conn: AsyncConnection[Any]) -> None:
        """Forget events and news older than :data:`KEEP` (any server may)."""
        await conn.execute(
            "DELETE FROM turn_events WHERE created < extract(epoch FROM clock_timestamp()) - %s",
            (KEEP,),
        )
        await conn.execute(
            "DELETE FROM chat_news WHERE created < extract(epoch FROM clock_timestamp()) - %s",
            (KEEP,),
        )

    def control(self, turn: RemoteTurn, what: dict[str, str]) -> None:
        """Ask the server running ``turn`` to stop it or to take a call's answer."""
        payload = json.dumps({"owner": turn.owner, "profile": turn.profile, "turn": turn.id})
        message = json.loads(payload) | what
        asyncio.get_running_loop().create_task(self._notify(CONTROL, json.dumps(message)))

    async def _notify(self, channel: str, payload: str) -> None:
        conn = self._read  # not the writer's: that one may be inside a batch's transaction
        if conn is None:
            return
        try:
            await conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))
        except Exception as exc:
            log.warning("other servers: could not send %s: %s", channel, exc)

    # --- following -------------------------------------------------------------------
    async def _listening(self) -> None:
        """Take the notifications; when the database is lost, connect again and read
        what was missed meanwhile."""
        while not self._closing:
            try:
                await self._notes()
            except Exception as exc:
                log.warning("other servers: lost the database (%s); connecting again", exc)
            while not self._closing:
                await asyncio.sleep(1.0)
                try:
                    await self._connect()
                    break
                except Exception as exc:
                    log.warning("other servers: cannot reach the database: %s", exc)
            for key, turn in self._following.items():
                if turn.running:
                    self._dirty[key] = None
            self._news_due = True
            self._wake.set()
            self._read_wake.set()

    async def _notes(self) -> None:
        conn = self._listen
        assert conn is not None
        own = {c.info.backend_pid for c in (self._write, self._read) if c is not None}
        async for note in conn.notifies():
            if note.pid in own:
                continue
            if note.channel == EVENTS:
                profile, chat, _seq = json.loads(note.payload)
                key = (profile, chat)
                followed = self._following.get(key)
                if (followed is not None and followed.running) or self._wanted(profile, chat):
                    self._dirty[key] = None
                else:  # nobody here watches it: read it afresh once someone does
                    self._cursors.pop(key, None)
                    self._following.pop(key, None)
                    continue
            elif note.channel == NEWS:
                self._news_due = True
            elif note.channel == CONTROL:
                self._controlled(json.loads(note.payload))
                continue
            self._read_wake.set()

    def _controlled(self, message: dict[str, str]) -> None:
        """Another server asks this one to stop a reply, or passes a call's answer."""
        if message.get("owner") != self.owner or self._turns is None:
            return
        turn = self._turns.find(message.get("profile", ""), message.get("turn", ""))
        if turn is None or isinstance(turn, RemoteTurn):
            return
        if "stop" in message:
            turn.stop(message["stop"])
        elif "call" in message:
            turn.answer(message["call"], message.get("answer", "no"))

    async def _reading(self) -> None:
        while True:
            await self._read_wake.wait()
            self._read_wake.clear()
            try:
                if self._news_due:
                    self._news_due = False
                    await self._read_news()
                while self._dirty:
                    key = next(iter(self._dirty))
                    del self._dirty[key]
                    await self._read_chat(key)
            except Exception as exc:
                log.warning("other servers: could not read their events: %s", exc)
                await asyncio.sleep(0.5)
                self._read_wake.set()

    async def _read_chat(self, key: ChatKey) -> None:
        async with self._reads:
            await self._read_rows(key)

    async def _read_rows(self, key: ChatKey) -> None:
        conn = self._read
        assert conn is not None
        profile, chat = key
        following = self._following.get(key)
        cursor = self._cursors.get(key)
        if cursor is None:  # first heard of: only its newest turn, if not this server's
            query = (
                "SELECT id, turn_id, owner, seq, body FROM turn_events WHERE turn_id ="
                " (SELECT turn_id FROM turn_events WHERE profile = %s AND chat = %s"
                "  ORDER BY id DESC LIMIT 1) AND owner <> %s ORDER BY id"
            )
            params: tuple[Any, ...] = (profile, chat, self.owner)
        elif following is not None and following.running:
            query = (
                "SELECT id, turn_id, owner, seq, body FROM turn_events"
                " WHERE profile = %s AND chat = %s AND owner <> %s AND id > %s"
                " UNION SELECT id, turn_id, owner, seq, body FROM turn_events"
                " WHERE turn_id = %s AND seq >= %s ORDER BY id"
            )
            params = (profile, chat, self.owner, cursor, following.id, len(following.events))
        else:
            query = (
                "SELECT id, turn_id, owner, seq, body FROM turn_events"
                " WHERE profile = %s AND chat = %s AND owner <> %s AND id > %s ORDER BY id"
            )
            params = (profile, chat, self.owner, cursor)
        cur = await conn.execute(query, params)
        rows = [_Row(*row) for row in await cur.fetchall()]
        for row in rows:
            self._apply(key, row)
        if rows:
            self._cursors[key] = max(cursor or 0, max(row.id for row in rows))
        elif cursor is None:  # none, or this server's own: read from what is there now
            cur = await conn.execute(
                "SELECT COALESCE(max(id), 0) FROM turn_events WHERE profile = %s AND chat = %s",
                key,
            )
            newest = await cur.fetchone()
            self._cursors[key] = int(newest[0]) if newest else 0

    def _apply(self, key: ChatKey, row: _Row) -> None:
        """Replay one event into the turn followed (made on its first event)."""
        turns = self._turns
        assert turns is not None
        turn = self._following.get(key)
        if turn is None or turn.id != row.turn_id:
            if row.seq != 0:
                return  # an older turn's late row, or one begun before this server heard
            turn = RemoteTurn(self, row.turn_id, key[0], key[1], row.owner)
            self._following[key] = turn
            turns.add(turn)
        if row.seq != len(turn.events) or not turn.running:
            return  # read already (a row is asked for twice on purpose), or after its end
        try:
            event = _event(row.body)
        except msgspec.DecodeError:
            log.warning("other servers: an event of %s/%s could not be read", *key)
            return
        if type(event) is TurnStarted:
            turn.started = event
        turn.emit(event)

    async def _read_news(self) -> None:
        conn = self._read
        assert conn is not None
        cur = await conn.execute(
            "SELECT id, profile, body FROM chat_news WHERE id > %s AND owner <> %s ORDER BY id",
            (self._news_cursor, self.owner),
        )
        for news_id, profile, body in await cur.fetchall():
            self._news_cursor = max(self._news_cursor, news_id)
            with contextlib.suppress(msgspec.DecodeError):
                self.local.publish_news(profile, _news(body))

    # --- liveness (the reply leases' Peers) --------------------------------------------
    async def gone(self, owners: Sequence[str]) -> list[str]:
        """Of ``owners``, those registered here whose database session has ended."""
        conn = self._read
        if conn is None or not owners:
            return []
        try:
            cur = await conn.execute(
                "SELECT s.owner FROM servers s WHERE s.owner = ANY(%s) AND NOT EXISTS"
                " (SELECT 1 FROM pg_stat_activity a"
                "  WHERE a.pid = s.backend_pid AND a.backend_start = s.backend_start)",
                (list(owners),),
            )
            return [row[0] for row in await cur.fetchall()]
        except Exception as exc:
            raise StoreError(f"cannot see the other servers: {exc}") from exc

    def _of(self, dead: Sequence[str]) -> list[RemoteTurn]:
        return [t for t in self._following.values() if t.running and t.owner in dead]

    async def salvage(self, dead: Sequence[str]) -> None:
        """Store what the dead servers' unfinished replies streamed, as far as their
        last batch, where the reply is still ``streaming`` (its server's last
        checkpoint may be a second older): read from the table, so whether or not this
        server followed them."""
        conn = self._read
        if conn is None:
            return
        try:
            cur = await conn.execute(
                "SELECT turn_id, profile, chat, seq, body FROM turn_events"
                " WHERE owner = ANY(%s) ORDER BY id",
                (list(dead),),
            )
            rows = await cur.fetchall()
        except Exception as exc:
            log.warning("could not read the replies of a stopped server: %s", exc)
            return
        turns: dict[str, tuple[str, str, list[TurnEvent]]] = {}
        for turn_id, profile, chat, seq, body in rows:
            _, _, events = turns.setdefault(turn_id, (profile, chat, []))
            if seq == len(events):
                with contextlib.suppress(msgspec.DecodeError):
                    events.append(_event(body))
        for profile, chat, events in turns.values():
            started = events[0] if events and type(events[0]) is TurnStarted else None
            if started is None or type(events[-1]) is TurnEnd:
                continue
            try:
                await self._keep(profile, chat, started.message_id, events)
            except ChatthyError as exc:
                log.warning("could not keep the reply of a stopped server: %s", exc.message)

    async def _keep(
        self, profile: str, chat: str, message_id: int, events: Sequence[TurnEvent]
    ) -> None:
        found = await self.store.messages(profile, chat, after=message_id - 1, limit=1)
        if not found or found[0].id != message_id or found[0].status != "streaming":
            return
        content = streamed_content(events)
        if content:
            await self.store.update_message(profile, message_id, content=content)

    def ended(self, dead: Sequence[str]) -> None:
        """End, for this server's clients, the replies of ``dead`` it followed."""
        for turn in self._of(dead):
            message_id = turn.started.message_id if turn.started is not None else 0
            why = EndError("interrupted", "the server running this reply stopped")
            turn.emit(TurnEnd("interrupted", message_id, "", why))
        for owner in dead:
            asyncio.get_running_loop().create_task(self._forget_server(owner))

    async def _forget_server(self, owner: str) -> None:
        conn = self._read
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.execute("DELETE FROM servers WHERE owner = %s", (owner,))
