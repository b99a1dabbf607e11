"""``chatthy mcp import``: the ``mcpServers`` JSON that Claude Desktop
(``claude_desktop_config.json``), Claude Code (``.mcp.json``), Cursor (``.cursor/mcp.json``),
Cline, Windsurf and oterm keep, added to server.toml as ``[mcp_servers.NAME]`` tables.

The file is read as those clients write it, unchanged: ``command``/``args``/``env``/``cwd``
for a process spoken to over stdio, ``url`` (Windsurf's ``serverUrl``, Gemini's
``httpUrl``) and ``headers`` for a remote server; ``type`` or ``transport`` naming the
transport in any of the spellings in use (``streamable-http``, ``streamableHttp`` …);
``disabled: true``; ``timeout``, which Cline and Roo give in seconds and Claude Code and
Gemini in milliseconds (a value of 1000 or more is read as milliseconds, and the note
says which was taken). Keys chatthy has no use for (``autoApprove``, ``alwaysAllow``,
``description`` …) are left out with one note each, not refused.

Nothing is half written. Every entry is checked first, and one wrong entry (or a wrong
file) is one line each and no change at all. server.toml is edited as text, because it
is the user's, with comments: the new tables are appended at its end, and ``--replace``
cuts the old ``[mcp_servers.NAME]`` table (and its ``[mcp_servers.NAME.env]`` …) out of
the text, keeping every other byte. The result must parse to exactly what was there
plus what was added, and load with :func:`~chatthy.config.load_server_config`, before
it takes the file's place (a temporary file in the same folder, then ``os.replace``):
a file that changed under us, or a table written in a form this cannot cut out safely,
is refused rather than guessed at. Values are written as given: a secret stays a secret
in server.toml (kept private, see :mod:`chatthy.private`), and ``${VAR}`` stays
``${VAR}`` for the chat server to fill in from its environment.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import shlex
import stat
import sys
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import tomli_w

from chatthy.config import (
    MCP_NAME,
    SERVER_TOML,
    McpServerConfig,
    config_dir,
    load_server_config,
    secret_warning,
)
from chatthy.errors import ConfigError
from chatthy.private import private_dir

__all__ = [
    "Entry",
    "ImportProblem",
    "Reading",
    "add_servers",
    "import_command",
    "read_mcp_servers",
]


class ImportProblem(ConfigError):
    """Raised when nothing can be imported: ``lines`` says why, one line per problem
    (each broken entry, or the one thing wrong with the whole file)."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("; ".join(lines))
        self.lines = lines


@dataclass(frozen=True)
class Entry:
    """One server read from ``mcpServers``: its name and its ``[mcp_servers.NAME]``
    table as it is written (only what differs from the defaults)."""

    name: str
    table: dict[str, Any]

    def summary(self) -> str:
        """``stdio: npx -y …`` or ``http: https://…``, and ``disabled`` when it is."""
        config = msgspec.convert(self.table, McpServerConfig)
        if config.command is not None:
            what = shlex.join([config.command, *config.args])
        else:
            what = config.url or ""
        if len(what) > 72:
            what = what[:71] + "…"
        said = f"{config.kind}: {what}"
        return said if config.enabled else f"{said}, disabled"


@dataclass
class Reading:
    """What a file's ``mcpServers`` holds: the entries, in the file's order, and the
    notes about what was left out or read one way of two."""

    entries: list[Entry]
    notes: list[str] = field(default_factory=list)


_TRANSPORTS = {
    "stdio": "stdio",
    "sse": "sse",
    "http": "http",
    "streamable-http": "http",
    "streamable_http": "http",
    "streamablehttp": "http",
    "streamable": "http",
}
"""The ``type``/``transport`` spellings in use, lowercased → chatthy's transport."""

_UNSPOKEN = {"ws", "websocket", "wss"}
"""Transports some clients speak and chatthy does not."""

_URL_KEYS = ("url", "serverUrl", "httpUrl")
"""Where clients keep a remote server's address (``httpUrl``: Gemini's streamable HTTP)."""

