"""The SQLite store works off the event loop: a long write or read leaves every other
call (and the loop) free, imports go in slices that show nothing until complete, writes
keep their order, and deletes work on a full disk (a tmpfs this test mounts)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from chatthy.errors import ConflictError, DiskFullError
from chatthy.store import rules
from chatthy.store._sqlite_support import STAGING
from chatthy.store._sqlite_threads import RESERVE, reserve_of
from chatthy.store.sqlite import SQLiteStore
from diskkit import small_disk
from storekit import SQLITE, Backend

ALICE = "alice"


@pytest.fixture
def backend() -> Backend:
    return SQLITE


def _export(n: int, size: int = 200) -> list[dict[str, Any]]:
    """``n`` messages of about ``size`` characters, questions and answers in turn."""
    return [
        {
            "role": ("user", "assistant")[i % 2],
            "content": f"line{i} " + "lorem ipsum " * (size // 12),
        }
        for i in range(n)
    ]


async def _started(task: asyncio.Task[Any]) -> None:
    """Let ``task`` get going (its first writes are in)."""
    await asyncio.sleep(0.05)
    assert not task.done(), "the import ended before it could be overlapped"


def _chat_names(path: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return [row[0] for row in conn.execute("SELECT name FROM chats ORDER BY id")]


# nothing waits for a long call ---------------------------------------------------------
async def test_reads_and_writes_answer_while_a_large_import_runs(
    store: SQLiteStore, chat: str
) -> None:
    importing = asyncio.create_task(store.import_chat(ALICE, "big", "", _export(40_000)))
    await _started(importing)
    added = await store.add_message(ALICE, chat, "user", "Still there?")
    listed = [c.name for c in await store.list_chats(ALICE)]
    page = await store.messages(ALICE, chat, limit=1)
    assert not importing.done(), "a call waited for the whole import"
    assert listed == [chat]  # the import in progress shows nowhere
    assert page == [added]
    imported = await importing
    assert imported.messages == 40_000
    contents = [m.content for m in await store.messages(ALICE, "big")]
    assert contents[0].startswith("line0 ") and contents[-1].startswith("line39999 ")
    assert sorted(c.name for c in await store.list_chats(ALICE)) == ["big", chat]


async def test_a_long_fork_copies_what_was_there_and_lets_others_write(
    store: SQLiteStore, chat: str
) -> None:
    await store.import_chat(ALICE, "big", "", _export(20_000))
    forking = asyncio.create_task(store.fork_chat(ALICE, "big", "copy"))
    await _started(forking)
    later = await store.add_message(ALICE, "big", "user", "added while forking")
    assert "copy" not in [c.name for c in await store.list_chats(ALICE)]
    assert not forking.done(), "a write waited for the whole fork"
    assert (await forking).messages == 20_000
    source = await store.messages(ALICE, "big")
    copied = await store.messages(ALICE, "copy")
    assert [m.content for m in copied] == [m.content for m in source if m.id != later.id]


async def test_the_event_loop_runs_while_a_long_query_reads(store: SQLiteStore) -> None:
    await store.import_chat(ALICE, "big", "", _export(20_000))
    gaps: list[float] = []

    async def tick() -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.005)
            gaps.append(time.perf_counter() - start)

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.02)
    try:
        for _ in range(5):
            await store.messages(ALICE, "big")  # every message, read and decoded
    finally:
        ticker.cancel()
    assert len(gaps) > 5
    assert max(gaps) < 0.5  # inline, each read held the loop for its whole length


async def test_an_import_whose_name_is_taken_meanwhile_leaves_nothing(
    store: SQLiteStore,
) -> None:
    importing = asyncio.create_task(store.import_chat(ALICE, "big", "", _export(20_000)))
    await _started(importing)
    await store.create_chat(ALICE, "big", "helper", "echo", "echo-1")
    with pytest.raises(ConflictError, match="big"):
        await importing
    assert (await store.get_chat(ALICE, "big")).messages == 0
    assert _chat_names(store.path) == ["big"]
    assert (await store.get_profile(ALICE)).messages == 0  # type: ignore[union-attr]


async def test_an_import_cancelled_midway_leaves_nothing(store: SQLiteStore) -> None:
    importing = asyncio.create_task(store.import_chat(ALICE, "big", "", _export(20_000)))
    await _started(importing)
    importing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await importing
    await store.create_chat(ALICE, "after", "helper", "echo", "echo-1")
    assert _chat_names(store.path) == ["after"]


async def test_an_import_cancelled_at_its_start_leaves_nothing(store: SQLiteStore) -> None:
    checked = [rules.imported_message(m, time.time()) for m in _export(100)]
    # the backend's part, whose first step asks for its first write
    importing = asyncio.create_task(store._import_chat(ALICE, "big", "", checked))
    await asyncio.sleep(0)  # asked for, not done
    importing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await importing
    await store.create_chat(ALICE, "after", "helper", "echo", "echo-1")
    assert _chat_names(store.path) == ["after"]


async def test_an_import_left_by_a_killed_server_is_swept(store: SQLiteStore) -> None:
    old = time.time() - 3600
    with contextlib.closing(sqlite3.connect(store.path)) as conn, conn:
        conn.execute(
            "INSERT INTO chats (profile, name, created, updated) VALUES (?, ?, ?, ?)",
            (ALICE, f"{STAGING}dead", old, old),
        )
    assert await store.list_chats(ALICE) == []
    await store.interrupt_orphans()
    assert _chat_names(store.path) == []


async def test_writes_land_in_the_order_they_were_asked(store: SQLiteStore, chat: str) -> None:
    reply = await store.add_message(ALICE, chat, "assistant", "", status="streaming")
    await asyncio.gather(
        *(store.update_message(ALICE, reply.id, content="word " * i) for i in range(1, 60))
    )
    assert (await store.messages(ALICE, chat))[-1].content == "word " * 59


# a full disk ---------------------------------------------------------------------------
def test_the_reserve_is_kept_beside_the_database(store: SQLiteStore) -> None:
    assert reserve_of(store.path).stat().st_size == RESERVE


async def test_deletes_work_on_a_full_disk(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "40m") as disk:
        store = await SQLiteStore.open(disk / "chatthy.db")
        try:
            await store.register_profile(ALICE, b"a" * 32)
            # 13 MB: deleted in one write, its pages would need more WAL than the reserve
            await store.import_chat(ALICE, "old", "", _export(20_000, 250))
            await store.set_prompt(ALICE, "poet", "Answer in verse.")
            await store.create_chat(ALICE, "talk", "helper", "echo", "echo-1")
            question = await store.add_message(ALICE, "talk", "user", "Hello?")
            await store.add_message(ALICE, "talk", "assistant", "Hello.")
            with pytest.raises(DiskFullError, match=r"^disk full$"):
                for n in range(100):
                    await store.put_workspace_file(ALICE, f"big{n}", "x" * 500_000)
            with pytest.raises(DiskFullError, match=r"^disk full$"):
                await store.add_message(ALICE, "talk", "user", "one more " * 100_000)

            assert await store.delete_messages_from(ALICE, "talk", question.id) == 2
            await store.delete_workspace_file(ALICE, "big0")
            await store.delete_prompt(ALICE, "poet")
            await store.delete_chat(ALICE, "old")
            assert [c.name for c in await store.list_chats(ALICE)] == ["talk"]
            assert await store.list_prompts(ALICE) == []
            assert await store.search(ALICE, "line19999") == []
            # what was freed can be written again (the reserve waits for more room)
            await store.add_message(ALICE, "talk", "user", "Hello again?")
            assert not reserve_of(store.path).exists()
        finally:
            await store.aclose()
        with contextlib.closing(sqlite3.connect(disk / "chatthy.db")) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
