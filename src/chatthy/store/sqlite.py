"""The default store: one SQLite file in WAL mode, shared safely by several processes.

Open it with ``await SQLiteStore.open(path)`` (an async classmethod; it creates the parent
directories and applies the migrations of :mod:`chatthy.store.migrations`) and close it
with :meth:`SQLiteStore.aclose` or ``async with``.

This module only persists: every rule on names, statuses and messages is applied before a
call reaches it, by :class:`~chatthy.store.front.StoreFront`, whose ``_``-named hooks are
implemented here. Names arrive stripped, content and usage as JSON text.

Why it is safe to kill: every write is one ``BEGIN IMMEDIATE`` … ``COMMIT`` and WAL with
``synchronous=NORMAL`` keeps every committed transaction across a crash or ``kill -9`` of
the process (only a power loss may drop the last few). A failed write is rolled back and
changes nothing. ``sqlite3`` errors are translated here, at the edge, into ``StoreError``
with a one-line message (``disk full``, ``database is locked …``); foreign rows are
``NotFoundError`` and taken names ``ConflictError``, worded by :mod:`chatthy.store.rules`.

The methods are ``async`` to fit the :class:`~chatthy.store.base.Store` protocol but run
their (sub-millisecond) SQL inline on the event loop thread; they never suspend, so no
two of them interleave. The connection belongs to the thread that opened the store.

``chat.updated`` means "last activity": adding, changing or deleting messages moves a chat
to the top of :meth:`~SQLiteStore.list_chats`; renaming it or switching its model does not.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar, cast

from chatthy.conversation.model import IMAGE_REF
from chatthy.errors import NotFoundError, StoreError
from chatthy.private import private_file
from chatthy.store import rules
from chatthy.store._sqlite_images import (
    ImagesMixin,
    keep_images,
    names_kept_images,
    sweep_images,
)
from chatthy.store._sqlite_rag import RagMixin
from chatthy.store._sqlite_replies import RepliesMixin
from chatthy.store._sqlite_support import (
    IN_PROFILE,
    NOT_STAGED,
    SNIPPET_TOKENS,
    STAGING,
    chat_id_of,
    quoted,
    translated,
)
from chatthy.store._sqlite_threads import READERS, Threads, Work, keep_reserve
from chatthy.store._sqlite_usage import UsageMixin
from chatthy.store._sqlite_workspace import WorkspaceMixin
from chatthy.store.base import (
    ChatRecord,
    ImageIn,
    MessageRecord,
    ProfileRecord,
    PromptRecord,
    SearchHit,
)
from chatthy.store.front import StoreFront
from chatthy.store.migrations import migrate
from chatthy.store.rows import (
    CHAT_COLUMNS,
    LAST_ID,
    MESSAGE_COLUMNS,
    chat_record,
    message_columns,
    message_record,
)
from chatthy.store.rules import SNIPPET_MARKS, ChatChanges, MessageChanges, NewMessage

__all__ = ["BUSY_TIMEOUT", "SNIPPET_MARKS", "SQLiteStore"]

T = TypeVar("T")

BUSY_TIMEOUT = 5.0
"""Seconds a write waits for another process's write lock before ``StoreError``."""
IMPORT_SLICE = 400
"""The most messages one write of an import adds (about 20 ms of the writer's time)."""
IMPORT_SLICE_BYTES = 512 * 1024
DELETE_SLICE = 500
"""The most messages one write of a chat's deletion removes."""
"""The most content one write of an import adds, in characters."""
_INSERT_MESSAGE = (
    "INSERT INTO messages (chat_id, role, content, status, provider, model, usage, error,"
    " tokens, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


# queries used inside transactions -----------------------------------------------------
def _chat_by_id(conn: sqlite3.Connection, chat_id: int) -> ChatRecord:
    row = conn.execute(f"SELECT {CHAT_COLUMNS} FROM chats c WHERE c.id = ?", (chat_id,))
    return chat_record(row.fetchone())


def _ensure_chat_free(conn: sqlite3.Connection, profile: str, name: str) -> None:
    taken = conn.execute("SELECT 1 FROM chats WHERE profile = ? AND name = ?", (profile, name))
    if taken.fetchone() is not None:
        raise rules.chat_taken(name)


def _ensure_message_in(conn: sqlite3.Connection, chat_id: int, message_id: int) -> None:
    found = conn.execute(
        "SELECT 1 FROM messages WHERE id = ? AND chat_id = ?", (message_id, chat_id)
    ).fetchone()
    if found is None:
        raise rules.no_message(message_id, in_chat=True)


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


def _slices(messages: list[NewMessage]) -> Iterator[list[NewMessage]]:
    """``messages`` in runs of at most :data:`IMPORT_SLICE` messages or
    :data:`IMPORT_SLICE_BYTES` of content (a longer message goes alone)."""
    part: list[NewMessage] = []
    size = 0
    for message in messages:
        if part and (len(part) >= IMPORT_SLICE or size + len(message.content) > IMPORT_SLICE_BYTES):
            yield part
            part, size = [], 0
        part.append(message)
        size += len(message.content)
    if part:
        yield part


def _insert_slice(
    conn: sqlite3.Connection,
    chat_id: int,
    rows: list[tuple[Any, ...]],
    profile: str,
    images: Sequence[ImageIn],
) -> None:
    keep_images(conn, profile, images, time.time())
    conn.executemany(_INSERT_MESSAGE, rows)
    conn.execute("UPDATE chats SET updated = ? WHERE id = ?", (time.time(), chat_id))


def _imported(chat_id: int, message: NewMessage, now: float) -> tuple[Any, ...]:
    """An imported message as a row of ``messages``, created and updated when it was."""
    created = now if message.created is None else message.created
    return (chat_id, *message_columns(message), created, created)


class SQLiteStore(WorkspaceMixin, RagMixin, ImagesMixin, RepliesMixin, UsageMixin, StoreFront):
    """The :class:`~chatthy.store.base.Store` on one SQLite file; see the module docs.

    The rules come from :class:`~chatthy.store.front.StoreFront`, workspace files from
    :class:`~chatthy.store._sqlite_workspace.WorkspaceMixin`, RAG documents from
    :class:`~chatthy.store._sqlite_rag.RagMixin`."""

    def __init__(self, threads: Threads, path: Path) -> None:
        """Wrap configured, migrated connections on their threads; use :meth:`open`."""
        self._threads: Threads | None = threads
        self.path = path

    @classmethod
    async def open(cls, path: Path | str) -> SQLiteStore:
        """Open the store at ``path``, creating it (0600, readable by this user only) and
        its folders (0700) if needed.

        Works while other processes have the same file open. Raises StoreError.
        """
        path = Path(path)
        try:
            private_file(path)  # 0600 in a 0700 folder: SQLite's -wal and -shm copy its mode
        except OSError as exc:
            raise StoreError(f"cannot create {path}: {exc.strerror}") from exc
        return cls(await asyncio.to_thread(cls._connect, path), path)

    @classmethod
    def _connect(cls, path: Path) -> Threads:
        opened: list[sqlite3.Connection] = []
        with translated():
            try:
                writer = cls._connection_to(path, opened)
                cls._configure(writer)
                migrate(writer)
                keep_reserve(path)
                readers = [cls._connection_to(path, opened) for _ in range(READERS)]
                for reader in readers:
                    reader.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
                    reader.execute("PRAGMA query_only = ON")
            except BaseException:
                for conn in opened:
                    conn.close()
                raise
        return Threads(writer, readers, path)

    @staticmethod
    def _connection_to(path: Path, opened: list[sqlite3.Connection]) -> sqlite3.Connection:
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
        )
        opened.append(conn)
        return conn

    @staticmethod
    def _configure(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")

    async def aclose(self) -> None:
        """Close the database once the work already asked for is done; later calls raise
        StoreError. Closing twice is harmless."""
        threads, self._threads = self._threads, None
        if threads is not None:
            await asyncio.to_thread(threads.close)

    async def __aenter__(self) -> SQLiteStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def _conn(self) -> sqlite3.Connection | None:
        """The writing connection (for tests that set its pragmas), None once closed."""
        return None if self._threads is None else self._threads.writer

    def _db(self) -> Threads:
        if self._threads is None:
            raise StoreError("the store is closed")
        return self._threads

    async def _write(self, work: Work[T], *, frees: bool = False) -> T:
        """``work`` in one write transaction on the writer thread: all of it is
        committed, or none of it on any error. ``frees``: it only deletes or marks rows,
        so on a full disk it may use the reserve (see :mod:`._sqlite_threads`)."""
        return await self._db().write(work, frees=frees)

    async def _read(self, work: Work[T]) -> T:
        """``work`` in one read transaction (its queries see one snapshot) on a reader."""
        return await self._db().read(work)

    # profiles ---------------------------------------------------------------------------
    async def get_profile(self, name: str) -> ProfileRecord | None:
        """The profile named ``name``, with its chat and message counts, or None."""

        def work(conn: sqlite3.Connection) -> Any:
            return conn.execute(
                "SELECT p.name, p.public_key, p.created,"
                " (SELECT count(*) FROM chats c WHERE c.profile = p.name),"
                " (SELECT count(*) FROM messages m JOIN chats c ON c.id = m.chat_id"
                "  WHERE c.profile = p.name)"
                " FROM profiles p WHERE p.name = ?",
                (name,),
            ).fetchone()

        row = await self._read(work)
        if row is None:
            return None
        return ProfileRecord(row[0], bytes(row[1]), row[2], chats=row[3], messages=row[4])

    async def _register_profile(self, name: str, public_key: bytes) -> ProfileRecord:
        now = time.time()

        def work(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM profiles WHERE name = ?", (name,)).fetchone():
                raise rules.profile_taken(name)
            conn.execute(
                "INSERT INTO profiles (name, public_key, created) VALUES (?, ?, ?)",
                (name, public_key, now),
            )

        await self._write(work)
        return ProfileRecord(name, public_key, now)

    async def _set_profile_key(self, name: str, public_key: bytes) -> None:
        def work(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "UPDATE profiles SET public_key = ? WHERE name = ?", (public_key, name)
            ).rowcount

        if not await self._write(work):
            raise NotFoundError(f"no profile '{name}'")

    # chats ------------------------------------------------------------------------------
    async def list_chats(self, profile: str, personality: str | None = None) -> list[ChatRecord]:
        """The profile's chats, most recently active first, optionally of one personality."""
        sql = f"SELECT {CHAT_COLUMNS} FROM chats c WHERE c.profile = ? AND {NOT_STAGED}"
        params: tuple[str, ...] = (profile,)
        if personality is not None:
            sql += " AND c.personality = ?"
            params += (personality,)
        sql += " ORDER BY c.updated DESC, c.id DESC"
        return await self._read(
            lambda conn: [chat_record(row) for row in conn.execute(sql, params)]
        )

    async def _get_chat(self, profile: str, name: str) -> ChatRecord:
        def work(conn: sqlite3.Connection) -> ChatRecord:
            row = conn.execute(
                f"SELECT {CHAT_COLUMNS} FROM chats c WHERE c.profile = ? AND c.name = ?",
                (profile, name),
            ).fetchone()
            if row is None:
                raise rules.no_chat(name)
            return chat_record(row)

        return await self._read(work)

    async def _create_chat(
        self, profile: str, name: str, personality: str, provider: str, model: str
    ) -> ChatRecord:
        def work(conn: sqlite3.Connection) -> ChatRecord:
            remembers = (personality, provider, model)
            chat_id = _insert_chat(conn, profile, name, remembers, time.time())
            return _chat_by_id(conn, chat_id)

        return await self._write(work)

    async def _update_chat(self, profile: str, name: str, changes: ChatChanges) -> ChatRecord:
        def work(conn: sqlite3.Connection) -> ChatRecord:
            chat_id = chat_id_of(conn, profile, name)
            if changes:
                assignments = ", ".join(f"{column} = ?" for column in changes)
                conn.execute(
                    f"UPDATE chats SET {assignments} WHERE id = ?", (*changes.values(), chat_id)
                )
            return _chat_by_id(conn, chat_id)

        return await self._write(work)

    async def _rename_chat(self, profile: str, name: str, new_name: str) -> ChatRecord:
        def work(conn: sqlite3.Connection) -> ChatRecord:
            chat_id = chat_id_of(conn, profile, name)
            if new_name != name:
                _ensure_chat_free(conn, profile, new_name)
                conn.execute("UPDATE chats SET name = ? WHERE id = ?", (new_name, chat_id))
            return _chat_by_id(conn, chat_id)

        return await self._write(work)

    async def _delete_chat(self, profile: str, name: str) -> None:
        """The chat goes at once: one small write gives it a staging name (so it shows
        nowhere and its name is free); its messages then go in slices, each a write of
        its own, so that deleting a long chat neither holds the writer for long nor needs
        more disk than a slice (every page a delete touches is written to the WAL: a chat
        of 11 MB wrote 10 MB). If the server dies midway, :meth:`interrupt_orphans`
        finishes it."""

        def hide(conn: sqlite3.Connection) -> int:
            chat_id = chat_id_of(conn, profile, name)
            conn.execute(
                "UPDATE chats SET name = ?, updated = ? WHERE id = ?",
                (f"{STAGING}{uuid.uuid4().hex}", time.time(), chat_id),
            )
            return chat_id

        def some_messages(conn: sqlite3.Connection, chat_id: int) -> int:
            return conn.execute(
                "DELETE FROM messages WHERE id IN"
                " (SELECT id FROM messages WHERE chat_id = ? ORDER BY id DESC LIMIT ?)",
                (chat_id, DELETE_SLICE),
            ).rowcount

        def last(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM chats WHERE id = ?", (chat_id,))
            sweep_images(conn, profile)

        chat_id = await self._write(hide, frees=True)
        while await self._write(functools.partial(some_messages, chat_id=chat_id), frees=True):
            pass
        await self._write(last, frees=True)

    async def _fork_chat(
        self, profile: str, name: str, new_name: str, upto: int | None
    ) -> ChatRecord:
        """Like an import: the copy is made under a staging name, its messages copied in
        slices (those there when the fork began), and it takes its name in the last
        write; if anything fails, it is deleted."""
        now = time.time()
        source: dict[str, int] = {}

        def begin(conn: sqlite3.Connection) -> int:
            chat = _chat_by_id(conn, chat_id_of(conn, profile, name))
            if upto is not None:
                _ensure_message_in(conn, chat.id, upto)
            _ensure_chat_free(conn, profile, new_name)
            bound = conn.execute(
                "SELECT max(id) FROM messages WHERE chat_id = ? AND id <= ?",
                (chat.id, LAST_ID if upto is None else upto),
            ).fetchone()[0]
            source.update(id=chat.id, bound=bound or 0)
            remembers = (chat.personality, chat.provider, chat.model)
            return _insert_chat(conn, profile, f"{STAGING}{uuid.uuid4().hex}", remembers, now)

        def copy(conn: sqlite3.Connection, chat_id: int, after: int) -> int | None:
            upper = conn.execute(
                "SELECT max(id) FROM (SELECT id FROM messages WHERE chat_id = ? AND id > ?"
                " AND id <= ? ORDER BY id LIMIT ?)",
                (source["id"], after, source["bound"], IMPORT_SLICE),
            ).fetchone()[0]
            if upper is not None:
                conn.execute(
                    "INSERT INTO messages (chat_id, role, content, status, provider, model,"
                    " usage, error, tokens, created, updated) SELECT ?, role, content, CASE"
                    " status WHEN 'streaming' THEN 'interrupted' ELSE status END, provider,"
                    " model, usage, error, tokens, created, updated FROM messages"
                    " WHERE chat_id = ? AND id > ? AND id <= ? ORDER BY id",
                    (chat_id, source["id"], after, upper),
                )
                conn.execute("UPDATE chats SET updated = ? WHERE id = ?", (time.time(), chat_id))
            return cast("int | None", upper)

        def finish(conn: sqlite3.Connection, chat_id: int) -> ChatRecord:
            _ensure_chat_free(conn, profile, new_name)
            conn.execute(
                "UPDATE chats SET name = ?, updated = ? WHERE id = ?", (new_name, now, chat_id)
            )
            return _chat_by_id(conn, chat_id)

        begun = asyncio.ensure_future(self._write(begin))
        try:
            chat_id = await asyncio.shield(begun)
            after: int | None = 0
            while after is not None:
                after = await self._write(functools.partial(copy, chat_id=chat_id, after=after))
            return await self._write(functools.partial(finish, chat_id=chat_id))
        except BaseException:
            await asyncio.shield(asyncio.ensure_future(self._drop_staged(begun, profile)))
            raise

    async def _import_chat(
        self, profile: str, name: str, personality: str, messages: list[NewMessage]
    ) -> ChatRecord:
        """In slices, so that a large import never holds the writer (and every reply's
        checkpoint) for long: the messages go into a chat under a staging name no user can
        give (:data:`STAGING`, hidden from :meth:`list_chats`), which takes its name in the
        last write. Until then nothing of it shows; if anything fails, it is deleted (and
        one left by a killed server is swept by :meth:`interrupt_orphans`)."""
        now = time.time()
        staging = f"{STAGING}{uuid.uuid4().hex}"

        def begin(conn: sqlite3.Connection) -> int:
            _ensure_chat_free(conn, profile, name)
            return _insert_chat(conn, profile, staging, (personality, "", ""), now)

        def finish(conn: sqlite3.Connection) -> ChatRecord:
            _ensure_chat_free(conn, profile, name)
            conn.execute(
                "UPDATE chats SET name = ?, updated = ? WHERE id = ?", (name, now, chat_id)
            )
            return _chat_by_id(conn, chat_id)

        begun = asyncio.ensure_future(self._write(begin))
        try:
            chat_id = await asyncio.shield(begun)  # cancelled or not, it goes on
            for part in _slices(messages):
                rows = [_imported(chat_id, m, now) for m in part]
                images = [image for m in part for image in m.images]
                await self._write(
                    functools.partial(
                        _insert_slice, chat_id=chat_id, rows=rows, profile=profile, images=images
                    )
                )
            return await self._write(finish)
        except BaseException:
            await asyncio.shield(asyncio.ensure_future(self._drop_staged(begun, profile)))
            raise

    async def _drop_staged(self, begun: asyncio.Future[int], profile: str) -> None:
        """Delete the staged chat of an import that failed or was cancelled (and the
        images only it named), once its first write is done (if that failed, there is
        nothing to delete); if this fails too, it stays hidden until
        :meth:`interrupt_orphans` sweeps it."""

        def drop(conn: sqlite3.Connection, chat_id: int) -> None:
            conn.execute("DELETE FROM chats WHERE id = ?", (chat_id,))
            sweep_images(conn, profile)

        with contextlib.suppress(Exception):
            chat_id = await begun
            await self._write(functools.partial(drop, chat_id=chat_id), frees=True)

    # messages ---------------------------------------------------------------------------
    async def _messages(
        self,
        profile: str,
        chat: str,
        before: int | None,
        limit: int | None,
        after: int | None = None,
    ) -> list[MessageRecord]:
        order = "DESC" if after is None else "ASC"

        def work(conn: sqlite3.Connection) -> list[MessageRecord]:
            chat_id = chat_id_of(conn, profile, chat)
            rows = conn.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM messages m"
                " WHERE m.chat_id = ? AND m.id < ? AND m.id > ?"
                f" ORDER BY m.id {order} LIMIT ?",
                (
                    chat_id,
                    LAST_ID if before is None else before,
                    -1 if after is None else after,
                    -1 if limit is None else limit,
                ),
            ).fetchall()
            records = [message_record(row) for row in rows]
            return records if after is not None else records[::-1]

        return await self._read(work)

    async def _add_messages(
        self, profile: str, chat: str, messages: list[NewMessage]
    ) -> list[MessageRecord]:
        now = time.time()
        rows = [message_columns(m) for m in messages]

        images = [image for m in messages for image in m.images]

        def work(conn: sqlite3.Connection) -> tuple[int, list[Any]]:
            chat_id = chat_id_of(conn, profile, chat)
            keep_images(conn, profile, images, now)
            ids = [
                conn.execute(_INSERT_MESSAGE, (chat_id, *row, now, now)).lastrowid for row in rows
            ]
            for message, message_id in zip(messages, ids, strict=True):
                if IMAGE_REF in message.content:
                    names_kept_images(conn, profile, int(message_id or 0))
            if rows:
                _touch(conn, chat_id, now)
            return chat_id, ids

        chat_id, ids = await self._write(work)
        return [
            message_record((i, chat_id, *row[:-1], now, now, row[-1]))
            for i, row in zip(ids, rows, strict=True)
        ]

    async def _update_message(
        self,
        profile: str,
        message_id: int,
        changes: MessageChanges,
        images: tuple[ImageIn, ...] = (),
    ) -> None:
        values: dict[str, Any] = {**changes, "updated": time.time()}
        assignments = ", ".join(f"{column} = ?" for column in values)

        def work(conn: sqlite3.Connection) -> None:
            keep_images(conn, profile, images, values["updated"])
            # only an image the old content named and the new one does not can be freed
            # (a reply's checkpoints only add): the rows of message_images, by primary key
            before: set[str] = set()
            if "content" in changes:
                before = _named_by(conn, message_id)
            rows = conn.execute(
                f"UPDATE messages SET {assignments} WHERE id = ? AND {IN_PROFILE}"
                " RETURNING chat_id",
                (*values.values(), message_id, profile),
            ).fetchall()
            if not rows:
                raise rules.no_message(message_id)
            if IMAGE_REF in changes.get("content", ""):
                names_kept_images(conn, profile, message_id)
            _touch(conn, rows[0][0], values["updated"])
            if before and before - _named_by(conn, message_id):
                sweep_images(conn, profile)

        # a change of status or error only (a reply cut off, marked) adds nothing: it may
        # use the reserve on a full disk
        await self._write(work, frees="content" not in changes)

    async def _delete_messages_from(self, profile: str, chat: str, message_id: int) -> int:
        def work(conn: sqlite3.Connection) -> int:
            chat_id = chat_id_of(conn, profile, chat)
            _ensure_message_in(conn, chat_id, message_id)
            named = conn.execute(  # (a regenerate of a text chat scans no images)
                "SELECT 1 FROM message_images mi JOIN messages m ON m.id = mi.message_id"
                " WHERE m.chat_id = ? AND m.id >= ? LIMIT 1",
                (chat_id, message_id),
            ).fetchone()
            cur = conn.execute(
                "DELETE FROM messages WHERE chat_id = ? AND id >= ?", (chat_id, message_id)
            )
            _touch(conn, chat_id, time.time())
            if named is not None:
                sweep_images(conn, profile)
            return cur.rowcount

        return await self._write(work, frees=True)

    async def _search(self, profile: str, query: str, limit: int) -> list[SearchHit]:
        """BM25 order. A query that is not valid FTS5 syntax (``"foo``, ``a AND``) is
        searched as plain words."""

        def work(conn: sqlite3.Connection) -> list[SearchHit]:
            try:
                return self._match(conn, profile, query, limit)
            except sqlite3.OperationalError:
                plain = quoted(query)
                return self._match(conn, profile, plain, limit) if plain else []

        return await self._read(work)

    @staticmethod
    def _match(conn: sqlite3.Connection, profile: str, query: str, limit: int) -> list[SearchHit]:
        rows = conn.execute(
            "SELECT c.name, m.id, m.role,"
            " snippet(messages_fts, 0, ?, ?, '…', ?), m.created"
            " FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid"
            " JOIN chats c ON c.id = m.chat_id"
            f" WHERE messages_fts MATCH ? AND c.profile = ? AND {NOT_STAGED}"
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
        return await self._read(
            lambda conn: [
                PromptRecord(*row)
                for row in conn.execute(
                    "SELECT name, text, updated FROM prompts WHERE profile = ? ORDER BY name",
                    (profile,),
                )
            ]
        )

    async def _get_prompt(self, profile: str, name: str) -> PromptRecord:
        row = await self._read(
            lambda conn: conn.execute(
                "SELECT name, text, updated FROM prompts WHERE profile = ? AND name = ?",
                (profile, name),
            ).fetchone()
        )
        if row is None:
            raise rules.no_prompt(name)
        return PromptRecord(*row)

    async def _set_prompt(self, profile: str, name: str, text: str) -> PromptRecord:
        record = PromptRecord(name, text, time.time())
        await self._write(
            lambda conn: conn.execute(
                "INSERT INTO prompts (profile, name, text, updated) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (profile, name) DO UPDATE"
                " SET text = excluded.text, updated = excluded.updated",
                (profile, record.name, record.text, record.updated),
            )
        )
        return record

    async def _rename_prompt(self, profile: str, name: str, new_name: str) -> PromptRecord:
        def work(conn: sqlite3.Connection) -> PromptRecord:
            row = conn.execute(
                "SELECT text, updated FROM prompts WHERE profile = ? AND name = ?",
                (profile, name),
            ).fetchone()
            if row is None:
                raise rules.no_prompt(name)
            if new_name != name:
                self._ensure_prompt_free(conn, profile, new_name)
                conn.execute(
                    "UPDATE prompts SET name = ? WHERE profile = ? AND name = ?",
                    (new_name, profile, name),
                )
            return PromptRecord(new_name, row[0], row[1])

        return await self._write(work)

    @staticmethod
    def _ensure_prompt_free(conn: sqlite3.Connection, profile: str, name: str) -> None:
        taken = conn.execute(
            "SELECT 1 FROM prompts WHERE profile = ? AND name = ?", (profile, name)
        ).fetchone()
        if taken is not None:
            raise rules.prompt_taken(name)

    async def _delete_prompt(self, profile: str, name: str) -> None:
        def work(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "DELETE FROM prompts WHERE profile = ? AND name = ?", (profile, name)
            )
            if cur.rowcount == 0:
                raise rules.no_prompt(name)

        await self._write(work, frees=True)


def _named_by(conn: sqlite3.Connection, message_id: int) -> set[str]:
    """The digests of the images message ``message_id`` names."""
    rows = conn.execute("SELECT digest FROM message_images WHERE message_id = ?", (message_id,))
    return {row[0] for row in rows}
