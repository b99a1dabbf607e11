"""Errors and row conversions of :mod:`chatthy.store.sqlite`.

Kept apart so that the store module reads as its transactions. Nothing here touches a
connection except :func:`rollback`; the checks of what callers pass live above every
backend, in :mod:`chatthy.store.rules`.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

from chatthy.errors import DiskFullError, StoreError
from chatthy.store.rows import chat_record, message_columns, message_record
from chatthy.store.rules import no_chat

__all__ = [
    "IN_PROFILE",
    "NOT_STAGED",
    "SNIPPET_TOKENS",
    "STAGING",
    "chat_id_of",
    "chat_record",
    "describe",
    "message_columns",
    "message_record",
    "quoted",
    "rollback",
    "translated",
]

STAGING = "\x1fstaged "
"""How the name of a chat being imported or deleted begins: a control character, which
no chat name a user gives may hold, so no one can reach or take it. An import takes its
name when complete; a deleted chat is gone for its user at once, its messages follow."""
NOT_STAGED = "substr(c.name, 1, 1) <> char(31)"
"""A chat row (``c``) that is not an import still under way."""
SNIPPET_TOKENS = 12
"""How many words a search snippet shows around its match."""
IN_PROFILE = "(SELECT profile FROM chats WHERE chats.id = messages.chat_id) = ?"
"""A message row (of table ``messages``) belongs to the profile: one primary-key lookup.
``chat_id IN (SELECT id FROM chats WHERE profile = ?)`` listed every chat of the profile
first, ~0.16 ms per call at 1,000 chats, on every checkpoint of every reply."""


# errors -------------------------------------------------------------------------------
_MESSAGES = {
    sqlite3.SQLITE_FULL: "disk full",
    sqlite3.SQLITE_BUSY: "database is locked by another process",
    sqlite3.SQLITE_LOCKED: "database is locked by another connection",
    sqlite3.SQLITE_CORRUPT: "database file is corrupt",
    sqlite3.SQLITE_NOTADB: "file is not a chatthy database",
    sqlite3.SQLITE_READONLY: "database is read-only",
    sqlite3.SQLITE_IOERR: "disk I/O error",
    sqlite3.SQLITE_CANTOPEN: "cannot open the database file",
    sqlite3.SQLITE_PERM: "no permission to use the database file",
}


def describe(exc: sqlite3.Error) -> str:
    """One line saying what went wrong, in a user's words where SQLite has a code for it."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in _MESSAGES:
        return _MESSAGES[code & 0xFF]
    if isinstance(exc, sqlite3.ProgrammingError) and "closed" in str(exc):
        return "the store is closed"
    first_line = (str(exc).splitlines() or [type(exc).__name__])[0]
    return f"database error: {first_line}"


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Turn any ``sqlite3`` error raised inside into ``StoreError`` (the layer's edge)."""
    try:
        yield
    except sqlite3.Error as exc:
        if (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF == sqlite3.SQLITE_FULL:
            raise DiskFullError(describe(exc)) from exc
        raise StoreError(describe(exc)) from exc


def rollback(conn: sqlite3.Connection) -> None:
    """End a transaction that failed; a second failure must not hide the first."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def chat_id_of(conn: sqlite3.Connection, profile: str, name: str) -> int:
    """The id of the profile's chat ``name`` (already stripped). Raises ``no_chat``."""
    row = conn.execute(
        "SELECT id FROM chats WHERE profile = ? AND name = ?", (profile, name)
    ).fetchone()
    if row is None:
        raise no_chat(name)
    return int(row[0])


# rows → records -----------------------------------------------------------------------
_OPERATORS = frozenset({"AND", "OR", "NOT"})


def quoted(query: str) -> str:
    """The query's words as FTS5 strings, so that no character is read as syntax.

    Used when the query as typed is not valid FTS5: a stray ``AND``/``OR``/``NOT`` was
    meant as an operator, so it is dropped rather than required as a word.
    """
    words = [w for w in query.split() if any(ch.isalnum() for ch in w) and w not in _OPERATORS]
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)
