"""The database of a RAG store test, on either backend: stores opened on it, and the
database read or changed as another process would (``count`` sees every row, hidden
ones included; ``refuse_ordinal`` makes the database itself refuse a chunk).

Imported as ``ragkit`` by tests/rag (``from conftest import`` would get whichever
conftest pytest loaded last). A test takes the ``db`` fixture of its module, made by
:func:`database`: SQLite, then PostgreSQL (skipped, in one line, where none answers).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from chatthy.store.base import Store
from chatthy.store.postgres import PostgresStore
from chatthy.store.sqlite import SQLiteStore

__all__ = ["BACKENDS", "Database", "RagStore", "database"]

RagStore = Store
"""What the tests hold: the protocol the server uses, whichever backend."""
BACKENDS = ["sqlite", "postgres"]


class Database(Protocol):
    """One test's database."""

    name: str

    async def open(self) -> RagStore:
        """One more store on this database (the caller closes it)."""

    def count(self, table: str) -> int:
        """Rows of ``table``, hidden ones included (another connection)."""

    def refuse_ordinal(self, ordinal: int) -> None:
        """Make the database refuse the chunk ``ordinal`` of any document."""


class SQLiteDatabase:
    name = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path

    async def open(self) -> RagStore:
        return await SQLiteStore.open(self.path)

    def count(self, table: str) -> int:
        with contextlib.closing(sqlite3.connect(self.path)) as conn:
            return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def refuse_ordinal(self, ordinal: int) -> None:
        with contextlib.closing(sqlite3.connect(self.path)) as conn, conn:
            conn.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON rag_chunks"
                f" WHEN new.ordinal = {int(ordinal)} BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )


class PostgresDatabase:
    name = "postgres"

    def __init__(self, url: str) -> None:
        self.url = url

    async def open(self) -> RagStore:
        return await PostgresStore.open(self.url)

    def count(self, table: str) -> int:
        import psycopg

        with psycopg.connect(self.url) as conn:
            row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            assert row is not None
            return int(row[0])

    def refuse_ordinal(self, ordinal: int) -> None:
        import psycopg

        with psycopg.connect(self.url) as conn:
            conn.execute(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                f" IF new.ordinal = {int(ordinal)} THEN RAISE EXCEPTION 'refused'; END IF;"
                " RETURN new; END $$"
            )
            conn.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON rag_chunks"
                " FOR EACH ROW EXECUTE FUNCTION refuse()"
            )


@contextlib.asynccontextmanager
async def database(backend: str, tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh database of ``backend`` ("sqlite" or "postgres") for one test, removed
    after it; the test skips when no PostgreSQL answers."""
    if backend == "sqlite":
        yield SQLiteDatabase(tmp_path / "data" / "chatthy.db")
        return
    from pgkit import pg_schema

    async with pg_schema() as url:
        yield PostgresDatabase(url)
