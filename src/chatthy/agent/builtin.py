"""The built-in tools. Their names are a contract (issue 11): ``workspace_list``,
``workspace_read``, ``workspace_write``, ``workspace_delete``, ``workspace_patch``,
``fetch_url``, ``current_time``.

Each acts only on the calling profile's data (``context.profile``), through the services
the engine lends (``store``, ``config``), and keeps the rules the workspace RPCs keep: the
same name check, ``[server] max_workspace_file``, the profile's ``[limits] stored_bytes``;
``fetch_url`` goes through the workspace sources' guarded fetcher with ``[sources]``
(addresses, size, time) and turns a page into text as ``ws url`` does. The project's
errors (a missing file, a bad name, a refused address) become :class:`ToolError`, whose
message alone the model reads. Those that change something or reach out are marked
``changes``, so each call is approved first.
"""

from __future__ import annotations

import datetime
import functools
import zoneinfo
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from chatthy.agent.patch import PatchError, apply_patch
from chatthy.agent.tools import Tool, ToolContext, ToolError
from chatthy.config import ServerConfig
from chatthy.errors import ChatthyError, NotFoundError
from chatthy.store.base import Store
from chatthy.store.rules import valid_workspace_name
from chatthy.workspace.sources import Fetcher
from chatthy.workspace.sources.page import fetch_page

__all__ = ["builtin_tools"]

P = ParamSpec("P")
R = TypeVar("R")

_LISTED = 50
"""File names a "no such file" error lists at most."""


def _told(function: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Make the project's errors the tool's own: their message, not their type name."""

    @functools.wraps(function)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await function(*args, **kwargs)
        except ChatthyError as exc:
            raise ToolError(str(exc)) from None

    return wrapper


# async though it never waits: a plain function would run in a worker thread, a hop
# that costs ~0.15 ms of CPU, forty times what the tool itself does.
async def current_time(timezone: str = "UTC") -> str:
    """The current date and time, in ISO 8601, in an IANA time zone.

    Args:
        timezone: e.g. "Europe/Paris"; UTC when not given.
    """
    try:
        zone = zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ToolError(f"unknown time zone '{timezone}' (an IANA name: Europe/Paris)") from None
    now = datetime.datetime.now(zone)
    return f"{now.isoformat(timespec='seconds')} ({now:%A}, {timezone})"


@_told
async def workspace_list(context: ToolContext) -> list[dict[str, Any]] | str:
    """The files of the user's context workspace: name, size in bytes, and whether it is
    benched (kept but not sent to you with the chat)."""
    files = await _store(context).list_workspace(context.profile)
    if not files:
        return "the workspace has no files"
    return [
        {"name": f.name, "bytes": len(f.text.encode("utf-8")), "benched": f.benched} for f in files
    ]


@_told
async def workspace_read(context: ToolContext, name: str) -> str:
    """The text of one file of the user's context workspace.

    Args:
        name: the file's name, as workspace_list gives it (e.g. "docs/notes.md").
    """
    return (await _file(context, name)).text


@_told
async def workspace_write(context: ToolContext, name: str, text: str) -> str:
    """Create a file in the user's context workspace, or replace its whole text.

    Args:
        name: a /-separated name such as "docs/notes.md" (no leading /, no "..").
        text: the file's whole new text.
    """
    store = _store(context)
    name = valid_workspace_name(name)
    try:
        old = (await store.get_workspace_file(context.profile, name)).text
    except NotFoundError:
        old = None
    await _check_room(context, name, text, old)
    await store.put_workspace_file(context.profile, name, text, "tool")
    verb = "created" if old is None else "replaced"
    return f"{verb} {name} ({len(text.encode('utf-8')):,} bytes)"


@_told
async def workspace_delete(context: ToolContext, name: str) -> str:
    """Delete a file of the user's context workspace.

    Args:
        name: the file's name, as workspace_list gives it.
    """
    record = await _file(context, name)
    await _store(context).delete_workspace_file(context.profile, record.name)
    return f"deleted {record.name}"


@_told
async def workspace_patch(context: ToolContext, name: str, diff: str) -> str:
    """Change a file of the user's context workspace with a unified diff (as `diff -u`
    writes it: @@ hunks of context ' ', removed '-' and added '+' lines). Every context
    and removed line must match the file; a diff that does not apply changes nothing and
    the reason comes back. A diff of only added lines to a missing file creates it.

    Args:
        name: the file's name, as workspace_list gives it.
        diff: the unified diff of that one file.
    """
    store = _store(context)
    name = valid_workspace_name(name)
    try:
        old: str | None = (await store.get_workspace_file(context.profile, name)).text
    except NotFoundError:
        old = None
    try:
        patched = apply_patch(old or "", diff)
    except PatchError as exc:
        if old is None:
            raise await _missing(context, name) from None
        raise ToolError(f"the diff does not apply to {name}, which is unchanged: {exc}") from None
    await _check_room(context, name, patched.text, old)
    await store.put_workspace_file(context.profile, name, patched.text, "tool")
    hunks = "1 hunk" if patched.hunks == 1 else f"{patched.hunks} hunks"
    verb = "created" if old is None else "patched"
    return f"{verb} {name}: {hunks}, +{patched.added} -{patched.removed} lines"


@_told
async def fetch_url(context: ToolContext, url: str) -> str:
    """Fetch a web page (its main text, without menus and adverts), a PDF's text, or a
    text file from the web. Private and local addresses are refused unless the server
    allows them.

    Args:
        url: an http:// or https:// URL.
    """
    config = _config(context)
    async with Fetcher(config.sources) as fetcher:
        document = await fetch_page(fetcher, url)
    return f"{document.source}\n\n{document.text}"


@_told
async def rag_search(context: ToolContext, query: str, limit: int = 5) -> str:
    """Search the user's own documents (papers, notes, manuals they stored with
    `chatthy rag add`) for passages about something; each passage comes with its
    document's name and section, to cite.

    Args:
        query: what to look for, in words.
        limit: how many passages (1 to 20).
    """
    rag = context.service("rag")
    hits = await rag.search(context.profile, query, max(1, min(limit, 20)))
    if not hits:
        return "nothing found in the user's documents"
    return "\n\n".join(
        f"[{number}] {hit.document}"
        + (f" — {hit.heading}" if hit.heading else "")
        + f"\n{hit.text.strip()}"
        for number, hit in enumerate(hits, 1)
    )


def _store(context: ToolContext) -> Store:
    store: Store = context.service("store")
    return store


def _config(context: ToolContext) -> ServerConfig:
    config: ServerConfig = context.service("config")
    return config


async def _file(context: ToolContext, name: str) -> Any:
    """The profile's file ``name``; ToolError naming the files there are when missing."""
    name = valid_workspace_name(name)
    try:
        return await _store(context).get_workspace_file(context.profile, name)
    except NotFoundError:
        raise await _missing(context, name) from None


