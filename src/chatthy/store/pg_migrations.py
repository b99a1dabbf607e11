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
    """Each profile's document store, as SQLite's: documents (``stored``: what one counts
    against the quota), their chunks with one vector each (float32 as ``bytea``), and
    ``rag_versions``, each profile's count of changes.

    BM25 has no index of its own in PostgreSQL, so the chunks carry what it needs
    (:mod:`chatthy.store._pg_rag`): ``terms``, the chunk's words as a ``tsvector`` with
    as many positions as each occurs (a GIN index finds the chunks holding a word),
    ``words``, its length; ``rag_terms`` counts the chunks of each profile that hold each
    word, and ``rag_versions`` the profile's chunks and words in all, all kept in step by
    the writes that add and delete documents."""
    return (
        """CREATE TABLE rag_documents (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            profile text NOT NULL,
            name text COLLATE "C" NOT NULL,
            source text NOT NULL DEFAULT '',
            digest text NOT NULL,
            bytes bigint NOT NULL,
            chunks integer NOT NULL,
            embedder text NOT NULL,
            dim integer NOT NULL,
            stored bigint NOT NULL,
            created double precision NOT NULL,
            updated double precision NOT NULL,
            UNIQUE (profile, name))""",
        "CREATE INDEX rag_documents_by_embedder ON rag_documents (profile, embedder, dim)",
        """CREATE TABLE rag_chunks (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            document_id bigint NOT NULL REFERENCES rag_documents (id) ON DELETE CASCADE,
            ordinal integer NOT NULL,
            text text NOT NULL,
            heading text NOT NULL DEFAULT '',
            start bigint NOT NULL,
            "end" bigint NOT NULL,
            vector bytea NOT NULL,
            words integer NOT NULL,
            terms tsvector NOT NULL,
            UNIQUE (document_id, ordinal))""",
        "CREATE INDEX rag_chunks_by_terms ON rag_chunks USING gin (terms)",
        # BM25 reads a few thousand chunks' terms a query: lz4 unpacks them in half the
        # time pglz takes (where the server has no lz4, pglz stays)
        """DO $$ BEGIN
            ALTER TABLE rag_chunks ALTER COLUMN terms SET COMPRESSION lz4;
        EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN NULL;
        END $$""",
        """CREATE TABLE rag_versions (
            profile text PRIMARY KEY,
            version bigint NOT NULL,
            chunks bigint NOT NULL DEFAULT 0,
            words bigint NOT NULL DEFAULT 0)""",
        """CREATE TABLE rag_terms (
            profile text NOT NULL,
            term text COLLATE "C" NOT NULL,
            chunks integer NOT NULL,
            PRIMARY KEY (profile, term))""",
    )


@migration
def p004_turn_events() -> Sequence[str]:
    """Live streams across servers: a turn's events in batches, and each server's
    liveness (which of its connections is alive)."""
    return ()  # written with the broadcaster
