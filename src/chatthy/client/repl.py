"""A plain line client: type to chat, `/command key=value …` for any server command.

``chatthy repl`` opens it, and so do ``chatthy`` and ``chatthy run`` when stdin or stdout
is not a terminal.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
from pathlib import Path
from typing import Any

import msgspec

from chatthy.client.commands import connect, failure_of, format_chats, format_key, print_stream
from chatthy.client.core import Client, error_of
from chatthy.client.editing import edit_in_editor, edit_workspace_file, kept_on_failure
from chatthy.client.settings import Settings
from chatthy.client.sources import SOURCE_COMMANDS
from chatthy.client.templates import format_templates, summarise_request, template_request
from chatthy.client.transient import attached_line, format_attached
from chatthy.client.workspace import (
    added_line,
    fetched_line,
    format_sources,
    format_workspace,
    gather,
    send_files,
    typed_source_request,
)
from chatthy.errors import ArgumentError, ChatthyError
from chatthy.wire import api

__all__ = ["repl"]

HELP = """\
Type a message and press Enter to chat. Commands:
  /chat NAME          switch to (or create) chat NAME
  /ws list            the workspace; /ws add PATH…; /ws show|edit|bench|restore|drop NAME;
                      /ws rename NAME NEW
  /ws url URL         fetch a page (also youtube ID, arxiv ID|WORDS, wikipedia TITLE,
                      news WORDS) into the workspace; /ws fetch SOURCE WHAT for any
                      source /ws sources lists
  /ws attach PATH…    send local files or folders with every turn of this session (read
                      again each turn, never stored); /ws detach [PATH]; /ws attached
  /templates          list the instruction templates
  /template NAME [FILE|chat] key=value …
                      run a template on a workspace file or on this chat
  /summarise [FILE|chat] [paragraph|bullets|topics]
  /regenerate         replace the last reply
  /edit               your last message in $EDITOR, then a new reply (/edit text=… too)
  /key                your profile's key fingerprint (and its public key for server.toml)
  /help               this help; /commands lists every server command
  /quit               leave (Ctrl-D too); Ctrl-C cancels a running reply
  /NAME key=value …   run any server command, e.g. /chats  /rename new=other
