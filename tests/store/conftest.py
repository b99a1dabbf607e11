"""Fixtures for the SQLite store: a real database file in ``tmp_path`` with two profiles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chatthy.store.sqlite import SQLiteStore

ALICE, BOB = "alice", "bob"  # the profiles every store test starts with


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "chatthy.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SQLiteStore]:
    """An open store where alice and bob are registered and have no chats yet."""
    opened = await SQLiteStore.open(db_path)
    await opened.register_profile(ALICE, b"a" * 32)
    await opened.register_profile(BOB, b"b" * 32)
    try:
        yield opened
    finally:
        await opened.aclose()


@pytest.fixture
async def chat(store: SQLiteStore) -> str:
    """Alice's chat "plans" with one question and one answer."""
    await store.create_chat(ALICE, "plans", "helper", "echo", "echo-1")
    await store.add_message(ALICE, "plans", "user", "Where should we go hiking?")
    await store.add_message(ALICE, "plans", "assistant", "Try the ridge trail near the lake.")
    return "plans"
