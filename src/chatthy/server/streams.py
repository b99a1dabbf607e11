"""Live reply streams: numbered events, who watches which chat, resend on attach.

A reply runs as a server task independent of any client. Each event is numbered from 0,
encoded once and sent to every connection of the profile that has the chat open. Events
are kept while the reply runs and for a while after, so a client that lost some (a full
pipe, a reconnect) can ``attach`` from the sequence number it is missing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from chatthy.wire.messages import Event, encode

__all__ = ["Hub", "Stream"]

ChatKey = tuple[str, str]
Send = Callable[[bytes, bytes], bool]
"""Send a frame to a connection; False when that connection is gone."""


class Stream:
    """One reply in flight (or just finished) in one chat."""

    def __init__(self, hub: Hub, request_id: str, profile: str, chat: str) -> None:
        self.hub = hub
        self.id = request_id
        self.profile = profile
        self.chat = chat
        self.events: list[bytes] = []
        self.task: asyncio.Task[None] | None = None
        self.stop_reason: str | None = None
        self.finished_at: float | None = None

    @property
    def running(self) -> bool:
        return self.finished_at is None

    def emit(
        self, kind: str, text: str = "", data: dict[str, Any] | None = None, *, last: bool = False
    ) -> None:
        """Number, keep and publish one event; ``last`` marks the end (with the total)."""
        seq = len(self.events)
        total = seq + 1 if last else None
        body = encode(Event(self.id, self.chat, seq, kind, text, data, total))
        self.events.append(body)
        if last:
            self.finished_at = time.monotonic()
        self.hub.publish(self.profile, self.chat, body)

    def stop(self, reason: str) -> bool:
        """Ask the reply to stop (``cancelled`` or ``interrupted``); False if it is over."""
        if not self.running:
            return False
        self.stop_reason = reason
        if self.task is not None:
            self.task.cancel()
        return True


class Hub:
    """Which connection watches which chat, and the streams of each chat."""

    def __init__(self, send: Send, keep: float = 120.0) -> None:
        self._send = send
        self._keep = keep
        self._next_sweep = 0.0
        self._watchers: dict[ChatKey, set[bytes]] = {}
        self._watching: dict[bytes, ChatKey] = {}
        self._streams: dict[ChatKey, Stream] = {}
        self._by_id: dict[str, Stream] = {}

    def watch(self, conn: bytes, profile: str, chat: str) -> None:
        """``conn`` now has ``chat`` open (and no other)."""
        key = (profile, chat)
        old = self._watching.get(conn)
        if old == key:
            return
        if old is not None:
            self._drop_watcher(conn, old)
        self._watching[conn] = key
        self._watchers.setdefault(key, set()).add(conn)

    def _drop_watcher(self, conn: bytes, key: ChatKey) -> None:
        watchers = self._watchers.get(key)
        if watchers is not None:
            watchers.discard(conn)
            if not watchers:
                del self._watchers[key]

    def forget(self, conn: bytes) -> None:
        key = self._watching.pop(conn, None)
        if key is not None:
            self._drop_watcher(conn, key)

    def publish(self, profile: str, chat: str, body: bytes) -> None:
        watchers = self._watchers.get((profile, chat))
        if not watchers:
            return
        for conn in list(watchers):
            if not self._send(conn, body):
                self.forget(conn)

    def start(self, request_id: str, profile: str, chat: str) -> Stream:
        """Reserve the chat for a new reply (the caller checked none is running)."""
        self._sweep()
        self.drop(profile, chat)
        stream = Stream(self, request_id, profile, chat)
        self._streams[(profile, chat)] = stream
        self._by_id[request_id] = stream
        return stream

    def _expired(self, stream: Stream) -> bool:
        done = stream.finished_at
        return done is not None and time.monotonic() - done > self._keep

    def _sweep(self) -> None:
        """Forget finished streams kept longer than ``keep`` (their events use memory).

        At most every ``keep / 8``: a sweep walks every kept stream, which cost each new
        reply ~0.1 ms with a few hundred kept. Lookups check expiry themselves, so a stream
        swept late is only memory held a little longer, never found."""
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + self._keep / 8
        for stream in [s for s in self._by_id.values() if self._expired(s)]:
            self._forget_stream(stream)

    def _forget_stream(self, stream: Stream) -> None:
        self._by_id.pop(stream.id, None)
        if self._streams.get((stream.profile, stream.chat)) is stream:
            del self._streams[(stream.profile, stream.chat)]

    def drop(self, profile: str, chat: str) -> None:
        """Forget the chat's finished reply: its messages were deleted or replaced."""
        stream = self._streams.get((profile, chat))
        if stream is not None and not stream.running:
            self._forget_stream(stream)

    def stream(self, profile: str, chat: str) -> Stream | None:
        """The chat's running reply, or the last one if it ended recently."""
        stream = self._streams.get((profile, chat))
        if stream is None or self._expired(stream):
            return None
        return stream

    def find(self, profile: str, stream_id: str) -> Stream | None:
        """The profile's reply ``stream_id``, running or recently finished."""
        stream = self._by_id.get(stream_id)
        if stream is None or stream.profile != profile or self._expired(stream):
            return None
        return stream

    def running(self, profile: str, chat: str) -> Stream | None:
        stream = self.stream(profile, chat)
        return stream if stream is not None and stream.running else None

    def resend(self, conn: bytes, stream: Stream, from_seq: int) -> None:
        """Send ``conn`` the kept events of ``stream`` from ``from_seq`` on."""
        for body in stream.events[max(from_seq, 0) :]:
            if not self._send(conn, body):
                self.forget(conn)
                return

    def rename(self, profile: str, old: str, new: str) -> None:
        """Follow a chat rename: its watchers keep watching it under the new name."""
        old_key, new_key = (profile, old), (profile, new)
        stream = self._streams.get(old_key)
        if stream is not None:
            self._forget_stream(stream)
        watchers = self._watchers.pop(old_key, set())
        for conn in watchers:
            self._watching[conn] = new_key
        if watchers:
            self._watchers.setdefault(new_key, set()).update(watchers)

    def all_running(self) -> list[Stream]:
        return [s for s in self._streams.values() if s.running]
