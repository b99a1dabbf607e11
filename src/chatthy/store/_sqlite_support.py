"""Errors, value checks and row conversions of :mod:`chatthy.store.sqlite`.

Kept apart so that the store module reads as its transactions. Nothing here touches a
connection except :func:`rollback`; everything raises chatthy's own errors.
"""

from __future__ import annotations

import contextlib
import sqlite3
import unicodedata
from collections.abc import Iterator, Sequence
from typing import Any, cast

import msgspec

from chatthy.errors import ArgumentError, StoreError
from chatthy.store.base import STATUSES, ChatRecord, MessageRecord, Status

__all__ = [
    "CHAT_COLUMNS",
    "IN_PROFILE",
    "LAST_ID",
    "MESSAGE_COLUMNS",
    "NAME_MAX",
    "SNIPPET_TOKENS",
    "chat_record",
    "describe",
    "imported_row",
    "key",
    "message_record",
    "new_message_row",
    "new_message_row_of",
    "quoted",
    "rollback",
    "to_json",
    "translated",
    "usage_json",
    "valid_name",
    "valid_role",
    "valid_status",
    "valid_text",
    "valid_workspace_name",
]

NAME_MAX = 200
"""The longest chat, prompt or profile name, in characters."""
SNIPPET_TOKENS = 12
"""How many words a search snippet shows around its match."""
LAST_ID = 2**63 - 1
"""Above every message id: ``id < LAST_ID`` is "no bound"."""
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode

MESSAGE_COLUMNS = (
    "m.id, m.chat_id, m.role, m.content, m.status, m.provider, m.model, m.usage, m.error,"
    " m.created, m.updated, m.tokens"
)
CHAT_COLUMNS = (
    "c.id, c.name, c.personality, c.provider, c.model, c.created, c.updated,"
    " (SELECT count(*) FROM messages m WHERE m.chat_id = c.id)"
)
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
        raise StoreError(describe(exc)) from exc


