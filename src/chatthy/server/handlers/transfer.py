"""RPCs that move a chat to and from a file the client holds: export, import."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from chatthy.conversation.transfer import parse_chat, to_json, to_markdown
from chatthy.errors import ConflictError, NotFoundError
from chatthy.server.rpc import Context, registry

__all__: list[str] = []


class ExportArgs(msgspec.Struct, forbid_unknown_fields=True):
    chat: str
    format: Literal["md", "json"] = "json"


@registry.rpc()
async def export(ctx: Context, args: ExportArgs) -> dict[str, Any]:
    """A chat as JSON or Markdown text, for the client to save."""
    store = ctx.engine.store
    chat = await store.get_chat(ctx.profile, args.chat)
    records = await store.messages(ctx.profile, args.chat)
    render = to_markdown if args.format == "md" else to_json
    return {"chat": chat.name, "format": args.format, "data": render(chat, records)}


class ImportArgs(msgspec.Struct, forbid_unknown_fields=True):
    data: str
    """The file's text: chatthy JSON or Markdown, or OpenAI messages JSON."""
    chat: str | None = None
    """Name for the new chat; by default the file's, made unique."""


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


@registry.rpc(name="import")
async def import_(ctx: Context, args: ImportArgs) -> dict[str, Any]:
    """Create a chat from a file's text."""
    parsed = parse_chat(args.data)
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
    return {"chat": chat.name, "messages": len(parsed.messages)}
