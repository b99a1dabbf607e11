"""RPCs that move a chat to and from a file the client holds: export, import, and the
import in pieces (the transport keeps the open uploads, bounded)."""

from __future__ import annotations

import asyncio

from chatthy.conversation.transfer import parse_chat, to_json, to_markdown
from chatthy.errors import ArgumentError
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


@registry.rpc()
async def import_(ctx: Context, args: api.Import) -> api.Imported:
    return await _import(ctx, args.data, args.chat)


@registry.rpc()
async def import_begin(ctx: Context, args: api.ImportBegin) -> api.ImportUpload:
    uploads = ctx.transport.uploads
    upload = uploads.begin(ctx.profile, args.size, args.chat)
    return api.ImportUpload(upload=upload.id, chunk=uploads.chunk)


@registry.rpc()
async def import_append(ctx: Context, args: api.ImportAppend) -> api.ImportProgress:
    received = ctx.transport.uploads.append(ctx.profile, args.upload, args.offset, args.data)
    return api.ImportProgress(upload=args.upload, received=received)


@registry.rpc()
async def import_finish(ctx: Context, args: api.ImportFinish) -> api.Imported:
    upload = ctx.transport.uploads.finish(ctx.profile, args.upload)
    try:
        text = upload.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArgumentError(f"import: not UTF-8 text (byte {exc.start})") from None
    del upload.data[:]
    return await _import(ctx, text, upload.chat)


async def _import(ctx: Context, data: str, chat: str | None) -> api.Imported:
    parsed = await asyncio.to_thread(parse_chat, data)  # 4 MB: ~50 ms of CPU
    made = await ctx.engine.import_chat(ctx.profile, parsed, chat)
    return api.Imported(chat=made.name, messages=len(parsed.messages))
