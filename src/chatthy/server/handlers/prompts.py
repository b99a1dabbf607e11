"""RPCs that manage prompts (personalities) like chats: list, get, set, rename, copy, delete."""

from __future__ import annotations

from chatthy.conversation.prompts import PromptInfo
from chatthy.errors import ConflictError, NotFoundError
from chatthy.server.rpc import Context, registry
from chatthy.store.base import PromptRecord
from chatthy.wire import api

__all__: list[str] = []


def _info(p: PromptInfo) -> api.PromptInfo:
    return api.PromptInfo(name=p.name, text=p.text, source=p.source, updated=p.updated)


def _mine(p: PromptRecord) -> api.PromptInfo:
    return api.PromptInfo(name=p.name, text=p.text, source="profile", updated=p.updated)


@registry.rpc()
async def prompts(ctx: Context, args: api.Prompts) -> list[api.PromptInfo]:
    return [_info(p) for p in await ctx.engine.prompts.list(ctx.engine.store, ctx.profile)]


@registry.rpc()
async def agents(ctx: Context, args: api.Agents) -> list[api.AgentInfo]:
    return [
        api.AgentInfo(
            name=name,
            description=found.description,
            tools=found.tools,
            provider=found.provider or "",
            model=found.model or "",
            max_steps=found.max_steps or 0,
        )
        for name, found in sorted(ctx.engine.prompts.agents().items())
    ]


@registry.rpc()
async def prompt(ctx: Context, args: api.Prompt) -> api.PromptInfo:
    return _info(await ctx.engine.prompts.get(ctx.engine.store, ctx.profile, args.name))


@registry.rpc()
async def prompt_set(ctx: Context, args: api.PromptSet) -> api.PromptInfo:
    p = await ctx.engine.store.set_prompt(ctx.profile, args.name, args.text)
    return _mine(p)


async def _own(ctx: Context, name: str) -> None:
    """Raises ArgumentError for a server default, NotFoundError for nothing at all."""
    try:
        await ctx.engine.store.get_prompt(ctx.profile, name)
    except NotFoundError:
        ctx.engine.prompts.check_writable(False, name)
        raise


@registry.rpc()
async def prompt_rename(ctx: Context, args: api.PromptRename) -> api.PromptInfo:
    await _own(ctx, args.name)
    p = await ctx.engine.store.rename_prompt(ctx.profile, args.name, args.new)
    return _mine(p)


@registry.rpc()
async def prompt_copy(ctx: Context, args: api.PromptCopy) -> api.PromptInfo:
    source = await ctx.engine.prompts.get(ctx.engine.store, ctx.profile, args.name)
    try:
        await ctx.engine.store.get_prompt(ctx.profile, args.new)
    except NotFoundError:
        p = await ctx.engine.store.set_prompt(ctx.profile, args.new, source.text)
        return _mine(p)
    raise ConflictError(f"prompt '{args.new}' already exists")


@registry.rpc()
async def prompt_delete(ctx: Context, args: api.PromptDelete) -> api.PromptDeleted:
    await _own(ctx, args.name)
    await ctx.engine.store.delete_prompt(ctx.profile, args.name)
    return api.PromptDeleted(name=args.name)