def rollback(conn: sqlite3.Connection) -> None:
    """End a transaction that failed; a second failure must not hide the first."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


# checking what callers pass -----------------------------------------------------------
def valid_name(kind: str, name: object) -> str:
    """The stripped name, or ArgumentError saying why it cannot name a chat or prompt."""
    if not isinstance(name, str):
        raise ArgumentError(f"{kind} name must be text")
    name = name.strip()
    if not name:
        raise ArgumentError(f"{kind} name is empty")
    if len(name) > NAME_MAX:
        raise ArgumentError(f"{kind} name is longer than {NAME_MAX} characters")
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in name):
        raise ArgumentError(f"{kind} name contains a control character")
    return name


def valid_workspace_name(name: object) -> str:
    """The stripped name, or ArgumentError saying why it cannot name a workspace file.

    A name is a label, ``/``-separated like a relative POSIX path (``docs/sub/colour.md``),
    that no store or client may mistake for a way out of the profile's workspace: no
    leading ``/``, no backslash, no ``.``, ``..`` or empty segment.
    """
    name = valid_name("workspace file", name)
    if name.startswith("/"):
        raise ArgumentError(f"workspace file name {name!r} starts with '/'")
    if "\\" in name:
        raise ArgumentError(f"workspace file name {name!r} contains a backslash")
    if any(segment in ("", ".", "..") for segment in name.split("/")):
        raise ArgumentError(
            f"workspace file name {name!r} has an empty, '.' or '..' part between '/'s"
        )
    return name


def key(name: object) -> str:
    """A name as given to a lookup, normalised as :func:`valid_name` stores it."""
    if not isinstance(name, str):
        raise ArgumentError("name must be text")
    return name.strip()


def valid_status(status: object) -> Status:
    if status not in STATUSES:
        raise ArgumentError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    return cast(Status, status)


def valid_role(role: object) -> str:
    if not isinstance(role, str) or not role.strip():
        raise ArgumentError("message role must be non-empty text")
    return role


def valid_text(what: str, value: object) -> str:
    if not isinstance(value, str):
        raise ArgumentError(f"{what} must be text")
    return value


def to_json(what: str, value: object) -> str:
    """``value`` as JSON text, or ArgumentError if it cannot be stored as JSON."""
    try:
        return _encode(value).decode()
    except (TypeError, ValueError, msgspec.EncodeError) as exc:
        raise ArgumentError(f"{what} cannot be stored as JSON: {exc}") from None


def usage_json(usage: object) -> str | None:
    if usage is None:
        return None
    if not isinstance(usage, dict):
        raise ArgumentError("usage must be a mapping of names to token counts")
    return to_json("usage", usage)


_NEW_MESSAGE_FIELDS = frozenset(
    {"role", "content", "status", "provider", "model", "usage", "error"}
)


def new_message_row(
    role: object,
    content: object,
    status: object = "complete",
    provider: object = "",
    model: object = "",
    usage: object = None,
    error: object = "",
) -> tuple[Any, ...]:
    """A message to append, checked, as the columns role … error of ``messages``."""
    return (
        valid_role(role),
        to_json("content", content),
        valid_status(status),
        valid_text("provider", provider),
        valid_text("model", model),
        usage_json(usage),
        valid_text("error", error),
    )


def new_message_row_of(message: object) -> tuple[Any, ...]:
    """One dict of :meth:`SQLiteStore.add_messages` as :func:`new_message_row`."""
    if not isinstance(message, dict):
        raise ArgumentError("each message to add must be a mapping")
    if "role" not in message or "content" not in message:
        raise ArgumentError("a message to add needs a role and content")
    unknown = sorted(str(k) for k in message if k not in _NEW_MESSAGE_FIELDS)
    if unknown:
        raise ArgumentError(f"unknown message field(s): {', '.join(unknown)}")
    return new_message_row(**message)


# rows → records -----------------------------------------------------------------------
def message_record(row: Sequence[Any]) -> MessageRecord:
    return MessageRecord(
        id=row[0],
        chat_id=row[1],
        role=row[2],
        content=_decode(row[3]),
        status=row[4],
        provider=row[5],
        model=row[6],
        usage=None if row[7] is None else _decode(row[7]),
        error=row[8],
        created=row[9],
        updated=row[10],
        tokens=row[11],
    )


def chat_record(row: Sequence[Any]) -> ChatRecord:
    return ChatRecord(
        id=row[0],
        name=row[1],
        personality=row[2],
        provider=row[3],
        model=row[4],
        created=row[5],
        updated=row[6],
        messages=row[7],
    )


_OPERATORS = frozenset({"AND", "OR", "NOT"})


def quoted(query: str) -> str:
    """The query's words as FTS5 strings, so that no character is read as syntax.

    Used when the query as typed is not valid FTS5: a stray ``AND``/``OR``/``NOT`` was
    meant as an operator, so it is dropped rather than required as a word.
    """
    words = [w for w in query.split() if any(ch.isalnum() for ch in w) and w not in _OPERATORS]
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)


def imported_row(chat_id: int, message: object, now: float) -> tuple[Any, ...]:
    """One dict of :meth:`SQLiteStore.import_chat` as a row of ``messages``."""
    if not isinstance(message, dict):
        raise ArgumentError("each imported message must be a mapping")
    if "content" not in message:
        raise ArgumentError("an imported message has no content")
    status = valid_status(message.get("status", "complete"))
    created = message.get("created", now)
    if not isinstance(created, int | float) or isinstance(created, bool):
        raise ArgumentError("an imported message's created time must be a number")
    return (
        chat_id,
        valid_role(message.get("role")),
        to_json("content", message["content"]),
        "interrupted" if status == "streaming" else status,
        valid_text("provider", message.get("provider", "")),
        valid_text("model", message.get("model", "")),
        usage_json(message.get("usage")),
        valid_text("error", message.get("error", "")),
        float(created),
        float(created),
    )
