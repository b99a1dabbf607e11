"""Which store a server (or the router, or ``mcp serve``) opens: ``[store] url``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from chatthy.config import ServerConfig
from chatthy.errors import ConfigError
from chatthy.store.base import Store

__all__ = ["open_store", "shared"]


def shared(config: ServerConfig) -> bool:
    """Whether the store is a database several servers share (PostgreSQL)."""
    return bool(config.store.url)


async def open_store(config: ServerConfig) -> Store:
    """The SQLite file in the data dir, or the PostgreSQL database ``[store] url`` names.

    Raises:
        ConfigError: PostgreSQL is asked for and psycopg is not installed.
        StoreError: the database cannot be opened or reached.
    """
    if not config.store.url:
        from chatthy.store.sqlite import SQLiteStore

        return await SQLiteStore.open(Path(config.data_dir) / "chatthy.db")
    if (
        importlib.util.find_spec("psycopg") is None
        or importlib.util.find_spec("psycopg_pool") is None
    ):
        raise ConfigError(
            "[store] url names PostgreSQL, but psycopg is not installed:"
            " pip install 'chatthy[postgres]'"
        )
    from chatthy.store.postgres import PostgresStore

    return await PostgresStore.open(config.store.url, max_size=config.store.pool)
