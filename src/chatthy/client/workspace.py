"""The client side of the context workspace: reading local files and folders, and the
``chatthy ws`` commands.

Files are read here, on the client; the server only ever receives names and text. A
file is stored under its base name (``notes.txt``); a folder's files under the folder's
name and their path inside it (``docs/sub/colour.md``). Binary files and files too large
to send are skipped with a one-line notice each; files a ``.gitignore`` inside the folder
ignores are left out, as git would.
"""

from __future__ import annotations

import glob
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, TypeVar

import msgspec
import pathspec

from chatthy.client.commands import connect
from chatthy.client.core import Client
from chatthy.client.settings import Settings
from chatthy.client.sources import SOURCE_COMMANDS
from chatthy.errors import ArgumentError
from chatthy.wire import api
from chatthy.workspace.pdf import UnreadablePdf, is_pdf, pdf_text

__all__ = [
    "READ_LIMIT",
    "Gathered",
    "LocalFile",
    "add_paths",
    "add_source",
    "add_text",
    "added_line",
    "expand",
    "fetched_line",
    "format_sources",
    "format_workspace",
    "gather",
    "send_files",
    "source_request",
    "typed_source_request",
    "ws_call",
]

R = TypeVar("R")

READ_LIMIT = 4 * 1024 * 1024
"""Files larger than this are not read (a server's message limit is 4 MiB by default);
smaller ones are sent and the server's own limit (``max_workspace_file``) decides."""
PDF_READ_LIMIT = 64 * 1024 * 1024
"""PDFs up to this size are read: what is sent is their text, far smaller."""
_SNIFF = 8192
_ALWAYS_SKIPPED = frozenset({".git", ".hg", ".svn"})


@dataclass(frozen=True, slots=True)
class LocalFile:
    """A file read from the client's disk, named as it will be stored."""

    name: str
    text: str
    source: str


@dataclass(slots=True)
class Gathered:
    """What :func:`gather` read, and a one-line notice for each file it skipped."""

    files: list[LocalFile] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


class _Ignores:
    """The ``.gitignore`` files of a folder and of its subfolders, as git reads them:
    every pattern kind, negations (``!``) included, with a deeper file's rules deciding
    over a shallower one's. A folder that is ignored is not entered, so a file in it
    cannot be re-included (git behaves the same)."""

    def __init__(self) -> None:
        self.specs: dict[PurePosixPath, pathspec.GitIgnoreSpec] = {}

    def read(self, folder: Path, here: PurePosixPath) -> None:
        """Take in ``folder``'s own ``.gitignore``, if it has one; ``here`` is its path
        from the top folder."""
        try:
            lines = (folder / ".gitignore").read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return
        self.specs[here] = pathspec.GitIgnoreSpec.from_lines(lines)

    def ignores(self, relative: PurePosixPath, is_dir: bool) -> bool:
        ignored = False
        for base in reversed([*relative.parents]):
            spec = self.specs.get(base)
            if spec is None:
                continue
            subject = relative.relative_to(base).as_posix() + ("/" if is_dir else "")
            decision = spec.check_file(subject).include
            if decision is not None:
                ignored = decision
        return ignored


def _read(path: Path, shown: str) -> tuple[str | None, str]:
    """The UTF-8 text of a file (of a PDF, the text of its pages), or None and why it is
    skipped."""
    try:
        stat = path.stat()
        limit = PDF_READ_LIMIT if path.suffix.lower() == ".pdf" else READ_LIMIT
        if stat.st_size > limit:
            size = stat.st_size / 1024**2
            return None, f"skipped {shown}: {size:.1f} MiB is too large to send"
        data = path.read_bytes()
    except OSError as exc:
        return None, f"skipped {shown}: {exc.strerror or exc}"
    if is_pdf(data):
        try:
            return _pdf_text(str(path), stat.st_mtime_ns, stat.st_size, data), ""
        except UnreadablePdf as exc:
            return None, f"skipped {shown}: {exc}"
    if len(data) > READ_LIMIT:
        return None, f"skipped {shown}: {len(data) / 1024**2:.1f} MiB is too large to send"
    if b"\0" in data[:_SNIFF]:
        return None, f"skipped {shown}: binary file"
    try:
        return data.decode("utf-8"), ""
    except UnicodeDecodeError:
        return None, f"skipped {shown}: binary file (not UTF-8 text)"


_PDF_TEXTS: dict[tuple[str, int, int], str] = {}
"""The text of the last PDFs read, by path, modification time and size: an attached PDF
is read again every turn, and taking its text out costs far more than reading it."""
_PDF_TEXTS_KEPT = 16
_PDF_TEXTS_LOCK = threading.Lock()


