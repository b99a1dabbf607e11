"""RPCs that manage chats: list, create, rename, fork, destroy, read, search, undo."""

from __future__ import annotations

from chatthy.server.handlers.common import as_wire, chat_info, message_info
from chatthy.server.rpc import Context, registry
from chatthy.wire import api

__all__: list[str] = []


@registry.rpc()
async def chats(ctx: Context, args: api.Chats) -> list[api.ChatInfo]:
    records = await ctx.engine.store.list_chats(ctx.profile, args.personality)
    engine = ctx.engine
    return [chat_info(c, engine.running(ctx.profile, c.name) is not None) for c in records]


@registry.rpc()
async def new(ctx: Context, args: api.New) -> api.ChatInfo:
    engine = ctx.engine
    return chat_info(
        await engine.new_chat(ctx.profile, args.chat, args.prompt, args.provider, args.model)
    )


@registry.rpc()
async def use(ctx: Context, args: api.Use) -> api.ChatInfo:
    engine = ctx.engine
    record = await engine.ensure_chat(
        ctx.profile, args.chat, prompt=args.prompt, provider=args.provider, model=args.model
    )
    return chat_info(record, engine.running(ctx.profile, args.chat) is not None)


@registry.rpc()
async def rename(ctx: Context, args: api.Rename) -> api.ChatInfo:
    record = await ctx.engine.rename(ctx.profile, args.chat, args.new)
    ctx.transport.renamed(ctx.profile, args.chat, args.new)
    return chat_info(record)


@registry.rpc()
async def fork(ctx: Context, args: api.Fork) -> api.ChatInfo:
    return chat_info(await ctx.engine.fork(ctx.profile, args.chat, args.new, args.message_id))


@registry.rpc()
async def destroy(ctx: Context, args: api.Destroy) -> api.Destroyed:
    await ctx.engine.destroy(ctx.profile, args.chat)
    return api.Destroyed(chat=args.chat)


@registry.rpc()
async def undo(ctx: Context, args: api.Undo) -> api.Undone:
    removed = await ctx.engine.undo(ctx.profile, args.chat)
    return api.Undone(chat=args.chat, removed=removed)


@registry.rpc()
async def messages(ctx: Context, args: api.Messages) -> api.MessagesPage:
    store = ctx.engine.store
    chat = await store.get_chat(ctx.profile, args.chat)
    if args.before is None and args.after is None:  # opened: a reply elsewhere too
        await ctx.engine.catch_up(ctx.profile, args.chat)
    records = await store.messages(
        ctx.profile, args.chat, before=args.before, limit=args.limit, after=args.after
    )
    running = ctx.engine.running(ctx.profile, args.chat)
    return api.MessagesPage(
        chat=chat_info(chat, running is not None),
        messages=[message_info(r) for r in records],
        running=None if running is None else api.Running(stream=running.id),
    )


@registry.rpc()
async def search(ctx: Context, args: api.Search) -> list[api.SearchHit]:
    hits = await ctx.engine.store.search(ctx.profile, args.query, args.limit)
    return [as_wire(h, api.SearchHit) for h in hits]
