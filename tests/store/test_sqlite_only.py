"""What only the SQLite backend has: one file (its directories, its migrations, a file
that is not a database), WAL (readers beside a writer, another process writing), a full
disk, a process killed with SIGKILL mid-reply, and FTS5's query syntax.

Every test here runs on SQLite alone: ``backend`` is pinned below. What every backend
must do is in the other ``test_store_*.py`` files.
"""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chatthy.errors import StoreError
from chatthy.store.migrations import MIGRATIONS, applied
from chatthy.store.sqlite import SQLiteStore
from storekit import SQLITE, Backend

ALICE = "alice"


@pytest.fixture
def backend() -> Backend:
    return SQLITE


@pytest.fixture
def db_path(store: SQLiteStore) -> Path:
    return store.path


# the file -----------------------------------------------------------------------------
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


# WAL ----------------------------------------------------------------------------------
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


# full disk, SIGKILL -------------------------------------------------------------------
def _fill_disk(store: SQLiteStore) -> None:
    """Cap the file at its current size: the next write that needs a page fails."""
    conn = store._conn
    assert conn is not None
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")


def _free_disk(store: SQLiteStore) -> None:
    assert store._conn is not None
    store._conn.execute("PRAGMA max_page_count = 1073741823")


async def test_full_disk_is_a_store_error_and_loses_nothing(store: SQLiteStore, chat: str) -> None:
    before = await store.messages(ALICE, chat)
    _fill_disk(store)
    with pytest.raises(StoreError, match=r"^disk full$"):
        await store.add_message(ALICE, chat, "user", "a long paste " * 20_000)
    with pytest.raises(StoreError, match=r"^disk full$"):
        await store.import_chat(ALICE, "big", "", [{"role": "user", "content": "x" * 100_000}])
    assert await store.messages(ALICE, chat) == before
    assert [c.name for c in await store.list_chats(ALICE)] == [chat]
    assert len(await store.search(ALICE, "ridge")) == 1
    _free_disk(store)
    added = await store.add_message(ALICE, chat, "user", "a long paste " * 20_000)
    assert (await store.messages(ALICE, chat))[-1] == added


async def test_full_disk_during_a_reply_keeps_the_last_checkpoint(
    store: SQLiteStore, chat: str
) -> None:
    reply = await store.add_message(ALICE, chat, "assistant", "The trail", status="streaming")
    _fill_disk(store)
    with pytest.raises(StoreError, match=r"^disk full$"):
        await store.update_message(ALICE, reply.id, content="The trail " + "goes on " * 20_000)
    kept = (await store.messages(ALICE, chat))[-1]
    assert (kept.content, kept.status) == ("The trail", "streaming")
    _free_disk(store)
    await store.update_message(ALICE, reply.id, content="The trail ends.", status="complete")
    assert (await store.messages(ALICE, chat))[-1].content == "The trail ends."


CRASHING_SERVER = textwrap.dedent(
    """
    import asyncio, sys
    from chatthy.store.sqlite import SQLiteStore

    async def main() -> None:
        store = await SQLiteStore.open(sys.argv[1])
        await store.register_profile("alice", b"a" * 32)
        await store.create_chat("alice", "story", "", "echo", "echo-1")
        await store.add_message("alice", "story", "user", "Tell me a long story.")
        reply = await store.add_message("alice", "story", "assistant", "", status="streaming")
        text, n = "", 0
        while True:
            n += 1
            text += f"word{n} "
            await store.update_message("alice", reply.id, content=text)
            print(n, flush=True)

    asyncio.run(main())
    """
)


@contextlib.contextmanager
def _writer(path: Path) -> Iterator[Callable[[int], int]]:
    """A separate process streaming a reply into ``path``, SIGKILLed on leaving.

    Yields ``wait_for(n)``: block until the process reports at least ``n`` committed
    checkpoints and return the last one reported.
    """
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASHING_SERVER, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout, proc.stderr
    last = 0

    def wait_for(checkpoints: int) -> int:
        nonlocal last
        while last < checkpoints:
            line = out.readline()
            assert line, f"the writer died early: {err.read()}"
            last = int(line)
        return last

    try:
        yield wait_for
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        out.close()
        err.close()
    assert proc.returncode == -signal.SIGKILL


async def test_store_opens_and_reads_while_another_process_writes(tmp_path: Path) -> None:
    path = tmp_path / "chatthy.db"
    with _writer(path) as wait_for:
        seen = wait_for(50)
        store = await SQLiteStore.open(path)
        try:
            reply = (await store.messages(ALICE, "story"))[-1]
            assert reply.status == "streaming"
            assert f"word{seen} " in reply.content
            assert wait_for(seen + 50) >= seen + 50
            assert len((await store.messages(ALICE, "story"))[-1].content) > len(reply.content)
        finally:
            await store.aclose()


async def test_killed_mid_reply_keeps_every_chat_and_the_checkpointed_text(
    tmp_path: Path,
) -> None:
    path = tmp_path / "chatthy.db"
    with _writer(path) as wait_for:
        last = wait_for(300)
    store = await SQLiteStore.open(path)
    try:
        assert [c.name for c in await store.list_chats(ALICE)] == ["story"]
        question, reply = await store.messages(ALICE, "story")
        assert question.content == "Tell me a long story."
        assert reply.status == "streaming"
        assert f"word{last} " in reply.content
        assert reply.content.startswith("word1 word2 word3 ")
        assert await store.interrupt_orphans() == 1
        cut = (await store.messages(ALICE, "story"))[-1]
        assert (cut.status, cut.content) == ("interrupted", reply.content)
        assert [h.message_id for h in await store.search(ALICE, f"word{last}")] == [reply.id]
        await store.add_message(ALICE, "story", "user", "Go on.")
    finally:
        await store.aclose()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")


# FTS5 ---------------------------------------------------------------------------------
async def test_fts5_syntax_is_honoured(store: SQLiteStore, chat: str) -> None:
    assert len(await store.search(ALICE, "ridge OR hiking")) == 2
    assert await store.search(ALICE, "ridge NOT lake") == []
    assert len(await store.search(ALICE, '"ridge trail"')) == 1
    assert await store.search(ALICE, '"trail ridge"') == []
