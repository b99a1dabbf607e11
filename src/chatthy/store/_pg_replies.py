"""Reply leases, kept token counts and stored bytes: the parts of
:class:`~chatthy.store.postgres.PostgresStore` that the servers sharing one database
coordinate through.

A server that runs a chat's reply holds that chat's lease (``reply_leases``: owner and
expiry) and renews it while the reply runs; only the holder may run a reply there. A
claim is one ``INSERT … ON CONFLICT DO UPDATE … WHERE``: PostgreSQL takes the row lock,
so of two servers claiming one chat at once, the second waits for the first's commit,
then finds a live lease of another owner and updates nothing: exactly one wins. A
``streaming`` message whose chat has no live lease was cut off (its server died, or its
lease ran out) and is marked ``interrupted`` by whichever server finds it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from chatthy.errors import ConflictError
from chatthy.store._pg_rows import chat_id_of
from chatthy.store._pg_support import PgBase
from chatthy.store.rules import key

if TYPE_CHECKING:
    from psycopg import AsyncConnection


__all__ = ["PgRepliesMixin"]


_STORED_BYTES = (
    "SELECT (SELECT COALESCE(SUM(octet_length(m.content)), 0) FROM messages m"
    "  JOIN chats c ON c.id = m.chat_id WHERE c.profile = %(p)s)"
    " + (SELECT COALESCE(SUM(octet_length(text)), 0) FROM prompts WHERE profile = %(p)s)"
    " + (SELECT COALESCE(SUM(size), 0) FROM images WHERE profile = %(p)s)"
    " + (SELECT COALESCE(SUM(octet_length(text)), 0) FROM workspace_files"
    "  WHERE profile = %(p)s)"
    " + (SELECT COALESCE(SUM(stored), 0) FROM rag_documents WHERE profile = %(p)s)"
)


class PgRepliesMixin(PgBase):
    """Leases, token counts and sums; the store gives the transactions."""

    # leases -----------------------------------------------------------------------------
    async def claim_reply(self, profile: str, chat: str, owner: str, ttl: float) -> None:
        """Take ``chat``'s lease for ``owner`` for ``ttl`` seconds.

        Raises:
            NotFoundError: no such chat.
            ConflictError: another owner holds a lease that has not run out.
        """
        now = time.time()

        async def work(conn: AsyncConnection[Any]) -> bool:
            chat_id = await chat_id_of(conn, profile, key(chat))
            cur = await conn.execute(
                "INSERT INTO reply_leases AS held (chat_id, owner, until)"
                " VALUES (%s, %s, %s) ON CONFLICT (chat_id) DO UPDATE"
                " SET owner = excluded.owner, until = excluded.until"
                " WHERE held.owner = excluded.owner OR held.until <= %s"
                " RETURNING 1",
                (chat_id, owner, now + ttl, now),
            )
            return await cur.fetchone() is not None

        if not await self._write(work):
            raise ConflictError(
                f"a reply is already running in chat '{key(chat)}' on another server"
            )

    async def release_reply(self, profile: str, chat: str, owner: str) -> None:
        """Give back ``owner``'s lease of ``chat`` (nothing if it holds none)."""

        async def work(conn: AsyncConnection[Any]) -> None:
            await conn.execute(
                "DELETE FROM reply_leases WHERE owner = %s AND chat_id ="
                " (SELECT id FROM chats WHERE profile = %s AND name = %s)",
                (owner, profile, key(chat)),
            )

        await self._write(work)

    async def renew_replies(self, owner: str, ttl: float) -> int:
        """Extend every lease ``owner`` holds; returns how many it holds."""
        until = time.time() + ttl

        async def work(conn: AsyncConnection[Any]) -> int:
            cur = await conn.execute(
                "UPDATE reply_leases SET until = %s WHERE owner = %s", (until, owner)
            )
            return cur.rowcount

        return await self._write(work)

    async def reply_owners(self) -> list[str]:
        """Everyone holding a lease now, run out or not."""

        async def work(conn: AsyncConnection[Any]) -> list[str]:
            cur = await conn.execute("SELECT DISTINCT owner FROM reply_leases ORDER BY owner")
            return [row[0] for row in await cur.fetchall()]

        return await self._read(work)

    async def interrupt_orphans(self, dead: Sequence[str] = ()) -> int:
        """Drop the leases of the ``dead`` owners and every lease that ran out, then mark
        each ``streaming`` message whose chat has no lease left ``interrupted`` (its text
        kept as far as it got). Returns how many messages were marked. (Imports and
        deletions are single transactions here: a killed server leaves none half done.)"""
        now = time.time()

        async def work(conn: AsyncConnection[Any]) -> int:
            await conn.execute(
                "DELETE FROM reply_leases WHERE owner = ANY(%s) OR until <= %s",
                (list(dead), now),
            )
            cur = await conn.execute(
                "UPDATE messages m SET status = 'interrupted', updated = %s"
                " WHERE m.status = 'streaming' AND NOT EXISTS"
                " (SELECT 1 FROM reply_leases l WHERE l.chat_id = m.chat_id)",
                (now,),
            )
            return cur.rowcount

        return await self._write(work)

    # token counts -----------------------------------------------------------------------
    async def message_tokens(
        self, profile: str, chat: str, newest: int | None = None
    ) -> list[tuple[int, str, int | None]]:
        """``(id, role, tokens)`` of the chat's messages in order (only the ``newest``
        ones when given), without their content: what fitting a long chat into a context
        needs. ``tokens`` is None until counted. Raises NotFoundError."""

        async def work(conn: AsyncConnection[Any]) -> list[tuple[int, str, int | None]]:
            chat_id = await chat_id_of(conn, profile, key(chat))
            cur = await conn.execute(
                "SELECT id, role, tokens FROM messages WHERE chat_id = %s"
                " ORDER BY id DESC LIMIT %s",
                (chat_id, newest),  # LIMIT NULL: all of them
            )
            rows = await cur.fetchall()
            return [(int(r[0]), str(r[1]), None if r[2] is None else int(r[2])) for r in rows]

        return (await self._read(work))[::-1]

    async def tokens_before(self, profile: str, chat: str, message_id: int) -> tuple[int, int, int]:
        """Of the chat's messages before ``message_id``: how many, the sum of their
        counts, and how many are not counted yet. Raises NotFoundError."""

        async def work(conn: AsyncConnection[Any]) -> tuple[int, int, int]:
            chat_id = await chat_id_of(conn, profile, key(chat))
            cur = await conn.execute(
                "SELECT count(*), COALESCE(SUM(tokens), 0), count(tokens) FROM messages"
                " WHERE chat_id = %s AND id < %s",
                (chat_id, message_id),
            )
            count, total, counted = await cur.fetchone() or (0, 0, 0)
            return int(count), int(total), int(count - counted)

        return await self._read(work)

    async def set_message_tokens(self, profile: str, counts: Sequence[tuple[int, int]]) -> None:
        """Keep ``(id, tokens)`` counts of the profile's messages (others are ignored)."""
        if not counts:
            return

        async def work(conn: AsyncConnection[Any]) -> None:
            await conn.execute(
                "UPDATE messages m SET tokens = counted.tokens"
                " FROM unnest(%s::bigint[], %s::bigint[]) AS counted (id, tokens), chats c"
                " WHERE m.id = counted.id AND c.id = m.chat_id AND c.profile = %s",
                ([i for i, _ in counts], [t for _, t in counts], profile),
            )

        await self._write(work)

    # stored bytes -----------------------------------------------------------------------
    async def stored_bytes(self, profile: str) -> int:
        """Bytes the profile stores: the UTF-8 of its messages' content, workspace files
        and personalities, its images, and its RAG documents (each keeps its sum)."""

        async def work(conn: AsyncConnection[Any]) -> int:
            cur = await conn.execute(_STORED_BYTES, {"p": profile})
            row = await cur.fetchone()
            return int(row[0]) if row else 0

        return await self._read(work)
