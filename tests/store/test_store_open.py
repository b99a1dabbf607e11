"""Opening again, sharing one database between stores, and closing."""

from __future__ import annotations

import pytest

from chatthy.errors import StoreError
from chatthy.store.base import Store
from storekit import Opener

ALICE = "alice"


async def test_reopening_keeps_everything(open_store: Opener, store: Store, chat: str) -> None:
    await store.set_prompt(ALICE, "pirate", "Arr.")
    before = (await store.list_chats(ALICE), await store.messages(ALICE, chat))
    await store.aclose()
    again = await open_store()
    try:
        assert (await again.list_chats(ALICE), await again.messages(ALICE, chat)) == before
        assert (await again.get_prompt(ALICE, "pirate")).text == "Arr."
        assert [h.chat for h in await again.search(ALICE, "ridge")] == [chat]
    finally:
        await again.aclose()


async def test_two_stores_on_one_database_see_each_others_writes(
    open_store: Opener, store: Store, chat: str
) -> None:
    other = await open_store()
    try:
        assert [c.name for c in await other.list_chats(ALICE)] == [chat]
        await other.add_message(ALICE, chat, "user", "written by the other one")
        assert (await store.messages(ALICE, chat))[-1].content == "written by the other one"
    finally:
        await other.aclose()


async def test_a_closed_store_says_so(store: Store, chat: str) -> None:
    await store.aclose()
    await store.aclose()
    with pytest.raises(StoreError, match="closed"):
        await store.list_chats(ALICE)
    with pytest.raises(StoreError, match="closed"):
        await store.add_message(ALICE, chat, "user", "hello?")
