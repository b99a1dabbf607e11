"""Replies in flight: numbered turn events, kept for a while, and the broadcaster port.

A reply runs as a task of its own, independent of any client. Each of its events is
numbered from 0 and handed to the :class:`Broadcaster`, which delivers it to whoever
watches the chat — in this process (:class:`LocalBroadcaster`) or, with a shared database,
on other servers too. The events are kept while the reply runs and for a while after, so
that a client that lost some can be sent them again from the number it is missing.

The broadcaster carries a profile's :class:`~chatthy.conversation.events.ChatNews` too (a
chat made, renamed, destroyed or changed), to every transport that serves the profile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

from chatthy.conversation.events import ChatNews, TurnEnd, TurnEvent, TurnStarted

__all__ = ["Broadcaster", "LocalBroadcaster", "NewsSink", "Sink", "Turn", "Turns"]

ChatKey = tuple[str, str]


class Turn:
    """One reply in flight (or just finished) in one chat of one profile."""

    remote = False
    """True for a reply another server runs and this one only follows."""

    def __init__(self, broadcaster: Broadcaster, turn_id: str, profile: str, chat: str) -> None:
        self.broadcaster = broadcaster
        self.id = turn_id
        self.profile = profile
        self.chat = chat
        self.events: list[TurnEvent] = []
        self.task: asyncio.Task[None] | None = None
        self.stop_reason: str | None = None
        self.finished_at: float | None = None
        self.started: TurnStarted | None = None
        """What the turn began with, once its reply is stored ``streaming``."""
        self.approvals: dict[str, asyncio.Future[str]] = {}
        """Tool calls waiting for the user's answer, by call id."""

    @property
    def running(self) -> bool:
        return self.finished_at is None

    def emit(self, event: TurnEvent) -> None:
        """Number, keep and broadcast one event; a :class:`TurnEnd` is the last."""
        seq = len(self.events)
        self.events.append(event)
        if type(event) is TurnEnd:
            self.finished_at = time.monotonic()
        self.broadcaster.publish(self, seq, event)

    def answer(self, call_id: str, answer: str) -> bool:
        """The user's answer to tool call ``call_id`` waiting for one; False when none
        of that id waits (answered already, run out, or the reply ended)."""
        waiting = self.approvals.get(call_id)
        if waiting is None or waiting.done():
            return False
        waiting.set_result(answer)
        return True

    def stop(self, reason: str) -> bool:
        """Ask the reply to stop (``cancelled`` or ``interrupted``); False if it is over."""
        if not self.running:
            return False
        self.stop_reason = reason
        if self.task is not None:
            self.task.cancel()
        return True


Sink = Callable[[Turn, int, TurnEvent], None]
"""Takes event number ``seq`` of a turn; must not block (it runs on the reply's task)."""

NewsSink = Callable[[str, ChatNews], None]
"""Takes news of one of a profile's chats; must not block (it runs on the engine's call)."""


class Broadcaster(Protocol):
    """Delivers every turn's events, numbered, to the transports that watch chats, and
    every profile's chat news to the transports that serve it."""

    def publish(self, turn: Turn, seq: int, event: TurnEvent) -> None:
        """Deliver one event to every sink; never blocks, never raises."""

    def listen(self, sink: Sink) -> None:
        """Deliver every event published from now on to ``sink`` too."""

    def publish_news(self, profile: str, news: ChatNews) -> None:
        """Deliver news of a chat of ``profile`` to every news sink; never blocks, never
        raises."""

    def listen_news(self, sink: NewsSink) -> None:
        """Deliver all news published from now on to ``sink`` too."""

    def follow_only(self, wanted: Callable[[str, str], bool]) -> None:
        """Follow other servers' replies only in the chats ``wanted(profile, chat)``
        says someone here watches (besides those :meth:`catch_up` asks for)."""

    async def catch_up(self, profile: str, chat: str) -> None:
        """Bring a reply of ``chat`` that runs (or just ended) on another server into
        this server's turns now: a client opens the chat here."""

    async def aclose(self) -> None:
        """Deliver what is published and not delivered yet (to other servers), then
        stop; the broadcaster is not used afterwards."""


