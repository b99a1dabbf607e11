"""RPCs that manage chats: list, create, rename, fork, destroy, read, search, undo."""

from __future__ import annotations

from typing import Any

import msgspec

from chatthy.server.handlers.common import Id, Limit
from chatthy.server.rpc import Context, registry
from chatthy.store.base import ChatRecord, SearchHit

__all__: list[str] = []


class ChatsArgs(msgspec.Struct, forbid_unknown_fields=True):
    personality: str | None = None


@registry.rpc()
async def chats(ctx: Context, args: ChatsArgs) -> list[dict[str, Any]]:
    """List your chats, most recent first; optionally only those of one personality."""
    records = await ctx.engine.store.list_chats(ctx.profile, args.personality)
    engine = ctx.engine
    return [
        {**msgspec.structs.asdict(c), "running": engine.running(ctx.profile, c.name) is not None}
        for c in records
    ]


class NewArgs(msgspec.Struct, forbid_unknown_fields=True):
    chat: str
    prompt: str | None = None
    provider: str | None = None
    model: str | None = None


@registry.rpc()
async def new(ctx: Context, args: NewArgs) -> ChatRecord:
    """Create an empty chat with a personality (prompt), provider and model."""
    return await ctx.engine.new_chat(ctx.profile, args.chat, args.prompt, args.provider, args.model)


@registry.rpc()
async def use(ctx: Context, args: NewArgs) -> ChatRecord:
    """Switch a chat's personality, provider or model (creating the chat if needed)."""
    return await ctx.engine.ensure_chat(
        ctx.profile, args.chat, prompt=args.prompt, provider=args.provider, model=args.model
    )


class RenameArgs(msgspec.Struct, forbid_unknown_fields=True):
    chat: str
    new: str


@registry.rpc()
async def rename(ctx: Context, args: RenameArgs) -> ChatRecord:
    """Rename a chat."""
    record = await ctx.engine.rename(ctx.profile, args.chat, args.new)
    ctx.transport.renamed(ctx.profile, args.chat, args.new)
    return record


class ForkArgs(msgspec.Struct, forbid_unknown_fields=True):
    chat: str
    new: str
    message_id: Id | None = None


@registry.rpc()
async def fork(ctx: Context, args: ForkArgs) -> ChatRecord:
    """Copy a chat into a new one, whole or up to and including a given message."""
    return await ctx.engine.store.fork_chat(ctx.profile, args.chat, args.new, args.message_id)


class ChatArg(msgspec.Struct, forbid_unknown_fields=True):
    chat: str


@registry.rpc()
async def destroy(ctx: Context, args: ChatArg) -> dict[str, Any]:
    """Delete a chat and all its messages."""
    await ctx.engine.destroy(ctx.profile, args.chat)
    return {"chat": args.chat, "deleted": True}


@registry.rpc()
async def undo(ctx: Context, args: ChatArg) -> dict[str, Any]:
    """Remove the last turn: your last message and the reply to it."""
    removed = await ctx.engine.undo(ctx.profile, args.chat)
    return {"chat": args.chat, "removed": removed}


class MessagesArgs(msgspec.Struct, forbid_unknown_fields=True):
    chat: str
    before: Id | None = None
    limit: Limit | None = 200


@registry.rpc()
async def messages(ctx: Context, args: MessagesArgs) -> dict[str, Any]:
    """A chat's messages, newest page first (page back with `before`), and whether a
    reply is running in it."""
    store = ctx.engine.store
    chat = await store.get_chat(ctx.profile, args.chat)
    records = await store.messages(ctx.profile, args.chat, before=args.before, limit=args.limit)
    running = ctx.engine.running(ctx.profile, args.chat)
    return {
        "chat": chat,
        "messages": records,
        "running": None if running is None else {"stream": running.id},
    }


class SearchArgs(msgspec.Struct, forbid_unknown_fields=True):
    query: str
    limit: Limit = 20


@registry.rpc()
async def search(ctx: Context, args: SearchArgs) -> list[SearchHit]:
    """Full-text search over all your chats."""
    return await ctx.engine.store.search(ctx.profile, args.query, min(args.limit, 200))
