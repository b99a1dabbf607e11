"""Turn events as ZeroMQ frames: the one place the engine's events meet the wire.

Each event becomes an :class:`~chatthy.wire.messages.Event` (``kind``, ``text``,
``data``) numbered within its turn; the end carries the total. A ``tool_result``'s images are image
part maps, as in stored content. Kinds: ``start``,
``text``, ``reasoning``, ``tool_call``, ``tool_result``, ``usage``, ``info``, ``end``.
A chat's news becomes a :class:`~chatthy.wire.messages.News`.
"""

from __future__ import annotations

from typing import Any

import msgspec

from chatthy.conversation.content import content_of
from chatthy.conversation.events import (
    ChatNews,
    Notice,
    ReasoningDelta,
    TextDelta,
    ToolApproval,
    ToolCall,
    ToolResult,
    TurnEnd,
    TurnEvent,
    TurnStarted,
    Usage,
)
from chatthy.conversation.turns import Turn
from chatthy.wire.messages import Event, News, encode

__all__ = ["event_frame", "news_frame"]


def _end_data(event: TurnEnd) -> dict[str, Any]:
    data: dict[str, Any] = {"status": event.status, "message_id": event.message_id}
    if event.finish_reason:
        data["finish_reason"] = event.finish_reason
    if event.error is not None:
        data["error"] = {"code": event.error.code, "message": event.error.message}
    return data


_KINDS: dict[type, str] = {
    TurnStarted: "start",
    Usage: "usage",
    ToolCall: "tool_call",
    ToolResult: "tool_result",
    ToolApproval: "approve",
}
"""The events sent as their fields (``data``), by the kind their frame names."""


def event_frame(turn: Turn, seq: int, event: TurnEvent) -> bytes:
    """The frame of event ``seq`` of ``turn``."""
    kind = type(event)
    if kind is TextDelta or kind is ReasoningDelta:
        text = event.text  # type: ignore[union-attr]
        return encode(
            Event(turn.id, turn.chat, seq, "text" if kind is TextDelta else "reasoning", text)
        )
    if kind is TurnEnd:
        assert isinstance(event, TurnEnd)
        return encode(Event(turn.id, turn.chat, seq, "end", data=_end_data(event), total=seq + 1))
    if kind is Notice:
        assert isinstance(event, Notice)
        data = {**event.data, "notice": event.kind, "message": event.message}
        return encode(Event(turn.id, turn.chat, seq, "info", data=data))
    data = msgspec.structs.asdict(event)
    if kind is ToolResult:  # its images as content's image parts, when it has any
        images = data.pop("images")
        if images:
            data["images"] = content_of(images)
    return encode(Event(turn.id, turn.chat, seq, _KINDS[kind], data=data))


def news_frame(news: ChatNews) -> bytes:
    """The frame of one chat's news."""
    return encode(News(news.kind, news.chat, news.new, news.status))
