"""Profiles: registration (trust on first use) and what the server reads back."""

from __future__ import annotations

from typing import Any, cast

import pytest

from chatthy.errors import ArgumentError, ConflictError
from chatthy.store.base import Store

ALICE = "alice"


async def test_registered_profile_keeps_its_key_and_counts(store: Store, chat: str) -> None:
    made = await store.register_profile("carol", bytes(range(32)))
    got = await store.get_profile("carol")
    assert got == made
    assert (got.public_key, got.chats, got.messages) == (bytes(range(32)), 0, 0)
    alice = await store.get_profile(ALICE)
    assert alice is not None
    assert (alice.public_key, alice.chats, alice.messages) == (b"a" * 32, 1, 2)


async def test_unknown_profile_is_none(store: Store) -> None:
    assert await store.get_profile("mallory") is None


async def test_registering_twice_keeps_the_first_key(store: Store) -> None:
    with pytest.raises(ConflictError, match="alice"):
        await store.register_profile(ALICE, b"z" * 32)
    alice = await store.get_profile(ALICE)
    assert alice is not None
    assert alice.public_key == b"a" * 32


@pytest.mark.parametrize("bad", ["", " alice2", "carol ", "new\nline", "x" * 201])
async def test_bad_profile_names_are_refused_as_given(store: Store, bad: str) -> None:
    with pytest.raises(ArgumentError, match="profile name"):
        await store.register_profile(bad, b"k" * 32)
    assert await store.get_profile(bad) is None
    assert await store.get_profile(bad.strip()) is None


async def test_key_must_be_bytes(store: Store) -> None:
    with pytest.raises(ArgumentError, match="key"):
        await store.register_profile("carol", cast(Any, "not bytes"))
    assert await store.get_profile("carol") is None
