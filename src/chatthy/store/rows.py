"""Rows → records, the same for every backend: a checked message as the columns of
``messages``, and a row of ``messages`` or ``chats`` (with its count) as its record.
Content and usage are kept as JSON text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from chatthy.store.base import ChatRecord, MessageRecord
from chatthy.store.rules import NewMessage

__all__ = ["chat_record", "message_columns", "message_record"]

_decode = msgspec.json.Decoder().decode


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
