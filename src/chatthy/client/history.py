"""What the user typed, kept across runs: one file per profile in the data dir, shared by
the line client and the full-screen one.

The file is prompt_toolkit's history format (an entry is a ``# time`` line, then its lines
each after a ``+``), so the line client hands it to prompt_toolkit as it is and the TUI
reads and appends the same entries.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path

from chatthy.config import data_dir
from chatthy.private import private_dir, private_file

__all__ = ["MAX_ENTRIES", "append_entry", "history_path", "read_entries"]

MAX_ENTRIES = 5000
"""The newest entries read back (the file keeps them all)."""

_SAFE = re.compile(r"[^A-Za-z0-9_.@-]")


def history_path(profile: str, directory: Path | None = None) -> Path:
    """The history file of ``profile`` (its folder made, private, if missing)."""
    folder = private_dir((directory or data_dir()) / "history")
    return folder / f"{_SAFE.sub('_', profile) or '_'}.txt"


def read_entries(path: Path) -> list[str]:
    """The entries of a history file, oldest first (none if it cannot be read)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    entries: list[str] = []
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("+"):
            lines.append(line[1:])
        elif lines:
            entries.append("\n".join(lines))
            lines = []
    if lines:
        entries.append("\n".join(lines))
    return entries[-MAX_ENTRIES:]


def append_entry(path: Path, entry: str) -> None:
    """Add an entry (a failure to write is not the user's problem: it is dropped)."""
    new = not path.exists()
    try:
        with path.open("a", encoding="utf-8") as out:
            out.write(f"\n# {datetime.datetime.now()}\n")
            for line in entry.split("\n"):
                out.write(f"+{line}\n")
    except OSError:
        return
    if new:
        private_file(path)
