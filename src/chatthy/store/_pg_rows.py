"""What the transactions of :class:`~chatthy.store.postgres.PostgresStore` share: the
columns they read, rows turned into records, the lookups that raise chatthy's errors,
and the images kept beside the messages.

Images are kept once per profile by digest (``images``); which message names which is
kept by a trigger on ``messages`` (migration ``p001_initial``), and a foreign key ties
each of those rows to its image. So:

* a message naming an image the profile does not keep fails its own write (the key),
  which :func:`image_refusal` words as SQLite's store does;
* :func:`sweep_images` deletes the images no message names in the write that removed
  the last one, first locking them: a write of another server naming one of them holds
  a key-share lock on it until it commits, and the sweep then sees that message and
  keeps the image.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from chatthy.errors import ArgumentError
from chatthy.store import rules
from chatthy.store.base import ChatRecord, ImageIn
from chatthy.store.rows import CHAT_COLUMNS, chat_record

if TYPE_CHECKING:
    from psycopg import AsyncConnection

__all__ = [
    "chat_by_id",
    "chat_id_of",
    "ensure_chat_free",
    "ensure_message_in",
    "images_kept",
    "keep_images",
    "sweep_images",
    "touch",
]


_NO_LONGER_KEPT = "the message names an image that is no longer kept: send it again"


# lookups ------------------------------------------------------------------------------
async def chat_id_of(conn: AsyncConnection[Any], profile: str, name: str) -> int:
    """The id of the profile's chat ``name`` (already stripped). Raises ``no_chat``."""
    cur = await conn.execute(
        "SELECT id FROM chats WHERE profile = %s AND name = %s", (profile, name)
    )
    row = await cur.fetchone()
    if row is None:
        raise rules.no_chat(name)
    return int(row[0])


async def chat_by_id(conn: AsyncConnection[Any], chat_id: int) -> ChatRecord:
    cur = await conn.execute(f"SELECT {CHAT_COLUMNS} FROM chats c WHERE c.id = %s", (chat_id,))
    return chat_record(await cur.fetchone() or ())


async def ensure_chat_free(conn: AsyncConnection[Any], profile: str, name: str) -> None:
    """Raises ``chat_taken`` if the profile has a chat ``name``. (Two servers creating the
    same name at once: the unique key refuses the second, as a ConflictError too.)"""
    cur = await conn.execute(
        "SELECT 1 FROM chats WHERE profile = %s AND name = %s", (profile, name)
    )
    if await cur.fetchone() is not None:
        raise rules.chat_taken(name)


async def ensure_message_in(conn: AsyncConnection[Any], chat_id: int, message_id: int) -> None:
    cur = await conn.execute(
        "SELECT 1 FROM messages WHERE id = %s AND chat_id = %s", (message_id, chat_id)
    )
    if await cur.fetchone() is None:
        raise rules.no_message(message_id, in_chat=True)


async def touch(conn: AsyncConnection[Any], chat_id: int, now: float) -> None:
    """Mark the chat active (it moves to the top of the list)."""
    await conn.execute("UPDATE chats SET updated = %s WHERE id = %s", (now, chat_id))


# images -------------------------------------------------------------------------------
async def keep_images(
    conn: AsyncConnection[Any], profile: str, images: Sequence[ImageIn], now: float
) -> None:
    """Keep ``images`` for ``profile`` (one already kept stays as it is)."""
    if not images:
        return
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO images (profile, digest, media_type, width, height, size, data,"
            " created) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [
                (profile, i.digest, i.media_type, i.width, i.height, len(i.data), i.data, now)
                for i in images
            ],
        )


@contextlib.contextmanager
def images_kept() -> Iterator[None]:
    """Around a write of messages: the foreign key of ``message_images`` refusing it (a
    message names an image the profile does not keep) becomes SQLite's ArgumentError."""
    from psycopg import errors

    try:
        yield
    except errors.ForeignKeyViolation as exc:
        if exc.diag.constraint_name == "message_images_kept":
            raise ArgumentError(_NO_LONGER_KEPT) from exc
        raise


async def sweep_images(conn: AsyncConnection[Any], profile: str | None) -> int:
    """Delete the profile's images (every profile's, for None) that no message names;
    how many. Locks them first, then deletes those still unnamed as seen after the lock
    (see the module docs)."""
    unnamed = (
        "NOT EXISTS (SELECT 1 FROM message_images mi"
        " WHERE mi.profile = i.profile AND mi.digest = i.digest)"
    )
    where, params = ("i.profile = %s AND ", (profile,)) if profile is not None else ("", ())
    cur = await conn.execute(
        f"SELECT i.profile, i.digest FROM images i WHERE {where}{unnamed} FOR UPDATE", params
    )
    candidates = await cur.fetchall()
    if not candidates:
        return 0
    cur = await conn.execute(
        "DELETE FROM images i USING unnest(%s::text[], %s::text[]) AS gone (profile, digest)"
        f" WHERE i.profile = gone.profile AND i.digest = gone.digest AND {unnamed}",
        ([row[0] for row in candidates], [row[1] for row in candidates]),
    )
    return cur.rowcount
