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
# The text of a message that search reads, from its content (JSON text): a string, the
# ``text`` of a part, the strings and ``text`` fields of a list of parts (as SQLite's
# m001). A ``\u0000`` escape, which no PostgreSQL text can hold, is read as U+2400 (the
# same length of escape, so an escaped backslash before it stays valid JSON).
_MESSAGE_TEXT = r"""CREATE FUNCTION message_text(content text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE jsonb_typeof(j)
        WHEN 'string' THEN j #>> '{}'
        WHEN 'object' THEN coalesce(j ->> 'text', '')
        WHEN 'array' THEN coalesce((
            SELECT string_agg(CASE jsonb_typeof(e) WHEN 'string' THEN e #>> '{}'
                              WHEN 'object' THEN e ->> 'text' END, E'\n' ORDER BY n)
            FROM jsonb_array_elements(j) WITH ORDINALITY AS parts (e, n)), '')
        ELSE '' END
    FROM (SELECT replace(content, '\u0000', '\u2400')::jsonb AS j) AS parsed
$$"""

# The configuration search uses: 'simple' (no stemming, no stop words, as SQLite's
# unicode61), with accents folded by the unaccent dictionary where that extension can be
# had (a trusted extension since PostgreSQL 13; made in ``public`` when no schema has it
# yet, so that a schema dropped never takes it from another). Where it cannot be made,
# search works on, minding accents.
_SEARCH_CONFIG = """DO $$
DECLARE
    home text;
BEGIN
    CREATE TEXT SEARCH CONFIGURATION chatthy_text (COPY = pg_catalog.simple);
    SELECT n.nspname INTO home FROM pg_extension e
        JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'unaccent';
    IF home IS NULL THEN
        BEGIN
            CREATE EXTENSION unaccent SCHEMA public;
            home := 'public';
        EXCEPTION WHEN insufficient_privilege OR undefined_file OR invalid_schema_name
            OR feature_not_supported THEN
            RAISE NOTICE 'chatthy: no unaccent extension (%); search minds accents', SQLERRM;
        END;
    END IF;
    IF home IS NOT NULL THEN
        EXECUTE format('ALTER TEXT SEARCH CONFIGURATION chatthy_text ALTER MAPPING FOR'
            ' word, hword, hword_part, asciiword, asciihword, hword_asciipart'
            ' WITH %I.unaccent, pg_catalog.simple', home);
    END IF;
END
$$"""

# The words of a message as the search index holds them. A tsvector holds at most 1 MB
# of distinct words: a message past that (megabytes of hashes, say) has only its first
# 250,000 characters indexed (at most 4 bytes each) rather than failing its write. Made
# with the schema named in its body, so that it reads the same whatever the search path
# of the session that runs it (a restore, a reindex).
_MESSAGE_WORDS = r"""DO $do$
BEGIN
    EXECUTE format($f$CREATE FUNCTION message_words(content text) RETURNS tsvector
        LANGUAGE plpgsql IMMUTABLE AS $$
    DECLARE
        words text := %1$I.message_text(content);
    BEGIN
        RETURN to_tsvector(%2$L, words);
    EXCEPTION WHEN program_limit_exceeded THEN
        RETURN to_tsvector(%2$L, left(words, 250000));
    END
    $$$f$, current_schema(), quote_ident(current_schema()) || '.chatthy_text');
END
$do$"""

# Which message names which image (``chatthy-image:SHA256`` as any ``url`` of a list of
# parts, however deep: a tool result's images too), kept by a trigger whatever path wrote
# the message (a turn, an edit, a fork, an import); the rows of a deleted message go by
# the foreign key's cascade.
_NAME_IMAGES = r"""CREATE FUNCTION message_images_kept_in_step() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM message_images WHERE message_id = OLD.id;
    END IF;
    IF position('chatthy-image:' IN NEW.content) > 0 THEN
        INSERT INTO message_images (message_id, profile, digest)
        SELECT DISTINCT NEW.id, c.profile, substr(url #>> '{}', 15)
        FROM chats c,
             (SELECT replace(NEW.content, '\u0000', '\u2400')::jsonb AS j) AS parsed,
             jsonb_path_query(parsed.j, 'strict $.**.url ? (@.type() == "string"'
                 ' && @ starts with "chatthy-image:")') AS url
        WHERE c.id = NEW.chat_id AND jsonb_typeof(parsed.j) = 'array'
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$"""


