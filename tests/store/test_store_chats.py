"""Chats: create, list, rename, update, fork, import and delete, with their failures."""

from __future__ import annotations

from typing import Any, cast

import pytest

from chatthy.errors import ArgumentError, ConflictError, NotFoundError
from chatthy.store.base import Store
from chatthy.store.rules import NAME_MAX

ALICE, BOB = "alice", "bob"
BAD_NAMES = ["", "   ", "x" * (NAME_MAX + 1), "two\nlines", "tab\there", "nul\x00", "bell\x07"]


async def test_created_chat_remembers_its_settings(store: Store) -> None:
    made = await store.create_chat(ALICE, "trip", "guide", "local", "qwen")
    got = await store.get_chat(ALICE, "trip")
    assert got == made
    assert (got.name, got.personality, got.provider, got.model) == (
        "trip",
        "guide",
        "local",
        "qwen",
    )
    assert got.messages == 0


async def test_chat_names_are_stripped_and_found_either_way(store: Store) -> None:
    await store.create_chat(ALICE, "  trip  ", "", "", "")
    assert (await store.get_chat(ALICE, "trip")).name == "trip"
    assert (await store.get_chat(ALICE, " trip ")).name == "trip"


async def test_longest_allowed_name_and_unicode_are_accepted(store: Store) -> None:
    await store.create_chat(ALICE, "é" * NAME_MAX, "", "", "")
    await store.create_chat(ALICE, "Tokyo 🗼 trip", "", "", "")
    names = {chat.name for chat in await store.list_chats(ALICE)}
    assert names == {"é" * NAME_MAX, "Tokyo 🗼 trip"}


@pytest.mark.parametrize("bad", BAD_NAMES)
async def test_bad_chat_names_are_refused_everywhere(store: Store, bad: str) -> None:
    await store.create_chat(ALICE, "ok", "", "", "")
    with pytest.raises(ArgumentError, match="chat name"):
        await store.create_chat(ALICE, bad, "", "", "")
    with pytest.raises(ArgumentError, match="chat name"):
        await store.rename_chat(ALICE, "ok", bad)
    with pytest.raises(ArgumentError, match="chat name"):
        await store.fork_chat(ALICE, "ok", bad)
    with pytest.raises(ArgumentError, match="chat name"):
        await store.import_chat(ALICE, bad, "", [])
    assert [chat.name for chat in await store.list_chats(ALICE)] == ["ok"]


async def test_taken_name_is_a_conflict_and_changes_nothing(store: Store, chat: str) -> None:
    with pytest.raises(ConflictError, match="plans"):
        await store.create_chat(ALICE, chat, "other", "other", "other")
    kept = await store.get_chat(ALICE, chat)
    assert (kept.personality, kept.messages) == ("helper", 2)


async def test_same_name_in_two_profiles_is_two_chats(store: Store, chat: str) -> None:
    theirs = await store.create_chat(BOB, chat, "", "", "")
    assert theirs.id != (await store.get_chat(ALICE, chat)).id
    assert (await store.get_chat(BOB, chat)).messages == 0


async def test_list_shows_most_recently_active_first_with_counts(store: Store) -> None:
    for name in ("old", "middle", "new"):
        await store.create_chat(ALICE, name, "p" if name != "middle" else "q", "", "")
    assert [c.name for c in await store.list_chats(ALICE)] == ["new", "middle", "old"]
    await store.add_message(ALICE, "old", "user", "back to this one")
    listed = await store.list_chats(ALICE)
    assert [(c.name, c.messages) for c in listed] == [("old", 1), ("new", 0), ("middle", 0)]
    assert [c.name for c in await store.list_chats(ALICE, personality="p")] == ["old", "new"]
    assert await store.list_chats(ALICE, personality="none such") == []


async def test_unknown_chat_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError, match="nope"):
        await store.get_chat(ALICE, "nope")
    with pytest.raises(NotFoundError):
        await store.update_chat(ALICE, "nope", model="m")
    with pytest.raises(NotFoundError):
        await store.rename_chat(ALICE, "nope", "other")
    with pytest.raises(NotFoundError):
        await store.delete_chat(ALICE, "nope")
    with pytest.raises(NotFoundError):
        await store.fork_chat(ALICE, "nope", "copy")


async def test_update_chat_changes_only_what_is_given(store: Store, chat: str) -> None:
    await store.create_chat(ALICE, "later", "", "", "")
    updated = await store.update_chat(ALICE, chat, provider="anthropic", model="claude")
    assert (updated.personality, updated.provider, updated.model) == (
        "helper",
        "anthropic",
        "claude",
    )
    assert (await store.get_chat(ALICE, chat)).model == "claude"
    assert (await store.list_chats(ALICE))[0].name == "later"
    assert await store.update_chat(ALICE, chat) == updated


async def test_rename_keeps_messages_and_frees_the_old_name(store: Store, chat: str) -> None:
    renamed = await store.rename_chat(ALICE, chat, "hiking")
    assert (renamed.name, renamed.messages) == ("hiking", 2)
    assert len(await store.messages(ALICE, "hiking")) == 2
    with pytest.raises(NotFoundError):
        await store.get_chat(ALICE, chat)
    await store.create_chat(ALICE, chat, "", "", "")
    assert (await store.rename_chat(ALICE, "hiking", " hiking ")).name == "hiking"


