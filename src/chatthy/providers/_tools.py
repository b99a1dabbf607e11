"""Tool calls put together from the pieces a stream brings, shared by the SDK providers.

Both APIs stream a call as a start (its id and name) followed by its arguments' JSON text
in pieces: OpenAI numbers calls by ``index`` in ``tool_calls`` deltas, Anthropic by the
content block's ``index``. A model (or a server in front of it) may also leave things
out: a call without an id gets one made up, so its result can still be matched to it; a
call without a name cannot be run by anyone and is dropped rather than passed on.
"""

from __future__ import annotations

from chatthy.conversation.events import ToolCall

__all__ = ["PendingCalls", "tool_choice_name"]

_CHOICES = ("auto", "none", "required")


class _Pending:
    def __init__(self, order: int) -> None:
        self.order = order
        self.id = ""
        self.name = ""
        self.pieces: list[str] = []


class PendingCalls:
    """The calls of one reply whose pieces are still arriving, by their stream index."""

    def __init__(self) -> None:
        self._open: dict[int, _Pending] = {}
        self._seen = 0
        self._ids: set[str] = set()

    def feed(self, index: int, call_id: str | None, name: str | None, piece: str | None) -> None:
        """Add what one delta says of call ``index``; the first id and name given stay."""
        call = self._open.get(index)
        if call is None:
            call = self._open[index] = _Pending(self._seen)
            self._seen += 1
        if call_id and not call.id:
            call.id = call_id
        if name and not call.name:
            call.name = name
        if piece:
            call.pieces.append(piece)

    def feed_unindexed(self, call_id: str | None, name: str | None, piece: str | None) -> None:
        """As :meth:`feed` for a server that numbers no calls: a new id starts the next
        call, anything else belongs to the latest one."""
        latest = max(self._open, default=-1)
        current = self._open.get(latest)
        if current is None or (call_id and current.id and call_id != current.id):
            latest += 1
        self.feed(latest, call_id, name, piece)

    def __bool__(self) -> bool:
        return bool(self._open)

    def take(self, index: int) -> ToolCall | None:
        """Call ``index`` complete (its block ended); None if unknown or nameless."""
        call = self._open.pop(index, None)
        return None if call is None else self._finish(call)

    def take_all(self) -> list[ToolCall]:
        """Every open call complete (the reply finished), in index order."""
        calls = [self._open.pop(index) for index in sorted(self._open)]
        self._ids.update(call.id for call in calls if call.id and call.name)
        return [done for call in calls if (done := self._finish(call)) is not None]

    def _finish(self, call: _Pending) -> ToolCall | None:
        if not call.name:
            return None
        call_id = call.id or self._made_id(call.order)
        self._ids.add(call_id)
        return ToolCall(call_id, call.name, "".join(call.pieces).strip() or "{}")

    def _made_id(self, order: int) -> str:
        """``call_<n>``, n the call's place in the reply, unless the reply used it."""
        made, n = f"call_{order}", order
        while made in self._ids or any(made == c.id for c in self._open.values() if c.name):
            n += 1
            made = f"call_{n}"
        return made


def tool_choice_name(choice: str) -> str | None:
    """The tool a ``tool_choice`` names, or None for the modes ``auto``, ``none`` and
    ``required``."""
    return None if choice in _CHOICES else choice