_MAPPED = {
    "command",
    "args",
    "env",
    "cwd",
    "headers",
    "type",
    "transport",
    "disabled",
    "enabled",
    "timeout",
    "auth",
    *_URL_KEYS,
}

_HINTS = {
    "autoApprove": "[tools] auto_approve in server.toml names the tools (NAME__TOOL) that "
    "run without asking",
    "alwaysAllow": "[tools] auto_approve in server.toml names the tools (NAME__TOOL) that "
    "run without asking",
    "envFile": "its variables are not read: put them in env, or ${VAR} from the chat "
    "server's environment",
    "disabledTools": "[tools] enabled in server.toml chooses the tools offered",
    "excludeTools": "[tools] enabled in server.toml chooses the tools offered",
    "includeTools": "[tools] enabled in server.toml chooses the tools offered",
}
"""Why a key left out does not matter, or what to use instead, for the common ones."""

_PLAIN_VAR = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
_ANY_VAR = re.compile(r"\$\{[^}]*\}")


class _Object(dict[str, Any]):
    """A JSON object that remembers the keys it was given more than once (``json``
    keeps the last silently; for a server that would drop one without a word)."""

    twice: list[str]


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object()
    obj.twice = []
    for key, value in pairs:
        if key in obj and key not in obj.twice:
            obj.twice.append(key)
        obj[key] = value
    return obj


def _where(name: str) -> str:
    """``mcpServers.NAME`` as the user would look for it (quoted when not plain)."""
    return f"mcpServers.{name}" if MCP_NAME.match(name) else f"mcpServers.{json.dumps(name)}"


class _Wrong(Exception):
    """One entry's problem: its message, said after the entry's place."""


