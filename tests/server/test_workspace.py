"""The context workspace end to end: RPCs on a real server, what the provider is sent."""

from __future__ import annotations

from typing import Any

import pytest

from chatthy.errors import ArgumentError, ConflictError, NotFoundError
from chatthy.server.app import Server
from chatthy.wire import api
from helpers import ClientMaker, ServerFactory, collect, openai_provider, turn
from upstream import Upstream


async def test_add_list_show_bench_restore_rename_drop(
    server: Server, connect: ClientMaker
) -> None:
    client = connect(server)
    added = await client.call("ws_add", name="notes.md", text="buy milk", source="/tmp/notes.md")
    assert (added.name, added.benched, added.size) == ("notes.md", False, 8)
    assert added.tokens > 0 and added.text is None
    listed = await client.call("ws_list")
    assert [(f.name, f.source, f.tokens) for f in listed] == [
        ("notes.md", "/tmp/notes.md", added.tokens)
    ]
    shown = await client.call("ws_show", name="notes.md")
    assert shown.text == "buy milk"
    assert (await client.call("ws_bench", name="notes.md")).benched is True
    assert (await client.call("ws_list"))[0].benched is True
    assert (await client.call("ws_restore", name="notes.md")).benched is False
    renamed = await client.call("ws_rename", name="notes.md", new="todo/notes.md")
    assert renamed.name == "todo/notes.md"
    assert await client.call("ws_drop", name="todo/notes.md") == api.WorkspaceDropped(
        name="todo/notes.md",
        deleted=True,
    )
    assert await client.call("ws_list") == []
    with pytest.raises(NotFoundError, match=r"no workspace file named .todo/notes\.md."):
        await client.call("ws_show", name="todo/notes.md")


async def test_rename_onto_a_taken_name_is_refused(server: Server, connect: ClientMaker) -> None:
    client = connect(server)
    await client.call("ws_add", name="a", text="1")
    await client.call("ws_add", name="b", text="2")
    with pytest.raises(ConflictError):
        await client.call("ws_rename", name="a", new="b")


async def test_a_file_over_the_configured_limit_is_refused(
    servers: ServerFactory, connect: ClientMaker
) -> None:
    srv = await servers.start(max_workspace_file=1000)
    client = connect(srv)
    with pytest.raises(ArgumentError, match=r"'big.txt' is 1.5 KiB.*at most 1000 bytes"):
        await client.call("ws_add", name="big.txt", text="x" * 1500)
    assert await client.call("ws_list") == []
    await client.call("ws_add", name="small.txt", text="x" * 1000)


@pytest.mark.parametrize("name", ["../escape.md", "a/../../b", "/etc/passwd", "\\evil", "a\\b"])
async def test_names_that_look_like_escapes_are_refused(
    server: Server, connect: ClientMaker, name: str
) -> None:
    client = connect(server)
    with pytest.raises(ArgumentError, match="workspace file name"):
        await client.call("ws_add", name=name, text="x")
    assert await client.call("ws_list") == []


async def test_profiles_cannot_see_or_touch_each_others_workspace(
    server: Server, connect: ClientMaker
) -> None:
    alice, bob = connect(server, "alice"), connect(server, "bob", "other")
    await alice.call("ws_add", name="secret.md", text="alice only")
    assert await bob.call("ws_list") == []
    for method, extra in (
        ("ws_show", {}),
        ("ws_bench", {}),
        ("ws_restore", {}),
        ("ws_drop", {}),
        ("ws_rename", {"new": "mine.md"}),
    ):
        with pytest.raises(NotFoundError):
            await bob.call(method, name="secret.md", **extra)
    shown = await alice.call("ws_show", name="secret.md")
    assert (shown.text, shown.benched) == ("alice only", False)


def _sent(upstream: Upstream) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = upstream.requests[-1].body["messages"]
    return messages


@pytest.fixture
async def live(servers: ServerFactory, upstream: Upstream) -> Server:
    return await servers.start({"up": openai_provider(upstream)})


async def test_active_files_go_before_the_history_labelled(
    live: Server, connect: ClientMaker, upstream: Upstream
) -> None:
    client = connect(live)
    await client.call("ws_add", name="docs/colour.md", text="Blue is 42.", source="/w/colour.md")
    await client.call("ws_add", name="z.txt", text="Zebra facts.", source="stdin")
    await turn(client, "c", "first")
    stream, started = await client.start("chat", "c", text="what is blue?")
    await collect(stream)
    sent = _sent(upstream)
    roles = [m["role"] for m in sent]
    assert roles == ["system", "system", "system", "user", "assistant", "user"]
    assert sent[1]["content"] == (
        '<workspace_file name="docs/colour.md" source="/w/colour.md">\n'
        "Blue is 42.\n</workspace_file>"
    )
    assert sent[2]["content"].startswith('<workspace_file name="z.txt" source="stdin">')
    assert 0 < started.workspace_tokens < started.tokens


async def test_a_benched_file_is_not_sent_and_a_restored_one_is(
    live: Server, connect: ClientMaker, upstream: Upstream
) -> None:
    client = connect(live)
    await client.call("ws_add", name="plan.md", text="The secret plan.")
    await client.call("ws_bench", name="plan.md")
    stream, started = await client.start("chat", "c", text="hi")
    await collect(stream)
    assert all("secret plan" not in str(m["content"]) for m in _sent(upstream))
    assert started.workspace_tokens == 0
    await client.call("ws_restore", name="plan.md")
    stream, started = await client.start("chat", "c", text="again")
    await collect(stream)
    assert any("The secret plan." in str(m["content"]) for m in _sent(upstream))
    assert started.workspace_tokens > 0


async def test_another_profiles_files_are_never_sent(
    live: Server, connect: ClientMaker, upstream: Upstream
) -> None:
    await connect(live, "alice").call("ws_add", name="a.md", text="alice's notes")
    await turn(connect(live, "bob", "other"), "c", "hi")
    assert all("alice's notes" not in str(m["content"]) for m in _sent(upstream))


async def test_a_workspace_too_big_for_the_context_names_the_file(
    servers: ServerFactory, connect: ClientMaker, upstream: Upstream
) -> None:
    srv = await servers.start({"up": openai_provider(upstream, context_length=600)})
    client = connect(srv)
    await client.call("ws_add", name="small.md", text="tiny")
    await client.call("ws_add", name="huge.md", text="word " * 1000)
    with pytest.raises(ArgumentError) as caught:
        await client.start("chat", "c", text="hello")
    message = caught.value.message
    assert "workspace does not fit" in message and "tokens too many" in message
    assert message.index("huge.md") < message.index("small.md")
    assert upstream.requests == []
    assert [c.name for c in await client.call("chats")] == []  # the refusal left no chat
    await client.call("ws_bench", name="huge.md")
    seen = await turn(client, "c", "hello")
    assert seen.status == "complete"
    assert any("tiny" in str(m["content"]) for m in _sent(upstream))
