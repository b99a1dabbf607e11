"""Which connection watches which chat, and the fan-out of turn events to them.

The server listens to the engine's broadcaster once: each event of a watched chat is
encoded once and sent to every connection of the profile that has the chat open.
"""

from __future__ import annotations

from collections.abc import Callable

from chatthy.conversation.events import TurnEvent
from chatthy.conversation.turns import Turn
from chatthy.server.frames import event_frame

__all__ = ["Watchers"]

ChatKey = tuple[str, str]
Send = Callable[[bytes, bytes], bool]
"""Send a frame to a connection; False when that connection is gone."""


class Watchers:
    """Connections by the chat they have open (one chat each)."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._watchers: dict[ChatKey, set[bytes]] = {}
        self._watching: dict[bytes, ChatKey] = {}

    def watch(self, conn: bytes, profile: str, chat: str) -> None:
        """``conn`` now has ``chat`` open (and no other)."""
        key = (profile, chat)
        old = self._watching.get(conn)
        if old == key:
            return
        if old is not None:
            self._drop(conn, old)
        self._watching[conn] = key
        self._watchers.setdefault(key, set()).add(conn)

    def _drop(self, conn: bytes, key: ChatKey) -> None:
        watchers = self._watchers.get(key)
        if watchers is not None:
            watchers.discard(conn)
            if not watchers:
                del self._watchers[key]

    def watched(self, profile: str, chat: str) -> bool:
        """Whether a connection here has ``chat`` open."""
        return (profile, chat) in self._watchers

    def forget(self, conn: bytes) -> None:
        key = self._watching.pop(conn, None)
        if key is not None:
            self._drop(conn, key)

    def on_event(self, turn: Turn, seq: int, event: TurnEvent) -> None:
        """The broadcaster's sink: encode once, send to each watcher of the chat."""
        watchers = self._watchers.get((turn.profile, turn.chat))
        if not watchers:
            return
        body = event_frame(turn, seq, event)
        for conn in list(watchers):
            if not self._send(conn, body):
                self.forget(conn)

    def resend(self, conn: bytes, turn: Turn, from_seq: int) -> None:
        """Send ``conn`` the kept events of ``turn`` from ``from_seq`` on."""
        events = turn.events
        for seq in range(max(from_seq, 0), len(events)):
            if not self._send(conn, event_frame(turn, seq, events[seq])):
                self.forget(conn)
                return

    def rename(self, profile: str, old: str, new: str) -> None:
        """Follow a chat rename: its watchers keep watching it under the new name."""
        watchers = self._watchers.pop((profile, old), set())
        for conn in watchers:
            self._watching[conn] = (profile, new)
        if watchers:
            self._watchers.setdefault((profile, new), set()).update(watchers)
