"""RPCs of the context workspace: documents each profile's chats see before their history.

The server never reads a path: ``ws_add`` takes the text, and clients read their own
files. A name is a label such as ``docs/sub/colour.md``, checked by the store.
"""

from __future__ import annotations

import asyncio

from chatthy.context import TokenCache
from chatthy.errors import ArgumentError
from chatthy.server.rpc import Context, registry
from chatthy.store.base import WorkspaceFileRecord
from chatthy.wire import api

__all__ = ["check_size", "describe_file", "human_size", "store_file"]


def human_size(size: int) -> str:
    """``512 bytes``, ``3.2 KiB``, ``1 MiB``."""
    if size < 1024:
        return f"{size} bytes"
    value, unit = (size / 1024, "KiB") if size < 1024**2 else (size / 1024**2, "MiB")
    return f"{value:.1f}".removesuffix(".0") + f" {unit}"


def check_size(label: str, text: str, limit: int) -> None:
    """Refuse ``text`` over ``limit`` bytes of UTF-8 (``max_workspace_file``).

    Raises:
        ArgumentError: it is, saying what (``label``), its size and the limit.
    """
    size = len(text.encode("utf-8"))
    if size > limit:
        raise ArgumentError(
            f"{label} is {human_size(size)}; the server accepts at most {human_size(limit)} "
            "(max_workspace_file in server.toml)"
        )


def describe_file(
    record: WorkspaceFileRecord, counts: TokenCache, *, text: bool = False
) -> api.WorkspaceFile:
    """A file as clients see it: name, source, benched, size in bytes, tokens (counted
    once per text: ``counts`` remembers), times, and its text when asked for."""
    return api.WorkspaceFile(
        name=record.name,
        source=record.source,
        benched=record.benched,
        size=len(record.text.encode("utf-8")),
        tokens=counts.text(record.text),
        created=record.created,
        updated=record.updated,
        text=record.text if text else None,
    )


@registry.rpc()
async def ws_list(ctx: Context, args: api.WsList) -> list[api.WorkspaceFile]:
    files = await ctx.engine.store.list_workspace(ctx.profile)
    return [describe_file(record, ctx.engine.token_counts) for record in files]


@registry.rpc()
async def ws_show(ctx: Context, args: api.WsShow) -> api.WorkspaceFile:
    record = await ctx.engine.store.get_workspace_file(ctx.profile, args.name)
    return describe_file(record, ctx.engine.token_counts, text=True)


@registry.rpc()
async def ws_add(ctx: Context, args: api.WsAdd) -> api.WorkspaceFile:
    return await store_file(ctx, args.name, args.text, args.source)


async def store_file(ctx: Context, name: str, text: str, source: str) -> api.WorkspaceFile:
    """Store a file in the asking profile's workspace; return it as clients see it.

    Raises:
        ArgumentError: the text is over ``max_workspace_file`` or the name is not valid.
    """
    check_size(f"workspace file '{name}'", text, ctx.engine.config.server.max_workspace_file)
    # Counted off the event loop (a few MB take a quarter of a second): remembered, so
    # describing the file below and listing it later cost nothing more.
    await asyncio.to_thread(ctx.engine.token_counts.text, text)
    record = await ctx.engine.store.put_workspace_file(ctx.profile, name, text, source)
    return describe_file(record, ctx.engine.token_counts)


@registry.rpc()
async def ws_rename(ctx: Context, args: api.WsRename) -> api.WorkspaceFile:
    record = await ctx.engine.store.rename_workspace_file(ctx.profile, args.name, args.new)
    return describe_file(record, ctx.engine.token_counts)


@registry.rpc()
async def ws_bench(ctx: Context, args: api.WsBench) -> api.WorkspaceFile:
    record = await ctx.engine.store.set_workspace_benched(ctx.profile, args.name, True)
    return describe_file(record, ctx.engine.token_counts)


@registry.rpc()
async def ws_restore(ctx: Context, args: api.WsRestore) -> api.WorkspaceFile:
    record = await ctx.engine.store.set_workspace_benched(ctx.profile, args.name, False)
    return describe_file(record, ctx.engine.token_counts)


@registry.rpc()
async def ws_drop(ctx: Context, args: api.WsDrop) -> api.WorkspaceDropped:
    await ctx.engine.store.delete_workspace_file(ctx.profile, args.name)
    return api.WorkspaceDropped(name=args.name)
