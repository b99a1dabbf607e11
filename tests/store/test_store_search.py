"""Full-text search: what it finds, in what order, for whom, and odd queries."""

from __future__ import annotations

import hashlib

import pytest

from chatthy.store.base import Store
from chatthy.store.rules import SNIPPET_MARKS

ALICE, BOB = "alice", "bob"
START, END = SNIPPET_MARKS
ODD_QUERIES = ['"ridge', "ridge AND", "AND ridge", "ridge OR", "NOT ridge", "(ridge", "ridge)"]
ODD_QUERIES += ["ridge:", "trail^", "NEAR(", "lake*)", "ridge -", "ridge:trail", "ridge + "]


async def test_finds_a_word_with_chat_role_and_marked_snippet(store: Store, chat: str) -> None:
    hits = await store.search(ALICE, "ridge")
    assert len(hits) == 1
    hit = hits[0]
    answer = (await store.messages(ALICE, chat))[1]
    assert (hit.chat, hit.message_id, hit.role, hit.created) == (
        chat,
        answer.id,
        "assistant",
        answer.created,
    )
    assert f"{START}ridge{END}" in hit.snippet
    assert "\n" not in hit.snippet


async def test_finds_text_parts_of_images_messages_but_not_urls(store: Store) -> None:
    await store.create_chat(ALICE, "birds", "", "", "")
    await store.add_message(
        ALICE,
        "birds",
        "user",
        [
            {"type": "text", "text": "Is this a kingfisher?"},
            {"type": "image_url", "image_url": {"url": "https://example.org/heron.png"}},
        ],
    )
    assert [h.chat for h in await store.search(ALICE, "kingfisher")] == ["birds"]
    assert await store.search(ALICE, "heron") == []


async def test_ignores_case_and_accents_and_honours_prefixes(store: Store) -> None:
    await store.create_chat(ALICE, "food", "", "", "")
    await store.add_message(ALICE, "food", "user", "A Crème Brûlée recipe, please")
    assert len(await store.search(ALICE, "creme brulee")) == 1
    assert len(await store.search(ALICE, "RECIP*")) == 1


async def test_best_match_comes_first(store: Store) -> None:
    await store.create_chat(ALICE, "c", "", "", "")
    weak = await store.add_message(ALICE, "c", "user", "tea " + "filler words " * 30)
    strong = await store.add_message(ALICE, "c", "user", "tea tea tea, all about tea")
    assert [h.message_id for h in await store.search(ALICE, "tea")] == [strong.id, weak.id]


async def test_limit_caps_the_hits(store: Store) -> None:
    await store.create_chat(ALICE, "c", "", "", "")
    for i in range(30):
        await store.add_message(ALICE, "c", "user", f"note number {i}")
    assert len(await store.search(ALICE, "note")) == 20
    assert len(await store.search(ALICE, "note", limit=5)) == 5
    assert await store.search(ALICE, "note", limit=0) == []


async def test_search_follows_edits_and_deletions(store: Store, chat: str) -> None:
    first = (await store.messages(ALICE, chat))[0]
    await store.update_message(ALICE, first.id, content="Where should we go kayaking?")
    assert await store.search(ALICE, "hiking") == []
    assert [h.message_id for h in await store.search(ALICE, "kayaking")] == [first.id]
    await store.delete_messages_from(ALICE, chat, first.id)
    assert await store.search(ALICE, "kayaking") == []


async def test_search_sees_a_reply_as_it_streams(store: Store, chat: str) -> None:
    reply = await store.add_message(ALICE, chat, "assistant", "", status="streaming")
    await store.update_message(ALICE, reply.id, content="Bring a waterproof jacket")
    assert [h.message_id for h in await store.search(ALICE, "waterproof")] == [reply.id]


async def test_other_profiles_never_see_the_hits(store: Store, chat: str) -> None:
    await store.create_chat(BOB, "mine", "", "", "")
    await store.add_message(BOB, "mine", "user", "my own ridge walk")
    assert [h.chat for h in await store.search(BOB, "ridge")] == ["mine"]
    assert [h.chat for h in await store.search(ALICE, "ridge")] == [chat]
    assert await store.search("mallory", "ridge") == []


@pytest.mark.parametrize("query", ODD_QUERIES)
async def test_odd_queries_are_searched_as_plain_words(store: Store, chat: str, query: str) -> None:
    hits = await store.search(ALICE, query)
    assert [(h.chat, h.role) for h in hits] == [(chat, "assistant")]


@pytest.mark.parametrize("query", ["", "   ", '"', '""', "-", "*", "AND", "NOT", "OR OR"])
async def test_queries_without_words_find_nothing(store: Store, chat: str, query: str) -> None:
    assert await store.search(ALICE, query) == []


async def test_phrases_alternatives_and_exclusions(store: Store, chat: str) -> None:
    def found(query: str) -> list[tuple[str, str]]:
        return [(h.chat, h.role) for h in hits[query]]

    queries = ['"ridge trail"', '"trail ridge"', "kayak OR hiking", "ridge NOT lake"]
    queries += ["ridge NOT hiking", "(hiking OR ridge) AND lake"]
    hits = {q: await store.search(ALICE, q) for q in queries}
    assert found('"ridge trail"') == [(chat, "assistant")]
    assert found('"trail ridge"') == []
    assert found("kayak OR hiking") == [(chat, "user")]
    assert found("ridge NOT lake") == []
    assert found("ridge NOT hiking") == [(chat, "assistant")]
    assert found("(hiking OR ridge) AND lake") == [(chat, "assistant")]


async def test_a_snippet_shows_the_words_as_written(store: Store) -> None:
    await store.create_chat(ALICE, "food", "", "", "")
    await store.add_message(ALICE, "food", "user", "A Crème Brûlée recipe, please")
    (hit,) = await store.search(ALICE, "creme")
    assert f"{START}Crème{END}" in hit.snippet


async def test_a_huge_message_of_distinct_words_is_kept_and_found(store: Store) -> None:
    words = " ".join(hashlib.sha256(str(n).encode()).hexdigest() for n in range(20_000))
    await store.create_chat(ALICE, "hashes", "", "", "")
    kept = await store.add_message(ALICE, "hashes", "tool", f"needle {words}")
    assert [h.message_id for h in await store.search(ALICE, "needle")] == [kept.id]
    assert (await store.messages(ALICE, "hashes"))[0].content == f"needle {words}"


async def test_a_nul_character_is_kept_and_its_message_found(store: Store) -> None:
    await store.create_chat(ALICE, "odd", "", "", "")
    kept = await store.add_message(ALICE, "odd", "user", "before\x00after \\u0000 literal")
    # (SQLite's index reads a text up to its first NUL)
    assert [h.message_id for h in await store.search(ALICE, "before")] == [kept.id]
    assert (await store.messages(ALICE, "odd"))[0].content == "before\x00after \\u0000 literal"
