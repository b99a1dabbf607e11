"""Which store a server (or the router, or ``mcp serve``) opens: ``[store] url``."""

from __future__ import annotations

from pathlib import Path

from chatthy.config import ServerConfig
from chatthy.store.base import Store

__all__ = ["open_store"]


async def open_store(config: ServerConfig) -> Store:
    """The SQLite file in the data dir, or the PostgreSQL database ``[store] url`` names.

    Raises:
        ConfigError: PostgreSQL is asked for and psycopg is not installed.
        StoreError: the database cannot be opened or reached.
    """
    if not config.store.url:
        from chatthy.store.sqlite import SQLiteStore

        return await SQLiteStore.open(Path(config.data_dir) / "chatthy.db")
    from chatthy.store.postgres import PostgresStore

    return await PostgresStore.open(config.store.url, max_size=config.store.pool)
