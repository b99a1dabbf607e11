"""The workspace part of :class:`~chatthy.store.sqlite.SQLiteStore`, kept apart so that
neither module grows past a readable size.

Persistence only: names arrive checked and stripped by
:class:`~chatthy.store.front.StoreFront`. Every query names the profile: a file of
another profile is "not found", never visible.
"""

from __future__ import annotations

import sqlite3
import time
from typing import TypeVar

from chatthy.store import rules
from chatthy.store._sqlite_threads import Work
from chatthy.store.base import WorkspaceFileRecord
from chatthy.store.rows import WORKSPACE_COLUMNS, workspace_record

__all__ = ["WorkspaceMixin"]

T = TypeVar("T")


def _file(conn: sqlite3.Connection, profile: str, name: str) -> WorkspaceFileRecord:
    row = conn.execute(
        f"SELECT {WORKSPACE_COLUMNS} FROM workspace_files WHERE profile = ? AND name = ?",
        (profile, name),
    ).fetchone()
    if row is None:
        raise rules.no_workspace_file(name)
    return workspace_record(row)


class WorkspaceMixin:
    """Workspace files on the store's connection; the store provides the transactions."""

    async def _write(self, work: Work[T], *, frees: bool = False) -> T:
        raise NotImplementedError

    async def _read(self, work: Work[T]) -> T:
        raise NotImplementedError

    async def list_workspace(self, profile: str) -> list[WorkspaceFileRecord]:
        """The profile's workspace files, benched ones included, by name."""
        return await self._read(
            lambda conn: [
                workspace_record(row)
                for row in conn.execute(
                    f"SELECT {WORKSPACE_COLUMNS} FROM workspace_files"
                    " WHERE profile = ? ORDER BY name",
                    (profile,),
                )
            ]
        )

    async def _get_workspace_file(self, profile: str, name: str) -> WorkspaceFileRecord:
        return await self._read(lambda conn: _file(conn, profile, name))

    async def _put_workspace_file(
        self, profile: str, name: str, text: str, source: str
    ) -> WorkspaceFileRecord:
        now = time.time()

        def work(conn: sqlite3.Connection) -> WorkspaceFileRecord:
            conn.execute(
                "INSERT INTO workspace_files (profile, name, text, source, created, updated)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (profile, name) DO UPDATE"
                " SET text = excluded.text, source = excluded.source,"
                " updated = excluded.updated",
                (profile, name, text, source, now, now),
            )
            return _file(conn, profile, name)

        return await self._write(work)

    async def _rename_workspace_file(
        self, profile: str, name: str, new_name: str
    ) -> WorkspaceFileRecord:
        def work(conn: sqlite3.Connection) -> WorkspaceFileRecord:
            _file(conn, profile, name)
            if new_name != name:
                taken = conn.execute(
                    "SELECT 1 FROM workspace_files WHERE profile = ? AND name = ?",
                    (profile, new_name),
                ).fetchone()
                if taken is not None:
                    raise rules.workspace_file_taken(new_name)
                conn.execute(
                    "UPDATE workspace_files SET name = ? WHERE profile = ? AND name = ?",
                    (new_name, profile, name),
                )
            return _file(conn, profile, new_name)

        return await self._write(work)

    async def _set_workspace_benched(
        self, profile: str, name: str, benched: bool
    ) -> WorkspaceFileRecord:
        def work(conn: sqlite3.Connection) -> WorkspaceFileRecord:
            conn.execute(
                "UPDATE workspace_files SET benched = ? WHERE profile = ? AND name = ?",
                (int(benched), profile, name),
            )
            return _file(conn, profile, name)

        return await self._write(work)

    async def _delete_workspace_file(self, profile: str, name: str) -> None:
        def work(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "DELETE FROM workspace_files WHERE profile = ? AND name = ?", (profile, name)
            )
            if cur.rowcount == 0:
                raise rules.no_workspace_file(name)

        await self._write(work, frees=True)
