"""Reply leases: which server may run a chat's reply, for how long, and who marks a reply
cut off when its server is gone. (Two servers claiming at the same moment is
PostgreSQL's own case: test_postgres_only.py.)"""

from __future__ import annotations

import asyncio

import pytest

from chatthy.errors import ConflictError, NotFoundError
from chatthy.store.base import Store
from storekit import ALICE, BOB

HERE, THERE = "host-a/100/aaaa", "host-b/200/bbbb"


async def test_a_held_lease_keeps_others_out_until_released(store: Store, chat: str) -> None:
    await store.claim_reply(ALICE, chat, HERE, ttl=60)
    await store.claim_reply(ALICE, f" {chat} ", HERE, ttl=60)  # its holder claims again
    with pytest.raises(ConflictError, match="already running"):
        await store.claim_reply(ALICE, chat, THERE, ttl=60)
    assert await store.reply_owners() == [HERE]
    await store.release_reply(ALICE, chat, THERE)  # not the holder: nothing happens
    assert await store.reply_owners() == [HERE]
    await store.release_reply(ALICE, chat, HERE)
    await store.claim_reply(ALICE, chat, THERE, ttl=60)
    assert await store.reply_owners() == [THERE]


async def test_a_lease_that_ran_out_is_anyones(store: Store, chat: str) -> None:
    await store.claim_reply(ALICE, chat, HERE, ttl=0.05)
    await asyncio.sleep(0.1)
    await store.claim_reply(ALICE, chat, THERE, ttl=60)
    assert await store.reply_owners() == [THERE]


async def test_renewing_counts_the_leases_held(store: Store, chat: str) -> None:
    await store.create_chat(ALICE, "second", "", "", "")
    await store.claim_reply(ALICE, chat, HERE, ttl=0.05)
    await store.claim_reply(ALICE, "second", HERE, ttl=0.05)
    assert await store.renew_replies(HERE, ttl=60) == 2
    assert await store.renew_replies(THERE, ttl=60) == 0
    await asyncio.sleep(0.1)  # renewed: still held
    with pytest.raises(ConflictError):
        await store.claim_reply(ALICE, chat, THERE, ttl=60)


async def test_claims_name_the_profiles_chat(store: Store, chat: str) -> None:
    with pytest.raises(NotFoundError):
        await store.claim_reply(BOB, chat, HERE, ttl=60)
    with pytest.raises(NotFoundError):
        await store.claim_reply(ALICE, "nope", HERE, ttl=60)
    assert await store.reply_owners() == []


async def test_a_dead_owners_reply_is_interrupted_and_a_live_ones_kept(
    store: Store, chat: str
) -> None:
    await store.create_chat(ALICE, "elsewhere", "", "", "")
    await store.claim_reply(ALICE, chat, HERE, ttl=60)
    await store.claim_reply(ALICE, "elsewhere", THERE, ttl=60)
    mine = await store.add_message(ALICE, chat, "assistant", "half", status="streaming")
    theirs = await store.add_message(ALICE, "elsewhere", "assistant", "half", status="streaming")
    assert await store.interrupt_orphans(dead=[HERE]) == 1
    assert await store.reply_owners() == [THERE]
    assert (await store.messages(ALICE, chat))[-1].id == mine.id
    assert (await store.messages(ALICE, chat))[-1].status == "interrupted"
    assert (await store.messages(ALICE, "elsewhere"))[-1].id == theirs.id
    assert (await store.messages(ALICE, "elsewhere"))[-1].status == "streaming"


async def test_a_deleted_chat_takes_its_lease_along(store: Store, chat: str) -> None:
    await store.claim_reply(ALICE, chat, HERE, ttl=60)
    await store.delete_chat(ALICE, chat)
    assert await store.reply_owners() == []
