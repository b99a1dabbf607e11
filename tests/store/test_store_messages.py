"""Messages: adding, paging, the life of a streamed reply, edits, truncation, recovery."""

from __future__ import annotations

from typing import Any, cast

import pytest

from chatthy.errors import ArgumentError, NotFoundError
from chatthy.store.base import MessageRecord, Store

ALICE = "alice"
BOB = "bob"
PICTURE = [
    {"type": "text", "text": "What bird is this?"},
    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
]


async def test_message_round_trips_with_images_and_usage(store: Store, chat: str) -> None:
    added = await store.add_message(
        ALICE, chat, "user", PICTURE, provider="local", model="llava", usage={"input_tokens": 7}
    )
    stored = (await store.messages(ALICE, chat))[-1]
    assert stored == added
    assert stored.content == PICTURE
    assert (stored.role, stored.status, stored.provider, stored.model) == (
        "user",
        "complete",
        "local",
        "llava",
    )
    assert stored.usage == {"input_tokens": 7}
    assert (await store.get_chat(ALICE, chat)).messages == 3


async def test_adding_a_message_moves_its_chat_to_the_top(store: Store, chat: str) -> None:
    await store.create_chat(ALICE, "newer", "", "", "")
    await store.add_message(ALICE, chat, "user", "one more thing")
    assert [c.name for c in await store.list_chats(ALICE)] == [chat, "newer"]


async def test_add_message_failures(store: Store, chat: str) -> None:
    with pytest.raises(NotFoundError, match="nope"):
        await store.add_message(ALICE, "nope", "user", "hi")
    with pytest.raises(ArgumentError, match="status"):
        await store.add_message(ALICE, chat, "user", "hi", status=cast(Any, "done"))
    with pytest.raises(ArgumentError, match="role"):
        await store.add_message(ALICE, chat, "", "hi")
    with pytest.raises(ArgumentError, match="JSON"):
        await store.add_message(ALICE, chat, "user", {"when": object()})
    with pytest.raises(ArgumentError, match="usage"):
        await store.add_message(ALICE, chat, "user", "hi", usage=cast(Any, [1, 2]))
    assert len(await store.messages(ALICE, chat)) == 2


async def test_add_messages_appends_a_turn_in_one_go(store: Store, chat: str) -> None:
    await store.create_chat(ALICE, "newer", "", "", "")
    question, reply = await store.add_messages(
        ALICE,
        chat,
        [
            {"role": "user", "content": PICTURE},
            {"role": "assistant", "content": "", "status": "streaming", "provider": "echo"},
        ],
    )
    stored = await store.messages(ALICE, chat)
    assert stored[-2:] == [question, reply]
    assert question.id < reply.id
    assert (question.content, question.status) == (PICTURE, "complete")
    assert (reply.status, reply.provider, reply.model) == ("streaming", "echo", "")
    assert [c.name for c in await store.list_chats(ALICE)] == [chat, "newer"]
    assert await store.add_messages(ALICE, chat, []) == []


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": "fine"}, {"role": "user", "content": "x", "status": "done"}],
        [{"role": "user", "content": "fine"}, {"role": "", "content": "x"}],
        [{"role": "user", "content": "fine"}, {"role": "user"}],
        [{"role": "user", "content": "fine"}, {"role": "user", "content": {"when": object()}}],
        [{"role": "user", "content": "fine"}, {"role": "user", "content": "x", "colour": 1}],
        [{"role": "user", "content": "fine"}, "not a mapping"],
    ],
)
async def test_add_messages_adds_none_when_one_is_bad(
    store: Store, chat: str, messages: list[Any]
) -> None:
    before = await store.messages(ALICE, chat)
    with pytest.raises(ArgumentError):
        await store.add_messages(ALICE, chat, messages)
    assert await store.messages(ALICE, chat) == before


async def test_add_messages_to_a_missing_or_foreign_chat(store: Store, chat: str) -> None:
    turn = [{"role": "user", "content": "hi"}]
    with pytest.raises(NotFoundError, match="nope"):
        await store.add_messages(ALICE, "nope", turn)
    with pytest.raises(NotFoundError):
        await store.add_messages("bob", chat, turn)
    assert len(await store.messages(ALICE, chat)) == 2


