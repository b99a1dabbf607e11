"""Saved system prompts (personalities): create, replace, list, rename, delete."""

from __future__ import annotations

from typing import Any, cast

import pytest

from chatthy.errors import ArgumentError, ConflictError, NotFoundError
from chatthy.store.base import Store
from chatthy.store.rules import NAME_MAX

ALICE = "alice"


async def test_set_then_get_and_list_by_name(store: Store) -> None:
    await store.set_prompt(ALICE, "pirate", "Talk like a pirate.")
    saved = await store.set_prompt(ALICE, " coder ", "You write Python.")
    assert saved.name == "coder"
    assert await store.get_prompt(ALICE, "coder") == saved
    listed = await store.list_prompts(ALICE)
    assert [(p.name, p.text) for p in listed] == [
        ("coder", "You write Python."),
        ("pirate", "Talk like a pirate."),
    ]


async def test_set_replaces_the_text(store: Store) -> None:
    first = await store.set_prompt(ALICE, "pirate", "Talk like a pirate.")
    second = await store.set_prompt(ALICE, "pirate", "Talk like a polite pirate.")
    got = await store.get_prompt(ALICE, "pirate")
    assert got.text == "Talk like a polite pirate."
    assert got.updated == second.updated >= first.updated
    assert len(await store.list_prompts(ALICE)) == 1


async def test_an_empty_text_is_a_valid_prompt(store: Store) -> None:
    await store.set_prompt(ALICE, "blank", "")
    assert (await store.get_prompt(ALICE, "blank")).text == ""


@pytest.mark.parametrize("bad", ["", "  ", "x" * (NAME_MAX + 1), "new\nline", "esc\x1b[31m"])
async def test_bad_names_are_refused(store: Store, bad: str) -> None:
    await store.set_prompt(ALICE, "ok", "text")
    with pytest.raises(ArgumentError, match="prompt name"):
        await store.set_prompt(ALICE, bad, "text")
    with pytest.raises(ArgumentError, match="prompt name"):
        await store.rename_prompt(ALICE, "ok", bad)
    assert [p.name for p in await store.list_prompts(ALICE)] == ["ok"]


async def test_text_must_be_text(store: Store) -> None:
    with pytest.raises(ArgumentError, match="text"):
        await store.set_prompt(ALICE, "p", cast(Any, None))
    assert await store.list_prompts(ALICE) == []


async def test_rename_keeps_the_text(store: Store) -> None:
    saved = await store.set_prompt(ALICE, "pirate", "Arr.")
    renamed = await store.rename_prompt(ALICE, "pirate", "buccaneer")
    assert (renamed.name, renamed.text, renamed.updated) == ("buccaneer", "Arr.", saved.updated)
    assert await store.get_prompt(ALICE, "buccaneer") == renamed
    with pytest.raises(NotFoundError):
        await store.get_prompt(ALICE, "pirate")
    assert (await store.rename_prompt(ALICE, "buccaneer", "buccaneer")).text == "Arr."


async def test_rename_failures(store: Store) -> None:
    await store.set_prompt(ALICE, "a", "first")
    await store.set_prompt(ALICE, "b", "second")
    with pytest.raises(ConflictError, match="'b'"):
        await store.rename_prompt(ALICE, "a", "b")
    with pytest.raises(NotFoundError, match="'c'"):
        await store.rename_prompt(ALICE, "c", "d")
    assert [(p.name, p.text) for p in await store.list_prompts(ALICE)] == [
        ("a", "first"),
        ("b", "second"),
    ]


async def test_delete(store: Store) -> None:
    await store.set_prompt(ALICE, "pirate", "Arr.")
    await store.delete_prompt(ALICE, "pirate")
    assert await store.list_prompts(ALICE) == []
    with pytest.raises(NotFoundError, match="pirate"):
        await store.delete_prompt(ALICE, "pirate")
    with pytest.raises(NotFoundError, match="pirate"):
        await store.get_prompt(ALICE, "pirate")
