"""A full disk, end to end: a real server whose data dir is a small tmpfs (mounted by the
test, skipped where it cannot be). Filled through the wire, it still deletes through the
wire, so a user can free space; a reply cut off by the full disk ends at once, marked
``error`` with the reason; the database stays sound."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from pathlib import Path

import pytest

from chatthy.config import ProviderConfig
from chatthy.errors import DiskFullError
from chatthy.server.app import Server
from diskkit import fill, small_disk
from helpers import ClientMaker, ServerFactory, collect, turn


def _echo(delay: float) -> dict[str, ProviderConfig]:
    return {"echo": ProviderConfig(scheme="echo", model="echo", params={"delay": delay})}


async def _start_on(
    servers: ServerFactory, disk: Path, delay: float = 0.0, **server: object
) -> Server:
    config = servers.config(_echo(delay), **server)
    config.data_dir = str(disk)
    return await servers.start_with(config)


def _sound(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


async def test_deletes_free_a_disk_filled_through_the_wire(
    tmp_path: Path, servers: ServerFactory, connect: ClientMaker
) -> None:
    with small_disk(tmp_path / "disk", "24m") as disk:
        srv = await _start_on(servers, disk)
        try:
            client = connect(srv)
            await client.call("prompt_set", name="poet", text="Answer in verse.")
            await turn(client, "talk", "hello")
            await turn(client, "talk", "and again")
            old = [
                {"role": ("user", "assistant")[i % 2], "content": f"line {i} " * 20}
                for i in range(2_000)
            ]
            await client.call("import", data=json.dumps(old), chat="old")
            with pytest.raises(DiskFullError, match="disk full"):
                for n in range(60):  # 24 MB cannot hold 60 of these
                    await client.call("ws_add", name=f"big{n}", text="x" * 900_000)
            with pytest.raises(DiskFullError, match="disk full"):
                await client.call("ws_add", name="one more", text="y" * 900_000)

            assert (await client.call("undo", chat="talk")).removed == 2
            assert (await client.call("ws_drop", name="big0")).name == "big0"
            await client.call("prompt_delete", name="poet")
            assert (await client.call("destroy", chat="old")).deleted

            assert [c.name for c in await client.call("chats")] == ["talk"]
            assert [m.content for m in (await client.call("messages", chat="talk")).messages] == [
                "hello",
                "echo: hello",
            ]
            assert "big0" not in {f.name for f in await client.call("ws_list")}
        finally:
            await servers.stop(srv)
        _sound(disk / "chatthy.db")


async def test_a_reply_cut_off_by_a_full_disk_is_marked_error_at_once(
    tmp_path: Path, servers: ServerFactory, connect: ClientMaker
) -> None:
    with small_disk(tmp_path / "disk", "24m") as disk:
        srv = await _start_on(servers, disk, delay=0.005, checkpoint_interval=0.05)
        try:
            client = connect(srv)
            words = 3_000  # 15 s of streaming, were it not cut off
            stream, _ = await client.start("chat", "story", text="word " * words)
            await asyncio.sleep(0.5)
            fill(disk / "filler")
            filled = time.monotonic()
            seen = await asyncio.wait_for(collect(stream), 10)
            ended = time.monotonic() - filled
            assert seen.status == "error"
            assert seen.error is not None and seen.error["code"] == "disk_full", seen.error
            assert "disk full" in seen.error["message"]
            assert ended < 5, f"the reply ran on for {ended:.1f} s on a full disk"
            assert len(seen.text.split()) < words

            question, reply = (await client.call("messages", chat="story")).messages
            assert (reply.status, reply.error) == ("error", seen.error["message"])
            assert reply.content and seen.text.startswith(reply.content[:50])
            assert question.content.startswith("word word")
        finally:
            await servers.stop(srv)
        _sound(disk / "chatthy.db")
