"""The default store: one SQLite file in WAL mode, shared safely by several processes.

Open it with ``await SQLiteStore.open(path)`` (an async classmethod; it creates the parent
directories and applies the migrations of :mod:`chatthy.store.migrations`) and close it
with :meth:`SQLiteStore.aclose` or ``async with``.

Why it is safe to kill: every write is one ``BEGIN IMMEDIATE`` … ``COMMIT`` and WAL with
``synchronous=NORMAL`` keeps every committed transaction across a crash or ``kill -9`` of
the process (only a power loss may drop the last few). A failed write is rolled back and
changes nothing. ``sqlite3`` errors are translated here, at the edge, into ``StoreError``
with a one-line message (``disk full``, ``database is locked …``); foreign rows are
``NotFoundError``, taken names ``ConflictError`` and bad values ``ArgumentError``.

The methods are ``async`` to fit the :class:`~chatthy.store.base.Store` protocol but run
their (sub-millisecond) SQL inline on the event loop thread; they never ``await``, so no
two of them interleave. The connection belongs to the thread that opened the store.

``chat.updated`` means "last activity": adding, changing or deleting messages moves a chat
to the top of :meth:`~SQLiteStore.list_chats`; renaming it or switching its model does not.
Names of chats and prompts are stripped of surrounding spaces wherever they are given.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from chatthy.errors import ArgumentError, ConflictError, NotFoundError, StoreError
from chatthy.store._sqlite_replies import RepliesMixin
from chatthy.store._sqlite_support import (
    CHAT_COLUMNS,
    IN_PROFILE,
    LAST_ID,
    MESSAGE_COLUMNS,
    NAME_MAX,
    SNIPPET_TOKENS,
    chat_record,
    imported_row,
    key,
    message_record,
    new_message_row,
    new_message_row_of,
    quoted,
    rollback,
    to_json,
    translated,
    usage_json,
    valid_name,
    valid_status,
    valid_text,
)
from chatthy.store._sqlite_workspace import WorkspaceMixin
from chatthy.store.base import (
    ChatRecord,
    MessageRecord,
    ProfileRecord,
    PromptRecord,
    SearchHit,
    Status,
)
from chatthy.store.migrations import migrate

__all__ = ["BUSY_TIMEOUT", "NAME_MAX", "SNIPPET_MARKS", "SQLiteStore"]

BUSY_TIMEOUT = 5.0
"""Seconds a write waits for another process's write lock before ``StoreError``."""
SNIPPET_MARKS = ("**", "**")
"""What :meth:`SQLiteStore.search` puts around each matched word of a snippet."""


# queries used inside transactions -----------------------------------------------------
def _chat_id(conn: sqlite3.Connection, profile: str, name: str) -> int:
    row = conn.execute(
        "SELECT id FROM chats WHERE profile = ? AND name = ?", (profile, key(name))
    ).fetchone()
    if row is None:
        raise NotFoundError(f"no chat named {key(name)!r}")
    return cast(int, row[0])


def _chat_by_id(conn: sqlite3.Connection, chat_id: int) -> ChatRecord:
    row = conn.execute(f"SELECT {CHAT_COLUMNS} FROM chats c WHERE c.id = ?", (chat_id,))
    return chat_record(row.fetchone())


def _ensure_chat_free(conn: sqlite3.Connection, profile: str, name: str) -> None:
    taken = conn.execute("SELECT 1 FROM chats WHERE profile = ? AND name = ?", (profile, name))
    if taken.fetchone() is not None:
        raise ConflictError(f"a chat named {name!r} already exists")


def _ensure_message_in(conn: sqlite3.Connection, chat_id: int, message_id: int) -> None:
    found = conn.execute(
        "SELECT 1 FROM messages WHERE id = ? AND chat_id = ?", (message_id, chat_id)
    ).fetchone()
    if found is None:
        raise NotFoundError(f"no message {message_id} in this chat")


def _touch(conn: sqlite3.Connection, chat_id: int, now: float) -> None:
    conn.execute("UPDATE chats SET updated = ? WHERE id = ?", (now, chat_id))


def _insert_chat(
    conn: sqlite3.Connection, profile: str, name: str, remembers: tuple[str, str, str], now: float
) -> int:
    _ensure_chat_free(conn, profile, name)
    cur = conn.execute(
        "INSERT INTO chats (profile, name, personality, provider, model, created, updated)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (profile, name, *remembers, now, now),
    )
    return cast(int, cur.lastrowid)


