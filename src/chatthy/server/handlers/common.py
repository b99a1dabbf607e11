"""What the RPC handlers share: store records as the wire shows them, and the answer of a
started turn."""

from __future__ import annotations

from typing import TypeVar

import msgspec

from chatthy.conversation.turns import Turn
from chatthy.server.rpc import Context
from chatthy.store.base import ChatRecord, MessageRecord
from chatthy.wire.api import ChatInfo, MessageInfo, Started

__all__ = ["as_wire", "chat_info", "max_file", "message_info", "watching"]

W = TypeVar("W", bound=msgspec.Struct)


def max_file(ctx: Context) -> int:
    """The largest workspace (or attached) file the server takes, in bytes."""
    return ctx.engine.config.server.max_workspace_file


def as_wire(record: object, result: type[W]) -> W:
    """``record`` (a store row, a provider's capabilities) as the wire result of the
    same fields: each field ``result`` declares is copied by name, the rest (row ids)
    stays behind."""
    return msgspec.convert(record, result, from_attributes=True)


def chat_info(record: ChatRecord, running: bool = False) -> ChatInfo:
    """A stored chat as clients see it, with whether a reply runs in it."""
    info = as_wire(record, ChatInfo)
    info.running = running
    return info


def message_info(record: MessageRecord) -> MessageInfo:
    """A stored message as clients see it."""
    return as_wire(record, MessageInfo)


def watching(ctx: Context, turn: Turn) -> Started:
    """The connection that started ``turn`` watches its chat (before the turn's first
    event goes out: the engine emits from the reply's task); what the client is told of
    the turn it started."""
    ctx.watch(turn.chat)
    started = turn.started
    assert started is not None
    return Started(
        chat=started.chat,
        stream=turn.id,
        message_id=started.message_id,
        tokens=started.tokens,
        workspace_tokens=started.workspace_tokens,
        dropped=started.dropped,
        user_message_id=started.user_message_id,
    )
