"""RPCs that move a chat to and from a file the client holds: export, import."""

from __future__ import annotations

import asyncio

from chatthy.conversation.transfer import parse_chat, to_json, to_markdown
from chatthy.errors import ConflictError, NotFoundError
from chatthy.server.rpc import Context, registry
from chatthy.wire import api

__all__: list[str] = []


@registry.rpc()
async def export(ctx: Context, args: api.Export) -> api.Exported:
    store = ctx.engine.store
    chat = await store.get_chat(ctx.profile, args.chat)
    records = await store.messages(ctx.profile, args.chat)
    render = to_markdown if args.format == "md" else to_json
    data = await asyncio.to_thread(render, chat, records)  # 20,000 messages: ~100 ms
    return api.Exported(chat=chat.name, format=args.format, data=data)


async def _free_name(ctx: Context, base: str) -> str:
    store = ctx.engine.store
    name, n = base, 1
    while True:
        try:
            await store.get_chat(ctx.profile, name)
        except NotFoundError:
            return name
        n += 1
        name = f"{base} ({n})"


@registry.rpc()
async def import_(ctx: Context, args: api.Import) -> api.Imported:
    parsed = await asyncio.to_thread(parse_chat, args.data)  # 4 MB: ~50 ms of CPU
    engine = ctx.engine
    if args.chat is not None:
        try:
            await engine.store.get_chat(ctx.profile, args.chat)
            raise ConflictError(f"chat '{args.chat}' already exists")
        except NotFoundError:
            name = args.chat
    else:
        name = await _free_name(ctx, parsed.name or "imported")
    personality = parsed.personality or engine.config.server.default_prompt
    chat = await engine.store.import_chat(ctx.profile, name, personality, parsed.messages)
    return api.Imported(chat=chat.name, messages=len(parsed.messages))
