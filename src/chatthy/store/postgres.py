"""The store for several servers: one PostgreSQL database that every ``chatthy serve``
shares (psycopg 3, async, a pool of connections).

Open it with ``await PostgresStore.open(url)`` (``[store] url`` in server.toml, or
``CHATTHY_STORE_URL``); it applies the migrations of :mod:`chatthy.store.pg_migrations`.
Like :mod:`chatthy.store.sqlite` it only persists: every rule on names, statuses and
messages is applied before a call reaches it, by
:class:`~chatthy.store.front.StoreFront`.

psycopg is imported only by this store's modules, and only when a PostgreSQL store is
opened or used: a server on SQLite does not need it installed (``pip install
'chatthy[postgres]'``). A server that cannot be reached, or refuses, is one line naming
its host:port, never the password.

Unlike SQLite's store, every write here is one transaction however large (an import of
20,000 messages, the deletion of a long chat, a fork): PostgreSQL has no single writer
to hold up, and a server killed midway leaves nothing half done. Images are kept once per
profile by digest, beside the messages that name them (see :mod:`._pg_rows`); search is
PostgreSQL's full-text search (see :mod:`._pg_search`); leases and token counts live in
:mod:`._pg_replies`.

``chat.updated`` means "last activity", as in SQLite: adding, changing or deleting
messages moves a chat to the top of :meth:`~PostgresStore.list_chats`; renaming it or
switching its model does not.
"""

from __future__ import annotations

import re
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from chatthy.errors import ConfigError, NotFoundError, StoreError
from chatthy.store import rules
from chatthy.store._pg_rag import PgRagMixin
from chatthy.store._pg_replies import PgRepliesMixin
from chatthy.store._pg_rows import (
    chat_by_id,
    chat_id_of,
    ensure_chat_free,
    ensure_message_in,
    images_kept,
    keep_images,
    sweep_images,
    touch,
)
from chatthy.store._pg_search import PgSearchMixin
from chatthy.store._pg_support import PgBase, translated
from chatthy.store._pg_workspace import PgWorkspaceMixin
from chatthy.store.base import (
    ChatRecord,
    ImageIn,
    ImageRecord,
    MessageRecord,
    ProfileRecord,
    PromptRecord,
)
from chatthy.store.front import StoreFront
from chatthy.store.pg_migrations import migrate
from chatthy.store.rows import (
    CHAT_COLUMNS,
    LAST_ID,
    MESSAGE_COLUMNS,
    chat_record,
    message_columns,
    message_record,
)
from chatthy.store.rules import ChatChanges, MessageChanges, NewMessage

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

__all__ = ["CONNECT_TIMEOUT", "PostgresStore"]

