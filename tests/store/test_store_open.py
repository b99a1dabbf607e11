"""Opening the store: directories, migrations, re-opening, sharing, bad files, closing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from chatthy.errors import StoreError
from chatthy.store.migrations import MIGRATIONS, applied
from chatthy.store.sqlite import SQLiteStore

ALICE = "alice"


def _recorded(path: Path) -> list[tuple[str, float]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT name, applied FROM _migrations ORDER BY rowid").fetchall()


async def test_open_creates_parent_directories(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "chatthy.db"
    async with await SQLiteStore.open(path) as store:
        await store.register_profile(ALICE, b"a" * 32)
    assert path.is_file()


async def test_every_migration_is_recorded_once(tmp_path: Path) -> None:
    path = tmp_path / "chatthy.db"
    await (await SQLiteStore.open(path)).aclose()
    first = _recorded(path)
    assert [name for name, _ in first] == [fn.__name__ for fn in MIGRATIONS]
    await (await SQLiteStore.open(path)).aclose()
    assert _recorded(path) == first
    with sqlite3.connect(path) as conn:
        assert applied(conn) == [fn.__name__ for fn in MIGRATIONS]


async def test_reopening_keeps_everything(db_path: Path, store: SQLiteStore, chat: str) -> None:
    await store.set_prompt(ALICE, "pirate", "Arr.")
    before = (await store.list_chats(ALICE), await store.messages(ALICE, chat))
    await store.aclose()
    again = await SQLiteStore.open(db_path)
    try:
        assert (await again.list_chats(ALICE), await again.messages(ALICE, chat)) == before
        assert (await again.get_prompt(ALICE, "pirate")).text == "Arr."
        assert [h.chat for h in await again.search(ALICE, "ridge")] == [chat]
    finally:
        await again.aclose()


async def test_two_stores_on_one_file_see_each_others_writes(
    db_path: Path, store: SQLiteStore, chat: str
) -> None:
    other = await SQLiteStore.open(db_path)
    try:
        assert [c.name for c in await other.list_chats(ALICE)] == [chat]
        await other.add_message(ALICE, chat, "user", "written by the other one")
        assert (await store.messages(ALICE, chat))[-1].content == "written by the other one"
    finally:
        await other.aclose()


async def test_readers_are_not_blocked_by_a_writer(
    db_path: Path, store: SQLiteStore, chat: str
) -> None:
    writer = sqlite3.connect(db_path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE chats SET name = 'uncommitted'")
        assert [c.name for c in await store.list_chats(ALICE)] == [chat]
        assert len(await store.messages(ALICE, chat)) == 2
        writer.execute("ROLLBACK")
    finally:
        writer.close()


async def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(StoreError, match=r"^file is not a chatthy database$"):
        await SQLiteStore.open(path)
    assert path.read_text().startswith("these are my notes")


async def test_a_directory_in_the_way_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="cannot create"):
        await SQLiteStore.open(tmp_path / "file" / "chatthy.db")


async def test_a_closed_store_says_so(store: SQLiteStore, chat: str) -> None:
    await store.aclose()
    await store.aclose()
    with pytest.raises(StoreError, match="closed"):
        await store.list_chats(ALICE)
    with pytest.raises(StoreError, match="closed"):
        await store.add_message(ALICE, chat, "user", "hello?")
