"""RPCs that make or follow replies: chat, regenerate, edit, cancel, attach, resend."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from chatthy.errors import NotFoundError
from chatthy.server.content import check_content
from chatthy.server.handlers.common import Id, ask_in_chat, check_params, reserving
from chatthy.server.rpc import Context, registry
from chatthy.server.transient import TransientFile, transient_files
from chatthy.server.turns import plan, start_reply

__all__: list[str] = []


class ChatArgs(msgspec.Struct, forbid_unknown_fields=True):
    chat: str
    text: str = ""
    content: list[Any] | None = None
    """Message parts (text, images) in OpenAI shape, instead of ``text``."""
    provider: str | None = None
    prompt: str | None = None
    model: str | None = None
    params: dict[str, Any] | None = None
    transient: list[TransientFile] | None = None
    """Files attached for this turn only: ``{name, text, source}``, never stored."""


@registry.rpc()
async def chat(ctx: Context, args: ChatArgs) -> dict[str, Any]:
    """Send a message and stream the reply (the chat is created if it does not exist)."""
    content: Any = args.content if args.content is not None else args.text
    check_content(content)
    check_params(args.params)
    attached = transient_files(args.transient, ctx.server.config.server.max_workspace_file)
    return await ask_in_chat(
        ctx,
        args.chat,
        content,
        params=args.params,
        transient=attached,
        prompt=args.prompt,
        provider=args.provider,
        model=args.model,
    )


class RegenerateArgs(msgspec.Struct, forbid_unknown_fields=True):
    chat: str
    params: dict[str, Any] | None = None
    transient: list[TransientFile] | None = None


@registry.rpc()
async def regenerate(ctx: Context, args: RegenerateArgs) -> dict[str, Any]:
    """Replace the last reply with a new one."""
    check_params(args.params)
    attached = transient_files(args.transient, ctx.server.config.server.max_workspace_file)
    store = ctx.server.store
    with reserving(ctx, args.chat) as stream:
        record = await store.get_chat(ctx.profile, args.chat)
        records = await store.messages(ctx.profile, args.chat)
        last_user = max((i for i, m in enumerate(records) if m.role == "user"), default=None)
        if last_user is None:
            raise NotFoundError(f"chat '{args.chat}' has no message to reply to")
        await plan(ctx.server, ctx.profile, record, records[: last_user + 1], attached)
        if last_user + 1 < len(records):
            await store.delete_messages_from(ctx.profile, args.chat, records[last_user + 1].id)
        return await start_reply(
            ctx.server, stream, ctx.conn, record, args.params, transient=attached
        )


class EditArgs(msgspec.Struct, forbid_unknown_fields=True):
    chat: str
    text: str
    message_id: Id | None = None
    """The user message to replace; your last one when omitted."""
    params: dict[str, Any] | None = None
    transient: list[TransientFile] | None = None


@registry.rpc()
async def edit(ctx: Context, args: EditArgs) -> dict[str, Any]:
    """Replace one of your messages and regenerate the reply from there."""
    check_content(args.text)
    check_params(args.params)
    attached = transient_files(args.transient, ctx.server.config.server.max_workspace_file)
    store = ctx.server.store
    with reserving(ctx, args.chat) as stream:
        record = await store.get_chat(ctx.profile, args.chat)
        records = await store.messages(ctx.profile, args.chat)
        users = [i for i, m in enumerate(records) if m.role == "user"]
        if args.message_id is not None:
            users = [i for i in users if records[i].id == args.message_id]
        if not users:
            which = "message of yours with that id" if args.message_id else "message of yours"
            raise NotFoundError(f"chat '{args.chat}' has no {which} to edit")
        index = users[-1]
        edited = msgspec.structs.replace(records[index], content=args.text)
        await plan(ctx.server, ctx.profile, record, [*records[:index], edited], attached)
        await store.update_message(ctx.profile, edited.id, content=args.text)
        if index + 1 < len(records):
            await store.delete_messages_from(ctx.profile, args.chat, records[index + 1].id)
        return await start_reply(
            ctx.server, stream, ctx.conn, record, args.params, transient=attached
        )


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
    from_seq: Id = 0
    """Resend the reply's events from this sequence number on."""


@registry.rpc()
async def attach(ctx: Context, args: AttachArgs) -> dict[str, Any]:
    """Open a chat (existing or not yet): see its replies live, and get a running (or
    just finished) reply's events from `from_seq` on, right after this answer."""
    hub = ctx.server.hub
    hub.watch(ctx.conn, ctx.profile, args.chat)
    stream = hub.stream(ctx.profile, args.chat)
    if stream is None:
        return {"chat": args.chat, "stream": None, "running": False}
    asyncio.get_running_loop().call_soon(hub.resend, ctx.conn, stream, args.from_seq)
    return {
        "chat": args.chat,
        "stream": stream.id,
        "running": stream.running,
        "events": len(stream.events),
    }


class ResendArgs(msgspec.Struct, forbid_unknown_fields=True):
    stream: str
    from_seq: Id = 0


@registry.rpc()
async def resend(ctx: Context, args: ResendArgs) -> dict[str, Any]:
    """Send a reply's events again from `from_seq` on (a client that lost some asks)."""
    stream = ctx.server.hub.find(ctx.profile, args.stream)
    if stream is None:
        raise NotFoundError(f"reply {args.stream} is no longer kept on the server")
    asyncio.get_running_loop().call_soon(ctx.server.hub.resend, ctx.conn, stream, args.from_seq)
    return {"stream": stream.id, "running": stream.running, "events": len(stream.events)}
