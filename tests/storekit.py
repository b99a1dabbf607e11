"""What the store tests share besides fixtures: the profiles, the backends and how each
opens a fresh database (imported as ``storekit``: ``from conftest import`` would get
whichever conftest pytest loaded last)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from chatthy.store.base import Store
from chatthy.store.front import StoreFront
from chatthy.store.postgres import PostgresStore
from chatthy.store.sqlite import SQLiteStore

ALICE, BOB = "alice", "bob"  # the profiles every store test starts with

Opener = Callable[[], Awaitable[Store]]
"""Opens one more store on the test's database (the caller closes it)."""
Place = Callable[[type[StoreFront], Path], contextlib.AbstractAsyncContextManager[Opener]]
"""Given a backend class (or a subclass of it) and the test's ``tmp_path``: a fresh, empty
database for the test, as an :data:`Opener` of stores on it, removed on leaving."""


@dataclass(frozen=True)
class Backend:
    """One store backend as the suite runs it."""

    name: str
    cls: type[StoreFront]
    place: Place


@contextlib.asynccontextmanager
async def sqlite_place(cls: type[StoreFront], tmp_path: Path) -> AsyncIterator[Opener]:
    """A database file under ``tmp_path``, made on the first open (tmp_path goes away)."""
    path = tmp_path / "data" / "chatthy.db"
    yield lambda: cast(type[SQLiteStore], cls).open(path)


@contextlib.asynccontextmanager
async def postgres_place(cls: type[StoreFront], tmp_path: Path) -> AsyncIterator[Opener]:
    """A schema of the test's own in the test PostgreSQL (tests/pgkit.py), dropped on
    leaving; the test skips, with pgkit's one line, where no PostgreSQL answers."""
    from pgkit import pg_schema

    async with pg_schema() as url:
        yield lambda: cast(type[PostgresStore], cls).open(url)


SQLITE = Backend("sqlite", SQLiteStore, sqlite_place)
POSTGRES = Backend("postgres", PostgresStore, postgres_place)

BACKENDS: list[Backend] = [SQLITE, POSTGRES]
