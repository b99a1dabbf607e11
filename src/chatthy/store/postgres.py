"""The store for several servers: one PostgreSQL database that every ``chatthy serve``
shares (psycopg 3, async, a pool of connections).

Open it with ``await PostgresStore.open(url)`` (``[store] url`` in server.toml, or
``CHATTHY_STORE_URL``); it applies the migrations of :mod:`chatthy.store.pg_migrations`.
Like :mod:`chatthy.store.sqlite` it only persists: every rule on names, statuses and
messages is applied before a call reaches it, by
:class:`~chatthy.store.front.StoreFront`.

psycopg is imported only here, and only when a PostgreSQL store is opened: a server on
SQLite does not need it installed (``pip install 'chatthy[postgres]'``).
"""

from __future__ import annotations

from chatthy.store._pg_rag import PgRagMixin
from chatthy.store._pg_support import PgBase
from chatthy.store._pg_workspace import PgWorkspaceMixin
from chatthy.store.front import StoreFront

__all__ = ["PostgresStore"]


class PostgresStore(PgWorkspaceMixin, PgRagMixin, PgBase, StoreFront):
    """The :class:`~chatthy.store.base.Store` on a PostgreSQL database; see the module
    docs."""

    # TEMPORARY: the RAG work's own open, so that its tests run before the core lands; the
    # core's open (and its aclose, profiles and stored_bytes) replace all of this.
    @classmethod
    async def open(cls, url: str) -> PostgresStore:
        """Temporary: migrate, open a pool, and fill what the core has not written yet."""
        import time
        from typing import Any, cast

        import psycopg
        from psycopg_pool import AsyncConnectionPool

        from chatthy.store._pg_support import translated
        from chatthy.store.base import ProfileRecord
        from chatthy.store.pg_migrations import migrate

        async with translated():
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                await migrate(conn)
            pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
                url, min_size=1, max_size=4, open=False
            )
            await pool.open(wait=True)

        async def missing(self: Any, *args: Any, **kwargs: Any) -> Any:
            raise NotImplementedError("the store's core")

        async def aclose(self: Any) -> None:
            pool, self._pool = self._pool, None
            if pool is not None:
                await pool.close()

        async def register(self: Any, name: str, public_key: bytes) -> ProfileRecord:
            return ProfileRecord(name, public_key, time.time())

        async def stored_bytes(self: Any, profile: str) -> int:
            async def work(conn: Any) -> int:
                cur = await conn.execute(
                    "SELECT (SELECT COALESCE(sum(octet_length(text)), 0) FROM workspace_files"
                    " WHERE profile = %s) + (SELECT COALESCE(sum(stored), 0) FROM rag_documents"
                    " WHERE profile = %s)",
                    (profile, profile),
                )
                return int((await cur.fetchone())[0])

            return int(await self._read(work))

        body: dict[str, Any] = {name: missing for name in cls.__abstractmethods__}
        body.update(aclose=aclose, _register_profile=register, stored_bytes=stored_bytes)
        store = type(cls.__name__, (cls,), body)()
        store._pool = pool
        return cast(PostgresStore, store)