@migration
def p001_initial() -> Sequence[str]:
    """Profiles, chats, messages (with their full-text index), prompts, images, reply
    leases: SQLite's tables and column names (m001 … m006), in PostgreSQL's types.

    ``messages.words`` is what search reads (see :mod:`chatthy.store._pg_search`), kept
    beside the content so that ranking many hits reads it rather than parsing each
    message again (PostgreSQL computes it only when the content changes).

    Unlike SQLite, ``message_images`` also names the profile, so that a foreign key ties
    each row to the image it names: a message naming an image that is not kept (deleted
    by another server a moment before) fails its write, and an image cannot be deleted
    under a message being written that names it."""
    return (
        _MESSAGE_TEXT,
        _SEARCH_CONFIG,
        _MESSAGE_WORDS,
        """CREATE TABLE profiles (
            name text PRIMARY KEY,
            public_key bytea NOT NULL,
            created double precision NOT NULL)""",
        """CREATE TABLE chats (
            id bigserial PRIMARY KEY,
            profile text NOT NULL,
            name text NOT NULL,
            personality text NOT NULL DEFAULT '',
            provider text NOT NULL DEFAULT '',
            model text NOT NULL DEFAULT '',
            created double precision NOT NULL,
            updated double precision NOT NULL,
            UNIQUE (profile, name))""",
        "CREATE INDEX chats_by_updated ON chats (profile, updated DESC, id DESC)",
        """CREATE TABLE messages (
            id bigserial PRIMARY KEY,
            chat_id bigint NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
            role text NOT NULL,
            content text NOT NULL,
            status text NOT NULL DEFAULT 'complete' CHECK (status IN
                ('complete', 'truncated', 'streaming', 'cancelled', 'error', 'interrupted')),
            provider text NOT NULL DEFAULT '',
            model text NOT NULL DEFAULT '',
            usage text,
            error text NOT NULL DEFAULT '',
            created double precision NOT NULL,
            updated double precision NOT NULL,
            tokens bigint,
            words tsvector GENERATED ALWAYS AS (message_words(content)) STORED)""",
        "CREATE INDEX messages_by_chat ON messages (chat_id, id) INCLUDE (role, tokens)",
        "CREATE INDEX messages_streaming ON messages (chat_id) WHERE status = 'streaming'",
        "CREATE INDEX messages_search ON messages USING gin (words)",
        """CREATE TABLE prompts (
            profile text NOT NULL,
            name text NOT NULL,
            text text NOT NULL,
            updated double precision NOT NULL,
            PRIMARY KEY (profile, name))""",
        """CREATE TABLE reply_leases (
            chat_id bigint PRIMARY KEY REFERENCES chats (id) ON DELETE CASCADE,
            owner text NOT NULL,
            until double precision NOT NULL)""",
        "CREATE INDEX reply_leases_by_owner ON reply_leases (owner)",
        """CREATE TABLE images (
            profile text NOT NULL,
            digest text NOT NULL,
            media_type text NOT NULL,
            width integer NOT NULL,
            height integer NOT NULL,
            size bigint NOT NULL,
            data bytea NOT NULL,
            created double precision NOT NULL,
            PRIMARY KEY (profile, digest))""",
        """CREATE TABLE message_images (
            message_id bigint NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
            profile text NOT NULL,
            digest text NOT NULL,
            PRIMARY KEY (message_id, digest),
            CONSTRAINT message_images_kept FOREIGN KEY (profile, digest)
                REFERENCES images (profile, digest))""",
        "CREATE INDEX message_images_by_image ON message_images (profile, digest)",
        _NAME_IMAGES,
        """CREATE TRIGGER messages_images_insert AFTER INSERT ON messages FOR EACH ROW
            WHEN (position('chatthy-image:' IN NEW.content) > 0)
            EXECUTE FUNCTION message_images_kept_in_step()""",
        """CREATE TRIGGER messages_images_update AFTER UPDATE OF content ON messages
            FOR EACH ROW WHEN (position('chatthy-image:' IN OLD.content) > 0
                OR position('chatthy-image:' IN NEW.content) > 0)
            EXECUTE FUNCTION message_images_kept_in_step()""",
    )


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
    return (
        # a turn's events as the server running it wrote them, ``body`` one event in
        # msgpack; ``created`` by the database's clock (servers' clocks may differ)
        "CREATE TABLE turn_events ("
        " id bigserial PRIMARY KEY,"
        " profile text NOT NULL, chat text NOT NULL, turn_id text NOT NULL,"
        " owner text NOT NULL, seq integer NOT NULL, body bytea NOT NULL,"
        " created double precision NOT NULL"
        "  DEFAULT extract(epoch FROM clock_timestamp()))",
        "CREATE INDEX turn_events_chat ON turn_events (profile, chat, id)",
        "CREATE INDEX turn_events_turn ON turn_events (turn_id, seq)",
        "CREATE INDEX turn_events_created ON turn_events (created)",
        # a profile's chat news (made, renamed, destroyed …) for the other servers
        "CREATE TABLE chat_news ("
        " id bigserial PRIMARY KEY, owner text NOT NULL, profile text NOT NULL,"
        " body bytea NOT NULL, created double precision NOT NULL"
        "  DEFAULT extract(epoch FROM clock_timestamp()))",
        # each server and the database session that lives as long as it does: a server
        # whose session is gone has stopped (its replies are then interrupted at once)
        "CREATE TABLE servers ("
        " owner text PRIMARY KEY, backend_pid integer NOT NULL,"
        " backend_start timestamptz NOT NULL, started double precision NOT NULL)",
    )
