"""What only the PostgreSQL store has: several servers (each its own pool) on one database
at the same moment, and a server that cannot be reached.

The shared store suite runs every other test on PostgreSQL too (tests/store/conftest.py).
"""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from chatthy.errors import ArgumentError, ConflictError, StoreError
from chatthy.store.base import ImageIn
from chatthy.store.pg_migrations import MIGRATIONS
from chatthy.store.postgres import PostgresStore
from storekit import ALICE

CAT_DATA = b"\x89PNG cat bytes"
CAT = ImageIn(hashlib.sha256(CAT_DATA).hexdigest(), "image/png", 4, 3, CAT_DATA)
CAT_PART = {"type": "image_url", "image_url": {"url": f"chatthy-image:{CAT.digest}"}}


async def _two_servers(url: str) -> tuple[PostgresStore, PostgresStore]:
    first = await PostgresStore.open(url, max_size=4)
    second = await PostgresStore.open(url, max_size=4)
    return first, second


async def test_two_servers_claiming_one_chat_at_once_one_wins(pg_url: str) -> None:
    first, second = await _two_servers(pg_url)
    try:
        await first.register_profile(ALICE, b"a" * 32)
        for n in range(8):
            await first.create_chat(ALICE, f"chat {n}", "", "", "")
            claims = await asyncio.gather(
                first.claim_reply(ALICE, f"chat {n}", "server-1", ttl=60),
                second.claim_reply(ALICE, f"chat {n}", "server-2", ttl=60),
                return_exceptions=True,
            )
            lost = [c for c in claims if isinstance(c, ConflictError)]
            assert len(lost) == 1, claims
            assert claims.count(None) == 1, claims
        owners = await first.reply_owners()
        assert set(owners) <= {"server-1", "server-2"}
        held = await first.renew_replies("server-1", 60) + await first.renew_replies("server-2", 60)
        assert held == 8
    finally:
        await first.aclose()
        await second.aclose()


async def test_two_servers_creating_one_chat_name_at_once_one_wins(pg_url: str) -> None:
    first, second = await _two_servers(pg_url)
    try:
        await first.register_profile(ALICE, b"a" * 32)
        for n in range(8):
            made = await asyncio.gather(
                first.create_chat(ALICE, f"trip {n}", "first", "", ""),
                second.import_chat(
                    ALICE, f"trip {n}", "second", [{"role": "user", "content": "x"}]
                ),
                return_exceptions=True,
            )
            lost = [m for m in made if isinstance(m, ConflictError)]
            assert len(lost) == 1, made
            assert f"trip {n}" in str(lost[0])
        assert len(await first.list_chats(ALICE)) == 8
    finally:
        await first.aclose()
        await second.aclose()


async def test_two_servers_opening_a_fresh_database_at_once_both_open(pg_url: str) -> None:
    import psycopg  # (here: where it is not installed, the tests skip rather than fail)

    first, second = await asyncio.gather(PostgresStore.open(pg_url), PostgresStore.open(pg_url))
    try:
        await first.register_profile(ALICE, b"a" * 32)
        assert await second.get_profile(ALICE) is not None
        async with await psycopg.AsyncConnection.connect(pg_url) as conn:
            cur = await conn.execute("SELECT name FROM _migrations ORDER BY name")
            assert [row[0] for row in await cur.fetchall()] == [m.__name__ for m in MIGRATIONS]
    finally:
        await first.aclose()
        await second.aclose()


async def test_an_image_is_never_deleted_under_a_message_naming_it(pg_url: str) -> None:
    """One server deletes the chat whose message alone names the cat while another adds
    a message naming it by digest alone to another chat: either that message is refused
    (send it again) and the image is gone, or it is kept with the image; never a message
    naming nothing."""
    first, second = await _two_servers(pg_url)
    try:
        await first.register_profile(ALICE, b"a" * 32)
        for n in range(6):
            named, naming = f"pets {n}", f"more pets {n}"
            await first.create_chat(ALICE, naming, "", "", "")
            await first.create_chat(ALICE, named, "", "", "")
            await first.add_messages(
                ALICE, named, [{"role": "user", "content": [CAT_PART], "images": [CAT]}]
            )
            deleted, added = await asyncio.gather(
                first.delete_chat(ALICE, named),
                second.add_messages(ALICE, naming, [{"role": "user", "content": [CAT_PART]}]),
                return_exceptions=True,
            )
            assert deleted is None
            left = await first.messages(ALICE, naming)
            if isinstance(added, ArgumentError):
                assert left == []
            else:
                assert [m.content for m in left] == [[CAT_PART]], added
                assert (await first.image(ALICE, CAT.digest)).data == CAT_DATA
            await first.delete_chat(ALICE, naming)
    finally:
        await first.aclose()
        await second.aclose()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://chatthy:s3cret-word@127.0.0.1:1/chatthy",
        "host=127.0.0.1 port=1 user=chatthy password=s3cret-word dbname=chatthy",
    ],
)
async def test_a_server_that_cannot_be_reached_is_one_line_without_the_password(
    url: str,
) -> None:
    with pytest.raises(StoreError) as caught:
        await PostgresStore.open(url)
    said = str(caught.value)
    assert "127.0.0.1:1" in said
    assert "s3cret" not in said
    assert "\n" not in said


async def test_a_url_that_is_not_one_is_one_line_without_the_password() -> None:
    with pytest.raises(StoreError) as caught:
        await PostgresStore.open("postgresql://chatthy:s3cret-word@127.0.0.1:port/chatthy")
    said = str(caught.value)
    assert "s3cret" not in said
    assert "\n" not in said


async def test_a_closed_store_refuses_work_and_closes_twice(pg_url: str) -> None:
    async with await PostgresStore.open(pg_url) as store:
        await store.register_profile(ALICE, b"a" * 32)
    await store.aclose()
    with pytest.raises(StoreError, match="closed"):
        await store.get_profile(ALICE)