def _pdf_text(path: str, mtime_ns: int, size: int, data: bytes) -> str:
    """:func:`pdf_text` of ``data``, the file ``path`` as it is at ``mtime_ns`` and
    ``size``, taken from the last ones read if it has not changed since.

    Raises:
        UnreadablePdf: as :func:`pdf_text`.
    """
    key = (path, mtime_ns, size)
    with _PDF_TEXTS_LOCK:
        text = _PDF_TEXTS.get(key)
    if text is None:
        text = pdf_text(data)
        with _PDF_TEXTS_LOCK:  # worker threads read attached files at the same time
            _PDF_TEXTS[key] = text
            while len(_PDF_TEXTS) > _PDF_TEXTS_KEPT:
                del _PDF_TEXTS[next(iter(_PDF_TEXTS))]
    return text


def _folder_files(folder: Path) -> Iterator[tuple[Path, PurePosixPath]]:
    """Every file under ``folder`` not ignored, in name order, with its relative path."""
    ignore = _Ignores()
    for root, dirs, files in os.walk(folder):
        here = PurePosixPath(Path(root).relative_to(folder).as_posix())
        ignore.read(Path(root), here)
        dirs[:] = sorted(
            d for d in dirs if d not in _ALWAYS_SKIPPED and not ignore.ignores(here / d, True)
        )
        for name in sorted(files):
            relative = here / name
            if not ignore.ignores(relative, False):
                yield Path(root) / name, relative


def expand(paths: list[Path]) -> list[tuple[Path, Path | None]]:
    """``paths`` with the glob patterns among them (``*.py``, ``docs/**/*.md``) expanded
    here on the client, for where no shell did it (the TUI, quoted arguments), each with
    the pattern's folder (the part before its first wildcard; None for a path given as
    it is). A path that exists is taken as it is, even with ``*`` in its name.

    Raises:
        ArgumentError: a path does not exist, or a pattern matches nothing.
    """
    out: list[tuple[Path, Path | None]] = []
    for path in paths:
        if path.exists():
            out.append((path, None))
        elif glob.has_magic(str(path)):
            matches = sorted(glob.glob(str(path), recursive=True))
            if not matches:
                raise ArgumentError(f"nothing matches {path}")
            root = _pattern_root(path)
            out.extend((Path(m), root) for m in matches)
        else:
            raise ArgumentError(f"no such file or folder: {path}")
    return out


def _pattern_root(pattern: Path) -> Path:
    """The folder a glob pattern searches: its parts before the first wildcard."""
    literal = []
    for part in pattern.parts:
        if glob.has_magic(part):
            break
        literal.append(part)
    return Path(*literal) if literal else Path(".")


def gather(paths: list[Path]) -> Gathered:
    """Read ``paths`` (files, folders or glob patterns) as workspace files: a file under
    its base name, a folder's files under the folder's name and their path in it, and a
    pattern's files as a folder add of the pattern's folder names them
    (``docs/**/*.md``: ``docs/sub/colour.md``; ``*.py``: ``a.py``).

    Raises:
        ArgumentError: a path does not exist, or a pattern matches nothing.
    """
    found = Gathered()
    named: set[str] = set()
    for path, root in expand(paths):
        for file, name in _named_files(path, root):
            if root is None or name not in named:  # a pattern may match a folder and its files
                named.add(name)
                _add(found, file, name)
    return found


def _named_files(path: Path, root: Path | None) -> Iterator[tuple[Path, str]]:
    """The files of one path (a folder's, not ignored) with the names they are stored
    under."""
    if root is not None:
        base = root.resolve().name
        prefix = f"{base}/" if base and root != Path(".") else ""
        files = _folder_files(path) if path.is_dir() else [(path, PurePosixPath(path.name))]
        top = Path(os.path.abspath(root))
        for file, _ in files:
            yield file, prefix + Path(os.path.abspath(file)).relative_to(top).as_posix()
    elif path.is_dir():
        base = path.resolve().name
        for file, relative in _folder_files(path):
            yield file, f"{base}/{relative.as_posix()}"
    else:
        yield path, path.name


def _add(found: Gathered, path: Path, name: str) -> None:
    text, why = _read(path, str(path))
    if text is None:
        found.notices.append(why)
    else:
        found.files.append(LocalFile(name, text, str(path.resolve())))


async def send_files(client: Client, found: Gathered) -> list[api.WorkspaceFile]:
    """Add the files of ``found`` to the workspace; each one the server refuses (too
    large, a bad name) becomes a notice in ``found`` instead.

    Raises:
        ChatthyError: the server cannot be reached.
    """
    added: list[api.WorkspaceFile] = []
    for file in found.files:
        try:
            added.append(
                await client.rpc(api.WsAdd(name=file.name, text=file.text, source=file.source))
            )
        except ArgumentError as exc:
            found.notices.append(f"skipped {file.source}: {exc.message}")
    return added


