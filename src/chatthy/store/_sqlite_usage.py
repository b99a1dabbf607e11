"""How much a profile stores, the part of :class:`~chatthy.store.sqlite.SQLiteStore` the
server's quota of stored bytes reads."""

from __future__ import annotations

import sqlite3
from typing import TypeVar

from chatthy.store._sqlite_threads import Work

__all__ = ["UsageMixin"]

T = TypeVar("T")


class UsageMixin:
    """Sums over the store's reading connections; the store runs the work."""

    async def _read(self, work: Work[T]) -> T:
        raise NotImplementedError  # the store's

    async def stored_bytes(self, profile: str) -> int:
        """Bytes the profile stores: the UTF-8 of its messages' content, workspace files
        and personalities, its images, and its RAG documents' chunks with their vectors (each
        document keeps its sum, so this reads one row per document, not every chunk)."""

        def work(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT"
                " (SELECT COALESCE(SUM(LENGTH(CAST(m.content AS BLOB))), 0) FROM messages m"
                "  JOIN chats c ON c.id = m.chat_id WHERE c.profile = ?1)"
                " + (SELECT COALESCE(SUM(LENGTH(CAST(text AS BLOB))), 0) FROM workspace_files"
                "  WHERE profile = ?1)"
                " + (SELECT COALESCE(SUM(LENGTH(CAST(text AS BLOB))), 0) FROM prompts"
                "  WHERE profile = ?1)"
                " + (SELECT COALESCE(SUM(stored), 0) FROM rag_documents WHERE profile = ?1)"
                " + (SELECT COALESCE(SUM(size), 0) FROM images WHERE profile = ?1)",
                (profile,),
            ).fetchone()
            return int(row[0])

        return await self._read(work)
