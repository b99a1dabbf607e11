"""Images in :class:`~chatthy.store.sqlite.SQLiteStore`: kept once per profile by the
sha256 of their bytes, written in the same transaction as the message that names them
and deleted in the same transaction as the last message that did.

Which message names which image is kept by triggers on ``messages`` (migration
``m005_images``), whatever path wrote the message; so the images a delete leaves unnamed
are found by one indexed query, and no image can be deleted between its write and its
message's (there is no such moment: they are one write).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TypeVar

from chatthy.errors import ArgumentError, NotFoundError
from chatthy.store._sqlite_threads import Work
from chatthy.store.base import ImageIn, ImageRecord

__all__ = ["ImagesMixin", "keep_images", "names_kept_images", "sweep_images"]

T = TypeVar("T")


def keep_images(
    conn: sqlite3.Connection, profile: str, images: Sequence[ImageIn], now: float
) -> None:
    """Keep ``images`` for ``profile`` (one already kept stays as it is)."""
    conn.executemany(
        "INSERT OR IGNORE INTO images (profile, digest, media_type, width, height, size,"
        " data, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (profile, i.digest, i.media_type, i.width, i.height, len(i.data), i.data, now)
            for i in images
        ],
    )


def names_kept_images(conn: sqlite3.Connection, profile: str, message_id: int) -> None:
    """Raises ArgumentError (and so undoes the write) if message ``message_id``, just
    written, names an image the profile does not keep: one deleted between the check of
    a re-sent digest and this write would leave a message naming nothing."""
    missing = conn.execute(
        "SELECT 1 FROM message_images mi WHERE mi.message_id = ? AND NOT EXISTS"
        " (SELECT 1 FROM images i WHERE i.profile = ? AND i.digest = mi.digest) LIMIT 1",
        (message_id, profile),
    ).fetchone()
    if missing is not None:
        raise ArgumentError("the message names an image that is no longer kept: send it again")


def sweep_images(conn: sqlite3.Connection, profile: str | None) -> int:
    """Delete the profile's images that none of its messages names (every profile's,
    for None: after deleting chats a killed server left unfinished); how many."""
    unnamed = (
        "NOT EXISTS (SELECT 1 FROM message_images mi JOIN messages m ON m.id = mi.message_id"
        " JOIN chats c ON c.id = m.chat_id"
        " WHERE mi.digest = images.digest AND c.profile = images.profile)"
    )
    if profile is None:
        return conn.execute(f"DELETE FROM images WHERE {unnamed}").rowcount
    return conn.execute(f"DELETE FROM images WHERE profile = ? AND {unnamed}", (profile,)).rowcount


class ImagesMixin:
    """The image reads of the store; its writes ride on the message writes."""

    async def _read(self, work: Work[T]) -> T:
        raise NotImplementedError  # the store's

    async def _image(self, profile: str, digest: str) -> ImageRecord:
        def work(conn: sqlite3.Connection) -> ImageRecord:
            row = conn.execute(
                "SELECT digest, media_type, width, height, size, data FROM images"
                " WHERE profile = ? AND digest = ?",
                (profile, digest),
            ).fetchone()
            if row is None:
                raise NotFoundError("no such image")
            return ImageRecord(row[0], row[1], row[2], row[3], row[4], bytes(row[5]))

        return await self._read(work)
