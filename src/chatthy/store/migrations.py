"""Versioned schema of the SQLite store: named migrations, applied in order, recorded.

Each migration is a function registered with :func:`migration`; :func:`migrate` applies
the ones not yet recorded in ``_migrations``, each in its own ``BEGIN IMMEDIATE``
transaction together with its record, so a migration either happens completely or not at
all, and two processes opening the same new file cannot both apply it. Never edit or
reorder a migration that has shipped: add a new one.

Profiles are referred to by name in ``chats``, ``prompts`` and ``workspace_files`` (not
by a foreign key) so that a profile's data does not depend on the order in which the
server registers it.
The full-text index ``messages_fts`` (rowid = message id) is kept in step by triggers, so
every insert, update and delete of a message — including the cascade from deleting a chat
— changes the index in the same transaction.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

__all__ = ["MIGRATIONS", "applied", "migrate", "migration"]

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[Migration] = []
"""Every migration in the order it is applied; the function's name is its identity."""


def migration(fn: Migration) -> Migration:
    """Register ``fn`` as the next migration (the decorator used below)."""
    MIGRATIONS.append(fn)
    return fn


def _ensure_table(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied REAL NOT NULL)"
    )


def applied(conn: sqlite3.Connection) -> list[str]:
    """Names of the migrations recorded in the database, in the order they were applied."""
    _ensure_table(conn)
    rows = conn.execute("SELECT name FROM _migrations ORDER BY applied, rowid").fetchall()
    return [row[0] for row in rows]


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Bring the schema up to date; return the names of the migrations applied now.

    ``conn`` must be in autocommit mode (``isolation_level=None``). Safe to call on every
    open: a database that is up to date costs one small read.
    """
    done = set(applied(conn))
    now_applied: list[str] = []
    for fn in MIGRATIONS:
        if fn.__name__ not in done and _apply(conn, fn):
            now_applied.append(fn.__name__)
    return now_applied


def _apply(conn: sqlite3.Connection, fn: Migration) -> bool:
    """Apply one migration unless another connection did so first; True if applied here."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        seen = conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (fn.__name__,))
        if seen.fetchone() is not None:
            conn.execute("COMMIT")
            return False
        fn(conn)
        conn.execute(
            "INSERT INTO _migrations (name, applied) VALUES (?, ?)", (fn.__name__, time.time())
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return True


def _run(conn: sqlite3.Connection, statements: tuple[str, ...]) -> None:
    """Run DDL one statement at a time (``executescript`` would commit mid-migration)."""
    for statement in statements:
        conn.execute(statement)


# The text of a message for the full-text index: a string, the ``text`` of a part dict,
# the strings and ``text`` fields of a list of parts. Images and tool calls add nothing.
_TEXT_OF = """CASE json_type({c})
    WHEN 'text' THEN json_extract({c}, '$')
    WHEN 'object' THEN coalesce(json_extract({c}, '$.text'), '')
    WHEN 'array' THEN coalesce((
        SELECT group_concat(
            CASE type WHEN 'text' THEN value
            WHEN 'object' THEN json_extract(value, '$.text') END, char(10))
        FROM json_each({c})), '')
    ELSE '' END"""


@migration
def m001_initial(conn: sqlite3.Connection) -> None:
    """Profiles, chats, messages, prompts and the full-text index over messages."""
    new_text = _TEXT_OF.format(c="new.content")
    _run(
        conn,
        (
            """CREATE TABLE profiles (
                name TEXT PRIMARY KEY,
                public_key BLOB NOT NULL,
                created REAL NOT NULL)""",
            """CREATE TABLE chats (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                profile TEXT NOT NULL,
                name TEXT NOT NULL,
                personality TEXT NOT NULL DEFAULT '',
                provider TEXT NOT NULL DEFAULT '',
                model TEXT NOT NULL DEFAULT '',
                created REAL NOT NULL,
                updated REAL NOT NULL,
                UNIQUE (profile, name))""",
            "CREATE INDEX chats_by_updated ON chats (profile, updated DESC, id DESC)",
            """CREATE TABLE messages (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                chat_id INTEGER NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
                role TEXT NOT NULL,
                content TEXT NOT NULL CHECK (json_valid(content)),
                status TEXT NOT NULL DEFAULT 'complete' CHECK (status IN
                    ('complete', 'streaming', 'cancelled', 'error', 'interrupted')),
                provider TEXT NOT NULL DEFAULT '',
                model TEXT NOT NULL DEFAULT '',
                usage TEXT CHECK (usage IS NULL OR json_valid(usage)),
                error TEXT NOT NULL DEFAULT '',
                created REAL NOT NULL,
                updated REAL NOT NULL)""",
            "CREATE INDEX messages_by_chat ON messages (chat_id, id)",
            "CREATE INDEX messages_streaming ON messages (status) WHERE status = 'streaming'",
            """CREATE TABLE prompts (
                profile TEXT NOT NULL,
                name TEXT NOT NULL,
                text TEXT NOT NULL,
                updated REAL NOT NULL,
                PRIMARY KEY (profile, name)) WITHOUT ROWID""",
            """CREATE VIRTUAL TABLE messages_fts USING fts5 (
                text, tokenize = 'unicode61 remove_diacritics 2')""",
            f"""CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
                INSERT INTO messages_fts (rowid, text) VALUES (new.id, {new_text});
            END""",
            f"""CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
                DELETE FROM messages_fts WHERE rowid = old.id;
                INSERT INTO messages_fts (rowid, text) VALUES (new.id, {new_text});
            END""",
            """CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
                DELETE FROM messages_fts WHERE rowid = old.id;
            END""",
        ),
    )


@migration
def m002_workspace(conn: sqlite3.Connection) -> None:
    """Workspace files: each profile's documents sent before the chat history."""
    _run(
        conn,
        (
            """CREATE TABLE workspace_files (
                profile TEXT NOT NULL,
                name TEXT NOT NULL,
                text TEXT NOT NULL,
                source TEXT NOT NULL DEFAULT '',
                benched INTEGER NOT NULL DEFAULT 0 CHECK (benched IN (0, 1)),
                created REAL NOT NULL,
                updated REAL NOT NULL,
                PRIMARY KEY (profile, name)) WITHOUT ROWID""",
        ),
    )


@migration
def m003_truncated_tokens_leases(conn: sqlite3.Connection) -> None:
    """Replies may be ``truncated`` (the model stopped at its token limit); each message
    keeps its token count (NULL until counted) so long chats are not recounted every
    turn; ``reply_leases`` says which server runs a chat's reply, and until when. The
    chat index covers role and count, so planning a turn reads no message row.

    SQLite cannot change a CHECK constraint in place: the table is rebuilt with the same
    ids (the full-text index is keyed by them and stays as it is)."""
    new_text = _TEXT_OF.format(c="new.content")
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'messages'").fetchone()
    _run(
        conn,
        (
            """CREATE TABLE messages_new (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                chat_id INTEGER NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
                role TEXT NOT NULL,
                content TEXT NOT NULL CHECK (json_valid(content)),
                status TEXT NOT NULL DEFAULT 'complete' CHECK (status IN
                    ('complete', 'truncated', 'streaming', 'cancelled', 'error',
                     'interrupted')),
                provider TEXT NOT NULL DEFAULT '',
                model TEXT NOT NULL DEFAULT '',
                usage TEXT CHECK (usage IS NULL OR json_valid(usage)),
                error TEXT NOT NULL DEFAULT '',
                created REAL NOT NULL,
                updated REAL NOT NULL,
                tokens INTEGER)""",
            """INSERT INTO messages_new (id, chat_id, role, content, status, provider, model,
                usage, error, created, updated)
                SELECT id, chat_id, role, content, status, provider, model, usage, error,
                created, updated FROM messages""",
            "DROP TABLE messages",
            "ALTER TABLE messages_new RENAME TO messages",
            "CREATE INDEX messages_by_chat ON messages (chat_id, id, role, tokens)",
            "CREATE INDEX messages_streaming ON messages (status) WHERE status = 'streaming'",
            f"""CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
                INSERT INTO messages_fts (rowid, text) VALUES (new.id, {new_text});
            END""",
            f"""CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
                DELETE FROM messages_fts WHERE rowid = old.id;
                INSERT INTO messages_fts (rowid, text) VALUES (new.id, {new_text});
            END""",
            """CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
                DELETE FROM messages_fts WHERE rowid = old.id;
            END""",
            """CREATE TABLE reply_leases (
                chat_id INTEGER PRIMARY KEY REFERENCES chats (id) ON DELETE CASCADE,
                owner TEXT NOT NULL,
                until REAL NOT NULL)""",
            "CREATE INDEX reply_leases_by_owner ON reply_leases (owner)",
        ),
    )
    if row is not None:  # ids of deleted messages are never given out again
        conn.execute("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'messages'", row)


@migration
def m004_rag(conn: sqlite3.Connection) -> None:
    """The document store of RAG: each profile's documents, their chunks with one vector
    each (float32 of the embedder's dimension, as bytes), and a full-text index over the
    chunks' text and heading for BM25.

    The index takes its text from ``rag_chunks`` (an external-content FTS5 table), so a
    chunk's text is stored once; triggers keep it in step, the cascade from deleting a
    document included. ``rag_versions`` counts each profile's changes of documents, so a
    matrix of vectors held in memory knows when it is out of date without reading it
    again. ``stored`` is what a document takes (its chunks' text and vectors), kept with
    it so that the quota of stored bytes sums a few rows, not every chunk."""
    _run(
        conn,
        (
            """CREATE TABLE rag_documents (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                profile TEXT NOT NULL,
                name TEXT NOT NULL,
                source TEXT NOT NULL DEFAULT '',
                digest TEXT NOT NULL,
                bytes INTEGER NOT NULL,
                chunks INTEGER NOT NULL,
                embedder TEXT NOT NULL,
                dim INTEGER NOT NULL,
                stored INTEGER NOT NULL,
                created REAL NOT NULL,
                updated REAL NOT NULL,
                UNIQUE (profile, name))""",
            "CREATE INDEX rag_documents_by_embedder ON rag_documents (profile, embedder, dim)",
            """CREATE TABLE rag_chunks (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                document_id INTEGER NOT NULL REFERENCES rag_documents (id) ON DELETE CASCADE,
                ordinal INTEGER NOT NULL,
                text TEXT NOT NULL,
                heading TEXT NOT NULL DEFAULT '',
                start INTEGER NOT NULL,
                end INTEGER NOT NULL,
                vector BLOB NOT NULL)""",
            "CREATE UNIQUE INDEX rag_chunks_by_document ON rag_chunks (document_id, ordinal)",
            """CREATE VIRTUAL TABLE rag_fts USING fts5 (
                text, heading, content = 'rag_chunks', content_rowid = 'id',
                tokenize = 'unicode61 remove_diacritics 2')""",
            """CREATE TRIGGER rag_fts_insert AFTER INSERT ON rag_chunks BEGIN
                INSERT INTO rag_fts (rowid, text, heading)
                VALUES (new.id, new.text, new.heading);
            END""",
            """CREATE TRIGGER rag_fts_delete AFTER DELETE ON rag_chunks BEGIN
                INSERT INTO rag_fts (rag_fts, rowid, text, heading)
                VALUES ('delete', old.id, old.text, old.heading);
            END""",
            """CREATE TABLE rag_versions (
                profile TEXT PRIMARY KEY,
                version INTEGER NOT NULL) WITHOUT ROWID""",
        ),
    )


_IMAGE_REFS = """INSERT OR IGNORE INTO message_images (message_id, digest)
    SELECT new.id, substr(json_extract(value, '$.image_url.url'), 15)
    FROM json_each(new.content)
    WHERE json_type(value) = 'object'
      AND json_extract(value, '$.image_url.url') LIKE 'chatthy-image:%'"""


@migration
def m005_images(conn: sqlite3.Connection) -> None:
    """Images kept once per profile by the sha256 of their bytes, which a message's
    image part names (``chatthy-image:SHA256``) instead of holding them as base64.

    ``message_images`` says which messages name which image; triggers keep it in step
    with the messages' content (written by any path: a turn, an edit, a fork, an import),
    so that an image no message names any more is found with one indexed query and
    deleted in the same write that removed its last message."""
    _run(
        conn,
        (
            """CREATE TABLE images (
                profile TEXT NOT NULL,
                digest TEXT NOT NULL,
                media_type TEXT NOT NULL,
                width INTEGER NOT NULL,
                height INTEGER NOT NULL,
                size INTEGER NOT NULL,
                data BLOB NOT NULL,
                created REAL NOT NULL,
                PRIMARY KEY (profile, digest)) WITHOUT ROWID""",
            """CREATE TABLE message_images (
                message_id INTEGER NOT NULL,
                digest TEXT NOT NULL,
                PRIMARY KEY (message_id, digest)) WITHOUT ROWID""",
            "CREATE INDEX message_images_by_digest ON message_images (digest)",
            f"""CREATE TRIGGER messages_images_insert AFTER INSERT ON messages
                WHEN instr(new.content, 'chatthy-image:') > 0
                 AND json_type(new.content) = 'array'
            BEGIN {_IMAGE_REFS}; END""",
            # (a reply's checkpoints change its content every second: a text reply costs
            # two searches of its text here, never a parse of its JSON; and one trigger,
            # since the order of two on the same event is not defined)
            f"""CREATE TRIGGER messages_images_update AFTER UPDATE OF content ON messages
                WHEN instr(old.content, 'chatthy-image:') > 0
                  OR instr(new.content, 'chatthy-image:') > 0
            BEGIN
                DELETE FROM message_images WHERE message_id = old.id;
                {_IMAGE_REFS} AND json_type(new.content) = 'array';
            END""",
            """CREATE TRIGGER messages_images_delete AFTER DELETE ON messages
                WHEN instr(old.content, 'chatthy-image:') > 0
            BEGIN DELETE FROM message_images WHERE message_id = old.id; END""",
        ),
    )


_IMAGE_REFS_ANYWHERE = """INSERT OR IGNORE INTO message_images (message_id, digest)
    SELECT new.id, substr(value, 15)
    FROM json_tree(new.content)
    WHERE key = 'url' AND type = 'text' AND value LIKE 'chatthy-image:%'"""


@migration
def m006_tool_images(conn: sqlite3.Connection) -> None:
    """A tool result's images (``images`` inside its part) are named as a message's own
    are: the triggers of ``m005_images`` read every ``url`` of the content, however deep,
    and the messages already stored are read again."""
    _run(
        conn,
        (
            "DROP TRIGGER messages_images_insert",
            "DROP TRIGGER messages_images_update",
            f"""CREATE TRIGGER messages_images_insert AFTER INSERT ON messages
                WHEN instr(new.content, 'chatthy-image:') > 0
                 AND json_type(new.content) = 'array'
            BEGIN {_IMAGE_REFS_ANYWHERE}; END""",
            f"""CREATE TRIGGER messages_images_update AFTER UPDATE OF content ON messages
                WHEN instr(old.content, 'chatthy-image:') > 0
                  OR instr(new.content, 'chatthy-image:') > 0
            BEGIN
                DELETE FROM message_images WHERE message_id = old.id;
                {_IMAGE_REFS_ANYWHERE} AND json_type(new.content) = 'array';
            END""",
            """INSERT OR IGNORE INTO message_images (message_id, digest)
                SELECT m.id, substr(t.value, 15)
                FROM messages m, json_tree(m.content) t
                WHERE instr(m.content, 'chatthy-image:') > 0
                  AND json_type(m.content) = 'array'
                  AND t.key = 'url' AND t.type = 'text' AND t.value LIKE 'chatthy-image:%'""",
        ),
    )