async def _missing(context: ToolContext, name: str) -> ToolError:
    names = [f.name for f in await _store(context).list_workspace(context.profile)]
    if not names:
        return ToolError(f"no workspace file '{name}': the workspace has no files")
    shown = ", ".join(names[:_LISTED]) + (", …" if len(names) > _LISTED else "")
    return ToolError(f"no workspace file '{name}' (the files: {shown})")


async def _check_room(context: ToolContext, name: str, text: str, old: str | None) -> None:
    """Refuse a text over ``max_workspace_file``, or one that takes the profile over its
    ``stored_bytes`` quota (what the file held before is counted as freed).

    Raises:
        ToolError: saying which limit and by how much.
    """
    config = _config(context)
    size = len(text.encode("utf-8"))
    limit = config.server.max_workspace_file
    if size > limit:
        raise ToolError(
            f"{name} would be {size:,} bytes; the server keeps workspace files of at most "
            f"{limit:,} bytes (max_workspace_file); nothing was written"
        )
    quota = config.limits.stored_bytes
    if not quota:
        return
    stored = await _store(context).stored_bytes(context.profile)
    after = stored - len((old or "").encode("utf-8")) + size
    if after > quota:
        raise ToolError(
            f"writing {name} would take the profile to {after:,} stored bytes, over its "
            f"quota of {quota:,} (stored_bytes); nothing was written"
        )


def builtin_tools() -> list[Tool]:
    """Every built-in tool; those that change something or reach out ask approval."""
    read: list[Callable[..., Any]] = [current_time, workspace_list, workspace_read, rag_search]
    change: list[Callable[..., Any]] = [
        workspace_write,
        workspace_delete,
        workspace_patch,
        fetch_url,
    ]
    return [Tool.from_function(f) for f in read] + [
        Tool.from_function(f, changes=True) for f in change
    ]
