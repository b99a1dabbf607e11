"""Files and folders that hold secrets: made 0600 and 0700, and a warning for open ones.

Every chat is in the database, API keys may be in server.toml, a passphrase in
client.toml, the server's secret key in the data dir. What chatthy creates there is
readable by its owner only; what the user made is left as it is, but a config file that
holds a secret and that others can read is named in a one-line warning at start.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["FILE_MODE", "FOLDER_MODE", "open_to_others", "private_dir", "private_file"]

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def private_dir(path: Path) -> Path:
    """Make ``path`` a folder if it is none: its missing parents as ``mkdir -p`` would,
    itself 0700. A folder that exists keeps its mode. Returns ``path``.

    Raises:
        OSError: it cannot be made.
    """
    if path.is_dir():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=FOLDER_MODE)
    except FileExistsError:
        if not path.is_dir():
            raise
        return path  # made by another process meanwhile: theirs, as it is
    os.chmod(path, FOLDER_MODE)  # exactly 0700, whatever the umask
    return path


def private_file(path: Path) -> bool:
    """Make ``path`` an empty 0600 file (and its folder, 0700) if there is none, so that
    whatever writes it next (SQLite, with its -wal and -shm after it) keeps that mode.
    Returns True when it was made here.

    Raises:
        OSError: it cannot be made.
    """
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return False
    os.fchmod(fd, FILE_MODE)
    os.close(fd)
    return True


def open_to_others(path: Path) -> str | None:
    """``path``'s mode as ``0644`` when anyone but its owner may read or write it; None
    when only the owner can (or it cannot be read: there is nothing to warn about)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    return f"{mode:04o}" if mode & 0o077 else None
