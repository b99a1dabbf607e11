"""What the parts of :class:`~chatthy.store.postgres.PostgresStore` share: the pool, the
read and write transactions, and the translation of the driver's errors.

Work is an async function of one connection. :meth:`PgBase._write` runs it in a
transaction (committed when it returns, rolled back on any error), :meth:`PgBase._read`
in a read-only one (one snapshot). Connections come from a psycopg pool, so writes of
different chats run at once; PostgreSQL orders what must be ordered (row locks, unique
constraints). psycopg's errors are turned into ``StoreError`` here, at the edge;
chatthy's own errors (``NotFoundError``, ``ConflictError`` …) pass as they are.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from chatthy.errors import ConflictError, DiskFullError, StoreError

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

__all__ = ["PgBase", "PgWork", "describe", "lexeme", "translated"]

T = TypeVar("T")

PgWork = Callable[["AsyncConnection[Any]"], Awaitable[T]]
"""Database work: an async function of one connection, run inside a transaction."""


def lexeme(text: str) -> str:
    """``text`` quoted as one ``tsvector``/``tsquery`` operand: whatever it holds, text
    (several words in it are a phrase)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def describe(exc: Exception) -> str:
    """One line for the user: the server's primary message, or the driver's."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    text = (primary or str(exc) or type(exc).__name__).strip().splitlines()
    return f"database: {text[0] if text else type(exc).__name__}"


@contextlib.asynccontextmanager
async def translated() -> AsyncIterator[None]:
    """Turn any psycopg error raised inside into ``StoreError`` (the layer's edge): a
    unique violation that a check before it could not see (two servers at once) into
    ``ConflictError``, a full disk into ``DiskFullError``."""
    import psycopg
    from psycopg import errors
    from psycopg_pool import PoolTimeout

    try:
        yield
    except errors.UniqueViolation as exc:
        raise ConflictError(describe(exc)) from exc
    except errors.DiskFull as exc:
        raise DiskFullError(describe(exc)) from exc
    except (psycopg.Error, PoolTimeout) as exc:
        raise StoreError(describe(exc)) from exc


class PgBase:
    """The pool and the transactions; the store and its parts run their work here."""

    _pool: AsyncConnectionPool[Any] | None

    def _pg(self) -> AsyncConnectionPool[Any]:
        if self._pool is None:
            raise StoreError("the store is closed")
        return self._pool

    async def _write(self, work: PgWork[T], *, frees: bool = False) -> T:
        """``work`` in one transaction: all of it is committed, or none of it on any
        error. ``frees`` is SQLite's (its reserve on a full disk); taken and ignored."""
        async with translated(), self._pg().connection() as conn, conn.transaction():
            return await work(conn)

    async def _read(self, work: PgWork[T]) -> T:
        """``work`` in one read-only transaction: its queries see one snapshot."""
        async with translated(), self._pg().connection() as conn, conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            return await work(conn)