"""

WS_USAGE = (
    "usage: /ws list | /ws add PATH… | /ws show|edit|bench|restore|drop NAME | "
    "/ws rename NAME NEW | "
    "/ws url|youtube|arxiv|wikipedia|news WHAT… | /ws fetch SOURCE WHAT… | /ws sources | "
    "/ws attach PATH… | /ws detach [PATH…] | "
    "/ws attached"
)


def _parse_args(words: list[str]) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for word in words:
        key, _, value = word.partition("=")
        try:
            args[key] = json.loads(value)
        except json.JSONDecodeError:
            args[key] = value
    return args


async def _command(client: Client, chat: str, line: str) -> str:
    words = shlex.split(line[1:])
    name, rest = words[0], words[1:]
    if name == "chat" and rest:
        await client.attach(rest[0])
        return rest[0]
    if name == "ws" and rest and rest[0] in _STORED:
        await _stored(client, rest)
    elif name == "ws":
        _attachments(client, rest)
    elif name in ("summarise", "summarize"):
        await _turn(client, chat, "template", **summarise_request(rest))
    elif name == "template":
        await _turn(client, chat, "template", **template_request(rest))
    elif name == "templates":
        print(format_templates(await client.rpc(api.Templates())))
    elif name == "edit" and not rest:
        await _edit_last(client, chat)
    elif name == "key" and not rest:
        print(format_key(client.profile, client.key.public_key))
    elif name in ("regenerate", "edit"):
        await _turn(client, chat, name, **_parse_args(rest))
    else:
        await _call(client, chat, name, _parse_args(rest))
    return chat


_STORED = frozenset(
    {"list", "add", "show", "edit", "bench", "restore", "drop", "rename", "sources"}
    | set(SOURCE_COMMANDS)
)
"""``/ws`` subcommands about the stored workspace (the others are about attachments)."""


async def _stored(client: Client, words: list[str]) -> None:
    """``/ws list|add PATH…|show NAME|bench NAME|restore NAME|drop NAME|rename NAME NEW|
    SOURCE WHAT…``."""
    action, rest = words[0], words[1:]
    if action == "list":
        print(format_workspace(await client.rpc(api.WsList())))
    elif action == "sources":
        print(format_sources(await client.rpc(api.WsSources())))
    elif action == "add" and rest:
        found = await asyncio.to_thread(gather, [Path(w).expanduser() for w in rest])
        for info in await send_files(client, found):
            print(added_line(info))
        for notice in found.notices:
            print(notice, file=sys.stderr)
    elif action in SOURCE_COMMANDS and rest:
        print(fetched_line(await client.rpc(typed_source_request(action, rest))))
    elif action == "show" and len(rest) == 1:
        print((await client.rpc(api.WsShow(name=rest[0]))).text)
    elif len(rest) == 1 and action in ("bench", "restore", "drop"):
        await client.call(f"ws_{action}", name=rest[0])
        print(f"{action}: {rest[0]}")
    elif action == "edit" and len(rest) == 1:
        await _edit_file(client, rest[0])
    elif action == "rename" and len(rest) == 2:
        renamed = await client.rpc(api.WsRename(name=rest[0], new=rest[1]))
        print(f"{rest[0]} is now {renamed.name}")
    else:
        raise ArgumentError(WS_USAGE)


async def _edit_last(client: Client, chat: str) -> None:
    """``/edit``: the last message of yours in ``$EDITOR``, then a new reply to it."""
    page = await client.rpc(api.Messages(chat=chat, limit=50))
    mine = [m for m in page.messages if m.role == "user"]
    if not mine or not isinstance(mine[-1].content, str):
        raise ArgumentError("no message of yours to edit in the last 50 (/edit text=… works)")
    edited = await _in_editor(mine[-1].content, instead="/edit text=…")
    if edited is None:
        print("message unchanged", file=sys.stderr)
        return
    with kept_on_failure(edited):
        await _turn(client, chat, "edit", text=edited, message_id=mine[-1].id)


async def _edit_file(client: Client, name: str) -> None:
    """``/ws edit NAME``: a workspace file (a new one if there is none) in ``$EDITOR``."""
    instead = f"chatthy ws add {name} < FILE"
    saved = await edit_workspace_file(
        client, name, lambda text, suffix: _in_editor(text, suffix, instead=instead)
    )
    if saved is None:
        print(f"{name}: unchanged", file=sys.stderr)
        return
    print(added_line(saved))


async def _in_editor(text: str, suffix: str = ".md", *, instead: str) -> str | None:
    """:func:`edit_in_editor`, on a terminal only (the line client also runs in pipes).

    Raises:
        ArgumentError: stdin or stdout is not a terminal (naming what to do ``instead``).
    """
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise ArgumentError(f"$EDITOR needs a terminal; without one: {instead}")
    return await edit_in_editor(text, suffix)


def _attachments(client: Client, words: list[str]) -> None:
    """``/ws attach PATH…``, ``/ws detach [PATH…]``, ``/ws attached``."""
    action, paths = (words[0], words[1:]) if words else ("", [])
    transient = client.transient
    if action == "attach" and paths:
        for path in paths:
            found = transient.attach(path)
            for notice in found.notices:
                print(notice, file=sys.stderr)
            print(attached_line(path, found))
    elif action == "detach":
        if paths:
            detached = [p for path in paths for p in transient.detach(path)]
        else:
            detached = transient.detach()
        print("\n".join(f"detached {p}" for p in detached) or "nothing was attached")
    elif action == "attached" and not paths:
        print(format_attached(transient))
    else:
        raise ArgumentError(WS_USAGE)


async def _call(client: Client, chat: str, name: str, args: dict[str, Any]) -> None:
    """Any other server command; the result printed as JSON (chats as a list). The open
    chat is the default ``chat`` of those that take one."""
    declared = api.call_class(name)
    if declared and "chat" in declared.__struct_fields__ and not declared.names_new_chat:
        args.setdefault("chat", chat)
    result = await client.call(name, **args)
    if name == "chats":
        print(format_chats(result))
    else:
        shown = msgspec.to_builtins(result)
        print(json.dumps(shown, indent=2, ensure_ascii=False, default=str))


async def _turn(client: Client, chat: str, method: str, **args: Any) -> None:
    """Start a reply (``chat``, ``template``, ``regenerate``, ``edit``) and print it."""
    stream, _ = await client.start(method, chat, **args)
    task = asyncio.create_task(print_stream(stream, sys.stdout, sys.stderr))
    try:
        end = await asyncio.shield(task)
    except asyncio.CancelledError:
        await client.rpc(api.Cancel(chat=chat))
        end = await task
    failure = failure_of(end)
    if failure is None:
        return
    if end is not None and error_of(end) is None:
        print(f"[{failure.message}]", file=sys.stderr)
    else:
        print(f"error: {failure.message}", file=sys.stderr)


async def repl(
    settings: Settings, chat: str, *, provider: str | None = None, prompt: str | None = None
) -> int:
    """Read lines until /quit or end of input; ``provider`` and ``prompt``, when given, are
    set on the chat first.

    Raises:
        ChatthyError: the server cannot be reached, or refused the provider or prompt.
    """
    loop = asyncio.get_running_loop()
    async with connect(settings) as client:
        if provider or prompt:
            await client.rpc(api.Use(chat=chat, provider=provider, prompt=prompt))
        await client.attach(chat)
        print(
            f"chatthy — profile {settings.profile}, chat '{chat}' at {settings.server}. "
            "/help for help.",
            file=sys.stderr,
        )
        while True:
            try:
                line = await loop.run_in_executor(None, input, f"{chat}> ")
            except EOFError:
                return 0
            line = line.strip()
            if not line:
                continue
            if line in ("/quit", "/exit", "/q"):
                return 0
            if line in ("/help", "/?"):
                print(HELP, file=sys.stderr)
                continue
            try:
                if line.startswith("/"):
                    chat = await _command(client, chat, line)
                else:
                    await _turn(client, chat, "chat", text=line)
            except ChatthyError as exc:
                print(f"error: {exc.message}", file=sys.stderr)