async def test_updates_find_the_message_among_many_chats(store: Store, chat: str) -> None:
    for i in range(50):
        await store.create_chat(ALICE, f"other {i}", "", "", "")
        await store.create_chat("bob", f"bob {i}", "", "", "")
    answer = (await store.messages(ALICE, chat))[-1]
    await store.update_message(ALICE, answer.id, content="revised", status="complete")
    assert (await store.messages(ALICE, chat))[-1].content == "revised"
    with pytest.raises(NotFoundError):
        await store.update_message("bob", answer.id, content="stolen")


async def test_streamed_reply_checkpoints_then_completes(store: Store, chat: str) -> None:
    reply = await store.add_message(
        ALICE, chat, "assistant", "", status="streaming", provider="echo", model="echo-1"
    )
    text = ""
    for word in ("The", " ridge", " trail", " is", " steep."):
        text += word
        await store.update_message(ALICE, reply.id, content=text)
        now = (await store.messages(ALICE, chat))[-1]
        assert (now.content, now.status) == (text, "streaming")
    await store.update_message(
        ALICE, reply.id, content=text, status="complete", usage={"output_tokens": 5}
    )
    done = (await store.messages(ALICE, chat))[-1]
    assert (done.content, done.status, done.usage) == (
        "The ridge trail is steep.",
        "complete",
        {"output_tokens": 5},
    )
    assert (done.provider, done.model, done.created) == ("echo", "echo-1", reply.created)
    assert done.updated >= reply.updated


async def test_failed_reply_keeps_its_text_and_error(store: Store, chat: str) -> None:
    reply = await store.add_message(ALICE, chat, "assistant", "partial", status="streaming")
    await store.update_message(ALICE, reply.id, status="error", error="provider timed out")
    failed = (await store.messages(ALICE, chat))[-1]
    assert (failed.content, failed.status, failed.error) == (
        "partial",
        "error",
        "provider timed out",
    )


async def test_update_failures_change_nothing(store: Store, chat: str) -> None:
    first = (await store.messages(ALICE, chat))[0]
    with pytest.raises(NotFoundError):
        await store.update_message(ALICE, 999_999, content="x")
    with pytest.raises(ArgumentError):
        await store.update_message(ALICE, first.id, content="x", status=cast(Any, "bogus"))
    with pytest.raises(ArgumentError):
        await store.update_message(ALICE, first.id, content=[object()])
    assert (await store.messages(ALICE, chat))[0] == first


async def test_edit_changes_only_the_content(store: Store, chat: str) -> None:
    first = (await store.messages(ALICE, chat))[0]
    await store.update_message(ALICE, first.id, content="Where should we go swimming?")
    edited = (await store.messages(ALICE, chat))[0]
    assert (edited.id, edited.role, edited.status) == (first.id, "user", "complete")
    assert edited.content == "Where should we go swimming?"


async def test_paging_backwards_returns_every_message_once(store: Store) -> None:
    await store.create_chat(ALICE, "long", "", "", "")
    for i in range(25):
        await store.add_message(ALICE, "long", "user", f"message {i}")
    newest = await store.messages(ALICE, "long", limit=10)
    assert [m.content for m in newest] == [f"message {i}" for i in range(15, 25)]
    seen: list[MessageRecord] = []
    before: int | None = None
    while page := await store.messages(ALICE, "long", before=before, limit=10):
        assert [m.id for m in page] == sorted(m.id for m in page)
        seen = page + seen
        before = page[0].id
    assert [m.content for m in seen] == [f"message {i}" for i in range(25)]
    below = await store.messages(ALICE, "long", before=newest[0].id)
    assert len(below) == 15


async def test_paging_forwards_from_the_first_message(store: Store) -> None:
    await store.create_chat(ALICE, "long", "", "", "")
    for i in range(25):
        await store.add_message(ALICE, "long", "user", f"message {i}")
    first = await store.messages(ALICE, "long", after=0, limit=10)
    assert [m.content for m in first] == [f"message {i}" for i in range(10)]
    seen: list[MessageRecord] = []
    after = 0
    while page := await store.messages(ALICE, "long", after=after, limit=10):
        assert [m.id for m in page] == sorted(m.id for m in page)
        seen += page
        after = page[-1].id
    assert [m.content for m in seen] == [f"message {i}" for i in range(25)]
    between = await store.messages(ALICE, "long", after=first[2].id, before=first[6].id)
    assert [m.content for m in between] == ["message 3", "message 4", "message 5"]


