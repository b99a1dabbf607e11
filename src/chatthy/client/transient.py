"""The transient workspace: local files and folders attached to this session only.

Attached paths are read again from this machine's disk for every turn, so edits made
between turns are seen, and sent with the turn's request (``transient``); the server puts
them in the context after the stored workspace files and never stores them. Nothing is
kept once the client exits. Folders are read like ``chatthy ws add`` reads them
(``.gitignore`` honoured, binary files skipped); a path that has vanished is skipped with
a one-line notice.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from chatthy.errors import ArgumentError, NotFoundError

if TYPE_CHECKING:
    from chatthy.client.workspace import Gathered

__all__ = ["TransientWorkspace", "attached_line", "format_attached"]


def _expanded(path: Path | str) -> Path:
    try:
        return Path(path).expanduser()
    except RuntimeError:
        raise ArgumentError(f"{path}: no such user's home folder") from None


def _gather(path: Path) -> Gathered | None:
    """What ``path`` reads as now, or None if it is gone. ``gather`` is imported on first
    use: its module imports the one-shot commands, which import the client core, which
    holds a transient workspace."""
    from chatthy.client.workspace import gather

    try:
        return gather([path])
    except ArgumentError:
        return None


class TransientWorkspace:
    """The paths attached in this session, read afresh on every :meth:`payload`."""

    def __init__(self) -> None:
        self._paths: list[Path] = []
        self._told: set[str] = set()

    @property
    def paths(self) -> list[Path]:
        """The attached paths (absolute), in the order they were attached."""
        return list(self._paths)

    def attach(self, path: Path | str) -> Gathered:
        """Attach a file or folder (again is harmless); return what it reads as now, with
        a notice for each file skipped.

        Raises:
            ArgumentError: there is no such file or folder.
        """
        resolved = _expanded(path).resolve()
        found = _gather(resolved)
        if found is None:
            raise ArgumentError(f"no such file or folder: {path}")
        if resolved not in self._paths:
            self._paths.append(resolved)
        self._told.update(found.notices)
        return found

    def detach(self, path: Path | str | None = None) -> list[Path]:
        """Detach ``path``, or everything without one; return the paths detached.

        Raises:
            NotFoundError: ``path`` is not attached.
        """
        if path is None:
            detached, self._paths = self._paths, []
            return detached
        resolved = _expanded(path).resolve()
        if resolved not in self._paths:
            attached = ", ".join(map(str, self._paths)) or "nothing"
            raise NotFoundError(f"{path} is not attached (attached: {attached})")
        self._paths.remove(resolved)
        return [resolved]

    def read(self) -> Gathered:
        """Every attached path as it is on disk now; a vanished one is a notice."""
        from chatthy.client.workspace import Gathered

        found = Gathered()
        for path in self._paths:
            part = _gather(path)
            if part is None:
                found.notices.append(f"{path} is gone: not sent (/ws detach {path})")
                continue
            found.files += part.files
            found.notices += part.notices
        return found

    def tokens(self) -> int:
        """The tokens the attached files hold now, counted as the server counts a
        workspace file's (for the title's workspace figure between turns)."""
        from chatthy.context.tokens import count_tokens

        return sum(count_tokens(f.text) for f in self.read().files) if self._paths else 0

    def payload(self) -> tuple[list[dict[str, str]], list[str]]:
        """The files as a request's ``transient`` list, and the notices not given before
        (a file skipped turn after turn is told once; again if it comes back and goes)."""
        found = self.read()
        fresh = [notice for notice in found.notices if notice not in self._told]
        self._told = set(found.notices)
        files = [{"name": f.name, "text": f.text, "source": f.source} for f in found.files]
        return files, fresh


def attached_line(path: Path | str, found: Gathered) -> str:
    """What attaching ``path`` says it read."""
    size = sum(len(f.text.encode("utf-8")) for f in found.files)
    count = len(found.files)
    return (
        f"attached {path}: {count} file{'s' if count != 1 else ''}, {size:,} bytes, "
        "read again for every turn"
    )


def format_attached(workspace: TransientWorkspace) -> str:
    """One line per attached path: how many files it holds now, or that it is gone."""
    if not workspace.paths:
        return "nothing attached"
    lines = []
    for path in workspace.paths:
        found = _gather(path)
        if found is None:
            lines.append(f"{path}  (gone)")
            continue
        size = sum(len(f.text.encode("utf-8")) for f in found.files)
        lines.append(f"{path}  {len(found.files)} file(s), {size:,} bytes")
    return "\n".join(lines)