class SQLiteStore(WorkspaceMixin, RepliesMixin):
    """The :class:`~chatthy.store.base.Store` on one SQLite file; see the module docs.

    Workspace files come from :class:`~chatthy.store._sqlite_workspace.WorkspaceMixin`."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        """Wrap a configured, migrated connection; use :meth:`open` instead."""
        self._conn: sqlite3.Connection | None = conn
        self.path = path

    @classmethod
    async def open(cls, path: Path | str) -> SQLiteStore:
        """Open (creating it and its parent directories if needed) the store at ``path``.

        Works while other processes have the same file open. Raises StoreError.
        """
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create {path.parent}: {exc.strerror}") from exc
        with translated():
            conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
            try:
                cls._configure(conn)
                migrate(conn)
            except BaseException:
                conn.close()
                raise
        return cls(conn, path)

    @staticmethod
    def _configure(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")

    async def aclose(self) -> None:
        """Close the database; later calls raise StoreError. Closing twice is harmless."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with translated():
                conn.close()

    async def __aenter__(self) -> SQLiteStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("the store is closed")
        return self._conn

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it is committed, or none of it on any error."""
        conn = self._connection()
        with translated():
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                rollback(conn)
                raise

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction, so that several queries see the same snapshot."""
        conn = self._connection()
        with translated():
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                rollback(conn)

    # profiles ---------------------------------------------------------------------------
    async def get_profile(self, name: str) -> ProfileRecord | None:
        """The profile named ``name``, with its chat and message counts, or None."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT p.name, p.public_key, p.created,"
                " (SELECT count(*) FROM chats c WHERE c.profile = p.name),"
                " (SELECT count(*) FROM messages m JOIN chats c ON c.id = m.chat_id"
                "  WHERE c.profile = p.name)"
                " FROM profiles p WHERE p.name = ?",
                (name,),
            ).fetchone()
        if row is None:
            return None
        return ProfileRecord(row[0], bytes(row[1]), row[2], chats=row[3], messages=row[4])

    async def register_profile(self, name: str, public_key: bytes) -> ProfileRecord:
        """Register a new profile. Raises ConflictError if it exists, ArgumentError if the
        name is not a valid name as given (a profile name is never altered: it salts the
        client's key) or the key is not bytes."""
        if valid_name("profile", name) != name:
            raise ArgumentError("profile name has spaces at its start or end")
        if not isinstance(public_key, bytes | bytearray | memoryview):
            raise ArgumentError("public key must be bytes")
        now = time.time()
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM profiles WHERE name = ?", (name,)).fetchone():
                raise ConflictError(f"profile {name!r} is already registered")
            conn.execute(
                "INSERT INTO profiles (name, public_key, created) VALUES (?, ?, ?)",
                (name, bytes(public_key), now),
            )
        return ProfileRecord(name, bytes(public_key), now)

    # chats ------------------------------------------------------------------------------
    async def list_chats(self, profile: str, personality: str | None = None) -> list[ChatRecord]:
        """The profile's chats, most recently active first, optionally of one personality."""
        sql = f"SELECT {CHAT_COLUMNS} FROM chats c WHERE c.profile = ?"
        params: tuple[str, ...] = (profile,)
        if personality is not None:
            sql += " AND c.personality = ?"
            params += (personality,)
        with translated():
            rows = self._connection().execute(sql + " ORDER BY c.updated DESC, c.id DESC", params)
            return [chat_record(row) for row in rows]

    async def get_chat(self, profile: str, name: str) -> ChatRecord:
        """Raises NotFoundError if the profile has no chat of that name."""
        with translated():
            row = (
                self._connection()
                .execute(
                    f"SELECT {CHAT_COLUMNS} FROM chats c WHERE c.profile = ? AND c.name = ?",
                    (profile, key(name)),
                )
                .fetchone()
            )
        if row is None:
            raise NotFoundError(f"no chat named {key(name)!r}")
        return chat_record(row)

    async def create_chat(
        self, profile: str, name: str, personality: str, provider: str, model: str
    ) -> ChatRecord:
        """Raises ConflictError if the name is taken, ArgumentError if it is not a name."""
        name = valid_name("chat", name)
        remembers = (
            valid_text("personality", personality),
            valid_text("provider", provider),
            valid_text("model", model),
        )
        with self._write() as conn:
            chat_id = _insert_chat(conn, profile, name, remembers, time.time())
            return _chat_by_id(conn, chat_id)

    async def update_chat(
        self,
        profile: str,
        name: str,
        *,
        personality: str | None = None,
        provider: str | None = None,
        model: str | None = None,
    ) -> ChatRecord:
        """Change what the chat remembers (not its place in the list). Raises NotFoundError."""
        changes = {"personality": personality, "provider": provider, "model": model}
        given = {column: valid_text(column, v) for column, v in changes.items() if v is not None}
        with self._write() as conn:
            chat_id = _chat_id(conn, profile, name)
            if given:
                assignments = ", ".join(f"{column} = ?" for column in given)
                conn.execute(
                    f"UPDATE chats SET {assignments} WHERE id = ?", (*given.values(), chat_id)
                )
            return _chat_by_id(conn, chat_id)

    async def rename_chat(self, profile: str, name: str, new_name: str) -> ChatRecord:
        """Raises NotFoundError, ConflictError if ``new_name`` is taken, or ArgumentError."""
        new_name = valid_name("chat", new_name)
        with self._write() as conn:
            chat_id = _chat_id(conn, profile, name)
            if new_name != key(name):
                _ensure_chat_free(conn, profile, new_name)
                conn.execute("UPDATE chats SET name = ? WHERE id = ?", (new_name, chat_id))
            return _chat_by_id(conn, chat_id)

    async def delete_chat(self, profile: str, name: str) -> None:
        """Delete the chat, its messages and their search entries. Raises NotFoundError."""
        with self._write() as conn:
            chat_id = _chat_id(conn, profile, name)
            conn.execute("DELETE FROM chats WHERE id = ?", (chat_id,))

    async def fork_chat(
        self, profile: str, name: str, new_name: str, upto: int | None = None
    ) -> ChatRecord:
        """Copy the chat's messages up to and including ``upto`` (all when None) into a new
        chat remembering the same personality, provider and model. A reply still streaming
        is copied as ``interrupted``: nothing will complete the copy. Raises NotFoundError
        (chat, or ``upto`` not in it), ConflictError, ArgumentError."""
        new_name = valid_name("chat", new_name)
        now = time.time()
        with self._write() as conn:
            source = _chat_by_id(conn, _chat_id(conn, profile, name))
            if upto is not None:
                _ensure_message_in(conn, source.id, upto)
            remembers = (source.personality, source.provider, source.model)
            chat_id = _insert_chat(conn, profile, new_name, remembers, now)
            conn.execute(
                "INSERT INTO messages (chat_id, role, content, status, provider, model, usage,"
                " error, created, updated) SELECT ?, role, content, CASE status"
                " WHEN 'streaming' THEN 'interrupted' ELSE status END, provider, model, usage,"
                " error, created, updated FROM messages WHERE chat_id = ? AND id <= ?"
                " ORDER BY id",
                (chat_id, source.id, LAST_ID if upto is None else upto),
            )
            return _chat_by_id(conn, chat_id)

    async def import_chat(
        self, profile: str, name: str, personality: str, messages: list[dict[str, Any]]
    ) -> ChatRecord:
        """Create a chat holding ``messages`` (dicts with role, content and optionally
        status, provider, model, usage, error, created) in one transaction; a ``streaming``
        one arrives ``interrupted``. Raises ConflictError, ArgumentError."""
        name = valid_name("chat", name)
        personality = valid_text("personality", personality)
        if not isinstance(messages, list):
            raise ArgumentError("imported messages must be a list")
        now = time.time()
        rows = [imported_row(0, message, now) for message in messages]
        with self._write() as conn:
            chat_id = _insert_chat(conn, profile, name, (personality, "", ""), now)
            conn.executemany(
                "INSERT INTO messages (chat_id, role, content, status, provider, model, usage,"
                " error, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(chat_id, *row[1:]) for row in rows],
            )
            return _chat_by_id(conn, chat_id)

    # messages ---------------------------------------------------------------------------
    async def messages(
        self, profile: str, chat: str, *, before: int | None = None, limit: int | None = None
    ) -> list[MessageRecord]:
        """The chat's messages, oldest first; with ``limit``, only the newest ``limit`` of
        those whose id is below ``before`` — so a client pages backwards by passing the
        first id it has. Raises NotFoundError, ArgumentError for a negative limit."""
        if limit is not None and limit < 0:
            raise ArgumentError("limit must not be negative")
        with self._read() as conn:
            chat_id = _chat_id(conn, profile, chat)
            rows = conn.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.chat_id = ? AND m.id < ?"
                " ORDER BY m.id DESC LIMIT ?",
                (chat_id, LAST_ID if before is None else before, -1 if limit is None else limit),
            ).fetchall()
        return [message_record(row) for row in reversed(rows)]

    async def add_message(
        self,
        profile: str,
        chat: str,
        role: str,
        content: Any,
        *,
        status: Status = "complete",
        provider: str = "",
        model: str = "",
        usage: dict[str, int] | None = None,
        error: str = "",
    ) -> MessageRecord:
        """Append a message and mark the chat active. A reply starts here as ``streaming``.
        Raises NotFoundError, ArgumentError."""
        row = new_message_row(role, content, status, provider, model, usage, error)
        return (await self._append(profile, chat, [row]))[0]

    async def add_messages(
        self, profile: str, chat: str, messages: list[dict[str, Any]]
    ) -> list[MessageRecord]:
        """Append ``messages`` (dicts of :meth:`add_message`'s arguments) in one transaction
        and mark the chat active once: a question and its ``streaming`` reply cost one
        commit instead of two. All or none are added. Raises NotFoundError, ArgumentError."""
        if not isinstance(messages, list):
            raise ArgumentError("messages to add must be a list")
        return await self._append(profile, chat, [new_message_row_of(m) for m in messages])

    async def _append(
        self, profile: str, chat: str, rows: list[tuple[Any, ...]]
    ) -> list[MessageRecord]:
        now = time.time()
        with self._write() as conn:
            chat_id = _chat_id(conn, profile, chat)
            ids = [
                conn.execute(
                    "INSERT INTO messages (chat_id, role, content, status, provider, model,"
                    " usage, error, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (chat_id, *row, now, now),
                ).lastrowid
                for row in rows
            ]
            if rows:
                _touch(conn, chat_id, now)
        return [
            message_record((i, chat_id, *row, now, now, None))
            for i, row in zip(ids, rows, strict=True)
        ]

    async def update_message(
        self,
        profile: str,
        message_id: int,
        *,
        content: Any = None,
        status: Status | None = None,
        usage: dict[str, int] | None = None,
        error: str | None = None,
    ) -> None:
        """Change a message in place — a checkpoint of a growing reply (``content``), its
        completion (``content``, ``status``, ``usage`` together) or an edit — and mark the
        chat active. ``None`` leaves a field alone. Raises NotFoundError, ArgumentError."""
        changes: dict[str, Any] = {"updated": time.time()}
        if content is not None:
            changes["content"] = to_json("content", content)
        if status is not None:
            changes["status"] = valid_status(status)
        if usage is not None:
            changes["usage"] = usage_json(usage)
        if error is not None:
            changes["error"] = valid_text("error", error)
        assignments = ", ".join(f"{column} = ?" for column in changes)
        with self._write() as conn:
            rows = conn.execute(
                f"UPDATE messages SET {assignments} WHERE id = ? AND {IN_PROFILE}"
                " RETURNING chat_id",
                (*changes.values(), message_id, profile),
            ).fetchall()
            if not rows:
                raise NotFoundError(f"no message {message_id}")
            _touch(conn, rows[0][0], changes["updated"])

    async def delete_messages_from(self, profile: str, chat: str, message_id: int) -> int:
        """Delete message ``message_id`` and every later one of the chat (to edit and
        regenerate from there); return how many. Raises NotFoundError."""
        with self._write() as conn:
            chat_id = _chat_id(conn, profile, chat)
            _ensure_message_in(conn, chat_id, message_id)
            cur = conn.execute(
                "DELETE FROM messages WHERE chat_id = ? AND id >= ?", (chat_id, message_id)
            )
            _touch(conn, chat_id, time.time())
            return cur.rowcount

    async def mark_interrupted(self) -> int:
        """At start-up, before any reply runs: every message still ``streaming`` (cut off by
        a crash) becomes ``interrupted``, keeping the text it had. Returns how many."""
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE messages SET status = 'interrupted', updated = ?"
                " WHERE status = 'streaming'",
                (time.time(),),
            )
            return cur.rowcount

    async def search(self, profile: str, query: str, limit: int = 20) -> list[SearchHit]:
        """Full-text search over the profile's messages, best (BM25) first, each hit with a
        one-line snippet whose matches are wrapped in :data:`SNIPPET_MARKS`. A query that is not
        valid FTS5 syntax (``"foo``, ``a AND``) is searched as plain words."""
        if not isinstance(query, str) or not query.strip() or limit <= 0:
            return []
        conn = self._connection()
        with translated():
            try:
                return self._search(conn, profile, query, limit)
            except sqlite3.OperationalError:
                plain = quoted(query)
                return self._search(conn, profile, plain, limit) if plain else []

    @staticmethod
    def _search(conn: sqlite3.Connection, profile: str, query: str, limit: int) -> list[SearchHit]:
        rows = conn.execute(
            "SELECT c.name, m.id, m.role,"
            " snippet(messages_fts, 0, ?, ?, '…', ?), m.created"
            " FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid"
            " JOIN chats c ON c.id = m.chat_id"
            " WHERE messages_fts MATCH ? AND c.profile = ?"
            " ORDER BY bm25(messages_fts), m.id DESC LIMIT ?",
            (*SNIPPET_MARKS, SNIPPET_TOKENS, query, profile, limit),
        ).fetchall()
        return [
            SearchHit(chat, message_id, role, " ".join(snippet.split()), created)
            for chat, message_id, role, snippet, created in rows
        ]

    # prompts ----------------------------------------------------------------------------
    async def list_prompts(self, profile: str) -> list[PromptRecord]:
        """The profile's own prompts, by name."""
        with translated():
            rows = self._connection().execute(
                "SELECT name, text, updated FROM prompts WHERE profile = ? ORDER BY name",
                (profile,),
            )
            return [PromptRecord(*row) for row in rows]

    async def get_prompt(self, profile: str, name: str) -> PromptRecord:
        """Raises NotFoundError."""
        with translated():
            row = (
                self._connection()
                .execute(
                    "SELECT name, text, updated FROM prompts WHERE profile = ? AND name = ?",
                    (profile, key(name)),
                )
                .fetchone()
            )
        if row is None:
            raise NotFoundError(f"no prompt named {key(name)!r}")
        return PromptRecord(*row)

    async def set_prompt(self, profile: str, name: str, text: str) -> PromptRecord:
        """Create or replace. Raises ArgumentError if the name is not a name."""
        name = valid_name("prompt", name)
        record = PromptRecord(name, valid_text("prompt text", text), time.time())
        with self._write() as conn:
            conn.execute(
                "INSERT INTO prompts (profile, name, text, updated) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (profile, name) DO UPDATE"
                " SET text = excluded.text, updated = excluded.updated",
                (profile, record.name, record.text, record.updated),
            )
        return record

    async def rename_prompt(self, profile: str, name: str, new_name: str) -> PromptRecord:
        """Keeps the text and its time. Raises NotFoundError, ConflictError, ArgumentError."""
        new_name = valid_name("prompt", new_name)
        with self._write() as conn:
            row = conn.execute(
                "SELECT text, updated FROM prompts WHERE profile = ? AND name = ?",
                (profile, key(name)),
            ).fetchone()
            if row is None:
                raise NotFoundError(f"no prompt named {key(name)!r}")
            if new_name != key(name):
                self._ensure_prompt_free(conn, profile, new_name)
                conn.execute(
                    "UPDATE prompts SET name = ? WHERE profile = ? AND name = ?",
                    (new_name, profile, key(name)),
                )
        return PromptRecord(new_name, row[0], row[1])

    @staticmethod
    def _ensure_prompt_free(conn: sqlite3.Connection, profile: str, name: str) -> None:
        taken = conn.execute(
            "SELECT 1 FROM prompts WHERE profile = ? AND name = ?", (profile, name)
        ).fetchone()
        if taken is not None:
            raise ConflictError(f"a prompt named {name!r} already exists")

    async def delete_prompt(self, profile: str, name: str) -> None:
        """Raises NotFoundError."""
        with self._write() as conn:
            cur = conn.execute(
                "DELETE FROM prompts WHERE profile = ? AND name = ?", (profile, key(name))
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"no prompt named {key(name)!r}")
