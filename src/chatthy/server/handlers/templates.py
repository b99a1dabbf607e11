"""RPCs of instruction templates: list them, and run one as a turn of a chat.

A template runs on a workspace file (an attached one of that name first, else the stored
one) or, without a file, on the chat so far. A document already in the context (the
conversation, an active or attached file) is named by a note instead of copied into the
instruction, so it is neither sent twice nor, for an attached file, stored; only a benched
file's text is put into the instruction. The rendered instruction is the user's message of
an ordinary turn, stored and streamed like ``chat``'s.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import msgspec

from chatthy.errors import ArgumentError, NotFoundError
from chatthy.server.handlers.common import NoArgs, max_file, watching
from chatthy.server.rpc import Context, registry
from chatthy.server.transient import TransientFile, transient_files
from chatthy.workspace.templates import Templates

__all__ = ["CHAT_DOCUMENT"]

log = logging.getLogger("chatthy.server")

CHAT_DOCUMENT = "[The text is our conversation so far, above this message.]"
"""The document of a template run on the chat itself."""


class TemplateArgs(msgspec.Struct, forbid_unknown_fields=True):
    chat: str
    name: str
    args: dict[str, str] = msgspec.field(default_factory=dict)
    """Values of the template's placeholders (over its defaults)."""
    file: str | None = None
    """The workspace file to run on; the chat so far when omitted."""
    transient: list[TransientFile] | None = None
    params: dict[str, Any] | None = None
    provider: str | None = None
    """As for ``chat``: the provider, personality or model a chat made here gets (an
    existing chat is switched to them)."""
    prompt: str | None = None
    model: str | None = None


async def _templates(ctx: Context) -> Templates:
    """The templates as the files say now, read off the event loop; a broken one is
    logged the first time it is seen so."""
    found = await asyncio.to_thread(Templates.load, Path(ctx.engine.config.config_dir))
    logged = ctx.engine.template_problems_logged
    for problem in found.problems.items():
        if problem not in logged:
            logged.add(problem)
            log.warning("template %s cannot be used: %s", *problem)
    return found


@registry.rpc()
async def templates(ctx: Context, args: NoArgs) -> list[dict[str, Any]]:
    """List the instruction templates: name, description, placeholders and defaults."""
    return (await _templates(ctx)).describe()


@registry.rpc()
async def template(ctx: Context, args: TemplateArgs) -> dict[str, Any]:
    """Run an instruction template on a workspace file (`file`) or, without one, on the
    chat so far; the reply streams into the chat like `chat`'s."""
    attached = transient_files(args.transient, max_file(ctx))
    chosen = (await _templates(ctx)).get(args.name)
    document = await _document(ctx, args, attached)
    question = chosen.render(args.args, document)
    turn = await ctx.engine.chat(
        ctx.request_id,
        ctx.profile,
        args.chat,
        question,
        params=args.params,
        transient=attached,
        prompt=args.prompt,
        provider=args.provider,
        model=args.model,
    )
    return watching(ctx, turn)


async def _document(ctx: Context, args: TemplateArgs, attached: list[TransientFile]) -> str:
    """The text the template runs on.

    Raises:
        NotFoundError: no attached or stored workspace file has the name.
        ArgumentError: without a file, the chat has no messages yet.
    """
    if args.file is None:
        try:
            has_messages = bool(await ctx.engine.store.messages(ctx.profile, args.chat, limit=1))
        except NotFoundError:
            has_messages = False
        if not has_messages:
            raise ArgumentError(
                f"chat '{args.chat}' has no messages to run template '{args.name}' on; "
                "name a workspace file instead"
            )
        return CHAT_DOCUMENT
    if any(file.name == args.file for file in attached):
        return f"[The text is the attached workspace file '{args.file}', above.]"
    record = await ctx.engine.store.get_workspace_file(ctx.profile, args.file)
    if not record.benched:
        return f"[The text is the workspace file '{args.file}', above.]"
    return record.text
