"""Slash commands: the client's own (below) and, for any other name, the server's RPC of
that name as ``/NAME key=value …``. Each handler gets the app and the words after the
command; errors are raised as :class:`ChatthyError` and shown as one line."""

from __future__ import annotations

import asyncio
import json
import secrets
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from chatthy.client.commands import format_chats, format_key, read_text_file
from chatthy.client.editing import kept_on_failure
from chatthy.client.templates import format_templates, summarise_request, template_request
from chatthy.client.tui.editor import edit_text
from chatthy.client.tui.profile import switch_profile
from chatthy.client.tui.workspace import run_ws
from chatthy.config import save_client_value
from chatthy.errors import ArgumentError, ChatthyError, ConfigError, NotFoundError
from chatthy.wire import api

if TYPE_CHECKING:
    from chatthy.client.tui.app import ChatthyApp

__all__ = ["CLIENT_COMMANDS", "HELP", "Command", "run_command"]

Handler = Callable[["ChatthyApp", list[str]], Awaitable[None]]


@dataclass(frozen=True)
class Command:
    usage: str
    help: str
    handler: Handler


CLIENT_COMMANDS: dict[str, Command] = {}


HELP: list[Command] = []
"""Every usage line for the help, in order (one command may have several)."""


def command(usage: str, help: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        entry = Command(f"/{usage}", help, handler)
        CLIENT_COMMANDS[usage.split()[0]] = entry
        same = [i for i, c in enumerate(HELP) if c.handler is handler]
        HELP.insert(same[0] if same else len(HELP), entry)
        return handler

    return register


async def run_command(app: ChatthyApp, line: str) -> None:
    """Run one ``/command …`` line.

    Raises:
        ChatthyError: the command is malformed, unknown, or the server refused it.
    """
    try:
        words = shlex.split(line[1:])
    except ValueError as exc:
        raise ArgumentError(f"cannot read that command: {exc}") from None
    if not words:
        raise ArgumentError("an empty command: /help lists them")
    name, rest = words[0], words[1:]
    if name in CLIENT_COMMANDS:
        await CLIENT_COMMANDS[name].handler(app, rest)
    elif name in app.server_commands:
        await _server_command(app, name, rest)
    else:
        raise ArgumentError(f"unknown command /{name} (F1 or /help lists them)")


def _need(words: list[str], what: str, usage: str) -> str:
    if not words:
        raise ArgumentError(f"{what} needed: {usage}")
    return " ".join(words)


async def _server_command(app: ChatthyApp, name: str, words: list[str]) -> None:
    """Any RPC as ``/NAME key=value …``; ``chat`` is the open chat unless given."""
    args: dict[str, Any] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep:
            raise ArgumentError(f"/{name}: arguments are key=value (got '{word}')")
        try:
            args[key] = json.loads(value)
        except json.JSONDecodeError:
            args[key] = value
    wanted = {a.name for a in app.server_commands[name].args}
    declared = api.call_class(name)
    if "chat" in wanted and not (declared and declared.names_new_chat):
        args.setdefault("chat", app.chat)
    result = msgspec.to_builtins(await app.client.call(name, **args))
    text = json.dumps(result, indent=2, ensure_ascii=False, default=str)
    await app.output.add_notice(f"/{name}\n```json\n{text}\n```", markdown=True)


@command("help", "commands and keys (F1)")
async def _help(app: ChatthyApp, words: list[str]) -> None:
    app.action_help()


@command("quit", "leave (Ctrl-q)")
async def _quit(app: ChatthyApp, words: list[str]) -> None:
    app.exit(0)


@command("chat NAME", "switch to chat NAME (created by its first message)")
async def _chat(app: ChatthyApp, words: list[str]) -> None:
    await app.open_chat(_need(words, "a chat name", "/chat NAME"))


@command("chats", "list your chats")
async def _chats(app: ChatthyApp, words: list[str]) -> None:
    chats = await app.client.rpc(api.Chats())
    await app.output.add_notice(format_chats(chats))


@command("profile NAME", "switch to profile NAME (asks its passphrase if need be)")
async def _profile(app: ChatthyApp, words: list[str]) -> None:
    await switch_profile(app, _need(words, "a profile name", "/profile NAME"))


@command("key", "your profile's key fingerprint and public key")
async def _key(app: ChatthyApp, words: list[str]) -> None:
    await app.output.add_notice(format_key(app.client.profile, app.client.key.public_key))


@command("rename NEW", "rename the open chat")
async def _rename(app: ChatthyApp, words: list[str]) -> None:
    new = _need(words, "a new name", "/rename NEW")
    await app.client.rpc(api.Rename(chat=app.chat, new=new))
    app.prompt_input.rename_chat(app.chat, new)
    app.chat = new
    await app.refresh_title()
    app.status.say(f"chat renamed to '{new}'")


@command("fork [MESSAGE_ID] [NEW]", "copy the open chat (up to a message) and open the copy")
async def _fork(app: ChatthyApp, words: list[str]) -> None:
    message_id = int(words.pop(0)) if words and words[0].isdigit() else None
    new = " ".join(words) or f"{app.chat} fork {secrets.token_hex(2)}"
    await app.client.rpc(api.Fork(chat=app.chat, new=new, message_id=message_id))
    await app.open_chat(new)
    app.status.say(f"forked into '{new}'")


@command("destroy [NAME]", "delete a chat; asks for its name to be sure")
async def _destroy(app: ChatthyApp, words: list[str]) -> None:
    if not words:
        await app.output.add_notice(
            f"this deletes chat '{app.chat}' and all its messages: "
            f"type /destroy {shlex.quote(app.chat)} to confirm"
        )
        return
    name = " ".join(words)
    await app.client.rpc(api.Destroy(chat=name))
    app.status.say(f"chat '{name}' deleted")
    if name == app.chat:
        await app.open_chat("default")


@command("undo", "remove the last turn (your message and its reply)")
async def _undo(app: ChatthyApp, words: list[str]) -> None:
    result = await app.client.rpc(api.Undo(chat=app.chat))
    await app.open_chat(app.chat)
    app.status.say(f"removed {result.removed} message(s)")


@command("edit", "edit your last message in $EDITOR, then reply anew")
async def _edit(app: ChatthyApp, words: list[str]) -> None:
    users = app.output.users()
    if not users:
        raise ArgumentError("no message of yours to edit in this chat")
    last = users[-1]
    text = await edit_text(app, last.text)
    if text is None:
        app.status.say("message unchanged")
        return
    with kept_on_failure(text):
        await app.restart("edit", text=text, message_id=last.message_id)


@command("regenerate", "replace the last reply")
async def _regenerate(app: ChatthyApp, words: list[str]) -> None:
    await app.restart("regenerate")


@command("search TEXT", "full-text search over your chats")
async def _search(app: ChatthyApp, words: list[str]) -> None:
    query = _need(words, "something to search for", "/search TEXT")
    hits = await app.client.rpc(api.Search(query=query))
    if not hits:
        await app.output.add_notice(f"nothing found for '{query}'")
        return
    await app.output.add_hits(query, hits)


@command("prompt [NAME]", "use personality NAME here (alone: show this one)")
@command("prompt edit [NAME]", "edit a personality (this one) in $EDITOR, saved as yours")
async def _prompt(app: ChatthyApp, words: list[str]) -> None:
    if words and words[0] == "edit":
        await _prompt_edit(app, " ".join(words[1:]) or app.info.personality)
        return
    if not words:
        info = await app.client.rpc(api.Prompt(name=app.info.personality))
        await app.output.add_notice(f"personality '{info.name}':\n{info.text}")
        return
    await _use(app, prompt=" ".join(words))


async def _prompt_edit(app: ChatthyApp, name: str) -> None:
    try:
        text = (await app.client.rpc(api.Prompt(name=name))).text
    except NotFoundError:
        text = ""
    edited = await edit_text(app, text)
    if edited is None:
        app.status.say(f"personality '{name}' unchanged")
        return
    with kept_on_failure(edited):
        await app.client.rpc(api.PromptSet(name=name, text=edited))
    app.status.say(f"personality '{name}' saved")


@command("prompts", "list the personalities")
async def _prompts(app: ChatthyApp, words: list[str]) -> None:
    prompts = await app.client.rpc(api.Prompts())
    lines = []
    for p in prompts:
        first = p.text.strip().splitlines()
        lines.append(f"  {p.name:<16} {first[0][:60] if first else ''}")
    await app.output.add_notice("personalities:\n" + "\n".join(lines))


@command("provider NAME", "use provider NAME in this chat")
async def _provider(app: ChatthyApp, words: list[str]) -> None:
    await _use(app, provider=_need(words, "a provider name", "/provider NAME"))


@command("model NAME", "use model NAME in this chat")
async def _model(app: ChatthyApp, words: list[str]) -> None:
    await _use(app, model=_need(words, "a model name", "/model NAME"))


async def _use(app: ChatthyApp, **change: str) -> None:
    await app.client.rpc(api.Use(chat=app.chat, **change))
    await app.refresh_title()
    what, value = next(iter(change.items()))
    app.status.say(f"{what} is now '{value}'")


@command("providers", "list providers and their models")
async def _providers(app: ChatthyApp, words: list[str]) -> None:
    providers = await app.client.rpc(api.Providers())
    lines = []
    for p in providers:
        mark = " (default)" if p.default else ""
        lines.append(f"  {p.name}{mark}: {p.model}")
        if p.models:
            lines.append(f"      models: {', '.join(p.models[:20])}")
        if p.error:
            lines.append(f"      {p.error}")
    await app.output.add_notice("providers:\n" + "\n".join(lines))


@command("ws", "the workspace as a checklist: space sends or benches, d d deletes")
@command("ws add PATH…", "add files, folders (.gitignore kept) or patterns from here")
@command("ws list", "list the workspace files with their tokens")
@command("ws show|edit|drop NAME", "show, edit in $EDITOR (new if none) or delete a file")
@command("ws bench|restore NAME", "stop sending a file with every turn, or send it again")
@command("ws rename NAME NEW", "rename a workspace file")
@command("ws SOURCE WHAT…", "fetch a url, youtube, arxiv, wikipedia or news into it")
@command("ws fetch SOURCE WHAT…", "fetch from any source the server offers (ws sources)")
@command("ws attach PATH…", "send local files with every turn of this session, read fresh")
@command("ws detach [PATH…]", "stop sending attached files (all without PATH)")
@command("ws attached", "list what this session attached")
async def _ws(app: ChatthyApp, words: list[str]) -> None:
    await run_ws(app, words)


@command("templates", "list the instruction templates")
async def _templates(app: ChatthyApp, words: list[str]) -> None:
    await app.output.add_notice(format_templates(await app.client.rpc(api.Templates())))


@command("template NAME [FILE] …", "run a template on a file (or this chat); key=value…")
async def _template(app: ChatthyApp, words: list[str]) -> None:
    await app.restart("template", **template_request(words))


@command("summarise [FILE] [HOW]", "summarise a file or this chat: paragraph|bullets|topics")
async def _summarise(app: ChatthyApp, words: list[str]) -> None:
    await app.restart("template", **summarise_request(words))


CLIENT_COMMANDS["summarize"] = CLIENT_COMMANDS["summarise"]


@command("export FILE [md|json]", "write the open chat to a file here")
async def _export(app: ChatthyApp, words: list[str]) -> None:
    if not words:
        raise ArgumentError("a file needed: /export FILE [md|json]")
    path = Path(words[0]).expanduser()
    asked = words[1] if len(words) > 1 else ("json" if path.suffix == ".json" else "md")
    formats: dict[str, Literal["md", "json"]] = {"md": "md", "json": "json"}
    fmt = formats.get(asked)
    if fmt is None:
        raise ArgumentError(f"format is md or json, not '{asked}'")
    result = await app.client.rpc(api.Export(chat=app.chat, format=fmt))
    try:
        path.write_text(result.data, encoding="utf-8")
    except OSError as exc:
        raise ChatthyError(f"cannot write {path}: {exc.strerror or exc}") from None
    app.status.say(f"exported '{app.chat}' to {path} ({fmt})")


@command("import FILE", "create a chat from a JSON or Markdown file here")
async def _import(app: ChatthyApp, words: list[str]) -> None:
    path = Path(_need(words, "a file", "/import FILE")).expanduser()
    result = await app.client.import_text(read_text_file(path))
    await app.output.add_notice(
        f"imported {result.messages} message(s) into chat '{result.chat}' "
        f"(/chat {shlex.quote(result.chat)} opens it)"
    )


@command("load FILE", "put a file's text into the input (multi-line if it has lines)")
async def _load(app: ChatthyApp, words: list[str]) -> None:
    path = Path(_need(words, "a file", "/load FILE")).expanduser()
    text = read_text_file(path).rstrip("\n")
    if "\n" in text or app.multiline:
        app.set_multiline(True, text)
    else:
        app.prompt_input.value = text
        app.prompt_input.cursor_position = len(text)
        app.prompt_input.focus()


@command("theme [NAME]", "switch the colours to Textual theme NAME, saved in client.toml")
async def _theme(app: ChatthyApp, words: list[str]) -> None:
    if not words:
        names = ", ".join(sorted(app.available_themes))
        await app.output.add_notice(f"theme '{app.theme}'; the themes: {names}")
        return
    app.use_theme(" ".join(words))
    try:
        saved = await asyncio.to_thread(save_client_value, "theme", app.theme)
    except ConfigError as exc:
        app.status.say(f"theme is now '{app.theme}', for this session: {exc.message}", "error")
        return
    app.status.say(f"theme is now '{app.theme}' (saved in {saved})")