async def add_paths(settings: Settings, paths: list[Path], err: IO[str]) -> list[api.WorkspaceFile]:
    """Read and add ``paths``; print a notice on ``err`` for each file skipped or refused.

    Raises:
        ArgumentError: a path does not exist, or nothing at all could be added.
        ChatthyError: the server cannot be reached.
    """
    found = gather(paths)
    async with connect(settings) as client:
        added = await send_files(client, found)
    for notice in found.notices:
        err.write(notice + "\n")
    if not added:
        raise ArgumentError("nothing added to the workspace")
    return added


async def add_text(settings: Settings, name: str, text: str) -> api.WorkspaceFile:
    """Add ``text`` (typed or piped) as the workspace file ``name``."""
    async with connect(settings) as client:
        return await client.rpc(api.WsAdd(name=name, text=text, source="stdin"))


async def ws_call(settings: Settings, call: api.Call[R]) -> R:
    """One workspace RPC (``ws_list``, ``ws_show``, ``ws_bench`` …)."""
    async with connect(settings) as client:
        return await client.rpc(call)


def format_workspace(files: list[api.WorkspaceFile]) -> str:
    """One line per file: name, tokens, size, benched, when, source."""
    if not files:
        return "the workspace is empty"
    width = max(len(f.name) for f in files)
    lines = []
    for f in files:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(f.updated))
        state = "benched" if f.benched else "active "
        lines.append(
            f"{f.name:<{width}}  {f.tokens:>7,} tok  {f.size:>9,} B  {state}  "
            f"{when}  {f.source}".rstrip()
        )
    total = sum(f.tokens for f in files if not f.benched)
    lines.append(f"{total:,} tokens sent with every turn")
    return "\n".join(lines)


def added_line(info: api.WorkspaceFile) -> str:
    """What ``chatthy ws add`` prints for each file added."""
    return f"added {info.name} ({info.tokens:,} tokens)"


def source_request(
    action: str, words: list[str], name: str | None = None, count: int | None = None
) -> api.Call[api.WorkspaceFile]:
    """The RPC call that fetches the source ``action`` (``url``, ``youtube`` …, or
    ``fetch`` with the source's name first) named by ``words`` into the workspace.

    Raises:
        ArgumentError: the arguments do not fit the RPC (a count it does not take).
    """
    command = SOURCE_COMMANDS[action]
    args: dict[str, Any] = {}
    if command.by_name:
        args["source"], words = words[0], words[1:]
    args[command.arg] = " ".join(words)
    if name:
        args["name"] = name
    if count is not None:
        args["count"] = count
    declared = api.call_class(command.rpc)
    assert declared is not None, command.rpc
    try:
        call: api.Call[api.WorkspaceFile] = msgspec.convert(args, declared)
    except msgspec.ValidationError as exc:
        raise ArgumentError(f"{command.rpc}: {exc}") from None
    return call


def typed_source_request(action: str, words: list[str]) -> api.Call[api.WorkspaceFile]:
    """``/ws SOURCE WHAT… [name=NAME] [count=N]`` as typed in a client, as
    :func:`source_request` gives it.

    Raises:
        ArgumentError: nothing to fetch, or a ``count`` that is not a number or that the
            source does not take.
    """
    command = SOURCE_COMMANDS[action]
    what = f"SOURCE {command.metavar}" if command.by_name else command.metavar
    usage = f"/ws {action} {what}" + (" [count=N]" if command.counted else "")
    options = {k: v for k, _, v in (w.partition("=") for w in words) if k in ("name", "count")}
    rest = [w for w in words if w.partition("=")[0] not in ("name", "count")]
    if len(rest) < (2 if command.by_name else 1):
        raise ArgumentError(f"what to fetch is needed: {usage} [name=NAME]")
    count = options.get("count")
    if count is not None and not (command.counted and count.isdigit()):
        raise ArgumentError(f"count=N is a number, for arxiv and news: {usage}")
    return source_request(action, rest, options.get("name"), int(count) if count else None)


async def add_source(
    settings: Settings,
    action: str,
    words: list[str],
    name: str | None = None,
    count: int | None = None,
) -> api.WorkspaceFile:
    """Have the server fetch a source (``url``, ``youtube`` …) into the workspace."""
    return await ws_call(settings, source_request(action, words, name, count))


def format_sources(sources: list[api.SourceInfo]) -> str:
    """What ``chatthy ws sources`` prints: each source the server offers, with what it
    takes and its help line."""
    rows = [(f"{s.name} {s.metavar}", s.help) for s in sources]
    width = max((len(usage) for usage, _ in rows), default=0)
    return "\n".join(f"{usage:<{width}}  {help_line}" for usage, help_line in rows)


def fetched_line(info: api.WorkspaceFile) -> str:
    """What ``chatthy ws url|youtube|…`` prints for the file added."""
    return f"{added_line(info)} from {info.source}"
