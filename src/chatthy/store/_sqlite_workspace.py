"""The workspace part of :class:`~chatthy.store.sqlite.SQLiteStore`, kept apart so that
neither module grows past a readable size.

Every query names the profile: a file of another profile is "not found", never visible.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from typing import Any

from chatthy.errors import ConflictError, NotFoundError
from chatthy.store._sqlite_support import key, translated, valid_text, valid_workspace_name
from chatthy.store.base import WorkspaceFileRecord

__all__ = ["WorkspaceMixin"]

_COLUMNS = "name, text, source, benched, created, updated"


def _record(row: Any) -> WorkspaceFileRecord:
    name, text, source, benched, created, updated = row
    return WorkspaceFileRecord(name, text, source, bool(benched), created, updated)


def _file(conn: sqlite3.Connection, profile: str, name: str) -> WorkspaceFileRecord:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM workspace_files WHERE profile = ? AND name = ?",
        (profile, key(name)),
    ).fetchone()
    if row is None:
        raise NotFoundError(f"no workspace file named {key(name)!r}")
    return _record(row)


class WorkspaceMixin:
    """Workspace files on the store's connection; the store provides the transactions."""

    def _connection(self) -> sqlite3.Connection:
        raise NotImplementedError

    def _write(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    async def list_workspace(self, profile: str) -> list[WorkspaceFileRecord]:
        """The profile's workspace files, benched ones included, by name."""
        with translated():
            rows = self._connection().execute(
                f"SELECT {_COLUMNS} FROM workspace_files WHERE profile = ? ORDER BY name",
                (profile,),
            )
            return [_record(row) for row in rows]

    async def get_workspace_file(self, profile: str, name: str) -> WorkspaceFileRecord:
        """Raises NotFoundError."""
        with translated():
            return _file(self._connection(), profile, name)

    async def put_workspace_file(
        self, profile: str, name: str, text: str, source: str = ""
    ) -> WorkspaceFileRecord:
        """Create, or replace the text and source of, a file; a replaced file keeps its
        benched flag and creation time. Raises ArgumentError."""
        name = valid_workspace_name(name)
        text = valid_text("workspace text", text)
        source = valid_text("workspace source", source)
        now = time.time()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO workspace_files (profile, name, text, source, created, updated)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (profile, name) DO UPDATE"
                " SET text = excluded.text, source = excluded.source,"
                " updated = excluded.updated",
                (profile, name, text, source, now, now),
            )
            return _file(conn, profile, name)

    async def rename_workspace_file(
        self, profile: str, name: str, new_name: str
    ) -> WorkspaceFileRecord:
        """Raises NotFoundError, ConflictError if ``new_name`` is taken, ArgumentError."""
        new_name = valid_workspace_name(new_name)
        with self._write() as conn:
            _file(conn, profile, name)
            if new_name != key(name):
                taken = conn.execute(
                    "SELECT 1 FROM workspace_files WHERE profile = ? AND name = ?",
                    (profile, new_name),
                ).fetchone()
                if taken is not None:
                    raise ConflictError(f"a workspace file named {new_name!r} already exists")
                conn.execute(
                    "UPDATE workspace_files SET name = ? WHERE profile = ? AND name = ?",
                    (new_name, profile, key(name)),
                )
            return _file(conn, profile, new_name)

    async def set_workspace_benched(
        self, profile: str, name: str, benched: bool
    ) -> WorkspaceFileRecord:
        """Bench (keep, do not send) or restore a file. Raises NotFoundError."""
        with self._write() as conn:
            conn.execute(
                "UPDATE workspace_files SET benched = ? WHERE profile = ? AND name = ?",
                (int(bool(benched)), profile, key(name)),
            )
            return _file(conn, profile, name)

    async def delete_workspace_file(self, profile: str, name: str) -> None:
        """Raises NotFoundError."""
        with self._write() as conn:
            cur = conn.execute(
                "DELETE FROM workspace_files WHERE profile = ? AND name = ?",
                (profile, key(name)),
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"no workspace file named {key(name)!r}")
