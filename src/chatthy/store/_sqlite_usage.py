"""How much a profile stores, the part of :class:`~chatthy.store.sqlite.SQLiteStore` the
server's quota of stored bytes reads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["UsageMixin"]


class UsageMixin:
    """Sums over the store's connection; the store gives transactions."""

    _read: Callable[[], Any]

    async def stored_bytes(self, profile: str) -> int:
        """Bytes of UTF-8 the profile stores: its messages' content, workspace files and
        personalities."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT"
                " (SELECT COALESCE(SUM(LENGTH(CAST(m.content AS BLOB))), 0) FROM messages m"
                "  JOIN chats c ON c.id = m.chat_id WHERE c.profile = ?1)"
                " + (SELECT COALESCE(SUM(LENGTH(CAST(text AS BLOB))), 0) FROM workspace_files"
                "  WHERE profile = ?1)"
                " + (SELECT COALESCE(SUM(LENGTH(CAST(text AS BLOB))), 0) FROM prompts"
                "  WHERE profile = ?1)",
                (profile,),
            ).fetchone()
        return int(row[0])
