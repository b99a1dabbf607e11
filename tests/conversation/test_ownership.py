"""Reply leases: who may run a chat's reply, and who marks a cut-off one interrupted."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from chatthy.conversation.ownership import ReplyOwner
from chatthy.errors import ConflictError
from chatthy.store.sqlite import SQLiteStore


async def _streaming_reply(store: SQLiteStore, owner: str, ttl: float) -> int:
    await store.create_chat("alice", "c", "default", "echo", "")
    await store.claim_reply("alice", "c", owner, ttl)
    *_, reply = await store.add_messages(
        "alice",
        "c",
        [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "half", "status": "streaming"},
        ],
    )
    return reply.id


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(done.stdout)


async def test_a_live_owner_elsewhere_keeps_its_reply(tmp_path: Path) -> None:
    async with await SQLiteStore.open(tmp_path / "db") as store:
        await _streaming_reply(store, "another-host/123/abcd", ttl=60)
        assert await ReplyOwner(store).recover() == 0
        assert (await store.messages("alice", "c"))[-1].status == "streaming"


async def test_a_lease_that_ran_out_is_interrupted_by_whoever_finds_it(tmp_path: Path) -> None:
    async with await SQLiteStore.open(tmp_path / "db") as store:
        await _streaming_reply(store, "another-host/123/abcd", ttl=0.05)
        await asyncio.sleep(0.1)
        assert await ReplyOwner(store).recover() == 1
        reply = (await store.messages("alice", "c"))[-1]
        assert (reply.status, reply.content) == ("interrupted", "half")


async def test_a_dead_process_on_this_host_is_recovered_at_once(tmp_path: Path) -> None:
    async with await SQLiteStore.open(tmp_path / "db") as store:
        owner = f"{socket.gethostname()}/{_dead_pid()}/abcd"
        await _streaming_reply(store, owner, ttl=600)
        assert await ReplyOwner(store).recover() == 1
        assert (await store.messages("alice", "c"))[-1].status == "interrupted"


async def test_one_reply_per_chat_across_owners(tmp_path: Path) -> None:
    async with await SQLiteStore.open(tmp_path / "db") as store:
        await _streaming_reply(store, "another-host/123/abcd", ttl=60)
        mine = ReplyOwner(store)
        with pytest.raises(ConflictError):
            await mine.claim("alice", "c")
        await store.release_reply("alice", "c", "another-host/123/abcd")
        await mine.claim("alice", "c")
        await mine.release("alice", "c")
