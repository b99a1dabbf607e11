"""What the RPC handlers share: store records as the wire shows them, and the answer of a
started turn."""

from __future__ import annotations

from chatthy.conversation.turns import Turn
from chatthy.server.rpc import Context
from chatthy.store.base import ChatRecord, MessageRecord
from chatthy.wire.api import ChatInfo, MessageInfo, Started

__all__ = ["chat_info", "max_file", "message_info", "watching"]


def max_file(ctx: Context) -> int:
    """The largest workspace (or attached) file the server takes, in bytes."""
    return ctx.engine.config.server.max_workspace_file


def chat_info(record: ChatRecord, running: bool = False) -> ChatInfo:
    """A stored chat as clients see it (its row id stays in the store)."""
    return ChatInfo(
        name=record.name,
        personality=record.personality,
        provider=record.provider,
        model=record.model,
        created=record.created,
        updated=record.updated,
        messages=record.messages,
        running=running,
    )


def message_info(record: MessageRecord) -> MessageInfo:
    """A stored message as clients see it."""
    return MessageInfo(
        id=record.id,
        role=record.role,
        content=record.content,
        status=record.status,
        provider=record.provider,
        model=record.model,
        usage=record.usage,
        error=record.error,
        created=record.created,
        updated=record.updated,
        tokens=record.tokens,
    )


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
