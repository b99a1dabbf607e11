"""Reply leases and kept token counts, the parts of
:class:`~chatthy.store.sqlite.SQLiteStore` that let several servers share one file.

A server that runs a chat's reply holds that chat's lease (``reply_leases``: owner and
expiry) and renews it while the reply runs; only the holder may run a reply there. A
``streaming`` message whose chat has no live lease was cut off (its server died, or its
lease ran out) and is marked ``interrupted`` by whichever server finds it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from typing import Any, TypeVar, cast

from chatthy.errors import ConflictError
from chatthy.store._sqlite_images import sweep_images
from chatthy.store._sqlite_support import chat_id_of
from chatthy.store._sqlite_threads import Work
from chatthy.store.rules import key

__all__ = ["STAGED_FOR", "RepliesMixin"]

STAGED_FOR = 600.0
"""Seconds after an import's last slice, or a deletion's start, that it counts as
abandoned (its server was killed)."""

T = TypeVar("T")


class RepliesMixin:
    """Leases and token counts on the store's connection; the store gives transactions."""

    async def _write(self, work: Work[T], *, frees: bool = False) -> T:
        raise NotImplementedError

    async def _read(self, work: Work[T]) -> T:
        raise NotImplementedError

    async def claim_reply(self, profile: str, chat: str, owner: str, ttl: float) -> None:
        """Take ``chat``'s lease for ``owner`` for ``ttl`` seconds.

        Raises:
            NotFoundError: no such chat.
            ConflictError: another owner holds a lease that has not run out.
        """
        now = time.time()

        def work(conn: sqlite3.Connection) -> None:
            chat_id = chat_id_of(conn, profile, key(chat))
            held = conn.execute(
                "SELECT owner, until FROM reply_leases WHERE chat_id = ?", (chat_id,)
            ).fetchone()
            if held is not None and held[0] != owner and held[1] > now:
                raise ConflictError(
                    f"a reply is already running in chat '{key(chat)}' on another server"
                )
            conn.execute(
                "INSERT OR REPLACE INTO reply_leases (chat_id, owner, until) VALUES (?, ?, ?)",
                (chat_id, owner, now + ttl),
            )

        await self._write(work)

    async def release_reply(self, profile: str, chat: str, owner: str) -> None:
        """Give back ``owner``'s lease of ``chat`` (nothing if it holds none)."""
        await self._write(
            lambda conn: conn.execute(
                "DELETE FROM reply_leases WHERE owner = ? AND chat_id ="
                " (SELECT id FROM chats WHERE profile = ? AND name = ?)",
                (owner, profile, key(chat)),
            ),
            frees=True,
        )

    async def renew_replies(self, owner: str, ttl: float) -> int:
        """Extend every lease ``owner`` holds; returns how many it holds."""
        until = time.time() + ttl
        return await self._write(
            lambda conn: (
                conn.execute(
                    "UPDATE reply_leases SET until = ? WHERE owner = ?", (until, owner)
                ).rowcount
            ),
            frees=True,
        )

    async def reply_owners(self) -> list[str]:
        """Everyone holding a lease now, run out or not."""
        rows = await self._read(
            lambda conn: conn.execute("SELECT DISTINCT owner FROM reply_leases").fetchall()
        )
        return [row[0] for row in rows]

    async def interrupt_orphans(self, dead: Sequence[str] = ()) -> int:
        """Drop the leases of the ``dead`` owners and every lease that ran out, then mark
        each ``streaming`` message whose chat has no lease left ``interrupted`` (its text
        kept as far as it got); and delete any import or deletion of a chat left
        unfinished for :data:`STAGED_FOR` seconds (its server was killed). Returns how many
        messages were marked."""
        now = time.time()

        def work(conn: sqlite3.Connection) -> int:
            conn.executemany("DELETE FROM reply_leases WHERE owner = ?", [(d,) for d in dead])
            conn.execute("DELETE FROM reply_leases WHERE until <= ?", (now,))
            # an import or a deletion its server did not finish (killed): staged, unseen
            gone = conn.execute(
                "DELETE FROM chats WHERE substr(name, 1, 1) = char(31) AND updated < ?",
                (now - STAGED_FOR,),
            ).rowcount
            if gone:
                sweep_images(conn, None)
            cur = conn.execute(
                "UPDATE messages SET status = 'interrupted', updated = ?"
                " WHERE status = 'streaming'"
                " AND chat_id NOT IN (SELECT chat_id FROM reply_leases)",
                (now,),
            )
            return cur.rowcount

        return await self._write(work, frees=True)

    async def message_tokens(
        self, profile: str, chat: str, newest: int | None = None
    ) -> list[tuple[int, str, int | None]]:
        """``(id, role, tokens)`` of the chat's messages in order (only the ``newest``
        ones when given), without their content: what fitting a long chat into a context
        needs. ``tokens`` is None until counted. Raises NotFoundError."""

        def work(conn: sqlite3.Connection) -> list[Any]:
            chat_id = chat_id_of(conn, profile, key(chat))
            if newest is None:
                rows = conn.execute(
                    "SELECT id, role, tokens FROM messages WHERE chat_id = ? ORDER BY id",
                    (chat_id,),
                ).fetchall()
            else:
                rows = conn.execute(
                    "SELECT id, role, tokens FROM messages WHERE chat_id = ?"
                    " ORDER BY id DESC LIMIT ?",
                    (chat_id, newest),
                ).fetchall()
                rows.reverse()
            return rows

        rows = await self._read(work)
        return cast(list[tuple[int, str, int | None]], rows)

    async def tokens_before(self, profile: str, chat: str, message_id: int) -> tuple[int, int, int]:
        """Of the chat's messages before ``message_id``: how many, the sum of their
        counts, and how many are not counted yet. Raises NotFoundError."""

        def work(conn: sqlite3.Connection) -> Any:
            chat_id = chat_id_of(conn, profile, key(chat))
            return conn.execute(
                "SELECT COUNT(*), TOTAL(tokens), COUNT(tokens) FROM messages"
                " WHERE chat_id = ? AND id < ?",
                (chat_id, message_id),
            ).fetchone()

        count, total, counted = await self._read(work)
        return int(count), int(total), int(count - counted)

    async def set_message_tokens(self, profile: str, counts: Sequence[tuple[int, int]]) -> None:
        """Keep ``(id, tokens)`` counts of the profile's messages (others are ignored)."""
        if not counts:
            return
        await self._write(
            lambda conn: conn.executemany(
                "UPDATE messages SET tokens = ? WHERE id = ? AND chat_id IN"
                " (SELECT id FROM chats WHERE profile = ?)",
                [(tokens, message_id, profile) for message_id, tokens in counts],
            )
        )
