"""RPCs that manage prompts (personalities) like chats: list, get, set, rename, copy, delete."""

from __future__ import annotations

import msgspec

from chatthy.conversation.prompts import PromptInfo
from chatthy.errors import ConflictError, NotFoundError
from chatthy.server.handlers.common import NameArg, NoArgs
from chatthy.server.rpc import Context, registry

__all__: list[str] = []


class SetArgs(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    text: str


class RenameArgs(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    new: str


@registry.rpc()
async def prompts(ctx: Context, args: NoArgs) -> list[PromptInfo]:
    """List the prompts (personalities) you can use: yours and the server's defaults."""
    return await ctx.engine.prompts.list(ctx.engine.store, ctx.profile)


@registry.rpc()
async def prompt(ctx: Context, args: NameArg) -> PromptInfo:
    """Show one prompt's text."""
    return await ctx.engine.prompts.get(ctx.engine.store, ctx.profile, args.name)


@registry.rpc()
async def prompt_set(ctx: Context, args: SetArgs) -> PromptInfo:
    """Create or replace one of your prompts."""
    p = await ctx.engine.store.set_prompt(ctx.profile, args.name, args.text)
    return PromptInfo(p.name, p.text, "profile", p.updated)


async def _own(ctx: Context, name: str) -> None:
    """Raises ArgumentError for a server default, NotFoundError for nothing at all."""
    try:
        await ctx.engine.store.get_prompt(ctx.profile, name)
    except NotFoundError:
        ctx.engine.prompts.check_writable(False, name)
        raise


@registry.rpc()
async def prompt_rename(ctx: Context, args: RenameArgs) -> PromptInfo:
    """Rename one of your prompts."""
    await _own(ctx, args.name)
    p = await ctx.engine.store.rename_prompt(ctx.profile, args.name, args.new)
    return PromptInfo(p.name, p.text, "profile", p.updated)


@registry.rpc()
async def prompt_copy(ctx: Context, args: RenameArgs) -> PromptInfo:
    """Copy a prompt (yours or a server default) to a new name of yours."""
    source = await ctx.engine.prompts.get(ctx.engine.store, ctx.profile, args.name)
    try:
        await ctx.engine.store.get_prompt(ctx.profile, args.new)
    except NotFoundError:
        p = await ctx.engine.store.set_prompt(ctx.profile, args.new, source.text)
        return PromptInfo(p.name, p.text, "profile", p.updated)
    raise ConflictError(f"prompt '{args.new}' already exists")


@registry.rpc()
async def prompt_delete(ctx: Context, args: NameArg) -> dict[str, object]:
    """Delete one of your prompts."""
    await _own(ctx, args.name)
    await ctx.engine.store.delete_prompt(ctx.profile, args.name)
    return {"name": args.name, "deleted": True}
