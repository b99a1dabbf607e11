"""Rows → records, the same for every backend: the columns read of ``messages``,
``chats``, ``workspace_files`` and ``rag_documents``, a checked message as the columns
of ``messages``, and a row read as its record. Content and usage are kept as JSON text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from chatthy.store.base import ChatRecord, MessageRecord, RagDocumentRecord, WorkspaceFileRecord
from chatthy.store.rules import NewMessage

__all__ = [
    "CHAT_COLUMNS",
    "DOCUMENT_COLUMNS",
    "LAST_ID",
    "MESSAGE_COLUMNS",
    "WORKSPACE_COLUMNS",
    "chat_record",
    "document_record",
    "message_columns",
    "message_record",
    "workspace_record",
]

_decode = msgspec.json.Decoder().decode

LAST_ID = 2**63 - 1
"""Above every message id: ``id < LAST_ID`` is "no bound" (and keeps an index's range)."""
MESSAGE_COLUMNS = (
    "m.id, m.chat_id, m.role, m.content, m.status, m.provider, m.model, m.usage, m.error,"
    " m.created, m.updated, m.tokens"
)
CHAT_COLUMNS = (
    "c.id, c.name, c.personality, c.provider, c.model, c.created, c.updated,"
    " (SELECT count(*) FROM messages m WHERE m.chat_id = c.id)"
)
WORKSPACE_COLUMNS = "name, text, source, benched, created, updated"
DOCUMENT_COLUMNS = (
    "d.id, d.name, d.source, d.digest, d.bytes, d.chunks, d.embedder, d.dim, d.stored,"
    " d.created, d.updated"
)


def message_columns(message: NewMessage) -> tuple[Any, ...]:
    """A checked message as the columns role … error, tokens of ``messages``."""
    return (
        message.role,
        message.content,
        message.status,
        message.provider,
        message.model,
        message.usage,
        message.error,
        message.tokens,
    )


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


def workspace_record(row: Sequence[Any]) -> WorkspaceFileRecord:
    name, text, source, benched, created, updated = row
    return WorkspaceFileRecord(name, text, source, bool(benched), created, updated)


def document_record(row: Sequence[Any]) -> RagDocumentRecord:
    return RagDocumentRecord(*row)
