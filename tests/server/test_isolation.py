"""Profile isolation: whatever bob sends, alice's chats, prompts and replies stay hers."""

from __future__ import annotations

import asyncio

import pytest

from chatthy.errors import NotFoundError
from chatthy.server.app import Server
from helpers import ClientMaker, collect, turn


@pytest.fixture
async def alice_data(server: Server, connect: ClientMaker) -> dict[str, int]:
    alice = connect(server, "alice")
    await turn(alice, "diary", "my secret plans")
    await alice.call("prompt_set", name="private", text="alice's prompt")
    msgs = (await alice.call("messages", chat="diary")).messages
    return {"user": msgs[0].id, "reply": msgs[1].id}


async def test_bob_cannot_list_or_read(
    server: Server, connect: ClientMaker, alice_data: dict[str, int]
) -> None:
    bob = connect(server, "bob")
    assert await bob.call("chats") == []
    assert await bob.call("search", query="secret") == []
    assert {p.name for p in await bob.call("prompts")} == {"default"}
    for method, args in [
        ("messages", {"chat": "diary"}),
        ("export", {"chat": "diary"}),
        ("prompt", {"name": "private"}),
    ]:
        with pytest.raises(NotFoundError):
            await bob.call(method, **args)


async def test_bob_cannot_change_or_delete(
    server: Server, connect: ClientMaker, alice_data: dict[str, int]
) -> None:
    bob = connect(server, "bob")
    for method, args in [
        ("rename", {"chat": "diary", "new": "mine"}),
        ("destroy", {"chat": "diary"}),
        ("undo", {"chat": "diary"}),
        ("fork", {"chat": "diary", "new": "copy"}),
        ("prompt_rename", {"name": "private", "new": "x"}),
        ("prompt_delete", {"name": "private"}),
        ("prompt_copy", {"name": "private", "new": "x"}),
        ("cancel", {"chat": "diary"}),
    ]:
        with pytest.raises(NotFoundError):
            await bob.call(method, **args)
    await turn(bob, "mine", "hello")
    with pytest.raises(NotFoundError):
        await bob.call("fork", chat="mine", new="stolen", message_id=alice_data["reply"])
    with pytest.raises(NotFoundError):
        await bob.start("edit", "mine", text="overwrite", message_id=alice_data["user"])
    alice = connect(server, "alice")
    msgs = (await alice.call("messages", chat="diary")).messages
    assert [m.content for m in msgs] == ["my secret plans", "echo: my secret plans"]
    assert (await alice.call("prompt", name="private")).text == "alice's prompt"


async def test_same_chat_name_is_separate(
    server: Server, connect: ClientMaker, alice_data: dict[str, int]
) -> None:
    bob = connect(server, "bob")
    seen = await turn(bob, "diary", "bob's own")
    assert seen.text == "echo: bob's own"
    msgs = (await bob.call("messages", chat="diary")).messages
    assert [m.content for m in msgs] == ["bob's own", "echo: bob's own"]
    alice = connect(server, "alice")
    assert len((await alice.call("messages", chat="diary")).messages) == 2


async def test_bob_cannot_watch_or_attach_to_alice_reply(
    server: Server, connect: ClientMaker
) -> None:
    alice, bob = connect(server, "alice"), connect(server, "bob")
    await bob.attach("diary")
    stream, _ = await alice.start("chat", "diary", text="slow secret", params={"delay": 0.02})
    assert await bob.attach("diary") is None
    seen = await collect(stream)
    assert seen.text == "echo: slow secret"
    await asyncio.sleep(0.05)
    assert bob.incoming.empty()
