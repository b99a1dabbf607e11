"""Profile isolation: bob can neither see nor touch anything of alice's."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from chatthy.errors import NotFoundError
from chatthy.store.base import MessageRecord, Store

ALICE, BOB = "alice", "bob"

Attempt = Callable[[Store, str, MessageRecord], Awaitable[object]]

ATTEMPTS: dict[str, Attempt] = {
    "get": lambda s, c, m: s.get_chat(BOB, c),
    "read": lambda s, c, m: s.messages(BOB, c),
    "page": lambda s, c, m: s.messages(BOB, c, before=m.id + 1, limit=1),
    "rename": lambda s, c, m: s.rename_chat(BOB, c, "stolen"),
    "update chat": lambda s, c, m: s.update_chat(BOB, c, model="x"),
    "fork": lambda s, c, m: s.fork_chat(BOB, c, "stolen"),
    "delete": lambda s, c, m: s.delete_chat(BOB, c),
    "add": lambda s, c, m: s.add_message(BOB, c, "user", "injected"),
    "add several": lambda s, c, m: s.add_messages(BOB, c, [{"role": "user", "content": "x"}]),
    "update message": lambda s, c, m: s.update_message(BOB, m.id, content="overwritten"),
    "complete message": lambda s, c, m: s.update_message(BOB, m.id, status="error"),
    "truncate": lambda s, c, m: s.delete_messages_from(BOB, c, m.id),
    "prompt get": lambda s, c, m: s.get_prompt(BOB, "secret"),
    "prompt rename": lambda s, c, m: s.rename_prompt(BOB, "secret", "mine"),
    "prompt delete": lambda s, c, m: s.delete_prompt(BOB, "secret"),
}


async def _alice_state(store: Store, chat: str) -> object:
    return (
        await store.list_chats(ALICE),
        await store.messages(ALICE, chat),
        await store.list_prompts(ALICE),
    )


@pytest.mark.parametrize("action", ATTEMPTS)
async def test_bob_gets_not_found_and_alice_keeps_everything(
    store: Store, chat: str, action: str
) -> None:
    await store.set_prompt(ALICE, "secret", "alice's prompt")
    answer = (await store.messages(ALICE, chat))[-1]
    before = await _alice_state(store, chat)
    with pytest.raises(NotFoundError):
        await ATTEMPTS[action](store, chat, answer)
    assert await _alice_state(store, chat) == before


async def test_bob_cannot_fork_with_alices_message_into_his_chat(store: Store, chat: str) -> None:
    await store.create_chat(BOB, "mine", "", "", "")
    alices = (await store.messages(ALICE, chat))[0]
    with pytest.raises(NotFoundError):
        await store.fork_chat(BOB, "mine", "copy", upto=alices.id)
    with pytest.raises(NotFoundError):
        await store.delete_messages_from(BOB, "mine", alices.id)
    assert [c.name for c in await store.list_chats(BOB)] == ["mine"]


async def test_bob_lists_and_finds_nothing_of_alices(store: Store, chat: str) -> None:
    await store.set_prompt(ALICE, "secret", "alice's prompt")
    assert await store.list_chats(BOB) == []
    assert await store.list_prompts(BOB) == []
    assert await store.search(BOB, "ridge") == []
    bob = await store.get_profile(BOB)
    assert bob is not None
    assert (bob.chats, bob.messages) == (0, 0)


async def test_bobs_prompt_of_the_same_name_is_his_own(store: Store) -> None:
    await store.set_prompt(ALICE, "secret", "alice's prompt")
    await store.set_prompt(BOB, "secret", "bob's prompt")
    await store.delete_prompt(BOB, "secret")
    assert (await store.get_prompt(ALICE, "secret")).text == "alice's prompt"