async def test_rename_onto_a_taken_name_is_a_conflict(store: Store, chat: str) -> None:
    await store.create_chat(ALICE, "other", "", "", "")
    with pytest.raises(ConflictError, match="other"):
        await store.rename_chat(ALICE, chat, "other")
    assert (await store.get_chat(ALICE, chat)).messages == 2


async def test_delete_removes_chat_messages_and_search_hits(store: Store, chat: str) -> None:
    assert await store.search(ALICE, "ridge")
    await store.delete_chat(ALICE, chat)
    assert await store.list_chats(ALICE) == []
    assert await store.search(ALICE, "ridge") == []
    alice = await store.get_profile(ALICE)
    assert alice is not None
    assert (alice.chats, alice.messages) == (0, 0)
    with pytest.raises(NotFoundError):
        await store.delete_chat(ALICE, chat)


async def test_fork_copies_settings_and_all_messages(store: Store, chat: str) -> None:
    fork = await store.fork_chat(ALICE, chat, "plans 2")
    assert (fork.personality, fork.provider, fork.model, fork.messages) == (
        "helper",
        "echo",
        "echo-1",
        2,
    )
    original = await store.messages(ALICE, chat)
    copied = await store.messages(ALICE, "plans 2")
    assert [(m.role, m.content) for m in copied] == [(m.role, m.content) for m in original]
    await store.update_message(ALICE, copied[1].id, content="changed in the fork")
    assert (await store.messages(ALICE, chat))[1].content == original[1].content


async def test_fork_upto_a_message_stops_there(store: Store, chat: str) -> None:
    first = (await store.messages(ALICE, chat))[0]
    fork = await store.fork_chat(ALICE, chat, "just the question", upto=first.id)
    assert fork.messages == 1
    assert (await store.messages(ALICE, fork.name))[0].content == first.content


async def test_fork_upto_a_message_of_another_chat_is_not_found(store: Store, chat: str) -> None:
    await store.create_chat(ALICE, "other", "", "", "")
    elsewhere = await store.add_message(ALICE, "other", "user", "hello")
    with pytest.raises(NotFoundError):
        await store.fork_chat(ALICE, chat, "copy", upto=elsewhere.id)
    with pytest.raises(ConflictError):
        await store.fork_chat(ALICE, chat, "other")
    assert {c.name for c in await store.list_chats(ALICE)} == {chat, "other"}


async def test_fork_of_a_running_reply_is_marked_interrupted(store: Store, chat: str) -> None:
    reply = await store.add_message(ALICE, chat, "assistant", "half a", status="streaming")
    await store.fork_chat(ALICE, chat, "snapshot")
    assert (await store.messages(ALICE, "snapshot"))[-1].status == "interrupted"
    assert (await store.messages(ALICE, chat))[-1].id == reply.id
    assert (await store.messages(ALICE, chat))[-1].status == "streaming"


async def test_import_keeps_order_statuses_and_times(store: Store) -> None:
    imported = await store.import_chat(
        ALICE,
        "from file",
        "poet",
        [
            {"role": "user", "content": "write a haiku", "created": 1000.0},
            {
                "role": "assistant",
                "content": [{"type": "text", "text": "autumn moon"}],
                "status": "cancelled",
                "provider": "local",
                "model": "qwen",
                "usage": {"output_tokens": 3},
                "created": 1001,
            },
            {"role": "assistant", "content": "cut", "status": "streaming"},
        ],
    )
    assert (imported.name, imported.personality, imported.messages) == ("from file", "poet", 3)
    got = await store.messages(ALICE, "from file")
    assert [m.role for m in got] == ["user", "assistant", "assistant"]
    assert [m.status for m in got] == ["complete", "cancelled", "interrupted"]
    assert got[1].content == [{"type": "text", "text": "autumn moon"}]
    assert (got[1].provider, got[1].model, got[1].usage) == ("local", "qwen", {"output_tokens": 3})
    assert (got[0].created, got[1].created) == (1000.0, 1001.0)


@pytest.mark.parametrize(
    "bad",
    [
        {"role": "user"},
        {"role": "", "content": "x"},
        {"role": "user", "content": "x", "status": "done"},
        {"role": "user", "content": "x", "created": "yesterday"},
        {"role": "user", "content": object()},
        "not a mapping",
    ],
)
async def test_import_with_a_bad_message_creates_nothing(store: Store, bad: object) -> None:
    good = {"role": "user", "content": "fine"}
    with pytest.raises(ArgumentError):
        await store.import_chat(ALICE, "broken", "", [good, cast(Any, bad)])
    assert await store.list_chats(ALICE) == []


async def test_import_onto_a_taken_name_is_a_conflict(store: Store, chat: str) -> None:
    with pytest.raises(ConflictError):
        await store.import_chat(ALICE, chat, "", [{"role": "user", "content": "x"}])
    assert (await store.get_chat(ALICE, chat)).messages == 2