def read_mcp_servers(text: str, source: str) -> Reading:
    """The servers of ``text``, an ``mcpServers`` JSON file read from ``source`` (the
    name used in messages).

    Raises:
        ImportProblem: the file is not JSON or holds no ``mcpServers``, or some entry
            cannot be a server: one line for the file, or one per broken entry.
    """
    try:
        data = json.loads(text, object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        raise ImportProblem(
            [f"{source}: not JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"]
        ) from None
    if not isinstance(data, dict):
        raise ImportProblem([f"{source}: not a JSON object with mcpServers"])
    if "mcpServers" not in data:
        raise ImportProblem([f"{source}: no mcpServers in it"])
    servers = data["mcpServers"]
    if not isinstance(servers, _Object):  # every JSON object is read as one
        raise ImportProblem([f"{source}: mcpServers: not an object of servers by name"])
    if not servers:
        raise ImportProblem([f"{source}: mcpServers is empty: nothing to add"])
    problems = [f"{source}: {_where(name)}: given twice" for name in servers.twice]
    reading = Reading([])
    for name, spec in servers.items():
        if name in servers.twice:
            continue
        try:
            table, notes = _table(name, spec)
        except _Wrong as exc:
            problems.append(f"{source}: {_where(name)}{exc}")
            continue
        reading.entries.append(Entry(name, table))
        reading.notes += [f"{source}: {_where(name)}{note}" for note in notes]
    if problems:
        raise ImportProblem(problems)
    return reading


def _table(name: str, spec: Any) -> tuple[dict[str, Any], list[str]]:
    """One entry as its ``[mcp_servers.NAME]`` table, and the notes about it.

    Raises:
        _Wrong: it cannot be a server; the message starts where the place leaves off
            (``.args: not a list of strings`` or ``: needs a command or a url``).
    """
    if not MCP_NAME.match(name):
        better = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_")[:32] or "server"
        raise _Wrong(f": not a server name (1-32 letters, digits, _ -; say {better})")
    if not isinstance(spec, dict):
        raise _Wrong(": not an object")
    if isinstance(spec, _Object) and spec.twice:
        raise _Wrong(f".{spec.twice[0]}: given twice")
    given = {key: value for key, value in spec.items() if value is not None}
    notes: list[str] = []
    command = _string(given, "command")
    if command is not None and not command.strip():
        raise _Wrong(".command: empty")
    urls = [key for key in _URL_KEYS if key in given]
    if len(urls) > 1:
        raise _Wrong(f": has both {urls[0]} and {urls[1]}")
    url = _string(given, urls[0]) if urls else None
    if command is not None and url is not None:
        raise _Wrong(f": has both a command and a {urls[0]}")
    if command is None and url is None:
        raise _Wrong(": needs a command or a url")
    kind = _transport(given, urls[0] if urls else None, url)
    if kind == "stdio" and command is None:
        raise _Wrong(f": transport stdio needs a command, not a {urls[0]}")
    if kind != "stdio" and url is None:
        raise _Wrong(f": transport {kind} needs a url, not a command")
    table: dict[str, Any] = {}
    if command is not None:
        table["command"] = command
        if args := _strings(given, "args"):
            table["args"] = args
        if env := _mapping(given, "env"):
            table["env"] = env
        if (cwd := _string(given, "cwd")) is not None:
            table["cwd"] = cwd
        for key in ("headers", "auth"):
            if given.get(key):  # an empty {} some clients write everywhere says nothing
                notes.append(f".{key} ignored: a process over stdio sends no headers")
    else:
        assert url is not None
        if not url.startswith(("http://", "https://", "${")):
            raise _Wrong(f".{urls[0]}: not an http:// or https:// URL")
        table["url"] = url
        headers = _mapping(given, "headers")
        if "auth" in given:
            notes += _bearer(given["auth"], headers)
        if headers:
            table["headers"] = headers
        for key in ("args", "env", "cwd"):
            if given.get(key):
                notes.append(f".{key} ignored: a remote server is not started here")
        if kind == "sse":
            table["transport"] = "sse"
    enabled = True
    for key, means in (("disabled", False), ("enabled", True)):
        if key in given:
            if not isinstance(given[key], bool):
                raise _Wrong(f".{key}: not true or false")
            enabled = enabled and given[key] == means
    if not enabled:
        table["enabled"] = False
    if "timeout" in given:
        table["timeout"], said = _timeout(given["timeout"])
        notes.append(said)
    for key in given:
        if key not in _MAPPED:
            hint = _HINTS.get(key)
            notes.append(f".{key} ignored" + (f" ({hint})" if hint else ""))
    variables = sorted(
        {v for s in _texts(table) for v in _ANY_VAR.findall(s) if not _PLAIN_VAR.fullmatch(v)}
    )
    if variables:
        notes.append(
            f": {', '.join(variables)} kept as written; chatthy fills in only ${{NAME}}, "
            "from the chat server's environment"
        )
    try:
        json.dumps(table, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\\ud800") is JSON, but no text
        raise _Wrong(": holds a string that is not Unicode text") from None
    try:
        msgspec.convert(table, McpServerConfig)
    except (msgspec.ValidationError, ValueError) as exc:  # a backstop: checked above
        raise _Wrong(f": {exc}") from None
    return table, notes


def _string(given: dict[str, Any], key: str) -> str | None:
    value = given.get(key)
    if value is not None and not isinstance(value, str):
        raise _Wrong(f".{key}: not a string")
    return value


def _strings(given: dict[str, Any], key: str) -> list[str]:
    value = given.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _Wrong(f".{key}: not a list of strings")
    return value


def _mapping(given: dict[str, Any], key: str) -> dict[str, str]:
    value = given.get(key, {})
    if not isinstance(value, dict):
        raise _Wrong(f".{key}: not an object of strings")
    for name, item in value.items():
        if not isinstance(item, str):
            raise _Wrong(f".{key}.{name}: not a string")
    return dict(value)


def _transport(given: dict[str, Any], url_key: str | None, url: str | None) -> str:
    """The transport the entry names, else the one its shape says: stdio for a command,
    streamable HTTP for Gemini's ``httpUrl``, SSE for a url whose path ends in ``/sse``
    (what Cursor and oterm fall back to), streamable HTTP for any other url."""
    named = {}
    for key in ("type", "transport"):
        if key not in given:
            continue
        value = given[key]
        if not isinstance(value, str):
            raise _Wrong(f".{key}: not a string")
        spoken = value.strip().lower().replace(" ", "-")
        if spoken in _UNSPOKEN:
            raise _Wrong(
                f".{key}: {value} is not spoken here (chatthy speaks stdio, "
                "streamable HTTP and SSE)"
            )
        if spoken not in _TRANSPORTS:
            raise _Wrong(f".{key}: {value!r} is not a transport (stdio, http, sse)")
        named[key] = _TRANSPORTS[spoken]
    if len(set(named.values())) > 1:
        raise _Wrong(f": type {named['type']} and transport {named['transport']} disagree")
    if named:
        return next(iter(named.values()))
    if url is None:
        return "stdio"
    if url.startswith(("ws://", "wss://")):
        raise _Wrong(
            f".{url_key}: a websocket server is not spoken here (chatthy speaks "
            "stdio, streamable HTTP and SSE)"
        )
    path = url.split("?", 1)[0].rstrip("/")
    return "sse" if url_key != "httpUrl" and path.endswith("/sse") else "http"


def _bearer(auth: Any, headers: dict[str, str]) -> list[str]:
    """oterm's ``auth: {"type": "bearer", "token": …}`` as an ``Authorization`` header
    (added to ``headers``); any other kind is a note."""
    if (
        isinstance(auth, dict)
        and str(auth.get("type", "")).lower() == "bearer"
        and isinstance(auth.get("token"), str)
    ):
        if any(key.lower() == "authorization" for key in headers):
            return [".auth ignored: headers has an Authorization already"]
        headers["Authorization"] = f"Bearer {auth['token']}"
        return []
    return [".auth ignored: only a bearer token is read (else set headers by hand)"]


def _timeout(value: Any) -> tuple[float, str]:
    """Seconds from a ``timeout`` that is seconds in some clients (Cline, Roo: 30 to
    3600) and milliseconds in others (Claude Code, Gemini: 1000 and up)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise _Wrong(".timeout: not a positive number")
    if value >= 1000:
        seconds = value / 1000
        return seconds, f".timeout {value} read as milliseconds ({seconds:g} s)"
    return float(value), f".timeout {value} read as seconds"


def _texts(table: dict[str, Any]) -> list[str]:
    """Every string of a table, values of its lists and sub-tables included."""
    found: list[str] = []
    for value in table.values():
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, list):
            found += [item for item in value if isinstance(item, str)]
        elif isinstance(value, dict):
            found += [item for item in value.values() if isinstance(item, str)]
    return found


def add_servers(text: str, entries: list[Entry], *, replace: bool) -> str:
    """server.toml's ``text`` with ``entries`` appended as ``[mcp_servers.NAME]`` tables;
    with ``replace``, the tables of those names already there cut out first. Every other
    byte is kept (no comment of its own is added either: one would be left behind, out of
    place, when its tables are replaced).

    Raises:
        ImportProblem: ``text`` is not TOML, names some of the entries already (and not
            ``replace``), or holds one of them in a form that cannot be cut out
            safely, or the result would not read as intended.
    """
    try:
        before = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ImportProblem([f"not TOML: {exc}"]) from None
    present = before.get("mcp_servers", {})
    if not isinstance(present, dict):
        raise ImportProblem(["mcp_servers is not a table of servers"])
    taken = [entry.name for entry in entries if entry.name in present]
    if taken and not replace:
        raise ImportProblem([f"already has {', '.join(taken)}: --replace replaces {_them(taken)}"])
    if taken:
        text = _cut(text, taken, before)
    newline = "\r\n" if "\r\n" in text else "\n"
    if text and not text.endswith("\n"):
        text += newline
    if text and not text.endswith(("\n\n", "\r\n\r\n")):
        text += newline
    tables = [tomli_w.dumps({"mcp_servers": {entry.name: entry.table}}) for entry in entries]
    text += "\n".join(tables).replace("\n", newline)
    expected = copy.deepcopy(before)
    servers = expected.setdefault("mcp_servers", {})
    for entry in entries:
        servers[entry.name] = entry.table
    try:
        after = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        after = {"": str(exc)}
    if after != expected:  # mcp_servers written as one inline table, or dotted keys
        raise ImportProblem(
            [
                "cannot append [mcp_servers.NAME] tables to the mcp_servers written there "
                "(not as tables of their own): edit it by hand"
            ]
        )
    return text


def _cut(text: str, names: list[str], before: dict[str, Any]) -> str:
    """:func:`_cut_tables`, checked: the result must read as ``before`` without those
    servers and nothing else changed.

    Raises:
        ImportProblem: it does not (a server written inline, or in dotted keys).
    """
    cut = _cut_tables(text, names)
    expected = copy.deepcopy(before)
    for name in names:
        del expected["mcp_servers"][name]
    try:
        after = tomllib.loads(cut)
    except tomllib.TOMLDecodeError:
        after = None
    if after != expected and (expected["mcp_servers"] or after != _without_servers(expected)):
        raise ImportProblem(
            [
                f"cannot cut {', '.join(names)} out safely (not written as [mcp_servers.NAME] "
                "tables of their own): edit it by hand, or import under another name"
            ]
        )
    return cut


def _without_servers(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` without its ``mcp_servers``, as TOML reads a file whose last
    ``[mcp_servers.NAME]`` was cut and that has no ``[mcp_servers]`` header."""
    return {key: value for key, value in config.items() if key != "mcp_servers"}


def _them(names: list[str]) -> str:
    return "it" if len(names) == 1 else "them"


_ANY_HEADER = re.compile(r"[ \t]*\[")
_COMMENT = re.compile(r"[ \t]*#")


def _cut_tables(text: str, names: list[str]) -> str:
    """``text`` without the ``[mcp_servers.NAME]`` tables of ``names``, nor their
    sub-tables (``[mcp_servers.NAME.env]``), wherever they are. A table runs from its
    header to the next one; the comments just before that next header are its, not the
    table's, and stay. Whether that cut exactly those tables, :func:`add_servers` checks
    by reading the result."""
    table = r"(?:mcp_servers|\"mcp_servers\"|'mcp_servers')"
    keys = "|".join(alt for name in names for alt in (re.escape(name), f'"{name}"', f"'{name}'"))
    own = re.compile(
        rf"[ \t]*\[[ \t]*{table}[ \t]*\.[ \t]*(?:{keys})[ \t]*(?:\.[^\]\r\n]*)?\][ \t]*(?:#.*)?$"
    )
    lines = text.splitlines(keepends=True)
    keep = [True] * len(lines)
    at = 0
    while at < len(lines):
        if not own.match(lines[at].rstrip("\r\n")):
            at += 1
            continue
        end = at + 1
        while end < len(lines) and not _ANY_HEADER.match(lines[end]):
            end += 1
        last = at
        for i in range(at + 1, end):
            if lines[i].strip() and not _COMMENT.match(lines[i]):
                last = i
        lead_in = next((i for i in range(last + 1, end) if _COMMENT.match(lines[i])), end)
        for i in range(at, lead_in):
            keep[i] = False
        at = end
    return "".join(line for line, kept in zip(lines, keep, strict=True) if kept)


def import_command(file: str, config: Path | None, *, replace: bool = False) -> int:
    """``chatthy mcp import FILE [--config server.toml] [--replace]``: add FILE's
    ``mcpServers`` (``-``: stdin) to server.toml — ``config``, else the config dir's,
    made from the commented default if there is none. Says what was added, or in one
    line per problem why nothing was; returns the exit code (0 added, 1 nothing written).
    """
    source = "stdin" if file == "-" else file
    try:
        text = _read_json(file, source)
        reading = read_mcp_servers(text, source)
        path = (config or config_dir() / "server.toml").resolve()
        if config is not None and not path.exists():
            raise ImportProblem([f"no config file at {config}"])
        old = _read_toml_bytes(path)
        if old is not None:
            load_server_config(path)  # what is there already must load, or nothing is
        current = SERVER_TOML if old is None else old.decode("utf-8")
        try:
            updated = add_servers(current, reading.entries, replace=replace)
        except ImportProblem as exc:
            raise ImportProblem([f"{path}: {line}" for line in exc.lines]) from None
        _write(path, updated, old)
    except ImportProblem as exc:
        for line in exc.lines:
            print(f"chatthy: {line}", file=sys.stderr)
        return 1
    except ConfigError as exc:
        print(f"chatthy: {exc.message}", file=sys.stderr)
        return 1
    for note in reading.notes:
        print(f"chatthy: note: {note}", file=sys.stderr)
    before = tomllib.loads(current).get("mcp_servers", {})
    for entry in reading.entries:
        verb = "replaced" if entry.name in before else "added"
        print(f"{verb} {entry.name} ({entry.summary()})")
    if any(_literal_secrets(entry) for entry in reading.entries):
        print(
            "chatthy: note: env and headers are written as given; ${VAR} there takes the "
            "value from the chat server's environment instead",
            file=sys.stderr,
        )
    if warning := secret_warning(path, "MCP servers' env and headers"):
        print(f"chatthy: {warning}", file=sys.stderr)
    print(f"restart chatthy serve to use them ({path})")
    return 0


def _literal_secrets(entry: Entry) -> bool:
    """Whether the entry's env or headers hold a value other than ``${VAR}``s."""
    values = [*entry.table.get("env", {}).values(), *entry.table.get("headers", {}).values()]
    return any(_ANY_VAR.sub("", value).strip() for value in values)


def _read_json(file: str, source: str) -> str:
    try:
        raw = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except FileNotFoundError:
        raise ImportProblem([f"{source}: no such file"]) from None
    except OSError as exc:
        raise ImportProblem([f"{source}: {exc.strerror or exc}"]) from None
    try:
        return raw.decode("utf-8-sig")  # Notepad's byte-order mark, if any
    except UnicodeDecodeError as exc:
        raise ImportProblem([f"{source}: not UTF-8 text (byte {exc.start})"]) from None


def _read_toml_bytes(path: Path) -> bytes | None:
    """server.toml's bytes, or None when there is none yet."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ImportProblem([f"{path}: {exc.strerror or exc}"]) from None


def _write(path: Path, text: str, old: bytes | None) -> None:
    """Put ``text`` in ``path``'s place whole or not at all: a temporary file in the
    same folder (0600, or the mode the file had), loaded as a server.toml first, then
    renamed over it, unless ``path`` changed since it was read as ``old``.

    Raises:
        ImportProblem: the result does not load, the file changed meanwhile, or it
            cannot be written.
    """
    try:
        private_dir(path.parent)
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".toml", dir=path.parent)
    except OSError as exc:
        raise ImportProblem([f"cannot write {path}: {exc.strerror or exc}"]) from None
    partial = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        if old is not None:
            os.chmod(partial, stat.S_IMODE(path.stat().st_mode))
        try:
            load_server_config(partial)
        except ConfigError as exc:
            said = exc.message.replace(str(partial), str(path))
            raise ImportProblem(
                [f"the result would not load, so nothing was written: {said}"]
            ) from None
        if _read_toml_bytes(path) != old:
            raise ImportProblem([f"{path} changed while importing: nothing written, try again"])
        os.replace(partial, path)
    except OSError as exc:
        raise ImportProblem([f"cannot write {path}: {exc.strerror or exc}"]) from None
    finally:
        with contextlib.suppress(OSError):
            partial.unlink()
