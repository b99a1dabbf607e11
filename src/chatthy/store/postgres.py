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
