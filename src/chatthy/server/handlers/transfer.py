"""RPCs that move a chat to and from a file the client holds: export, import, and the
import in pieces (the transport keeps the open uploads, bounded)."""

from __future__ import annotations

import asyncio

from chatthy.conversation.images import inline_images
from chatthy.conversation.transfer import (
    Imported,
    image_files,
    parse_chats,
    to_json,
    to_markdown,
    to_openai_json,
)
from chatthy.errors import ArgumentError, ConflictError
from chatthy.server.rpc import Context, registry
from chatthy.wire import api

__all__: list[str] = []


@registry.rpc()
async def export(ctx: Context, args: api.Export) -> api.Exported:
    store = ctx.engine.store
    chat = await store.get_chat(ctx.profile, args.chat)
    records = await store.messages(ctx.profile, args.chat)
    if args.format == "md":  # images as files beside it: the client fetches and writes them
        data = await asyncio.to_thread(to_markdown, chat, records)  # 20,000 messages: ~100 ms
        images = image_files(records)
        return api.Exported(chat=chat.name, format=args.format, data=data, images=images)
    most = ctx.engine.config.server.max_import
    records = await inline_images(store, ctx.profile, records, most)  # the file stands alone
    if args.format == "openai":
        data = await asyncio.to_thread(to_openai_json, records)
    else:
        data = await asyncio.to_thread(to_json, chat, records)
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
    parsed = await asyncio.to_thread(parse_chats, data)  # 4 MB: ~50 ms of CPU
    taken = {c.name for c in await ctx.engine.store.list_chats(ctx.profile)}
    if chat is not None and chat in taken:
        raise ConflictError(f"chat '{chat}' already exists")
    made: list[api.ImportedChat] = []
    for conversation in parsed:
        name = _free_name(taken, chat or conversation.name or "imported")
        made.append(await _make(ctx, name, conversation))
        taken.add(made[-1].chat)
    return api.Imported(chat=made[0].chat, messages=made[0].messages, chats=made)


async def _make(ctx: Context, name: str, conversation: Imported) -> api.ImportedChat:
    """One chat through the engine (which tells the profile's clients it was made)."""
    record = await ctx.engine.import_chat(ctx.profile, conversation, name)
    return api.ImportedChat(chat=record.name, messages=len(conversation.messages))


def _free_name(taken: set[str], base: str) -> str:
    """``base``, else ``base (2)``, ``base (3)`` … whichever no chat has."""
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base} ({n})"
    return name
