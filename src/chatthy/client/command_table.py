"""The one command table: every ``/command`` of the TUI and the line client, declared
once with its arguments, help, where its completions come from and what it does.

A front end hands a typed line to :func:`run_line` and asks :func:`complete` what may
follow what the user typed; the help comes from :func:`help_lines`. A command does its
work through the :class:`~chatthy.client.session.Session` and shows what it has to say
through the :class:`Front` (which renders). A line whose command is not in the table
runs the server's RPC of that name (``/NAME key=value …``); a front end may add commands
of its own (``fronts``), such as the TUI's ``/theme``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shlex
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import msgspec

from chatthy.client.attachments import attached_notice
from chatthy.client.commands import (
    format_chats,
    format_key,
    read_chat_file,
    read_text_file,
    save_export,
)
from chatthy.client.core import TRANSIENT_METHODS
from chatthy.client.editing import edit_workspace_file, kept_on_failure
from chatthy.client.mcp import format_servers
from chatthy.client.rag import (
    Ingest,
    IngestReport,
    format_document,
    format_documents,
    format_hits,
    hit_to_workspace,
    is_remote,
    plan,
    search_request,
)
from chatthy.client.session import Session, View, text_of
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
from chatthy.errors import ArgumentError, NotFoundError
from chatthy.wire import api

__all__ = [
    "TABLE",
    "Arg",
    "Command",
    "CommandTable",
    "Front",
    "complete",
    "format_hit",
    "format_result",
    "help_lines",
    "local_path",
    "parse_value",
    "run_line",
    "run_words",
]


class Front(View, Protocol):
    """A front end as commands use it: the session's :class:`View` and the few things
    only a front end can do (an editor, its input line, its help, leaving)."""

    kind: str
    """``tui`` or ``line``: which front-end-only commands it offers."""

    async def edit(self, text: str, suffix: str = ".md", *, instead: str = "") -> str | None:
        """``text`` in the user's ``$EDITOR``; None when left unchanged.

        Raises:
            ChatthyError: no editor can run here (the reason, and ``instead``: what to
                do without one).
        """

    def load_input(self, text: str) -> None:
        """Put ``text`` into the input for the user to edit and send."""

    async def show_help(self, text: str) -> None:
        """Show the help (the table's lines, then the front end's keys)."""

    def quit(self) -> None:
        """Leave."""

    def cursor_message(self) -> int | None:
        """The id of the message the user points at (the TUI's cursor), if any."""

    async def show_hits(self, query: str, hits: list[api.SearchHit]) -> None:
        """Full-text search results, each one a way to its chat and message."""

    async def workspace(self, files: list[api.WorkspaceFile]) -> None:
        """``/ws`` alone: the workspace as the front end best shows it (a checklist)."""


Source = str
"""Where an argument's completions come from: a session source (``chats``, ``prompts``,
``providers``, ``models``, ``templates``, ``workspace``, ``commands``), ``paths`` (local
files), ``subcommands`` (the words the table knows after the command), or ``a|b|c``
(those words)."""

Run = Callable[[Session, Front, list[str]], Awaitable[None]]


@dataclass(frozen=True)
class Arg:
    """One argument as the usage names it: ``NAME``, ``[NEW]``, ``PATH…``."""

    name: str
    complete: Source = ""
    optional: bool = False
    many: bool = False

    def __str__(self) -> str:
        text = self.name + ("…" if self.many else "")
        return f"[{text}]" if self.optional else text


@dataclass(frozen=True)
class Command:
    """One command: ``name`` is one word or two (``ws add``)."""

    name: str
    args: tuple[Arg, ...]
    help: str
    run: Run
    fronts: frozenset[str] | None = None
    """The front ends that offer it (None: every one)."""
    aliases: tuple[str, ...] = ()
    shown: bool = True
    """Listed in the help (an alias's own entry is not)."""

    @property
    def usage(self) -> str:
        return " ".join(["/" + self.name, *map(str, self.args)])

    def offered(self, front: str) -> bool:
        return self.fronts is None or front in self.fronts


_ARG = re.compile(r"^(\[)?([A-Za-z_|]+?)(…)?(\])?$")


class CommandTable:
    """Commands by name, in the order the help lists them."""

    def __init__(self) -> None:
        self.commands: dict[str, Command] = {}

    def command(
        self,
        usage: str,
        help: str,
        *,
        complete: dict[str, Source] | None = None,
        fronts: Iterable[str] | None = None,
        aliases: Iterable[str] = (),
    ) -> Callable[[Run], Run]:
        """Declare a command by its usage (``"ws add PATH…"``: lower-case words name it,
        upper-case ones are its arguments, ``[…]`` optional, ``…`` many, ``a|b`` one of
        those words); ``complete`` names each argument's completion source."""
        words = usage.split()
        name_words = [w for w in words if w.islower() and "|" not in w and "[" not in w]
        name = " ".join(name_words)
        sources = complete or {}
        args = []
        for word in words[len(name_words) :]:
            match = _ARG.match(word)
            if match is None:
                raise ValueError(f"cannot read argument {word!r} of {usage!r}")
            optional, arg, many, _ = match.groups()
            source = sources.get(arg, arg if "|" in arg else "")
            args.append(Arg(arg, source, optional=bool(optional), many=bool(many)))

        def register(run: Run) -> Run:
            made = Command(
                name,
                tuple(args),
                help,
                run,
                frozenset(fronts) if fronts is not None else None,
                tuple(aliases),
            )
            self.commands[name] = made
            for alias in aliases:
                self.commands[alias] = Command(
                    alias, made.args, help, run, made.fronts, (), shown=False
                )
            return run

        return register

    def find(self, words: list[str], front: str) -> tuple[Command, list[str]] | None:
        """The command ``words`` start with (two words before one) and the words after."""
        for size in (2, 1):
            if len(words) >= size:
                found = self.commands.get(" ".join(words[:size]))
                if found is not None and found.offered(front):
                    return found, words[size:]
        return None

    def names(self, front: str) -> list[str]:
        """The first words of the commands ``front`` offers."""
        return sorted({c.name.split()[0] for c in self.commands.values() if c.offered(front)})

    def subcommands(self, first: str, front: str) -> list[str]:
        """The second words known after ``first`` (``ws`` → ``add``, ``list`` …)."""
        return [
            c.name.split()[1]
            for c in self.commands.values()
            if c.name.startswith(first + " ") and c.offered(front)
        ]


TABLE = CommandTable()
command = TABLE.command


# ---- running a line ------------------------------------------------------------------


def split_line(line: str) -> list[str]:
    """The words of a ``/command …`` line (shell quoting).

    Raises:
        ArgumentError: an unclosed quote, or nothing after the ``/``.
    """
    try:
        words = shlex.split(line.lstrip()[1:])
    except ValueError as exc:
        raise ArgumentError(f"cannot read that command: {exc} (/help lists them)") from None
    if not words:
        raise ArgumentError("an empty command: /help lists them")
    return words


async def run_line(session: Session, front: Front, line: str) -> None:
    """Run one ``/command …`` line.

    Raises:
        ChatthyError: the command is malformed, unknown, or the server refused it.
    """
    await run_words(session, front, split_line(line))


async def run_words(session: Session, front: Front, words: list[str]) -> None:
    """Run a command given as its words (``["ws", "add", "notes.md"]``), as
    :func:`run_line` runs a typed line (``chatthy /ws add notes.md`` comes this way).

    Raises:
        As :func:`run_line`.
    """
    if not words or not words[0]:
        raise ArgumentError("an empty command: /help lists them")
    words = [words[0].removeprefix("/"), *words[1:]]
    name, rest = words[0], words[1:]
    if rest and name in session.server_commands and all(_is_key_value(w) for w in rest):
        # /NAME key=value …: the server's RPC as it is (/fork new=2024, /import data=…)
        if name in TRANSIENT_METHODS:
            await _reply_command(session, name, rest)
        else:
            await _server_command(session, front, name, rest)
        return
    found = TABLE.find(words, front.kind)
    if found is not None:
        cmd, rest = found
        await cmd.run(session, front, rest)
    elif words[0] in session.server_commands:
        await _server_command(session, front, words[0], words[1:])
    else:
        raise ArgumentError(f"unknown command /{words[0]} (/help lists them)")


def _is_key_value(word: str) -> bool:
    key, sep, _ = word.partition("=")
    return bool(sep) and key.isidentifier()


async def _reply_command(session: Session, name: str, words: list[str]) -> None:
    """``/chat text=…``, ``/edit text=… message_id=…``, ``/template name=…``: a reply
    started with these arguments, followed like any other."""
    args = _key_values(name, words)
    args.pop("chat", None)
    declared = api.call_class(name)
    if declared is not None:
        try:
            msgspec.convert({"chat": session.chat, **args}, declared, strict=False)
        except msgspec.ValidationError as exc:
            raise ArgumentError(f"/{name}: {exc}") from None
    if name == "chat" and set(args) == {"text"}:
        await session.send(str(args["text"]))
    else:
        await session.restart(name, **args)


def parse_value(value: str) -> Any:
    """A ``key=value`` word's value: a string, unless written as JSON that a string
    cannot be confused with (quoted, a list, an object)."""
    if value[:1] in ('"', "[", "{"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _key_values(name: str, words: list[str]) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise ArgumentError(f"/{name}: arguments are key=value (got '{word}')")
        args[key] = parse_value(value)
    return args


async def _server_command(session: Session, front: Front, name: str, words: list[str]) -> None:
    """Any RPC as ``/NAME key=value …``; ``chat`` is the open chat unless given. Values
    are converted to the types the RPC declares (``limit=10`` is a number, ``new=2024``
    stays a name)."""
    args = _key_values(name, words)
    info = session.server_commands[name]
    declared = api.call_class(name)
    if any(a.name == "chat" for a in info.args) and not (declared and declared.names_new_chat):
        args.setdefault("chat", session.chat)
    if declared is not None:
        try:
            call = msgspec.convert(args, declared, strict=False)
        except msgspec.ValidationError as exc:
            raise ArgumentError(f"/{name}: {exc}") from None
        result: Any = await session.client.rpc(call)
    else:
        result = await session.client.call(name, **args)
    await front.notice(f"/{name}\n{format_result(result)}")
    if name in ("new", "fork", "import", "rename", "destroy", "use"):
        session.forget_names("chats")


# ---- how results read --------------------------------------------------------------

_TIMES = frozenset({"created", "updated", "started", "ts", "registered", "modified", "when"})


def _when(value: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(value))


def _scalar(key: str, value: Any) -> str:
    if key in _TIMES and isinstance(value, int | float) and value > 1e8:
        return _when(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, str) and "\n" in value:
        return "\n    " + value.replace("\n", "\n    ")
    return str(value)


def format_result(result: Any, indent: str = "") -> str:
    """A command's result as text a person reads: fields one per line, times as dates,
    lists one item per line (never JSON with Unix timestamps)."""
    built = msgspec.to_builtins(result) if isinstance(result, msgspec.Struct) else result
    if isinstance(result, list):
        built = [msgspec.to_builtins(r) if isinstance(r, msgspec.Struct) else r for r in result]
    if isinstance(built, dict):
        if not built:
            return f"{indent}(nothing)"
        width = max(len(str(k)) for k in built)
        lines = []
        for key, value in built.items():
            if isinstance(value, dict | list) and value:
                lines.append(f"{indent}{key}:")
                lines.append(format_result(value, indent + "  "))
            else:
                lines.append(f"{indent}{key:<{width}}  {_scalar(str(key), value)}")
        return "\n".join(lines)
    if isinstance(built, list):
        if not built:
            return f"{indent}(none)"
        lines = []
        for item in built:
            if isinstance(item, dict) and item:
                sub = format_result(item, indent + "  ")
                lines.append(indent + "- " + sub[len(indent) + 2 :])
            else:
                lines.append(f"{indent}- {item}")
        return "\n".join(lines)
    if built is None:
        return f"{indent}done"
    return f"{indent}{built}"


def format_hit(hit: api.SearchHit, *, marks: tuple[str, str] = ("", "")) -> str:
    """One search hit as a line: where it is and its snippet, the matched words between
    ``marks`` (the server's ``**``)."""
    start, end = marks
    snippet = re.sub(r"\*\*(.+?)\*\*", lambda m: f"{start}{m.group(1)}{end}", hit.snippet)
    snippet = " ".join(snippet.split())
    return f"{hit.chat} #{hit.message_id} {hit.role} {_when(hit.created)[:10]}: {snippet}"


# ---- help and completion -------------------------------------------------------------


def help_lines(front: str) -> list[tuple[str, str]]:
    """``(usage, help)`` of every command ``front`` offers, in the table's order."""
    return [(c.usage, c.help) for c in TABLE.commands.values() if c.shown and c.offered(front)]


async def complete(session: Session, front: str, text: str) -> tuple[int, list[str]]:
    """What may replace the word being typed at the end of ``text``: where that word
    starts and the candidates (a command, a subcommand, or what its argument's source
    offers; names with spaces quoted)."""
    if not text.startswith("/") or text.startswith("//"):
        return len(text), []
    body = text[1:]
    raw = re.search(r"(\S*)$", body)
    raw_typed = raw.group(1) if raw else ""
    start = len(text) - len(raw_typed)
    typed = raw_typed.lstrip("'\"")
    words = [*body[: len(body) - len(raw_typed)].split(), typed]
    if len(words) == 1:
        names = set(TABLE.names(front)) | set(session.server_commands)
        return start, _matching(sorted(names), typed)
    first = words[0]
    subs = TABLE.subcommands(first, front)
    if len(words) == 2 and subs:
        candidates = _matching(subs, typed)
        alone = TABLE.commands.get(first)
        if alone is not None and alone.args and alone.offered(front):
            candidates += await _candidates(session, alone.args[0].complete, typed)
        return start, candidates
    found = TABLE.find(words[:-1], front)
    if found is None:
        info = session.server_commands.get(first)
        keys = [f"{a.name}=" for a in info.args] if info is not None else []
        return start, _matching(keys, typed)
    cmd, before = found
    arg = _arg_at(cmd, len(before))
    if arg is None:
        return start, []
    return start, await _candidates(session, arg.complete, typed)


def _arg_at(cmd: Command, index: int) -> Arg | None:
    if index < len(cmd.args):
        return cmd.args[index]
    if cmd.args and cmd.args[-1].many:
        return cmd.args[-1]
    return None


def _matching(names: Iterable[str], typed: str) -> list[str]:
    return [n for n in names if n.startswith(typed)]


async def _candidates(session: Session, source: Source, typed: str) -> list[str]:
    if not source:
        return []
    if "|" in source:
        return _matching(source.split("|"), typed)
    if source == "paths":
        return await asyncio.to_thread(local_paths, typed)
    names = await session.names(source)
    return [_quoted(n) for n in _matching(names, typed)]


def _quoted(name: str) -> str:
    return shlex.quote(name) if any(c.isspace() or c in "'\"\\" for c in name) else name


def local_paths(typed: str, limit: int = 200) -> list[str]:
    """Local paths that start with ``typed`` (``~`` understood, folders ending in
    ``/``), as the user would type them."""
    try:
        expanded = os.path.expanduser(typed)
    except RuntimeError:
        return []
    folder, _, prefix = expanded.rpartition("/")
    base = Path(folder or ".") if folder or not expanded.startswith("/") else Path("/")
    if expanded.startswith("/") and not folder:
        base = Path("/")
    try:
        entries = sorted(os.scandir(base), key=lambda e: e.name)
    except OSError:
        return []
    shown_folder = typed[: len(typed) - len(prefix)]
    out = []
    for entry in entries:
        if not entry.name.startswith(prefix) or (entry.name.startswith(".") and not prefix):
            continue
        suffix = "/" if entry.is_dir() else ""
        out.append(shown_folder + entry.name + suffix)
        if len(out) >= limit:
            break
    return out


# ---- the commands ------------------------------------------------------------------


def local_path(word: str) -> Path:
    """A path the user typed, ``~`` expanded.

    Raises:
        ArgumentError: a ``~user`` that names no user.
    """
    try:
        return Path(word).expanduser()
    except RuntimeError:
        raise ArgumentError(f"{word}: no such user's home folder") from None


def _need(words: list[str], what: str, usage: str) -> str:
    if not words:
        raise ArgumentError(f"{what} needed: {usage}")
    return " ".join(words)


@command("help", "commands and keys", aliases=("?",))
async def _help(s: Session, f: Front, words: list[str]) -> None:
    width = max(len(u) for u, _ in help_lines(f.kind))
    lines = [f"  {usage:<{width}}  {text}" for usage, text in help_lines(f.kind)]
    await f.show_help("\n".join(lines))


@command("quit", "leave", aliases=("exit", "q"))
async def _quit(s: Session, f: Front, words: list[str]) -> None:
    f.quit()


@command(
    "chat NAME",
    "switch to chat NAME (new: made by its first message)",
    complete={"NAME": "chats"},
)
async def _chat(s: Session, f: Front, words: list[str]) -> None:
    await s.open(_need(words, "a chat name", "/chat NAME"))


@command("chats", "list your chats")
async def _chats(s: Session, f: Front, words: list[str]) -> None:
    await f.notice(format_chats(await s.client.rpc(api.Chats())))


@command("rename NEW", "rename the open chat")
async def _rename(s: Session, f: Front, words: list[str]) -> None:
    new = _need(words, "a new name", "/rename NEW")
    await s.rename(new)
    f.status(f"chat renamed to '{new}'")


@command("fork [NEW]", "copy the open chat (up to the message at the cursor) and open it")
async def _fork(s: Session, f: Front, words: list[str]) -> None:
    first = words[0] if words else ""
    numbered = first.isascii() and first.isdecimal() and len(words) > 1
    message_id = int(words.pop(0)) if numbered else None
    if message_id is None:
        message_id = f.cursor_message()
    new = " ".join(words) or f"{s.chat} fork {secrets.token_hex(2)}"
    await s.client.rpc(api.Fork(chat=s.chat, new=new, message_id=message_id))
    s.forget_names("chats")
    await s.open(new)
    upto = f" up to message #{message_id}" if message_id is not None else ""
    f.status(f"forked into '{new}'{upto}")


@command(
    "destroy [NAME]", "delete a chat; asks for its name to be sure", complete={"NAME": "chats"}
)
async def _destroy(s: Session, f: Front, words: list[str]) -> None:
    if not words:
        await f.notice(
            f"this deletes chat '{s.chat}' and all its messages: "
            f"type /destroy {shlex.quote(s.chat)} to confirm"
        )
        return
    name = " ".join(words)
    await s.destroy(name)
    f.status(f"chat '{name}' deleted")


@command("undo", "remove the last turn (your message and its reply)")
async def _undo(s: Session, f: Front, words: list[str]) -> None:
    result = await s.client.rpc(api.Undo(chat=s.chat))
    await s.reload()
    f.status(f"removed {result.removed} message(s)")


@command("edit", "edit your last message in $EDITOR, then reply anew (/edit TEXT: that text)")
async def _edit(s: Session, f: Front, words: list[str]) -> None:
    page = await s.client.rpc(api.Messages(chat=s.chat, limit=50))
    mine = [m for m in page.messages if m.role == "user"]
    if not mine:
        raise ArgumentError("no message of yours to edit in the last 50 of this chat")
    last = mine[-1]
    if words:
        text: str | None = " ".join(words)
    else:
        text = await f.edit(text_of(last.content), instead="/edit TEXT")
    if text is None:
        f.status("message unchanged")
        return
    with kept_on_failure(text):
        await s.restart("edit", text=text, message_id=last.id)


@command("regenerate", "replace the last reply")
async def _regenerate(s: Session, f: Front, words: list[str]) -> None:
    await s.restart("regenerate")


@command("search TEXT", "full-text search over your chats")
async def _search(s: Session, f: Front, words: list[str]) -> None:
    query = _need(words, "something to search for", "/search TEXT")
    hits = await s.client.rpc(api.Search(query=query))
    if not hits:
        await f.notice(f"nothing found for '{query}'")
        return
    await f.show_hits(query, hits)


@command(
    "prompt [NAME]",
    "use personality NAME here (alone: show this one)",
    complete={"NAME": "prompts"},
)
async def _prompt(s: Session, f: Front, words: list[str]) -> None:
    if not words:
        info = await s.client.rpc(api.Prompt(name=s.state.personality))
        await f.notice(f"personality '{info.name}':\n{info.text}")
        return
    name = " ".join(words)
    await s.use(prompt=name)
    f.status(f"personality is now '{name}'")


@command(
    "prompt edit [NAME]",
    "edit a personality (this one) in $EDITOR, saved as yours",
    complete={"NAME": "prompts"},
)
async def _prompt_edit(s: Session, f: Front, words: list[str]) -> None:
    name = " ".join(words) or s.state.personality
    try:
        text = (await s.client.rpc(api.Prompt(name=name))).text
    except NotFoundError:
        text = ""
    edited = await f.edit(text, instead=f"/prompt_set name={shlex.quote(name)} text=…")
    if edited is None:
        f.status(f"personality '{name}' unchanged")
        return
    with kept_on_failure(edited):
        await s.client.rpc(api.PromptSet(name=name, text=edited))
    s.forget_names("prompts")
    f.status(f"personality '{name}' saved")


@command(
    "agent [NAME]", "use agent NAME here (alone: list the agents)", complete={"NAME": "agents"}
)
async def _agent(s: Session, f: Front, words: list[str]) -> None:
    if not words:
        await _agents(s, f, [])
        return
    name = " ".join(words)
    if name not in await s.names("agents"):
        raise ArgumentError(f"no agent '{name}' (/agents lists them)")
    await s.use(prompt=name)
    f.status(f"agent is now '{name}' (its tools, model and prompt)")


@command("agents", "list the server's agents (agents/NAME.md)")
async def _agents(s: Session, f: Front, words: list[str]) -> None:
    agents = await s.client.rpc(api.Agents())
    if not agents:
        await f.notice("no agents: put agents/NAME.md files in the server's config dir")
        return
    lines = []
    for a in agents:
        uses = ", ".join(a.tools) if a.tools is not None else "every tool"
        model = f" · {a.provider or 'default'}:{a.model}" if a.provider or a.model else ""
        lines.append(f"  {a.name:<16} {a.description[:60]}{model} · tools: {uses}")
    await f.notice("agents:\n" + "\n".join(lines))


@command("tools", "list the server's tools (⚠: asks before it runs)")
async def _tools(s: Session, f: Front, words: list[str]) -> None:
    tools = await s.client.rpc(api.Tools())
    lines = []
    for t in tools:
        marks = ("⚠" if t.changes else " ") + (" " if t.enabled else "✗")
        where = "" if t.origin == "built-in" else f" [{t.origin}]"
        said = t.description.splitlines()[0][:60] if t.description else ""
        lines.append(f"  {marks} {t.name:<20} {said}{where}")
    legend = "⚠ asks before it runs · ✗ not offered ([tools] enabled)"
    await f.notice("tools:\n" + "\n".join(lines) + f"\n  ({legend})")


@command("mcp", "the MCP servers: their state and tools (starts those not started)")
async def _mcp(s: Session, f: Front, words: list[str]) -> None:
    f.status("asking the MCP servers…", "busy")
    servers = await s.client.rpc(api.McpServers())
    f.status("")
    await f.notice(format_servers(servers))


@command("chains", "list the tool chains (chains/NAME.toml)")
async def _chains(s: Session, f: Front, words: list[str]) -> None:
    chains = await s.client.rpc(api.Chains())
    if not chains:
        await f.notice("no tool chains: put chains/NAME.toml files in the server's config dir")
        return
    lines = [f"  {c.name:<16} {' → '.join(c.steps)}  {c.description[:50]}" for c in chains]
    await f.notice("tool chains:\n" + "\n".join(lines))


@command("chain NAME TEXT", "run tool chain NAME on TEXT", complete={"NAME": "chains"})
async def _chain(s: Session, f: Front, words: list[str]) -> None:
    _need(words, "a chain name", "/chain NAME TEXT")
    ran = await s.client.rpc(api.ChainRun(name=words[0], input=" ".join(words[1:])))
    await f.notice(ran.output)


@command("prompts", "list the personalities")
async def _prompts(s: Session, f: Front, words: list[str]) -> None:
    prompts = await s.client.rpc(api.Prompts())
    lines = []
    for p in prompts:
        first = p.text.strip().splitlines()
        lines.append(f"  {p.name:<16} {first[0][:60] if first else ''}")
    await f.notice("personalities:\n" + "\n".join(lines))


@command("provider NAME", "use provider NAME in this chat", complete={"NAME": "providers"})
async def _provider(s: Session, f: Front, words: list[str]) -> None:
    name = _need(words, "a provider name", "/provider NAME")
    await s.use(provider=name)
    f.status(f"provider is now '{name}'")


@command("model NAME", "use model NAME in this chat", complete={"NAME": "models"})
async def _model(s: Session, f: Front, words: list[str]) -> None:
    name = _need(words, "a model name", "/model NAME")
    await s.use(model=name)
    f.status(f"model is now '{name}'")


@command("providers", "list providers and their models")
async def _providers(s: Session, f: Front, words: list[str]) -> None:
    providers = await s.client.rpc(api.Providers())
    lines = []
    for p in providers:
        mark = " (default)" if p.default else ""
        lines.append(f"  {p.name}{mark}: {p.model}")
        if p.models:
            lines.append(f"      models: {', '.join(p.models[:20])}")
        if p.error:
            lines.append(f"      {p.error}")
    await f.notice("providers:\n" + "\n".join(lines))


@command("key", "your profile's key fingerprint and public key")
async def _key(s: Session, f: Front, words: list[str]) -> None:
    await f.notice(format_key(s.client.profile, s.client.key.public_key))


@command("commands", "the server's commands (each runs as /NAME key=value …)")
async def _commands(s: Session, f: Front, words: list[str]) -> None:
    lines = []
    for info in sorted(s.server_commands.values(), key=lambda c: c.name):
        args = " ".join(f"{a.name}=…" for a in info.args)
        first = info.help.strip().splitlines()[0] if info.help.strip() else ""
        lines.append(f"  /{info.name} {args}".rstrip() + f"\n      {first}")
    await f.notice("server commands:\n" + "\n".join(lines))


# ---- the workspace -------------------------------------------------------------------


def _one(words: list[str], usage: str) -> str:
    if len(words) != 1:
        raise ArgumentError(f"one name needed: {usage}")
    return words[0]


@command("ws", "the workspace (a checklist in the full-screen client)")
async def _ws(s: Session, f: Front, words: list[str]) -> None:
    if words:
        subs = ", ".join(TABLE.subcommands("ws", f.kind))
        raise ArgumentError(f"unknown /ws {words[0]}: {subs}")
    await f.workspace(await s.client.rpc(api.WsList()))


@command("ws list", "list the workspace files with their tokens")
async def _ws_list(s: Session, f: Front, words: list[str]) -> None:
    await f.notice(format_workspace(await s.client.rpc(api.WsList())))


@command(
    "ws add PATH…",
    "add files, folders (.gitignore kept) or patterns from here",
    complete={"PATH": "paths"},
)
async def _ws_add(s: Session, f: Front, words: list[str]) -> None:
    if not words:
        raise ArgumentError("files, folders or patterns needed: /ws add PATH…")
    found = await asyncio.to_thread(gather, [local_path(w) for w in words])
    added = await send_files(s.client, found)
    lines = [added_line(info) for info in added]
    if found.notices:
        await f.notice("\n".join(found.notices), error=True)
    await f.notice("\n".join(lines) or "nothing added to the workspace", error=not added)
    s.forget_names("workspace")
    await s.refresh_workspace()


@command("ws show NAME", "show a workspace file", complete={"NAME": "workspace"})
async def _ws_show(s: Session, f: Front, words: list[str]) -> None:
    file = await s.client.rpc(api.WsShow(name=_one(words, "/ws show NAME")))
    head = f"{file.name} ({file.tokens:,} tokens{', benched' if file.benched else ''})"
    await f.notice(f"{head}\n{file.text}")


@command(
    "ws edit NAME",
    "edit a workspace file in $EDITOR (a new one if there is none)",
    complete={"NAME": "workspace"},
)
async def _ws_edit(s: Session, f: Front, words: list[str]) -> None:
    name = _one(words, "/ws edit NAME")
    instead = f"chatthy ws add {shlex.quote(name)} < FILE"
    saved = await edit_workspace_file(
        s.client, name, lambda text, suffix: f.edit(text, suffix, instead=instead)
    )
    if saved is None:
        f.status(f"{name}: unchanged")
        return
    f.status(f"saved {saved.name} ({saved.tokens:,} tokens)")
    s.forget_names("workspace")
    await s.refresh_workspace()


def _ws_simple(action: Literal["bench", "restore", "drop"], done: str) -> Run:
    async def run(s: Session, f: Front, words: list[str]) -> None:
        name = _one(words, f"/ws {action} NAME")
        await s.client.call(f"ws_{action}", name=name)
        f.status(f"{name}: {done}")
        s.forget_names("workspace")
        await s.refresh_workspace()

    return run


command(
    "ws bench NAME", "stop sending a file with every turn (kept)", complete={"NAME": "workspace"}
)(_ws_simple("bench", "benched (kept, not sent)"))
command(
    "ws restore NAME", "send a benched file with every turn again", complete={"NAME": "workspace"}
)(_ws_simple("restore", "sent with every turn again"))
command("ws drop NAME", "delete a workspace file", complete={"NAME": "workspace"})(
    _ws_simple("drop", "deleted")
)


@command("ws rename NAME NEW", "rename a workspace file", complete={"NAME": "workspace"})
async def _ws_rename(s: Session, f: Front, words: list[str]) -> None:
    if len(words) != 2:
        raise ArgumentError("two names needed: /ws rename NAME NEW")
    renamed = await s.client.rpc(api.WsRename(name=words[0], new=words[1]))
    f.status(f"{words[0]} is now {renamed.name}")
    s.forget_names("workspace")


@command("ws sources", "the sources the server fetches from")
async def _ws_sources(s: Session, f: Front, words: list[str]) -> None:
    await f.notice(format_sources(await s.client.rpc(api.WsSources())))


def _ws_source(action: str) -> Run:
    async def run(s: Session, f: Front, words: list[str]) -> None:
        call = typed_source_request(action, words)
        what = getattr(call, call.__struct_fields__[0])
        f.status(f"fetching {action} {what}…", "busy")
        f.status(fetched_line(await s.client.rpc(call)))
        s.forget_names("workspace")
        await s.refresh_workspace()

    return run


for _action, _source in SOURCE_COMMANDS.items():
    command(f"ws {_action} WHAT…", _source.help)(_ws_source(_action))
command("ws fetch SOURCE WHAT…", "fetch from any source the server offers (/ws sources)")(
    _ws_source("fetch")
)


@command("ws mcp SERVER URI [NAME]", "add a resource of an MCP server of the server's")
async def _ws_mcp(s: Session, f: Front, words: list[str]) -> None:
    if len(words) not in (2, 3):
        raise ArgumentError("a server and a URI needed: /ws mcp SERVER URI [NAME]")
    f.status(f"reading {words[1]} from {words[0]}…", "busy")
    name = words[2] if len(words) == 3 else None
    added = await s.client.rpc(api.WsMcp(server=words[0], uri=words[1], name=name))
    f.status(fetched_line(added))
    s.forget_names("workspace")
    await s.refresh_workspace()


@command(
    "ws attach PATH…",
    "send local files with every turn of this session, read fresh",
    complete={"PATH": "paths"},
)
async def _ws_attach(s: Session, f: Front, words: list[str]) -> None:
    if not words:
        raise ArgumentError("files or folders needed: /ws attach PATH…")
    transient = s.client.transient
    before = await asyncio.to_thread(transient.tokens)
    lines = []
    try:
        for word in words:
            found = await asyncio.to_thread(transient.attach, word)
            lines += [attached_line(word, found), *found.notices]
    finally:
        if lines:
            await f.notice("\n".join(lines))
        await s.recount_attached(before)


@command(
    "ws detach [PATH…]",
    "stop sending attached files (all without PATH)",
    complete={"PATH": "paths"},
)
async def _ws_detach(s: Session, f: Front, words: list[str]) -> None:
    transient = s.client.transient
    before = await asyncio.to_thread(transient.tokens)
    detached = (
        [p for word in words for p in transient.detach(word)] if words else transient.detach()
    )
    f.status(f"detached {', '.join(map(str, detached)) or 'nothing'}")
    await s.recount_attached(before)
    await s.refresh_workspace()


@command("ws attached", "list what this session attached")
async def _ws_attached(s: Session, f: Front, words: list[str]) -> None:
    await f.notice(await asyncio.to_thread(format_attached, s.client.transient))


# ---- images ------------------------------------------------------------------------


@command(
    "image [PATH…]",
    "attach images to the next message (/image alone lists them, /image clear drops them)",
    complete={"PATH": "paths"},
)
async def _image(s: Session, f: Front, words: list[str]) -> None:
    if not words:
        await f.notice(s.images.listing())
        return
    if words == ["clear"]:
        dropped = s.images.clear()
        f.status(f"dropped {dropped} image{'s' if dropped != 1 else ''}")
        return
    lines = []
    try:
        for word in words:
            image = await s.images.add(Path(word).expanduser())
            lines.append(attached_notice(image))
    finally:
        if lines:
            await f.notice("\n".join(lines))
        f.status(s.images.status())


# ---- the documents (RAG) --------------------------------------------------------------


@command("rag", "the documents: whether /rag on is on here, the provider, how many")
async def _rag(s: Session, f: Front, words: list[str]) -> None:
    if words:
        subs = ", ".join(TABLE.subcommands("rag", f.kind))
        raise ArgumentError(f"unknown /rag {words[0]}: {subs}")
    documents = await s.client.rpc(api.RagList())
    chunks = sum(d.chunks for d in documents)
    on = "on" if s.chat in s.rag_chats else "off"
    await f.notice(
        f"rag is {on} in '{s.chat}' · provider: {s.rag_provider or 'none'} · "
        f"{len(documents)} document(s), {chunks:,} chunks"
    )


class _FrontProgress:
    """An ingest's progress on the front end's status line (busy, so the line client
    prints none of it); problems kept to be shown after."""

    def __init__(self, front: Front) -> None:
        self.front = front
        self.problems: list[str] = []

    def begin(self, report: IngestReport) -> None:
        self.front.status(f"adding {report.total} document(s)…", "busy")

    def step(self, report: IngestReport, name: str) -> None:
        done = f"{report.done}/{report.total}, {report.chunks:,} chunks"
        self.front.status(f"adding documents: {done}…", "busy")  # the line client: not said

    def problem(self, line: str) -> None:
        self.problems.append(line)

    def end(self, report: IngestReport) -> None:
        self.front.status("")


@command(
    "rag add PATH…",
    "store files, folders, URLs or arxiv:ID as documents (unchanged ones skipped)",
    complete={"PATH": "paths"},
)
async def _rag_add(s: Session, f: Front, words: list[str]) -> None:
    if not words:
        raise ArgumentError("files, folders, URLs or arxiv:ID needed: /rag add PATH…")
    targets = [w if is_remote(w) else str(local_path(w)) for w in words]
    found = await asyncio.to_thread(plan, targets)
    progress = _FrontProgress(f)
    report = await Ingest(s.client, progress).run(found)
    if progress.problems:
        await f.notice("\n".join(progress.problems), error=True)
    await f.notice(report.summary(), error=not (report.added or report.skipped))


@command("rag list", "list your documents")
async def _rag_list(s: Session, f: Front, words: list[str]) -> None:
    await f.notice(format_documents(await s.client.rpc(api.RagList())))


@command("rag show NAME", "a document and its chunks' headings", complete={"NAME": "documents"})
async def _rag_show(s: Session, f: Front, words: list[str]) -> None:
    name = _need(words, "a document name", "/rag show NAME")
    await f.notice(format_document(await s.client.rpc(api.RagShow(name=name))))


@command("rag drop NAME", "delete a document with its chunks", complete={"NAME": "documents"})
async def _rag_drop(s: Session, f: Front, words: list[str]) -> None:
    name = _need(words, "a document name", "/rag drop NAME")
    dropped = await s.client.rpc(api.RagDrop(name=name))
    f.status(f"document {dropped.name} deleted")


@command("rag search QUERY…", "search your documents; /rag ws N adds hit N to the workspace")
async def _rag_search(s: Session, f: Front, words: list[str]) -> None:
    call = search_request(" ".join(words))
    f.status("searching the documents…", "busy")
    hits = await s.rag_search(call)
    f.status("")
    await f.notice(format_hits(call.query, hits))


@command("rag ws N", "add hit N of the last /rag search to the workspace")
async def _rag_ws(s: Session, f: Front, words: list[str]) -> None:
    word = _one(words, "/rag ws N")
    if not s.rag_hits:
        raise ArgumentError("no hits to add: /rag search QUERY first")
    if not (word.isascii() and word.isdecimal() and 1 <= int(word) <= len(s.rag_hits)):
        raise ArgumentError(f"N is a hit's number, 1 to {len(s.rag_hits)}, not '{word}'")
    added = await hit_to_workspace(s.client, s.rag_hits[int(word) - 1])
    f.status(f"hit {word} added to the workspace as {added.name} ({added.tokens:,} tokens)")
    s.forget_names("workspace")
    await s.refresh_workspace()


@command("rag on", "each message sent in this chat searches the documents with its text")
async def _rag_on(s: Session, f: Front, words: list[str]) -> None:
    s.use_rag(True)
    by = f", rescored by {s.rag_provider}" if s.rag_provider else ""
    f.status(f"rag on in '{s.chat}': each turn gets what its text finds{by}")


@command("rag off", "messages here no longer search the documents")
async def _rag_off(s: Session, f: Front, words: list[str]) -> None:
    s.use_rag(False)
    f.status(f"rag off in '{s.chat}'")


@command(
    "rag provider [NAME]",
    "rescore searches and /rag on turns with provider NAME (alone: none)",
    complete={"NAME": "providers"},
)
async def _rag_provider(s: Session, f: Front, words: list[str]) -> None:
    name = " ".join(words)
    known = await s.names("providers") if name else []
    if known and name not in known:
        raise ArgumentError(f"no provider '{name}' (/providers lists them)")
    s.rag_provider = name or None
    f.status(f"rag provider: {name}" if name else "rag provider cleared: searches keep their order")


# ---- templates and files -------------------------------------------------------------


@command("templates", "list the instruction templates")
async def _templates(s: Session, f: Front, words: list[str]) -> None:
    await f.notice(format_templates(await s.client.rpc(api.Templates())))


@command(
    "template NAME [FILE]",
    "run a template on a file (or this chat); key=value… fill it in",
    complete={"NAME": "templates", "FILE": "workspace"},
)
async def _template(s: Session, f: Front, words: list[str]) -> None:
    if not words or "=" in words[0]:
        raise ArgumentError("the template's NAME comes first (/templates lists them)")
    await s.restart("template", **template_request(words))


@command(
    "summarise [FILE] [HOW]",
    "summarise a file or this chat: paragraph|bullets|topics",
    complete={"FILE": "workspace"},
    aliases=("summarize",),
)
async def _summarise(s: Session, f: Front, words: list[str]) -> None:
    await s.restart("template", **summarise_request(words))


@command(
    "export FILE [md|json|openai]",
    "write the open chat to a file here (the format from its suffix: .json, else md)",
    complete={"FILE": "paths"},
)
async def _export(s: Session, f: Front, words: list[str]) -> None:
    if not words:
        raise ArgumentError("a file needed: /export FILE [md|json|openai]")
    path = local_path(words[0])
    asked = words[1] if len(words) > 1 else ("json" if path.suffix == ".json" else "md")
    formats: dict[str, Literal["md", "json", "openai"]] = {
        "md": "md",
        "json": "json",
        "openai": "openai",
    }
    fmt = formats.get(asked)
    if fmt is None:
        raise ArgumentError(f"format is md, json or openai, not '{asked}'")
    result = await s.client.rpc(api.Export(chat=s.chat, format=fmt))
    images = await save_export(s.client, result, path)
    beside = f", {images} image(s) beside it" if images else ""
    f.status(f"exported '{s.chat}' to {path} ({fmt}{beside})")


@command(
    "import FILE",
    "create chats from a file here: ours (JSON, Markdown), OpenAI messages, ChatGPT or claude.ai",
    complete={"FILE": "paths"},
)
async def _import(s: Session, f: Front, words: list[str]) -> None:
    path = local_path(_need(words, "a file", "/import FILE"))
    text = await asyncio.to_thread(read_chat_file, path)
    result = await s.client.import_text(text)
    s.forget_names("chats")
    made = result.chats or [api.ImportedChat(chat=result.chat, messages=result.messages)]
    lines = [f"imported {c.messages} message(s) into chat '{c.chat}'" for c in made]
    lines.append(
        f"(/chat {shlex.quote(made[0].chat)} opens it)"
        if len(made) == 1
        else f"{len(made)} chats made"
    )
    await f.notice("\n".join(lines))


@command(
    "load FILE", "put a file's text into the input to edit and send", complete={"FILE": "paths"}
)
async def _load(s: Session, f: Front, words: list[str]) -> None:
    path = local_path(_need(words, "a file", "/load FILE"))
    f.load_input((await asyncio.to_thread(read_text_file, path)).rstrip("\n"))
