"""What happens during a turn, as one typed union.

A provider yields :data:`ProviderEvent`: text and reasoning deltas, tool calls, usage and
how the model finished. The engine numbers the events of a turn and adds its own: the
turn started (carrying the user's message, so other clients need no ``messages`` call),
notices (messages left out to fit, a reply cut short), tool results, and the end (status,
message id, finish reason, error). Beside turns, :class:`ChatNews` says that one of a
profile's chats changed. Transports map these to their frames in one place (the ZeroMQ
server: :mod:`chatthy.server.frames`).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from chatthy.conversation.model import ImagePart

__all__ = [
    "FINISH_REASONS",
    "NEWS_KINDS",
    "STATUSES",
    "ChatNews",
    "EndError",
    "Finish",
    "Notice",
    "ProviderEvent",
    "ReasoningDelta",
    "Status",
    "TextDelta",
    "ToolApproval",
    "ToolCall",
    "ToolResult",
    "TurnEnd",
    "TurnEvent",
    "TurnStarted",
    "Usage",
]

Status = Literal["complete", "truncated", "streaming", "cancelled", "error", "interrupted"]
"""How a stored reply stands: ``truncated`` is a reply the model ended at its token limit
(the text is kept); ``interrupted`` one that was cut off (a server stop, a dropped
upstream stream)."""
STATUSES: tuple[str, ...] = (
    "complete",
    "truncated",
    "streaming",
    "cancelled",
    "error",
    "interrupted",
)

FINISH_REASONS = ("stop", "length", "tool_calls", "content_filter", "other")
"""How a model ended its reply, the same for every API (OpenAI's names)."""


class TextDelta(msgspec.Struct, frozen=True, tag="text", tag_field="type"):
    """A piece of the reply's text (several upstream chunks may arrive merged)."""

    text: str


class ReasoningDelta(msgspec.Struct, frozen=True, tag="reasoning", tag_field="type"):
    """A piece of the model's reasoning: shown to users, never stored or sent back."""

    text: str


class ToolCall(msgspec.Struct, frozen=True, tag="tool_call", tag_field="type"):
    """The model asks for tool ``name`` with ``arguments`` (a JSON object's text)."""

    id: str
    name: str
    arguments: str = "{}"


class ToolResult(msgspec.Struct, frozen=True, tag="tool_result", tag_field="type"):
    """What running call ``call_id`` (of tool ``name``) gave, how long it took, and the
    images it returned (checked ``data:`` URL parts, as the model is sent them)."""

    call_id: str
    content: str
    is_error: bool = False
    name: str = ""
    seconds: float = 0.0
    images: tuple[ImagePart, ...] = ()


class ToolApproval(msgspec.Struct, frozen=True, tag="approve", tag_field="type"):
    """Call ``call_id`` of tool ``name`` changes something or reaches out: the user is
    asked (a client answers with the ``approve`` RPC; no answer within ``timeout``
    seconds refuses it)."""

    call_id: str
    name: str
    arguments: str = "{}"
    timeout: float = 300.0


class Usage(msgspec.Struct, frozen=True, tag="usage", tag_field="type"):
    """Token counts the provider reported for the whole turn."""

    input_tokens: int = 0
    output_tokens: int = 0


class Finish(msgspec.Struct, frozen=True, tag="finish", tag_field="type"):
    """The model ended its reply: ``reason`` is one of :data:`FINISH_REASONS`. A provider
    yields it last; a stream that ends without one was cut off."""

    reason: str = "stop"


class TurnStarted(msgspec.Struct, frozen=True, tag="start", tag_field="type"):
    """A turn began in ``chat``: the reply will be stored as ``message_id``."""

    chat: str
    message_id: int
    provider: str
    model: str
    tokens: int
    """Tokens of what the model is sent."""
    workspace_tokens: int = 0
    dropped: int = 0
    """Oldest history messages left out to fit."""
    user_message_id: int | None = None
    user_content: Any = None
    """The user's new message as stored (None for regenerate)."""


class Notice(msgspec.Struct, frozen=True, tag="info", tag_field="type"):
    """Something the user should know about the turn: ``kind`` names it (``dropped``:
    messages left out to fit; ``think``: a reply that ended inside its reasoning)."""

    kind: str
    message: str = ""
    data: dict[str, Any] = msgspec.field(default_factory=dict)


class EndError(msgspec.Struct, frozen=True):
    code: str
    message: str


class TurnEnd(msgspec.Struct, frozen=True, tag="end", tag_field="type"):
    """The last event of a turn: how it ended and where the reply is stored."""

    status: Status
    message_id: int
    finish_reason: str = ""
    error: EndError | None = None


ProviderEvent = TextDelta | ReasoningDelta | ToolCall | Usage | Finish
TurnEvent = (
    TurnStarted
    | TextDelta
    | ReasoningDelta
    | ToolCall
    | ToolResult
    | ToolApproval
    | Usage
    | Notice
    | TurnEnd
)


NEWS_KINDS = ("created", "renamed", "destroyed", "updated", "replied")
"""What can happen to a chat, as :class:`ChatNews` tells it."""


class ChatNews(msgspec.Struct, frozen=True):
    """One of a profile's chats changed (not by a reply streaming: that is its turn's
    events): it was ``created``, ``renamed`` (``chat`` is the old name, ``new`` the new
    one), ``destroyed``, ``updated`` (its settings, or messages removed or replaced), or
    ``replied``: a reply in it ended (``status`` says how), so that a client showing
    another chat can tell its user."""

    kind: Literal["created", "renamed", "destroyed", "updated", "replied"]
    chat: str
    new: str = ""
    status: str = ""
