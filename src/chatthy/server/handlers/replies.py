"""RPCs that make or follow replies: chat, regenerate, edit, cancel, attach, resend."""

from __future__ import annotations

from typing import Any

from chatthy.errors import NotFoundError
from chatthy.server.handlers.common import max_file, watching
from chatthy.server.rpc import Context, registry
from chatthy.server.transient import transient_files
from chatthy.wire import api

__all__: list[str] = []


@registry.rpc()
async def chat(ctx: Context, args: api.Chat) -> api.Started:
    content: Any = args.content if args.content is not None else args.text
    attached = transient_files(args.transient, max_file(ctx))
    if args.rag is not None:
        attached.extend(await _found(ctx, args.rag, args.rag_provider))
    turn = await ctx.engine.chat(
        ctx.request_id,
        ctx.profile,
        args.chat,
        content,
        params=args.params,
        transient=attached,
        prompt=args.prompt,
        provider=args.provider,
        model=args.model,
        approve=args.approve,
    )
    return watching(ctx, turn)


@registry.rpc()
async def regenerate(ctx: Context, args: api.Regenerate) -> api.Started:
    attached = transient_files(args.transient, max_file(ctx))
    turn = await ctx.engine.regenerate(
        ctx.request_id,
        ctx.profile,
        args.chat,
        params=args.params,
        transient=attached,
        approve=args.approve,
    )
    return watching(ctx, turn)


@registry.rpc()
async def edit(ctx: Context, args: api.Edit) -> api.Started:
    attached = transient_files(args.transient, max_file(ctx))
    turn = await ctx.engine.edit(
        ctx.request_id,
        ctx.profile,
        args.chat,
        args.text,
        args.message_id,
        params=args.params,
        transient=attached,
        approve=args.approve,
    )
    return watching(ctx, turn)


@registry.rpc()
async def approve(ctx: Context, args: api.Approve) -> api.Approved:
    pending = ctx.engine.approve(ctx.profile, args.chat, args.call_id, args.answer)
    return api.Approved(chat=args.chat, call_id=args.call_id, pending=pending)


@registry.rpc()
async def cancel(ctx: Context, args: api.Cancel) -> api.Cancelled:
    turn = ctx.engine.cancel(ctx.profile, args.chat)
    return api.Cancelled(chat=args.chat, stream=turn.id)


@registry.rpc()
async def attach(ctx: Context, args: api.Attach) -> api.Attached:
    ctx.watch(args.chat)
    await ctx.engine.catch_up(ctx.profile, args.chat)
    turn = ctx.engine.turns.latest(ctx.profile, args.chat)
    if turn is None:
        return api.Attached(chat=args.chat)
    ctx.transport.resend_soon(ctx.conn, turn, args.from_seq)
    return api.Attached(
        chat=args.chat, stream=turn.id, running=turn.running, events=len(turn.events)
    )


@registry.rpc()
async def resend(ctx: Context, args: api.Resend) -> api.Resent:
    turn = ctx.engine.turns.find(ctx.profile, args.stream)
    if turn is None:
        raise NotFoundError(f"reply {args.stream} is no longer kept on the server")
    ctx.transport.resend_soon(ctx.conn, turn, args.from_seq)
    return api.Resent(stream=turn.id, running=turn.running, events=len(turn.events))


async def _found(ctx: Context, query: str, provider: str | None) -> list[api.TransientFile]:
    """What the document store finds for ``query``, as one file attached to the turn
    (none when nothing is found)."""
    rag_provider = ctx.engine.provider(provider) if provider else None
    text = await ctx.engine.rag.context(ctx.profile, query, rag_provider)
    if not text:
        return []
    return [api.TransientFile(name=f"rag: {query[:80]}", text=text, source=f"rag:{query[:200]}")]
