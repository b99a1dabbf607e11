"""Versioned schema of the PostgreSQL store: named migrations, applied in order, recorded.

The same rule as SQLite's (:mod:`chatthy.store.migrations`): each migration is a function
registered with :func:`migration` that returns its statements; :func:`migrate` applies
those not yet recorded in ``_migrations``, each in one transaction with its record. Every
server opening the database runs it; a transaction-scoped advisory lock makes the others
wait, then find the work done. Never edit or reorder a migration that has shipped: add a
new one.

Times are ``double precision`` seconds since the epoch (what ``time.time()`` gives), as in
SQLite, so records read the same from both stores.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from psycopg import AsyncConnection

__all__ = ["MIGRATIONS", "migrate", "migration"]

Migration = Callable[[], Sequence[str]]
MIGRATIONS: list[Migration] = []
"""Every migration in the order it is applied; the function's name is its identity."""

_LOCK = 0x63686174  # "chat": the advisory lock every server's migration takes


def migration(fn: Migration) -> Migration:
    """Register ``fn`` as the next migration (the decorator used below)."""
    MIGRATIONS.append(fn)
    return fn


async def migrate(conn: AsyncConnection[Any]) -> list[str]:
    """Bring the schema up to date; return the names of the migrations applied now.
    ``conn`` is in autocommit mode; each migration is its own transaction."""
    done_now: list[str] = []
    for fn in MIGRATIONS:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS _migrations"
                " (name text PRIMARY KEY, applied double precision NOT NULL)"
            )
            cur = await conn.execute("SELECT 1 FROM _migrations WHERE name = %s", (fn.__name__,))
            if await cur.fetchone() is not None:
                continue
            for statement in fn():
                await conn.execute(statement)  # our own constants
            await conn.execute(
                "INSERT INTO _migrations (name, applied) VALUES (%s, %s)",
                (fn.__name__, time.time()),
            )
            done_now.append(fn.__name__)
    return done_now


# --- the migrations ---------------------------------------------------------------------
@migration
def p001_initial() -> Sequence[str]:
    """Profiles, chats, messages (with their full-text index), prompts, images, reply
    leases."""
    return ()  # written with the store's core


@migration
def p002_workspace() -> Sequence[str]:
    """Each profile's context workspace, as SQLite's ``workspace_files``. Names sort as
    SQLite sorts them (``COLLATE "C"``: by code point, whatever the database's locale)."""
    return (
        """CREATE TABLE workspace_files (
            profile text NOT NULL,
            name text COLLATE "C" NOT NULL,
            text text NOT NULL,
            source text NOT NULL DEFAULT '',
            benched boolean NOT NULL DEFAULT false,
            created double precision NOT NULL,
            updated double precision NOT NULL,
            PRIMARY KEY (profile, name))""",
    )


@migration
def p003_rag() -> Sequence[str]:
    """Each profile's document store: documents, chunks (full-text), vectors."""
    return ()  # written with the RAG part


@migration
def p004_turn_events() -> Sequence[str]:
    """Live streams across servers: a turn's events in batches, and each server's
    liveness (which of its connections is alive)."""
    return ()  # written with the broadcaster
