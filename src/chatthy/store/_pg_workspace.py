"""The workspace part of :class:`~chatthy.store.postgres.PostgresStore`: each profile's
context workspace files, as :mod:`chatthy.store._sqlite_workspace` keeps them (table
``workspace_files``, the same columns).

Persistence only: names arrive checked and stripped by
:class:`~chatthy.store.front.StoreFront`. Every query names the profile: a file of
another profile is "not found", never visible. Two servers putting the same name at once
meet in one upsert (the primary key orders them); a rename onto a name another server has
just taken is a conflict, as one this server sees.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from chatthy.errors import ArgumentError
from chatthy.store import rules
from chatthy.store._pg_support import PgBase
from chatthy.store.base import WorkspaceFileRecord
from chatthy.store.rows import WORKSPACE_COLUMNS, workspace_record

if TYPE_CHECKING:
    from psycopg import AsyncConnection

__all__ = ["PgWorkspaceMixin", "storable"]


def storable(what: str, value: str) -> str:
    """``value`` unless it holds a NUL, which PostgreSQL's text cannot (SQLite's can):
    refused in one line before anything is written."""
    if "\x00" in value:
        raise ArgumentError(f"{what} holds a NUL character, which the database cannot store")
    return value


async def _file(conn: AsyncConnection[Any], profile: str, name: str) -> WorkspaceFileRecord:
    cur = await conn.execute(
        f"SELECT {WORKSPACE_COLUMNS} FROM workspace_files WHERE profile = %s AND name = %s",
        (profile, name),
    )
    row = await cur.fetchone()
    if row is None:
        raise rules.no_workspace_file(name)
    return workspace_record(row)


class PgWorkspaceMixin(PgBase):
    """Workspace files on the store's pool; :class:`PgBase` gives the transactions."""

    async def list_workspace(self, profile: str) -> list[WorkspaceFileRecord]:
        """The profile's workspace files, benched ones included, by name."""

        async def work(conn: AsyncConnection[Any]) -> list[WorkspaceFileRecord]:
            cur = await conn.execute(
                f"SELECT {WORKSPACE_COLUMNS} FROM workspace_files WHERE profile = %s ORDER BY name",
                (profile,),
            )
            return [workspace_record(row) for row in await cur.fetchall()]

        return await self._read(work)

    async def _get_workspace_file(self, profile: str, name: str) -> WorkspaceFileRecord:
        return await self._read(lambda conn: _file(conn, profile, name))

    async def _put_workspace_file(
        self, profile: str, name: str, text: str, source: str
    ) -> WorkspaceFileRecord:
        text = storable("workspace text", text)
        source = storable("workspace source", source)
        now = time.time()

        async def work(conn: AsyncConnection[Any]) -> WorkspaceFileRecord:
            cur = await conn.execute(
                "INSERT INTO workspace_files (profile, name, text, source, created, updated)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (profile, name) DO UPDATE"
                " SET text = excluded.text, source = excluded.source,"
                f" updated = excluded.updated RETURNING {WORKSPACE_COLUMNS}",
                (profile, name, text, source, now, now),
            )
            row = await cur.fetchone()
            assert row is not None  # an upsert returns its row
            return workspace_record(row)

        return await self._write(work)

    async def _rename_workspace_file(
        self, profile: str, name: str, new_name: str
    ) -> WorkspaceFileRecord:
        async def work(conn: AsyncConnection[Any]) -> WorkspaceFileRecord:
            found = await _file(conn, profile, name)
            if new_name == name:
                return found
            from psycopg import errors

            try:
                cur = await conn.execute(
                    "UPDATE workspace_files SET name = %s WHERE profile = %s AND name = %s"
                    f" RETURNING {WORKSPACE_COLUMNS}",
                    (new_name, profile, name),
                )
            except errors.UniqueViolation:  # taken (here, or by another server meanwhile)
                raise rules.workspace_file_taken(new_name) from None
            row = await cur.fetchone()
            if row is None:  # deleted by another server since it was read
                raise rules.no_workspace_file(name)
            return workspace_record(row)

        return await self._write(work)

    async def _set_workspace_benched(
        self, profile: str, name: str, benched: bool
    ) -> WorkspaceFileRecord:
        async def work(conn: AsyncConnection[Any]) -> WorkspaceFileRecord:
            cur = await conn.execute(
                "UPDATE workspace_files SET benched = %s WHERE profile = %s AND name = %s"
                f" RETURNING {WORKSPACE_COLUMNS}",
                (benched, profile, name),
            )
            row = await cur.fetchone()
            if row is None:
                raise rules.no_workspace_file(name)
            return workspace_record(row)

        return await self._write(work)

    async def _delete_workspace_file(self, profile: str, name: str) -> None:
        async def work(conn: AsyncConnection[Any]) -> None:
            cur = await conn.execute(
                "DELETE FROM workspace_files WHERE profile = %s AND name = %s", (profile, name)
            )
            if cur.rowcount == 0:
                raise rules.no_workspace_file(name)

        await self._write(work, frees=True)
