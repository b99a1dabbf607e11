"""Chat news to every connection of a profile.

A connection belongs to the profile its last authenticated request was signed as (a
``hello`` proves nothing, so it does not count); news of that profile's chats — made,
renamed, destroyed, changed — goes to each of its connections, the one that made the
change too, encoded once. News that a request causes is held until that request is
answered: the client sees the answer first. A connection a send fails on is forgotten,
as :mod:`chatthy.server.watchers` forgets watchers; each profile keeps at most
:data:`MAX_CONNECTIONS` (the least recently active go first), so connections that vanish
without a word cannot pile up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator

from chatthy.conversation.events import ChatNews
from chatthy.server.frames import news_frame

__all__ = ["MAX_CONNECTIONS", "Newsroom"]

MAX_CONNECTIONS = 1000
"""Connections kept per profile: far above the clients one person runs at once."""

Send = Callable[[bytes, bytes], bool]
"""Send a frame to a connection; False when that connection is gone."""


class Newsroom:
    """Connections by profile, and the fan-out of the engine's chat news to them."""

    def __init__(self, send: Send, max_connections: int = MAX_CONNECTIONS) -> None:
        self._send = send
        self._max = max_connections
        self._profile_of: dict[bytes, str] = {}
        self._readers: dict[str, dict[bytes, None]] = {}
        """Per profile, its connections, least recently active first."""
        self._held: dict[asyncio.Task[object], list[tuple[str, ChatNews]]] = {}

    def join(self, conn: bytes, profile: str) -> None:
        """``conn`` made an authenticated request as ``profile``: it is that profile's
        (and no other's) from now on."""
        old = self._profile_of.get(conn)
        if old is not None and old != profile:
            self.forget(conn)
        self._profile_of[conn] = profile
        readers = self._readers.setdefault(profile, {})
        readers.pop(conn, None)
        readers[conn] = None
        if len(readers) > self._max:
            self.forget(next(iter(readers)))

    def forget(self, conn: bytes) -> None:
        profile = self._profile_of.pop(conn, None)
        if profile is None:
            return
        readers = self._readers[profile]
        readers.pop(conn, None)
        if not readers:
            del self._readers[profile]

    def connections(self, profile: str) -> int:
        """How many connections get the profile's news."""
        return len(self._readers.get(profile, ()))

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """Hold the news the current task causes until the block ends (the request is
        answered), then send it; a block left by an error (the server stopping) drops
        it."""
        task = asyncio.current_task()
        if task is None:
            yield
            return
        held = self._held[task] = []
        try:
            yield
        finally:
            del self._held[task]
        for profile, news in held:
            self._fan_out(profile, news)

    def on_news(self, profile: str, news: ChatNews) -> None:
        """The broadcaster's news sink: held while a request that caused it is being
        answered, sent at once otherwise (news from elsewhere)."""
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no event loop: not in a request
            task = None
        held = self._held.get(task) if task is not None else None
        if held is not None:
            held.append((profile, news))
        else:
            self._fan_out(profile, news)

    def _fan_out(self, profile: str, news: ChatNews) -> None:
        readers = self._readers.get(profile)
        if not readers:
            return
        body = news_frame(news)
        for conn in list(readers):
            if not self._send(conn, body):
                self.forget(conn)
