"""Personalities as files: ``chatthy prompts export [DIR]`` writes each as ``NAME.md``,
``chatthy prompts import FILE|DIR…`` reads them back, the name from the file's.

The files are plain text, as the server's own ``prompts/*.md`` are, so a folder exported
here can also be given to a server as its defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from chatthy.client.commands import connect
from chatthy.client.settings import Settings
from chatthy.errors import ArgumentError, ChatthyError
from chatthy.wire import api

__all__ = ["PromptFile", "export_prompts", "file_name", "import_prompts", "read_prompt_files"]


@dataclass(frozen=True, slots=True)
class PromptFile:
    """A personality read from a file: its name (the file's, without ``.md``) and text."""

    name: str
    text: str
    path: Path


@dataclass(slots=True)
class _Read:
    files: list[PromptFile] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


def file_name(name: str) -> str | None:
    """``NAME.md`` for a personality, or None when the name cannot be one file's name
    (a ``/``, a backslash, a leading dot)."""
    if "/" in name or "\\" in name or name.startswith(".") or "\0" in name:
        return None
    return f"{name}.md"


async def export_prompts(
    settings: Settings, folder: Path, out: IO[str], err: IO[str], *, mine: bool = False
) -> int:
    """Write every personality the profile can use (``mine``: only its own) into
    ``folder`` as ``NAME.md``, replacing files of those names; say each on ``out``, and
    each left out on ``err``. Returns the exit status (1 if none was written).

    Raises:
        ChatthyError: the server cannot be reached, or ``folder`` cannot be made.
    """
    async with connect(settings) as client:
        prompts = await client.rpc(api.Prompts())
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ChatthyError(f"cannot make {folder}: {exc.strerror or exc}") from None
    written = 0
    for prompt in prompts:
        if mine and prompt.source != "profile":
            continue
        name = file_name(prompt.name)
        if name is None:
            err.write(f"left out '{prompt.name}': not a name a file can have\n")
            continue
        path = folder / name
        try:
            path.write_text(prompt.text.rstrip("\n") + "\n", encoding="utf-8")
        except OSError as exc:
            err.write(f"left out '{prompt.name}': cannot write {path}: {exc.strerror or exc}\n")
            continue
        whose = "yours" if prompt.source == "profile" else "the server's"
        out.write(f"wrote {path} ({whose})\n")
        written += 1
    if not written:
        err.write("chatthy: no personality written\n")
    return 0 if written else 1


def read_prompt_files(paths: list[Path]) -> tuple[list[PromptFile], list[str]]:
    """The personalities in ``paths``: a file as it is, a folder's ``*.md`` files; and a
    one-line notice for each path or file left out (missing, not UTF-8, empty)."""
    found = _Read()
    for path in paths:
        if path.is_dir():
            files = sorted(path.glob("*.md"))
            if not files:
                found.notices.append(f"skipped {path}: no .md files in it")
            for file in files:
                _read_one(found, file)
        elif path.exists():
            _read_one(found, path)
        else:
            found.notices.append(f"skipped {path}: no such file or folder")
    return found.files, found.notices


def _read_one(found: _Read, path: Path) -> None:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except UnicodeDecodeError as exc:
        found.notices.append(f"skipped {path}: not UTF-8 text (byte {exc.start})")
        return
    except OSError as exc:
        found.notices.append(f"skipped {path}: {exc.strerror or exc}")
        return
    if not text:
        found.notices.append(f"skipped {path}: empty")
        return
    found.files.append(PromptFile(path.stem, text, path))


async def import_prompts(settings: Settings, paths: list[Path], out: IO[str], err: IO[str]) -> int:
    """Make each personality of ``paths`` one of the profile's own (replacing one of the
    same name); say each on ``out``, each file left out or refused on ``err``. Returns
    the exit status (1 if any was left out or refused, or none imported).

    Raises:
        ChatthyError: the server cannot be reached.
    """
    files, notices = read_prompt_files(paths)
    imported = 0
    if files:
        async with connect(settings) as client:
            for prompt in files:
                try:
                    await client.rpc(api.PromptSet(name=prompt.name, text=prompt.text))
                except ArgumentError as exc:  # a bad name, too large
                    notices.append(f"skipped {prompt.path}: {exc.message}")
                    continue
                out.write(f"imported '{prompt.name}' from {prompt.path}\n")
                imported += 1
    for notice in notices:
        err.write(notice + "\n")
    if not imported:
        err.write("chatthy: no personality imported\n")
    return 0 if imported and not notices else 1
