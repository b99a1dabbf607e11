"""What the RPC handlers share: argument types and the answer of a started turn."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from chatthy.conversation.turns import Turn
from chatthy.server.rpc import Context

__all__ = ["Id", "Limit", "NameArg", "NoArgs", "max_file", "watching"]

Id = Annotated[int, msgspec.Meta(ge=0, le=2**62)]
"""A message id as clients may send it (bounded so no store ever overflows)."""

Limit = Annotated[int, msgspec.Meta(ge=1, le=100_000)]


class NoArgs(msgspec.Struct, forbid_unknown_fields=True):
    """The arguments of an RPC that takes none (any given is refused)."""


class NameArg(msgspec.Struct, forbid_unknown_fields=True):
    """The arguments of an RPC that takes just a ``name``."""

    name: str


def max_file(ctx: Context) -> int:
    """The largest workspace (or attached) file the server takes, in bytes."""
    return ctx.engine.config.server.max_workspace_file


def watching(ctx: Context, turn: Turn) -> dict[str, Any]:
    """The connection that started ``turn`` watches its chat (before the turn's first
    event goes out: the engine emits from the reply's task); what the client is told of
    the turn it started."""
    ctx.watch(turn.chat)
    started = turn.started
    assert started is not None
    result: dict[str, Any] = {
        "chat": started.chat,
        "stream": turn.id,
        "message_id": started.message_id,
        "tokens": started.tokens,
        "workspace_tokens": started.workspace_tokens,
        "dropped": started.dropped,
    }
    if started.user_message_id is not None:
        result["user_message_id"] = started.user_message_id
    return result
