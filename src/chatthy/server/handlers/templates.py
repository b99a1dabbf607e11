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

import msgspec

from chatthy.errors import ArgumentError, NotFoundError, ToolError
from chatthy.server.handlers.common import max_file, watching
from chatthy.server.rpc import Context, registry
from chatthy.server.transient import transient_files
from chatthy.wire import api
from chatthy.workspace.templates import Templates

__all__ = ["CHAT_DOCUMENT"]

log = logging.getLogger("chatthy.server")

CHAT_DOCUMENT = "[The text is our conversation so far, above this message.]"
"""The document of a template run on the chat itself."""


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
async def templates(ctx: Context, args: api.Templates) -> list[api.TemplateInfo]:
    found = msgspec.convert((await _templates(ctx)).describe(), list[api.TemplateInfo])
    return found + await _mcp_prompts(ctx)


async def _mcp_prompts(ctx: Context) -> list[api.TemplateInfo]:
    """The prompts of the MCP servers that are running, as templates (``SERVER__NAME``;
    their arguments are the placeholders); servers not started yet start meanwhile, so
    that their prompts are listed next time."""
    mcp = ctx.engine.mcp
    if mcp is None:
        return []
    if any(info.state == "stopped" for info in mcp.infos()):
        ctx.engine.background(mcp.start())
    return [
        api.TemplateInfo(
            name=prompt.name,
            description=prompt.description,
            placeholders=[argument[0] for argument in prompt.arguments],
            origin=f"mcp:{prompt.name.split('__', 1)[0]}",
        )
        for prompt in await mcp.prompts(start=False)
    ]


@registry.rpc()
async def template(ctx: Context, args: api.Template) -> api.Started:
    attached = transient_files(args.transient, max_file(ctx))
    mcp = ctx.engine.mcp
    if mcp is not None and "__" in args.name:
        question = await _mcp_question(ctx, args, attached)
    else:
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
        approve=args.approve,
    )
    return watching(ctx, turn)


async def _mcp_question(ctx: Context, args: api.Template, attached: list[api.TransientFile]) -> str:
    """An MCP server's prompt, filled with ``args.args``; a named file's text (or a note
    that it is in the context) after it.

    Raises:
        ArgumentError: the server or prompt is unknown or down, the arguments are wrong.
    """
    assert ctx.engine.mcp is not None
    try:
        text = await ctx.engine.mcp.get_prompt(args.name, args.args)
    except ToolError as exc:
        raise ArgumentError(exc.message) from None
    if args.file is None:
        return text
    return f"{text}\n\n{await _document(ctx, args, attached)}"


async def _document(ctx: Context, args: api.Template, attached: list[api.TransientFile]) -> str:
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
