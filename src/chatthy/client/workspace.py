"""The client side of the context workspace: reading local files and folders, and the
``chatthy ws`` commands.

Files are read here, on the client; the server only ever receives names and text. A
file is stored under its base name (``notes.txt``); a folder's files under the folder's
name and their path inside it (``docs/sub/colour.md``). Binary files, files too large to
send, and files matched by the folder's own ``.gitignore`` (simple patterns) are skipped
with a one-line notice each.
"""

from __future__ import annotations

import fnmatch
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from chatthy.client.commands import connect
from chatthy.client.settings import Settings
from chatthy.errors import ArgumentError

__all__ = [
    "READ_LIMIT",
    "Gathered",
    "LocalFile",
    "add_paths",
    "add_text",
    "added_line",
    "format_workspace",
    "gather",
    "ws_call",
]

READ_LIMIT = 4 * 1024 * 1024
"""Files larger than this are not read (a server's message limit is 4 MiB by default);
smaller ones are sent and the server's own limit (``max_workspace_file``) decides."""
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


class _Ignore:
    """The simple patterns of a ``.gitignore``: globs matched against a base name, or,
    with a ``/`` inside, against the path from the folder; a trailing ``/`` matches
    folders only. Negations (``!``) are not supported and are left out."""

    def __init__(self, lines: list[str]) -> None:
        self.rules: list[tuple[str, bool, bool]] = []
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith(("#", "!")):
                continue
            dir_only = line.endswith("/")
            line = line.rstrip("/")
            anchored = "/" in line
            self.rules.append((line.lstrip("/"), anchored, dir_only))

    @classmethod
    def of(cls, folder: Path) -> _Ignore:
        try:
            lines = (folder / ".gitignore").read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            lines = []
        return cls(lines)

    def ignores(self, relative: PurePosixPath, is_dir: bool) -> bool:
        for pattern, anchored, dir_only in self.rules:
            if dir_only and not is_dir:
                continue
            subject = relative.as_posix() if anchored else relative.name
            if fnmatch.fnmatchcase(subject, pattern):
                return True
        return False


def _read(path: Path, shown: str) -> tuple[str | None, str]:
    """The UTF-8 text of a file, or None and why it is skipped."""
    try:
        size = path.stat().st_size
        if size > READ_LIMIT:
            return None, f"skipped {shown}: {size / 1024**2:.1f} MiB is too large to send"
        data = path.read_bytes()
    except OSError as exc:
        return None, f"skipped {shown}: {exc.strerror or exc}"
    if b"\0" in data[:_SNIFF]:
        return None, f"skipped {shown}: binary file"
    try:
        return data.decode("utf-8"), ""
    except UnicodeDecodeError:
        return None, f"skipped {shown}: binary file (not UTF-8 text)"


def _folder_files(folder: Path) -> Iterator[tuple[Path, PurePosixPath]]:
    """Every file under ``folder`` not ignored, in name order, with its relative path."""
    ignore = _Ignore.of(folder)
    for root, dirs, files in os.walk(folder):
        here = PurePosixPath(Path(root).relative_to(folder).as_posix())
        dirs[:] = sorted(
            d for d in dirs if d not in _ALWAYS_SKIPPED and not ignore.ignores(here / d, True)
        )
        for name in sorted(files):
            relative = here / name
            if not ignore.ignores(relative, False):
                yield Path(root) / name, relative


def gather(paths: list[Path]) -> Gathered:
    """Read ``paths`` (files or folders) as workspace files.

    Raises:
        ArgumentError: a path does not exist.
    """
    found = Gathered()
    for path in paths:
        if path.is_dir():
            base = path.resolve().name
            for file, relative in _folder_files(path):
                _add(found, file, f"{base}/{relative.as_posix()}")
        elif path.exists():
            _add(found, path, path.name)
        else:
            raise ArgumentError(f"no such file or folder: {path}")
    return found


def _add(found: Gathered, path: Path, name: str) -> None:
    text, why = _read(path, str(path))
    if text is None:
        found.notices.append(why)
    else:
        found.files.append(LocalFile(name, text, str(path.resolve())))


async def add_paths(settings: Settings, paths: list[Path], err: IO[str]) -> list[dict[str, Any]]:
    """Read and add ``paths``; print a notice on ``err`` for each file skipped or refused.

    Raises:
        ArgumentError: a path does not exist, or nothing at all could be added.
        ChatthyError: the server cannot be reached.
    """
    found = gather(paths)
    added: list[dict[str, Any]] = []
    async with connect(settings) as client:
        for file in found.files:
            try:
                added.append(
                    await client.call("ws_add", name=file.name, text=file.text, source=file.source)
                )
            except ArgumentError as exc:
                found.notices.append(f"skipped {file.source}: {exc.message}")
    for notice in found.notices:
        err.write(notice + "\n")
    if not added:
        raise ArgumentError("nothing added to the workspace")
    return added


async def add_text(settings: Settings, name: str, text: str) -> dict[str, Any]:
    """Add ``text`` (typed or piped) as the workspace file ``name``."""
    async with connect(settings) as client:
        result: dict[str, Any] = await client.call("ws_add", name=name, text=text, source="stdin")
        return result


async def ws_call(settings: Settings, method: str, **args: Any) -> Any:
    """One workspace RPC (``ws_list``, ``ws_show``, ``ws_bench`` …)."""
    async with connect(settings) as client:
        return await client.call(method, **args)


def format_workspace(files: list[dict[str, Any]]) -> str:
    """One line per file: name, tokens, size, benched, when, source."""
    if not files:
        return "the workspace is empty"
    width = max(len(f["name"]) for f in files)
    lines = []
    for f in files:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(f["updated"]))
        state = "benched" if f["benched"] else "active "
        lines.append(
            f"{f['name']:<{width}}  {f['tokens']:>7,} tok  {f['size']:>9,} B  {state}  "
            f"{when}  {f['source']}".rstrip()
        )
    total = sum(f["tokens"] for f in files if not f["benched"])
    lines.append(f"{total:,} tokens sent with every turn")
    return "\n".join(lines)


def added_line(info: dict[str, Any]) -> str:
    """What ``chatthy ws add`` prints for each file added."""
    return f"added {info['name']} ({info['tokens']:,} tokens)"