async def test_paging_limits(store: Store, chat: str) -> None:
    assert await store.messages(ALICE, chat, limit=0) == []
    assert len(await store.messages(ALICE, chat, limit=100)) == 2
    with pytest.raises(ArgumentError, match="limit"):
        await store.messages(ALICE, chat, limit=-1)
    with pytest.raises(NotFoundError):
        await store.messages(ALICE, "nope")


async def test_delete_from_a_message_removes_it_and_later_ones(store: Store, chat: str) -> None:
    third = await store.add_message(ALICE, chat, "user", "and the weather?")
    await store.add_message(ALICE, chat, "assistant", "sunny")
    assert await store.delete_messages_from(ALICE, chat, third.id) == 2
    remaining = await store.messages(ALICE, chat)
    assert [m.content for m in remaining] == [
        "Where should we go hiking?",
        "Try the ridge trail near the lake.",
    ]
    assert await store.search(ALICE, "sunny") == []
    again = await store.add_message(ALICE, chat, "user", "and the weather?")
    assert again.id > third.id


async def test_delete_from_needs_a_message_of_that_chat(store: Store, chat: str) -> None:
    await store.create_chat(ALICE, "other", "", "", "")
    elsewhere = await store.add_message(ALICE, "other", "user", "hello")
    with pytest.raises(NotFoundError):
        await store.delete_messages_from(ALICE, chat, elsewhere.id)
    with pytest.raises(NotFoundError):
        await store.delete_messages_from(ALICE, chat, 999_999)
    with pytest.raises(NotFoundError):
        await store.delete_messages_from(ALICE, "nope", elsewhere.id)
    assert len(await store.messages(ALICE, chat)) == 2
    assert len(await store.messages(ALICE, "other")) == 1


async def test_orphans_interrupted_are_only_streaming_replies(store: Store, chat: str) -> None:
    running = await store.add_message(ALICE, chat, "assistant", "so far", status="streaming")
    await store.add_message(ALICE, chat, "assistant", "stopped", status="cancelled")
    assert await store.interrupt_orphans() == 1
    statuses = [(m.content, m.status) for m in await store.messages(ALICE, chat)]
    assert statuses[-2:] == [("so far", "interrupted"), ("stopped", "cancelled")]
    assert statuses[0][1] == "complete"
    assert await store.interrupt_orphans() == 0
    assert (await store.messages(ALICE, chat))[-2].id == running.id


async def test_a_count_is_kept_with_its_content_and_dropped_when_it_changes(
    store: Store, chat: str
) -> None:
    (kept,) = await store.add_messages(
        ALICE, chat, [{"role": "user", "content": "hi", "tokens": 5}]
    )
    assert kept.tokens == 5
    await store.update_message(ALICE, kept.id, content="hello there", tokens=7)
    assert (await store.message_tokens(ALICE, chat))[-1] == (kept.id, "user", 7)
    await store.update_message(ALICE, kept.id, status="complete")
    assert (await store.message_tokens(ALICE, chat))[-1][2] == 7
    await store.update_message(ALICE, kept.id, content="changed again")
    assert (await store.message_tokens(ALICE, chat))[-1][2] is None


async def test_the_newest_counts_and_a_summary_of_the_older_ones(store: Store, chat: str) -> None:
    added = await store.add_messages(
        ALICE,
        chat,
        [
            {"role": "user" if n % 2 == 0 else "assistant", "content": f"m{n}", "tokens": n}
            for n in range(1, 11)
        ],
    )
    await store.update_message(ALICE, added[1].id, content="changed")  # its count goes
    everything = await store.message_tokens(ALICE, chat)
    newest = await store.message_tokens(ALICE, chat, newest=3)
    assert newest == everything[-3:]
    assert [row[2] for row in newest] == [8, 9, 10]
    assert await store.message_tokens(ALICE, chat, newest=100) == everything
    before = newest[0][0]
    older = everything[: everything.index(newest[0])]
    assert await store.tokens_before(ALICE, chat, before) == (
        len(older),
        sum(row[2] or 0 for row in older),
        sum(row[2] is None for row in older),
    )
    assert await store.tokens_before(ALICE, chat, everything[0][0]) == (0, 0, 0)
    with pytest.raises(NotFoundError):
        await store.tokens_before(BOB, chat, before)