class LocalBroadcaster:
    """The broadcaster of one server process: events go to the sinks of this process."""

    def __init__(self) -> None:
        self._sinks: list[Sink] = []
        self._news_sinks: list[NewsSink] = []

    def publish(self, turn: Turn, seq: int, event: TurnEvent) -> None:
        for sink in self._sinks:
            sink(turn, seq, event)

    def listen(self, sink: Sink) -> None:
        self._sinks.append(sink)

    def publish_news(self, profile: str, news: ChatNews) -> None:
        for sink in self._news_sinks:
            sink(profile, news)

    def listen_news(self, sink: NewsSink) -> None:
        self._news_sinks.append(sink)

    def follow_only(self, wanted: Callable[[str, str], bool]) -> None:
        """There are no other servers to follow."""

    async def catch_up(self, profile: str, chat: str) -> None:
        """Every reply of this process is in its turns already."""

    async def aclose(self) -> None:
        """Nothing waits: every event reached its sinks when it was published."""


class Turns:
    """The turns of this server, by chat and by id, kept ``keep`` seconds after they end."""

    def __init__(self, keep: float = 120.0) -> None:
        self._keep = keep
        self._next_sweep = 0.0
        self._by_chat: dict[ChatKey, Turn] = {}
        self._by_id: dict[str, Turn] = {}

    def add(self, turn: Turn) -> None:
        """Record a new turn (the caller checked none is running in its chat)."""
        self._sweep()
        self.drop(turn.profile, turn.chat)
        self._by_chat[(turn.profile, turn.chat)] = turn
        self._by_id[turn.id] = turn

    def _expired(self, turn: Turn) -> bool:
        done = turn.finished_at
        return done is not None and time.monotonic() - done > self._keep

    def _sweep(self) -> None:
        """Forget turns kept longer than ``keep``, at most every ``keep / 8``: a sweep
        walks every kept turn (~0.1 ms with a few hundred), lookups check expiry."""
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + self._keep / 8
        for turn in [t for t in self._by_id.values() if self._expired(t)]:
            self._forget(turn)

    def _forget(self, turn: Turn) -> None:
        self._by_id.pop(turn.id, None)
        if self._by_chat.get((turn.profile, turn.chat)) is turn:
            del self._by_chat[(turn.profile, turn.chat)]

    def drop(self, profile: str, chat: str) -> None:
        """Forget the chat's finished turn: its messages were deleted or replaced."""
        turn = self._by_chat.get((profile, chat))
        if turn is not None and not turn.running:
            self._forget(turn)

    def release(self, turn: Turn) -> None:
        """Forget a turn whose reply never started."""
        turn.finished_at = 0.0
        self._forget(turn)

    def latest(self, profile: str, chat: str) -> Turn | None:
        """The chat's running turn, or the last one if it ended recently."""
        turn = self._by_chat.get((profile, chat))
        return None if turn is None or self._expired(turn) else turn

    def find(self, profile: str, turn_id: str) -> Turn | None:
        """The profile's turn ``turn_id``, running or recently finished."""
        turn = self._by_id.get(turn_id)
        if turn is None or turn.profile != profile or self._expired(turn):
            return None
        return turn

    def running(self, profile: str, chat: str) -> Turn | None:
        turn = self.latest(profile, chat)
        return turn if turn is not None and turn.running else None

    def rename(self, profile: str, old: str, new: str) -> None:
        """Follow a chat rename (no reply runs in it): its kept turn is forgotten."""
        turn = self._by_chat.get((profile, old))
        if turn is not None:
            self._forget(turn)

    def all_running(self) -> list[Turn]:
        """The replies this server runs (not those it follows from another)."""
        return [t for t in self._by_chat.values() if t.running and not t.remote]
