"""RPCs that make or follow replies: chat, regenerate, edit, cancel, attach, resend."""

from __future__ import annotations

from typing import Any

import msgspec

from chatthy.errors import NotFoundError
from chatthy.server.handlers.common import Id, max_file, watching
from chatthy.server.rpc import Context, registry
from chatthy.server.transient import TransientFile, transient_files

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
    turn = await ctx.engine.chat(
        ctx.request_id,
        ctx.profile,
        args.chat,
        content,
        params=args.params,
        transient=transient_files(args.transient, max_file(ctx)),
        prompt=args.prompt,
        provider=args.provider,
        model=args.model,
    )
    return watching(ctx, turn)


class RegenerateArgs(msgspec.Struct, forbid_unknown_fields=True):
    chat: str
    params: dict[str, Any] | None = None
    transient: list[TransientFile] | None = None


@registry.rpc()
async def regenerate(ctx: Context, args: RegenerateArgs) -> dict[str, Any]:
    """Replace the last reply with a new one."""
    attached = transient_files(args.transient, max_file(ctx))
    turn = await ctx.engine.regenerate(
        ctx.request_id, ctx.profile, args.chat, params=args.params, transient=attached
    )
    return watching(ctx, turn)


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
    attached = transient_files(args.transient, max_file(ctx))
    turn = await ctx.engine.edit(
        ctx.request_id,
        ctx.profile,
        args.chat,
        args.text,
        args.message_id,
        params=args.params,
        transient=attached,
    )
    return watching(ctx, turn)


class ChatArg(msgspec.Struct, forbid_unknown_fields=True):
    chat: str


@registry.rpc()
async def cancel(ctx: Context, args: ChatArg) -> dict[str, Any]:
    """Stop the reply running in a chat; what was generated is kept, marked cancelled."""
    turn = ctx.engine.cancel(ctx.profile, args.chat)
    return {"chat": args.chat, "stream": turn.id, "cancelled": True}


class AttachArgs(msgspec.Struct, forbid_unknown_fields=True):
    chat: str
    from_seq: Id = 0
    """Resend the reply's events from this sequence number on."""


@registry.rpc()
async def attach(ctx: Context, args: AttachArgs) -> dict[str, Any]:
    """Open a chat (existing or not yet): see its replies live, and get a running (or
    just finished) reply's events from `from_seq` on, right after this answer."""
    ctx.watch(args.chat)
    turn = ctx.engine.turns.latest(ctx.profile, args.chat)
    if turn is None:
        return {"chat": args.chat, "stream": None, "running": False}
    ctx.transport.resend_soon(ctx.conn, turn, args.from_seq)
    return {
        "chat": args.chat,
        "stream": turn.id,
        "running": turn.running,
        "events": len(turn.events),
    }


class ResendArgs(msgspec.Struct, forbid_unknown_fields=True):
    stream: str
    from_seq: Id = 0


@registry.rpc()
async def resend(ctx: Context, args: ResendArgs) -> dict[str, Any]:
    """Send a reply's events again from `from_seq` on (a client that lost some asks)."""
    turn = ctx.engine.turns.find(ctx.profile, args.stream)
    if turn is None:
        raise NotFoundError(f"reply {args.stream} is no longer kept on the server")
    ctx.transport.resend_soon(ctx.conn, turn, args.from_seq)
    return {"stream": turn.id, "running": turn.running, "events": len(turn.events)}
