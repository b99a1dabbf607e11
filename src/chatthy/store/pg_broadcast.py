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
its replies interrupted within about three seconds (a session gone for :data:`GRACE`),
not at the end of the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
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
GRACE = 2.0
"""Seconds a server's listening session must stay gone before the server is taken for
stopped: a session cut by the network or a database restart is made again within one."""
NEWS_WINDOW = 1000
"""News ids read again below the last one seen: a row that took its id before another
server's but committed after it is still read (those seen are skipped)."""
CONNECT: dict[str, Any] = {
    "connect_timeout": 5,
    # a server's machine that vanishes (no FIN) is noticed by its own side within seconds
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
}

_encode = msgspec.msgpack.Encoder().encode
_event = msgspec.msgpack.Decoder(TurnEvent).decode
_news = msgspec.msgpack.Decoder(ChatNews).decode

ChatKey = tuple[str, str]
_STOPPED = EndError("interrupted", "the server running this reply stopped")


class RemoteTurn(Turn):
    """A reply another server runs, followed here: its events come from the database.
    Stopping it, or answering its tool call, asks the server that runs it."""

    remote = True

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
        self._by_id: dict[str, RemoteTurn] = {}
        """Every turn followed here that still runs, or ended lately, by id."""
        self._news_cursor = 0
        self._news_seen: dict[int, None] = {}
        self._missing: dict[str, float] = {}
        """Owners whose listening session was not found, since when (monotonic)."""
        self._ends: list[tuple[str, str, str, str, int, bytes]] = []
        """Ends of a stopped server's replies to write for every server (see :meth:`ended`)."""
        self._chores: set[asyncio.Task[None]] = set()
        self._unfinished: list[tuple[str, str, str, str, int, bytes]] = []
        """The ends :meth:`salvage` found due, written by :meth:`ended`."""
        self._started = False
        self._broken = asyncio.Event()
        self._listen: AsyncConnection[Any] | None = None
        self._write: AsyncConnection[Any] | None = None
        self._read: AsyncConnection[Any] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._next_prune = 0.0
        self._next_sweep = 0.0
        self._closing = False
        self._wanted: Callable[[str, str], bool] = lambda profile, chat: True
        self._reads = asyncio.Lock()
        """One read of a chat at a time: the reader's and a catch-up's."""

    # --- the Broadcaster port ------------------------------------------------------------
    def publish(self, turn: Turn, seq: int, event: TurnEvent) -> None:
        self.local.publish(turn, seq, event)
        if self._started:  # kept while the database is away: written once it is back
            self._pending.append((turn, seq, event))
            self._wake.set()

    def listen(self, sink: Sink) -> None:
        self.local.listen(sink)

    def publish_news(self, profile: str, news: ChatNews) -> None:
        self.local.publish_news(profile, news)
        if self._started:
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
        if key in self._cursors or self._read is None:
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
            cur = await self._read.execute(  # the news there before: seen
                "SELECT id FROM chat_news WHERE id > (SELECT max(id) FROM chat_news) - %s"
                " ORDER BY id",
                (NEWS_WINDOW,),
            )
            self._news_seen = {news_id: None for (news_id,) in await cur.fetchall()}
            self._news_cursor = max(self._news_seen, default=0)
        except psycopg.Error as exc:
            await self._close_connections()
            raise StoreError(f"cannot follow the other servers: {exc}") from exc
        self._started = True
        self._flusher = asyncio.create_task(self._flushing(), name="other servers: write")
        self._tasks = [
            asyncio.create_task(self._listening(), name="other servers: listen"),
            asyncio.create_task(self._reading(), name="other servers: read"),
            self._flusher,
        ]

    async def _connect(self) -> None:
        """Open the three sessions; the listening one is this server's presence."""
        import psycopg

        await self._close_connections()
        self._listen = await psycopg.AsyncConnection.connect(self.url, autocommit=True, **CONNECT)
        self._write = await psycopg.AsyncConnection.connect(self.url, autocommit=True, **CONNECT)
        self._read = await psycopg.AsyncConnection.connect(self.url, autocommit=True, **CONNECT)
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
        if self._flusher is not None:  # its last batch
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._flusher), 5)
        if self._chores:
            await asyncio.wait(self._chores, timeout=2)
        for task in [*self._tasks, *self._chores]:
            task.cancel()
        for task in [*self._tasks, *self._chores]:
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
                self._lost()
                await asyncio.sleep(1.0)
                self._wake.set()

    async def _flush(self) -> None:
        """Write the pending events and news in one transaction whose commit notifies
        the other servers: per chat, its last event's number."""
        conn = self._write
        if conn is None:
            return
        batch, news, ends = self._pending, self._pending_news, self._ends
        if not batch and not news and not ends:
            return
        self._pending, self._pending_news, self._ends = [], [], []
        try:
            await self._write_batch(conn, batch, news, ends)
        except BaseException:  # not written: it goes first in the next batch
            self._pending[:0] = batch
            self._pending_news[:0] = news
            self._ends[:0] = ends
            raise
        if time.monotonic() >= self._next_prune:
            self._next_prune = time.monotonic() + 60.0
            await self._prune(conn)

    async def _write_batch(
        self,
        conn: AsyncConnection[Any],
        batch: list[tuple[Turn, int, TurnEvent]],
        news: list[tuple[str, ChatNews]],
        ends: list[tuple[str, str, str, str, int, bytes]],
    ) -> None:
        last: dict[ChatKey, int] = {}
        rows = []
        for turn, seq, event in batch:
            rows.append((turn.profile, turn.chat, turn.id, self.owner, seq, _encode(event)))
            last[(turn.profile, turn.chat)] = seq
        for row in ends:  # a stopped server's reply ended for it (see ended)
            rows.append(row)
            last[(row[0], row[1])] = row[4]
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
        """Forget the events of turns that wrote nothing for :data:`KEEP` seconds (a
        reply still running keeps its first events: whoever follows it reads from them),
        and news older than that; any server may."""
        await conn.execute(
            "DELETE FROM turn_events WHERE turn_id IN (SELECT turn_id FROM turn_events"
            " GROUP BY turn_id HAVING max(created) < extract(epoch FROM clock_timestamp()) - %s)",
            (KEEP,),
        )
        await conn.execute(
            "DELETE FROM chat_news WHERE created < extract(epoch FROM clock_timestamp()) - %s",
            (KEEP,),
        )

    def control(self, turn: RemoteTurn, what: dict[str, str]) -> None:
        """Ask the server running ``turn`` to stop it or to take a call's answer."""
        message = {"owner": turn.owner, "profile": turn.profile, "turn": turn.id} | what
        self._chore(self._notify(CONTROL, json.dumps(message)))

    def _chore(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` on its own, held until it ends (awaited by :meth:`aclose`)."""
        task = asyncio.get_running_loop().create_task(work)
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

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
        """Take the notifications; when the database is lost (here, or by the writing or
        reading session), connect again and read what was missed meanwhile."""
        while not self._closing:
            notes = asyncio.create_task(self._notes())
            lost = asyncio.create_task(self._broken.wait())
            try:
                await asyncio.wait({notes, lost}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (notes, lost):
                    task.cancel()
                await asyncio.gather(notes, lost, return_exceptions=True)
            if not notes.cancelled() and notes.exception() is not None:
                log.warning("other servers: lost the database (%s)", notes.exception())
            self._broken.clear()
            delay = 0.2
            while not self._closing:
                await asyncio.sleep(delay)
                try:
                    await self._connect()
                    break
                except Exception as exc:
                    log.warning("other servers: cannot reach the database: %s", exc)
                    delay = 1.0
            for turn in self._by_id.values():
                if turn.running:
                    self._dirty[(turn.profile, turn.chat)] = None
            self._news_due = True
            self._wake.set()
            self._read_wake.set()

    def _lost(self) -> None:
        """A session failed: make all three again (the listening task does)."""
        self._broken.set()

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
                if self._running_in(key) or self._wanted(profile, chat):
                    self._dirty[key] = None
                else:  # nobody here watches it: read it afresh once someone does
                    self._cursors.pop(key, None)
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
            if time.monotonic() >= self._next_sweep:
                self._next_sweep = time.monotonic() + 1.0
                self._sweep()
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
                self._lost()
                await asyncio.sleep(0.5)
                self._read_wake.set()

    async def _read_chat(self, key: ChatKey) -> None:
        async with self._reads:
            await self._read_rows(key)

    async def _read_rows(self, key: ChatKey) -> None:
        conn = self._read
        if conn is None:
            return
        profile, chat = key
        cursor = self._cursors.get(key)
        # the turns of this chat followed and still running: their rows past the last
        # number had, whatever their ids (a batch may commit after a later one)
        running = self._running_in(key)
        if cursor is None:  # first heard of: only its newest turn, if not this server's
            query = (
                "SELECT id, turn_id, owner, seq, body FROM turn_events WHERE turn_id ="
                " (SELECT turn_id FROM turn_events WHERE profile = %s AND chat = %s"
                "  ORDER BY id DESC LIMIT 1) AND owner <> %s ORDER BY id"
            )
            params: list[Any] = [profile, chat, self.owner]
        else:
            query = (
                "SELECT id, turn_id, owner, seq, body FROM turn_events"
                " WHERE profile = %s AND chat = %s AND owner <> %s AND id > %s"
            )
            params = [profile, chat, self.owner, cursor]
            for turn in running:
                query += (
                    " UNION SELECT id, turn_id, owner, seq, body FROM turn_events"
                    " WHERE turn_id = %s AND seq >= %s"
                )
                params += [turn.id, len(turn.events)]
            query += " ORDER BY id"
        cur = await conn.execute(query, params)
        rows = [_Row(*row) for row in await cur.fetchall()]
        for row in sorted(rows, key=lambda row: (row.turn_id, row.seq)):
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
        """Replay one event into the turn it belongs to (made on its first event)."""
        turns = self._turns
        assert turns is not None
        turn = self._by_id.get(row.turn_id)
        if turn is None:
            if row.seq != 0:
                return  # a forgotten turn's late row, or one begun before this server heard
            turn = RemoteTurn(self, row.turn_id, key[0], key[1], row.owner)
            self._by_id[turn.id] = turn
            turns.add(turn)
        if not turn.running or row.seq < len(turn.events):
            return  # read already (a row is asked for twice on purpose), or after its end
        if row.seq > len(turn.events):
            self._dirty[key] = None  # one before it committed later: read again
            self._read_wake.set()
            return
        try:
            event = _event(row.body)
        except msgspec.DecodeError:
            log.warning("other servers: an event of %s/%s could not be read", *key)
            return
        if type(event) is TurnStarted:
            turn.started = event
        turn.emit(event)

    def _running_in(self, key: ChatKey) -> list[RemoteTurn]:
        """The turns of chat ``key`` followed here that still run."""
        return [t for t in self._by_id.values() if t.running and (t.profile, t.chat) == key]

    def _sweep(self) -> None:
        """Forget the turns followed that ended and that the engine's turns forgot, and
        where the chats they were in were read up to (read afresh if opened again)."""
        turns = self._turns
        assert turns is not None
        for turn_id, turn in list(self._by_id.items()):
            if not turn.running and turns.find(turn.profile, turn_id) is None:
                del self._by_id[turn_id]
        followed = {(t.profile, t.chat) for t in self._by_id.values()}
        for key in [key for key in self._cursors if key not in followed]:
            del self._cursors[key]

    async def _read_news(self) -> None:
        conn = self._read
        assert conn is not None
        cur = await conn.execute(
            "SELECT id, profile, body FROM chat_news WHERE id > %s AND owner <> %s ORDER BY id",
            (self._news_cursor - NEWS_WINDOW, self.owner),
        )
        for news_id, profile, body in await cur.fetchall():
            if news_id in self._news_seen:
                continue
            self._news_seen[news_id] = None
            self._news_cursor = max(self._news_cursor, news_id)
            with contextlib.suppress(msgspec.DecodeError):
                self.local.publish_news(profile, _news(body))
        while len(self._news_seen) > 4 * NEWS_WINDOW:
            del self._news_seen[next(iter(self._news_seen))]

    # --- liveness (the reply leases' Peers) --------------------------------------------
    async def gone(self, owners: Sequence[str]) -> list[str]:
        """Of ``owners``, those registered here whose database session has ended."""
        conn = self._read
        if conn is None or not owners:
            return []
        try:
            # backend_start is hidden from other roles (NULL): the pid alone then
            cur = await conn.execute(
                "SELECT s.owner FROM servers s WHERE s.owner = ANY(%s) AND NOT EXISTS"
                " (SELECT 1 FROM pg_stat_activity a WHERE a.pid = s.backend_pid"
                "  AND (a.backend_start IS NULL OR a.backend_start = s.backend_start))",
                (list(owners),),
            )
            missing = {row[0] for row in await cur.fetchall()}
        except Exception as exc:
            self._lost()
            raise StoreError(f"cannot see the other servers: {exc}") from exc
        now = time.monotonic()
        for owner in list(self._missing):
            if owner not in missing:
                del self._missing[owner]  # back (its session made again), or not asked
        return [o for o in missing if now - self._missing.setdefault(o, now) >= GRACE]

    def _of(self, dead: Sequence[str]) -> list[RemoteTurn]:
        return [t for t in self._by_id.values() if t.running and t.owner in dead]

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
                "SELECT turn_id, owner, profile, chat, seq, body FROM turn_events"
                " WHERE owner = ANY(%s) ORDER BY turn_id, seq, id",
                (list(dead),),
            )
            rows = await cur.fetchall()
        except Exception as exc:
            log.warning("could not read the replies of a stopped server: %s", exc)
            return
        turns: dict[str, tuple[str, str, str, list[TurnEvent]]] = {}
        for turn_id, owner, profile, chat, seq, body in rows:
            _, _, _, events = turns.setdefault(turn_id, (owner, profile, chat, []))
            if seq == len(events):
                with contextlib.suppress(msgspec.DecodeError):
                    events.append(_event(body))
        self._unfinished = []
        for turn_id, (owner, profile, chat, events) in turns.items():
            started = events[0] if events and type(events[0]) is TurnStarted else None
            if started is None or type(events[-1]) is TurnEnd:
                continue
            end = TurnEnd("interrupted", started.message_id, "", _STOPPED)
            self._unfinished.append((profile, chat, turn_id, owner, len(events), _encode(end)))
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
        """End the replies of ``dead``: for this server's clients at once, and for every
        other server by an end written in the reply's name (the others may not hold
        its lease any more, and would never see it stop)."""
        for turn in self._of(dead):
            message_id = turn.started.message_id if turn.started is not None else 0
            turn.emit(TurnEnd("interrupted", message_id, "", _STOPPED))
        self._ends.extend(self._unfinished)
        self._unfinished = []
        self._wake.set()
        for owner in dead:
            self._chore(self._forget_server(owner))

    async def _forget_server(self, owner: str) -> None:
        conn = self._read
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.execute("DELETE FROM servers WHERE owner = %s", (owner,))
