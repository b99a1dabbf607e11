"""The front: no backend can bypass the rules.

For every backend, a bad argument to any ruled method is refused before a persistence hook
runs (a spying subclass of the backend records the hooks it is asked for), and a backend
class that replaced a ruled method is refused when it is made.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import pytest

from chatthy.errors import ArgumentError
from chatthy.store.base import Store
from chatthy.store.front import HOOKS, RULED, StoreFront
from storekit import ALICE, Backend

CHAT = "plans"
Call = Callable[[Store], Awaitable[object]]
NOT_TEXT = cast(Any, 5)

BAD_CALLS: list[tuple[str, Call]] = [
    ("register_profile", lambda s: s.register_profile(" carol", b"k" * 32)),
    ("register_profile", lambda s: s.register_profile("carol", cast(Any, "not bytes"))),
    ("set_profile_key", lambda s: s.set_profile_key(ALICE, cast(Any, "not bytes"))),
    ("get_chat", lambda s: s.get_chat(ALICE, NOT_TEXT)),
    ("create_chat", lambda s: s.create_chat(ALICE, "", "", "", "")),
    ("create_chat", lambda s: s.create_chat(ALICE, "new", "", cast(Any, None), "")),
    ("update_chat", lambda s: s.update_chat(ALICE, CHAT, model=NOT_TEXT)),
    ("rename_chat", lambda s: s.rename_chat(ALICE, CHAT, "two\nlines")),
    ("delete_chat", lambda s: s.delete_chat(ALICE, NOT_TEXT)),
    ("fork_chat", lambda s: s.fork_chat(ALICE, CHAT, "  ")),
    ("import_chat", lambda s: s.import_chat(ALICE, "", "", [])),
    ("import_chat", lambda s: s.import_chat(ALICE, "new", "", cast(Any, "not a list"))),
    ("import_chat", lambda s: s.import_chat(ALICE, "new", "", [{"role": "user"}])),
    ("messages", lambda s: s.messages(ALICE, CHAT, limit=-1)),
    ("add_message", lambda s: s.add_message(ALICE, CHAT, "user", "x", status=cast(Any, "done"))),
    ("add_message", lambda s: s.add_message(ALICE, CHAT, "user", object())),
    (
        "add_messages",
        lambda s: s.add_messages(ALICE, CHAT, [{"role": "user", "content": 1, "x": 2}]),
    ),
    ("add_messages", lambda s: s.add_messages(ALICE, CHAT, cast(Any, {"role": "user"}))),
    ("update_message", lambda s: s.update_message(ALICE, 1, status=cast(Any, "bogus"))),
    ("update_message", lambda s: s.update_message(ALICE, 1, usage=cast(Any, [1, 2]))),
    ("delete_messages_from", lambda s: s.delete_messages_from(ALICE, NOT_TEXT, 1)),
    ("get_prompt", lambda s: s.get_prompt(ALICE, NOT_TEXT)),
    ("set_prompt", lambda s: s.set_prompt(ALICE, "p", cast(Any, None))),
    ("rename_prompt", lambda s: s.rename_prompt(ALICE, "p", "")),
    ("delete_prompt", lambda s: s.delete_prompt(ALICE, NOT_TEXT)),
    ("get_workspace_file", lambda s: s.get_workspace_file(ALICE, NOT_TEXT)),
    ("put_workspace_file", lambda s: s.put_workspace_file(ALICE, "../secret", "text")),
    ("rename_workspace_file", lambda s: s.rename_workspace_file(ALICE, "a", "/etc/passwd")),
    ("set_workspace_benched", lambda s: s.set_workspace_benched(ALICE, NOT_TEXT, True)),
    ("delete_workspace_file", lambda s: s.delete_workspace_file(ALICE, NOT_TEXT)),
    ("image", lambda s: s.image(ALICE, "not a digest")),
]
NOTHING_TO_FIND: list[Call] = [
    lambda s: s.search(ALICE, ""),
    lambda s: s.search(ALICE, "   "),
    lambda s: s.search(ALICE, cast(Any, None)),
    lambda s: s.search(ALICE, "ridge", limit=0),
]


def spying(cls: type[StoreFront], calls: list[str]) -> type[StoreFront]:
    """A subclass of the backend ``cls`` that appends the name of each hook it runs."""

    def spy(name: str) -> Callable[..., Awaitable[Any]]:
        async def hook(self: StoreFront, *args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return await getattr(super(subclass, self), name)(*args, **kwargs)

        return hook

    subclass = type(f"Spying{cls.__name__}", (cls,), {name: spy(name) for name in HOOKS})
    return subclass


@pytest.fixture
async def spied(backend: Backend, tmp_path: Path) -> AsyncIterator[tuple[Store, list[str]]]:
    """A store of ``backend`` where alice has the chat "plans", and the hooks it runs."""
    calls: list[str] = []
    async with backend.place(spying(backend.cls, calls), tmp_path) as opener:
        store = await opener()
        try:
            await store.register_profile(ALICE, b"a" * 32)
            await store.create_chat(ALICE, CHAT, "", "", "")
            calls.clear()
            yield store, calls
        finally:
            await store.aclose()


def test_every_ruled_method_is_tried_with_a_bad_argument() -> None:
    assert {method for method, _ in BAD_CALLS} | {"search"} == RULED


async def test_the_spy_sees_the_hooks(spied: tuple[Store, list[str]]) -> None:
    store, calls = spied
    await store.add_message(ALICE, f" {CHAT} ", "user", "hello")
    assert (await store.get_chat(ALICE, CHAT)).messages == 1
    assert calls == ["_add_messages", "_get_chat"]


@pytest.mark.parametrize(
    ("method", "call"), BAD_CALLS, ids=[f"{m}-{i}" for i, (m, _) in enumerate(BAD_CALLS)]
)
async def test_a_bad_argument_never_reaches_the_backend(
    spied: tuple[Store, list[str]], method: str, call: Call
) -> None:
    store, calls = spied
    with pytest.raises(ArgumentError):
        await call(store)
    assert calls == []


@pytest.mark.parametrize("call", NOTHING_TO_FIND)
async def test_a_search_that_can_find_nothing_never_reaches_the_backend(
    spied: tuple[Store, list[str]], call: Call
) -> None:
    store, calls = spied
    assert await call(store) == []
    assert calls == []


def test_every_backend_is_a_complete_front(backend: Backend) -> None:
    assert issubclass(backend.cls, StoreFront)
    assert not getattr(backend.cls, "__abstractmethods__", None)
    for name in RULED:
        assert getattr(backend.cls, name) is getattr(StoreFront, name)


@pytest.mark.parametrize("name", sorted(RULED))
def test_a_backend_cannot_replace_a_ruled_method(backend: Backend, name: str) -> None:
    async def bypass(self: StoreFront, *args: Any, **kwargs: Any) -> None:
        return None

    with pytest.raises(TypeError, match=f"may not override {name}"):
        type("Bypassing", (backend.cls,), {name: bypass})


def test_nor_through_a_mixin(backend: Backend) -> None:
    class Lenient:
        async def create_chat(self, *args: Any) -> None:
            return None

    with pytest.raises(TypeError, match="may not override create_chat"):
        type("Bypassing", (Lenient, backend.cls), {})
