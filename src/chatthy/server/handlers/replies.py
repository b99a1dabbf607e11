"""RPCs that make or follow replies: chat, regenerate, edit, cancel, attach."""

from __future__ import annotations

from typing import Any

import msgspec

from chatthy.errors import ArgumentError, ChatthyError, NotFoundError
from chatthy.server.handlers.common import ensure_chat, not_running
from chatthy.server.rpc import Context, registry
from chatthy.server.turns import start_reply

__all__: list[str] = []


class ChatArgs(msgspec.Struct, forbid_unknown_fields=True):
    chat: str
    text: str = ""
    content: list[dict[str, Any]] | None = None
    """Message parts (text, images) in OpenAI shape, instead of ``text``."""
    provider: str | None = None
    prompt: str | None = None
    model: str | None = None
    params: dict[str, Any] | None = None


@registry.rpc()
async def chat(ctx: Context, args: ChatArgs) -> dict[str, Any]:
    """Send a message and stream the reply (the chat is created if it does not exist)."""
    content: Any = args.content if args.content else args.text
    if not content or (isinstance(content, str) and not content.strip()):
        raise ArgumentError("chat: the message is empty")
    not_running(ctx, args.chat)
    record = await ensure_chat(
        ctx, args.chat, prompt=args.prompt, provider=args.provider, model=args.model
    )
    ctx.server.provider(record.provider)
    store = ctx.server.store
    user = await store.add_message(ctx.profile, record.name, "user", content)
    try:
        started = await start_reply(
            ctx.server, ctx.profile, ctx.conn, ctx.request_id, record, args.params
        )
    except ChatthyError:
        await store.delete_messages_from(ctx.profile, record.name, user.id)
        raise
    return {**started, "user_message_id": user.id}


class RegenerateArgs(msgspec.Struct, forbid_unknown_fields=True):
    chat: str
    params: dict[str, Any] | None = None


@registry.rpc()
async def regenerate(ctx: Context, args: RegenerateArgs) -> dict[str, Any]:
    """Replace the last reply with a new one."""
    not_running(ctx, args.chat)
    store = ctx.server.store
    records = await store.messages(ctx.profile, args.chat)
    last_user = max((i for i, m in enumerate(records) if m.role == "user"), default=None)
    if last_user is None:
        raise NotFoundError(f"chat '{args.chat}' has no message to reply to")
    if last_user + 1 < len(records):
        await store.delete_messages_from(ctx.profile, args.chat, records[last_user + 1].id)
    record = await store.get_chat(ctx.profile, args.chat)
    return await start_reply(ctx.server, ctx.profile, ctx.conn, ctx.request_id, record, args.params)


class EditArgs(msgspec.Struct, forbid_unknown_fields=True):
    chat: str
    text: str
    message_id: int | None = None
    """The user message to replace; your last one when omitted."""
    params: dict[str, Any] | None = None


@registry.rpc()
async def edit(ctx: Context, args: EditArgs) -> dict[str, Any]:
    """Replace one of your messages and regenerate the reply from there."""
    if not args.text.strip():
        raise ArgumentError("edit: the message is empty")
    not_running(ctx, args.chat)
    store = ctx.server.store
    records = await store.messages(ctx.profile, args.chat)
    users = [i for i, m in enumerate(records) if m.role == "user"]
    if args.message_id is not None:
        users = [i for i in users if records[i].id == args.message_id]
    if not users:
        which = "that message" if args.message_id is not None else "a message of yours"
        raise NotFoundError(f"chat '{args.chat}' has no {which} to edit")
    index = users[-1]
    await store.update_message(ctx.profile, records[index].id, content=args.text)
    if index + 1 < len(records):
        await store.delete_messages_from(ctx.profile, args.chat, records[index + 1].id)
    record = await store.get_chat(ctx.profile, args.chat)
    return await start_reply(ctx.server, ctx.profile, ctx.conn, ctx.request_id, record, args.params)


class ChatArg(msgspec.Struct, forbid_unknown_fields=True):
    chat: str


@registry.rpc()
async def cancel(ctx: Context, args: ChatArg) -> dict[str, Any]:
    """Stop the reply running in a chat; what was generated is kept, marked cancelled."""
    stream = ctx.server.hub.running(ctx.profile, args.chat)
    if stream is None or not stream.stop("cancelled"):
        raise NotFoundError(f"no reply is running in chat '{args.chat}'")
    return {"chat": args.chat, "stream": stream.id, "cancelled": True}


class AttachArgs(msgspec.Struct, forbid_unknown_fields=True):
    chat: str
    from_seq: int = 0
    """Resend the reply's events from this sequence number on."""


@registry.rpc()
async def attach(ctx: Context, args: AttachArgs) -> dict[str, Any]:
    """Open a chat (existing or not yet): see its replies live, and get a running (or
    just finished) reply's events from `from_seq` on."""
    hub = ctx.server.hub
    hub.watch(ctx.conn, ctx.profile, args.chat)
    stream = hub.stream(ctx.profile, args.chat)
    if stream is None:
        return {"chat": args.chat, "stream": None, "running": False}
    hub.resend(ctx.conn, stream, args.from_seq)
    return {
        "chat": args.chat,
        "stream": stream.id,
        "running": stream.running,
        "events": len(stream.events),
    }