CONNECT_TIMEOUT = 10
"""Seconds to reach the server (libpq's ``connect_timeout``) unless the URL says."""
_INSERT_MESSAGE = (
    "INSERT INTO messages (chat_id, role, content, status, provider, model, usage, error,"
    " tokens, created, updated) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def _where(url: str) -> tuple[str, str]:
    """``host:port`` of the server ``url`` names, and its password ("" if none), for an
    error line that names the one and never shows the other."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(url)
    except Exception:
        password = ""
        if "://" in url:
            try:
                password = urlsplit(url).password or ""
            except ValueError:
                password = ""
        return "the server the store URL names", password
    host = str(params.get("host") or params.get("hostaddr") or "localhost")
    port = str(params.get("port") or 5432)
    return f"{host}:{port}", str(params.get("password") or "")


def _unreachable(url: str, exc: Exception) -> StoreError:
    """One line: where the server is, and libpq's reason (without the password)."""
    where, password = _where(url)
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    for noise in (
        r"^connection (failed|is bad): ",
        r'^connection to server at "[^"]*"(, port \d+)? failed: ',
        r"^(FATAL|ERROR): +",
    ):
        reason = re.sub(noise, "", reason)
    if password:
        reason = reason.replace(password, "***")
    return StoreError(f"cannot open the PostgreSQL store at {where}: {reason}")


class PostgresStore(
    PgWorkspaceMixin,
    PgRagMixin,
    PgSearchMixin,
    PgRepliesMixin,
    PgBase,
    StoreFront,
):
    """The :class:`~chatthy.store.base.Store` on a PostgreSQL database; see the module
    docs."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        """Wrap an open pool on a migrated database; use :meth:`open`."""
        self._pool = pool

    @classmethod
    async def open(cls, url: str, *, min_size: int = 1, max_size: int = 10) -> PostgresStore:
        """Open the store on the database ``url`` names (a ``postgresql://`` URL or libpq
        key=value string), with a pool of ``min_size`` … ``max_size`` connections, and
        bring its schema up to date. Raises StoreError (one line naming host:port) when
        the server cannot be reached or refuses, ConfigError when psycopg is not
        installed."""
        try:
            import psycopg
            from psycopg_pool import AsyncConnectionPool, PoolTimeout
        except ImportError as exc:
            raise ConfigError(
                "a PostgreSQL store needs psycopg, which is not installed:"
                " pip install 'chatthy[postgres]'"
            ) from exc
        from psycopg.conninfo import conninfo_to_dict

        try:
            given = conninfo_to_dict(url)
        except psycopg.Error as exc:
            raise _unreachable(url, exc) from None
        extra: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in given:
            extra["connect_timeout"] = CONNECT_TIMEOUT
        try:
            conn = await psycopg.AsyncConnection.connect(url, **extra)
        except psycopg.Error as exc:
            raise _unreachable(url, exc) from None
        async with conn, translated():
            await migrate(conn)
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            kwargs=extra,
            open=False,
            # a connection the database ended (a restart) is replaced, not handed out
            check=AsyncConnectionPool.check_connection,
        )
        try:
            await pool.open(wait=True, timeout=float(CONNECT_TIMEOUT))
        except (psycopg.Error, PoolTimeout) as exc:
            await pool.close()
            raise _unreachable(url, exc) from None
        return cls(pool)

    async def aclose(self) -> None:
        """Close the pool once the work already asked for is done; later calls raise
        StoreError. Closing twice is harmless."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def __aenter__(self) -> PostgresStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # profiles ---------------------------------------------------------------------------
    async def get_profile(self, name: str) -> ProfileRecord | None:
        """The profile named ``name``, with its chat and message counts, or None."""

        async def work(conn: AsyncConnection[Any]) -> Any:
            cur = await conn.execute(
                "SELECT p.name, p.public_key, p.created,"
                " (SELECT count(*) FROM chats c WHERE c.profile = p.name),"
                " (SELECT count(*) FROM messages m JOIN chats c ON c.id = m.chat_id"
                "  WHERE c.profile = p.name)"
                " FROM profiles p WHERE p.name = %s",
                (name,),
            )
            return await cur.fetchone()

        row = await self._read(work)
        if row is None:
            return None
        return ProfileRecord(row[0], bytes(row[1]), row[2], chats=row[3], messages=row[4])

    async def _register_profile(self, name: str, public_key: bytes) -> ProfileRecord:
        now = time.time()

        async def work(conn: AsyncConnection[Any]) -> None:
            cur = await conn.execute(
                "INSERT INTO profiles (name, public_key, created) VALUES (%s, %s, %s)"
                " ON CONFLICT (name) DO NOTHING RETURNING 1",
                (name, public_key, now),
            )
            if await cur.fetchone() is None:
                raise rules.profile_taken(name)

        await self._write(work)
        return ProfileRecord(name, public_key, now)

    async def _set_profile_key(self, name: str, public_key: bytes) -> None:
        async def work(conn: AsyncConnection[Any]) -> int:
            cur = await conn.execute(
                "UPDATE profiles SET public_key = %s WHERE name = %s", (public_key, name)
            )
            return cur.rowcount

        if not await self._write(work):
            raise NotFoundError(f"no profile '{name}'")

    # chats ------------------------------------------------------------------------------
    async def list_chats(self, profile: str, personality: str | None = None) -> list[ChatRecord]:
        """The profile's chats, most recently active first, optionally of one personality."""
        sql = f"SELECT {CHAT_COLUMNS} FROM chats c WHERE c.profile = %s"
        params: tuple[str, ...] = (profile,)
        if personality is not None:
            sql += " AND c.personality = %s"
            params += (personality,)
        sql += " ORDER BY c.updated DESC, c.id DESC"

        async def work(conn: AsyncConnection[Any]) -> list[ChatRecord]:
            cur = await conn.execute(sql, params)
            return [chat_record(row) for row in await cur.fetchall()]

        return await self._read(work)

    async def _get_chat(self, profile: str, name: str) -> ChatRecord:
        async def work(conn: AsyncConnection[Any]) -> ChatRecord:
            return await chat_by_id(conn, await chat_id_of(conn, profile, name))

        return await self._read(work)

    async def _insert_chat(
        self,
        conn: AsyncConnection[Any],
        profile: str,
        name: str,
        remembers: tuple[str, str, str],
        now: float,
    ) -> int:
        """A new chat's id. Raises ``chat_taken``: also when another server took the name
        a moment before (the insert waits for its commit, then inserts nothing)."""
        cur = await conn.execute(
            "INSERT INTO chats (profile, name, personality, provider, model, created, updated)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (profile, name) DO NOTHING RETURNING id",
            (profile, name, *remembers, now, now),
        )
        row = await cur.fetchone()
        if row is None:
            raise rules.chat_taken(name)
        return int(row[0])

    async def _create_chat(
        self, profile: str, name: str, personality: str, provider: str, model: str
    ) -> ChatRecord:
        async def work(conn: AsyncConnection[Any]) -> ChatRecord:
            remembers = (personality, provider, model)
            chat_id = await self._insert_chat(conn, profile, name, remembers, time.time())
            return await chat_by_id(conn, chat_id)

        return await self._write(work)

    async def _update_chat(self, profile: str, name: str, changes: ChatChanges) -> ChatRecord:
        async def work(conn: AsyncConnection[Any]) -> ChatRecord:
            chat_id = await chat_id_of(conn, profile, name)
            if changes:
                # the columns are the keys of ChatChanges: personality, provider, model
                assignments = ", ".join(f"{column} = %s" for column in changes)
                await conn.execute(
                    f"UPDATE chats SET {assignments} WHERE id = %s", (*changes.values(), chat_id)
                )
            return await chat_by_id(conn, chat_id)

        return await self._write(work)

    async def _rename_chat(self, profile: str, name: str, new_name: str) -> ChatRecord:
        async def work(conn: AsyncConnection[Any]) -> ChatRecord:
            chat_id = await chat_id_of(conn, profile, name)
            if new_name != name:
                await ensure_chat_free(conn, profile, new_name)
                await conn.execute("UPDATE chats SET name = %s WHERE id = %s", (new_name, chat_id))
            return await chat_by_id(conn, chat_id)

        return await self._write(work)

    async def _delete_chat(self, profile: str, name: str) -> None:
        """One transaction: the chat, its messages (the cascade), its lease, and the
        images only it named."""

        async def work(conn: AsyncConnection[Any]) -> None:
            cur = await conn.execute(
                "DELETE FROM chats WHERE profile = %s AND name = %s RETURNING id",
                (profile, name),
            )
            if await cur.fetchone() is None:
                raise rules.no_chat(name)
            await sweep_images(conn, profile)

        await self._write(work)

    async def _fork_chat(
        self, profile: str, name: str, new_name: str, upto: int | None
    ) -> ChatRecord:
        async def work(conn: AsyncConnection[Any]) -> ChatRecord:
            chat = await chat_by_id(conn, await chat_id_of(conn, profile, name))
            if upto is not None:
                await ensure_message_in(conn, chat.id, upto)
            remembers = (chat.personality, chat.provider, chat.model)
            chat_id = await self._insert_chat(conn, profile, new_name, remembers, time.time())
            await conn.execute(
                "INSERT INTO messages (chat_id, role, content, status, provider, model,"
                " usage, error, tokens, created, updated) SELECT %s, role, content, CASE"
                " status WHEN 'streaming' THEN 'interrupted' ELSE status END, provider,"
                " model, usage, error, tokens, created, updated FROM messages"
                " WHERE chat_id = %s AND id <= %s ORDER BY id",
                (chat_id, chat.id, LAST_ID if upto is None else upto),
            )
            return await chat_by_id(conn, chat_id)

        return await self._write(work)

    async def _import_chat(
        self, profile: str, name: str, personality: str, messages: list[NewMessage]
    ) -> ChatRecord:
        """One transaction: the chat, its images and its messages (in one pipeline)."""
        now = time.time()

        async def work(conn: AsyncConnection[Any]) -> ChatRecord:
            chat_id = await self._insert_chat(conn, profile, name, (personality, "", ""), now)
            await keep_images(conn, profile, [i for m in messages for i in m.images], now)
            rows = []
            for message in messages:
                created = now if message.created is None else message.created
                rows.append((chat_id, *message_columns(message), created, created))
            async with conn.cursor() as cur:
                with images_kept():
                    await cur.executemany(_INSERT_MESSAGE, rows)
            return await chat_by_id(conn, chat_id)

        return await self._write(work)

    # messages ---------------------------------------------------------------------------
    async def _messages(
        self,
        profile: str,
        chat: str,
        before: int | None,
        limit: int | None,
        after: int | None = None,
    ) -> list[MessageRecord]:
        order = "DESC" if after is None else "ASC"

        async def work(conn: AsyncConnection[Any]) -> list[MessageRecord]:
            chat_id = await chat_id_of(conn, profile, chat)
            cur = await conn.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM messages m"
                " WHERE m.chat_id = %s AND m.id < %s AND m.id > %s"
                f" ORDER BY m.id {order} LIMIT %s",  # (LIMIT NULL: all)
                (
                    chat_id,
                    LAST_ID if before is None else before,
                    -1 if after is None else after,
                    limit,
                ),
            )
            records = [message_record(row) for row in await cur.fetchall()]
            return records if after is not None else records[::-1]

        return await self._read(work)

    async def _add_messages(
        self, profile: str, chat: str, messages: list[NewMessage]
    ) -> list[MessageRecord]:
        now = time.time()
        rows = [message_columns(m) for m in messages]
        images = [image for m in messages for image in m.images]

        async def work(conn: AsyncConnection[Any]) -> tuple[int, list[int]]:
            chat_id = await chat_id_of(conn, profile, chat)
            await keep_images(conn, profile, images, now)
            ids = []
            for row in rows:
                with images_kept():
                    cur = await conn.execute(
                        _INSERT_MESSAGE + " RETURNING id", (chat_id, *row, now, now)
                    )
                made = await cur.fetchone()
                assert made is not None  # RETURNING of an INSERT that did not fail
                ids.append(int(made[0]))
            if rows:
                await touch(conn, chat_id, now)
            return chat_id, ids

        chat_id, ids = await self._write(work)
        return [
            message_record((i, chat_id, *row[:-1], now, now, row[-1]))
            for i, row in zip(ids, rows, strict=True)
        ]

    async def _update_message(
        self,
        profile: str,
        message_id: int,
        changes: MessageChanges,
        images: tuple[ImageIn, ...] = (),
    ) -> None:
        values: dict[str, Any] = {**changes, "updated": time.time()}
        # the columns are the keys of MessageChanges (content, status …) and updated
        assignments = ", ".join(f"{column} = %s" for column in values)

        async def work(conn: AsyncConnection[Any]) -> None:
            await keep_images(conn, profile, images, values["updated"])
            # only an image the old content named and the new one does not can be freed
            # (a reply's checkpoints only add): the rows of message_images, by key
            before = await _named_by(conn, message_id) if "content" in changes else set()
            with images_kept():
                cur = await conn.execute(
                    f"UPDATE messages SET {assignments} WHERE id = %s AND"
                    " (SELECT profile FROM chats WHERE chats.id = messages.chat_id) = %s"
                    " RETURNING chat_id",
                    (*values.values(), message_id, profile),
                )
            row = await cur.fetchone()
            if row is None:
                raise rules.no_message(message_id)
            await touch(conn, row[0], values["updated"])
            if before and before - await _named_by(conn, message_id):
                await sweep_images(conn, profile)

        await self._write(work)

    async def _delete_messages_from(self, profile: str, chat: str, message_id: int) -> int:
        async def work(conn: AsyncConnection[Any]) -> int:
            chat_id = await chat_id_of(conn, profile, chat)
            await ensure_message_in(conn, chat_id, message_id)
            cur = await conn.execute(  # (a regenerate of a text chat sweeps no images)
                "SELECT 1 FROM message_images mi JOIN messages m ON m.id = mi.message_id"
                " WHERE m.chat_id = %s AND m.id >= %s LIMIT 1",
                (chat_id, message_id),
            )
            named = await cur.fetchone() is not None
            cur = await conn.execute(
                "DELETE FROM messages WHERE chat_id = %s AND id >= %s", (chat_id, message_id)
            )
            await touch(conn, chat_id, time.time())
            if named:
                await sweep_images(conn, profile)
            return cur.rowcount

        return await self._write(work)

    async def _image(self, profile: str, digest: str) -> ImageRecord:
        async def work(conn: AsyncConnection[Any]) -> ImageRecord:
            cur = await conn.execute(
                "SELECT digest, media_type, width, height, size, data FROM images"
                " WHERE profile = %s AND digest = %s",
                (profile, digest),
            )
            row = await cur.fetchone()
            if row is None:
                raise NotFoundError("no such image")
            return ImageRecord(row[0], row[1], row[2], row[3], row[4], bytes(row[5]))

        return await self._read(work)

    # prompts ----------------------------------------------------------------------------
    async def list_prompts(self, profile: str) -> list[PromptRecord]:
        """The profile's own prompts, by name."""

        async def work(conn: AsyncConnection[Any]) -> list[PromptRecord]:
            cur = await conn.execute(
                "SELECT name, text, updated FROM prompts WHERE profile = %s ORDER BY name",
                (profile,),
            )
            return [PromptRecord(*row) for row in await cur.fetchall()]

        return await self._read(work)

    async def _get_prompt(self, profile: str, name: str) -> PromptRecord:
        async def work(conn: AsyncConnection[Any]) -> PromptRecord:
            cur = await conn.execute(
                "SELECT name, text, updated FROM prompts WHERE profile = %s AND name = %s",
                (profile, name),
            )
            row = await cur.fetchone()
            if row is None:
                raise rules.no_prompt(name)
            return PromptRecord(*row)

        return await self._read(work)

    async def _set_prompt(self, profile: str, name: str, text: str) -> PromptRecord:
        record = PromptRecord(name, text, time.time())

        async def work(conn: AsyncConnection[Any]) -> None:
            await conn.execute(
                "INSERT INTO prompts (profile, name, text, updated) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (profile, name) DO UPDATE"
                " SET text = excluded.text, updated = excluded.updated",
                (profile, record.name, record.text, record.updated),
            )

        await self._write(work)
        return record

    async def _rename_prompt(self, profile: str, name: str, new_name: str) -> PromptRecord:
        async def work(conn: AsyncConnection[Any]) -> PromptRecord:
            cur = await conn.execute(
                "SELECT text, updated FROM prompts WHERE profile = %s AND name = %s",
                (profile, name),
            )
            row = await cur.fetchone()
            if row is None:
                raise rules.no_prompt(name)
            if new_name != name:
                cur = await conn.execute(
                    "SELECT 1 FROM prompts WHERE profile = %s AND name = %s", (profile, new_name)
                )
                if await cur.fetchone() is not None:
                    raise rules.prompt_taken(new_name)
                await conn.execute(
                    "UPDATE prompts SET name = %s WHERE profile = %s AND name = %s",
                    (new_name, profile, name),
                )
            return PromptRecord(new_name, row[0], row[1])

        return await self._write(work)

    async def _delete_prompt(self, profile: str, name: str) -> None:
        async def work(conn: AsyncConnection[Any]) -> None:
            cur = await conn.execute(
                "DELETE FROM prompts WHERE profile = %s AND name = %s", (profile, name)
            )
            if cur.rowcount == 0:
                raise rules.no_prompt(name)

        await self._write(work)


async def _named_by(conn: AsyncConnection[Any], message_id: int) -> set[str]:
    """The digests of the images message ``message_id`` names."""
    cur = await conn.execute(
        "SELECT digest FROM message_images WHERE message_id = %s", (message_id,)
    )
    return {row[0] for row in await cur.fetchall()}
