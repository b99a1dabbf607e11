"""Chats end to end with the offline echo provider: turns, management, search, files."""

from __future__ import annotations

import json

import pytest

from chatthy.errors import ArgumentError, ConflictError, NotFoundError
from chatthy.server.app import Server
from helpers import ClientMaker, collect, turn


async def test_turn_streams_and_is_stored(server: Server, connect: ClientMaker) -> None:
    client = connect(server)
    seen = await turn(client, "first", "hello there")
    assert seen.text == "echo: hello there"
    assert seen.status == "complete"
    assert seen.seqs == list(range(len(seen.seqs)))
    assert seen.end.total == len(seen.seqs)
    page = await client.call("messages", chat="first")
    assert [(m.role, m.content, m.status) for m in page.messages] == [
        ("user", "hello there", "complete"),
        ("assistant", "echo: hello there", "complete"),
    ]
    assert page.messages[1].provider == "echo"
    assert page.messages[1].usage["output_tokens"] > 0


async def test_messages_pages_forwards_with_after(server: Server, connect: ClientMaker) -> None:
    client = connect(server)
    for text in ("one", "two", "three"):
        await turn(client, "counting", text)
    first = await client.call("messages", chat="counting", after=0, limit=2)
    assert [m.content for m in first.messages] == ["one", "echo: one"]
    assert first.chat.messages == 6
    rest = await client.call("messages", chat="counting", after=first.messages[-1].id, limit=10)
    assert [m.content for m in rest.messages] == ["two", "echo: two", "three", "echo: three"]


async def test_chat_remembers_personality_and_provider(
    server: Server, connect: ClientMaker
) -> None:
    client = connect(server)
    await client.call("prompt_set", name="pirate", text="Talk like a pirate.")
    await turn(client, "ahoy", "hi", prompt="pirate", provider="echo")
    await turn(client, "plain", "hi")
    chats = {c.name: c for c in await client.call("chats")}
    assert chats["ahoy"].personality == "pirate"
    assert chats["ahoy"].provider == "echo"
    assert chats["plain"].personality == "default"
    pirate_chats = await client.call("chats", personality="pirate")
    assert [c.name for c in pirate_chats] == ["ahoy"]


async def test_unknown_provider_or_prompt_stores_nothing(
    server: Server, connect: ClientMaker
) -> None:
    client = connect(server)
    with pytest.raises(NotFoundError, match="no provider 'gpt-9'"):
        await client.start("chat", "c", text="hi", provider="gpt-9")
    with pytest.raises(NotFoundError, match="no prompt 'nobody'"):
        await client.start("chat", "c", text="hi", prompt="nobody")
    assert await client.call("chats") == []


async def test_empty_message_is_refused(server: Server, connect: ClientMaker) -> None:
    with pytest.raises(ArgumentError, match="empty"):
        await connect(server).start("chat", "c", text="   ")


async def test_rename_fork_destroy(server: Server, connect: ClientMaker) -> None:
    client = connect(server)
    await turn(client, "a", "one")
    await turn(client, "a", "two")
    await client.call("rename", chat="a", new="b")
    with pytest.raises(NotFoundError):
        await client.call("messages", chat="a")
    msgs = (await client.call("messages", chat="b")).messages
    assert len(msgs) == 4
    await client.call("fork", chat="b", new="b-early", message_id=msgs[1].id)
    early = (await client.call("messages", chat="b-early")).messages
    assert [m.content for m in early] == ["one", "echo: one"]
    await client.call("fork", chat="b", new="b-all")
    assert len((await client.call("messages", chat="b-all")).messages) == 4
    with pytest.raises(ConflictError):
        await client.call("rename", chat="b", new="b-all")
    await client.call("destroy", chat="b")
    assert sorted(c.name for c in await client.call("chats")) == ["b-all", "b-early"]


async def test_undo_edit_regenerate(server: Server, connect: ClientMaker) -> None:
    client = connect(server)
    await turn(client, "c", "one")
    await turn(client, "c", "two")
    result = await client.call("undo", chat="c")
    assert result.removed == 2
    stream, _ = await client.start("edit", "c", text="uno")
    seen = await collect(stream)
    assert seen.text == "echo: uno"
    msgs = (await client.call("messages", chat="c")).messages
    assert [m.content for m in msgs] == ["uno", "echo: uno"]
    old_reply = msgs[1].id
    stream, _ = await client.start("regenerate", "c")
    await collect(stream)
    msgs = (await client.call("messages", chat="c")).messages
    assert [m.content for m in msgs] == ["uno", "echo: uno"]
    assert msgs[1].id != old_reply


async def test_messages_page_backwards(server: Server, connect: ClientMaker) -> None:
    client = connect(server)
    for i in range(5):
        await turn(client, "long", f"m{i}")
    last = (await client.call("messages", chat="long", limit=4)).messages
    assert [m.content for m in last] == ["m3", "echo: m3", "m4", "echo: m4"]
    before = (await client.call("messages", chat="long", limit=4, before=last[0].id)).messages
    assert [m.content for m in before] == ["m1", "echo: m1", "m2", "echo: m2"]


async def test_search_finds_words_across_chats(server: Server, connect: ClientMaker) -> None:
    client = connect(server)
    await turn(client, "zoo", "the giraffe is tall")
    await turn(client, "garden", "tomatoes are red")
    hits = await client.call("search", query="giraffe")
    assert {h.chat for h in hits} == {"zoo"}
    assert any("giraffe" in h.snippet for h in hits)
    assert await client.call("search", query='"unbalanced') == []


async def test_prompts_managed_like_chats(server: Server, connect: ClientMaker) -> None:
    client = connect(server)
    names = {p.name: p.source for p in await client.call("prompts")}
    assert names == {"default": "server"}
    await client.call("prompt_set", name="terse", text="Be terse.")
    await client.call("prompt_copy", name="terse", new="terser")
    await client.call("prompt_rename", name="terser", new="tersest")
    assert (await client.call("prompt", name="tersest")).text == "Be terse."
    with pytest.raises(ArgumentError, match="server default"):
        await client.call("prompt_delete", name="default")
    await client.call("prompt_copy", name="default", new="mine")
    await client.call("prompt_delete", name="terse")
    left = {p.name for p in await client.call("prompts")}
    assert left == {"default", "mine", "tersest"}


async def test_export_import_round_trip(server: Server, connect: ClientMaker) -> None:
    client = connect(server)
    await turn(client, "orig", "what is **bold**?")
    as_json = (await client.call("export", chat="orig", format="json")).data
    doc = json.loads(as_json)
    assert [m["role"] for m in doc["messages"]] == ["user", "assistant"]
    result = await client.call("import", data=as_json)
    assert result.chat == "orig (2)"
    as_md = (await client.call("export", chat="orig", format="md")).data
    assert "## user" in as_md and "what is **bold**?" in as_md
    await client.call("import", data=as_md, chat="from-md")
    msgs = (await client.call("messages", chat="from-md")).messages
    assert [(m.role, m.content) for m in msgs] == [
        ("user", "what is **bold**?"),
        ("assistant", "echo: what is **bold**?"),
    ]


async def test_import_openai_messages(server: Server, connect: ClientMaker) -> None:
    client = connect(server)
    data = json.dumps(
        [
            {"role": "system", "content": "be kind"},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
        ]
    )
    result = await client.call("import", data=data, chat="oa")
    assert result.messages == 3
    seen = await turn(client, "oa", "and now?")
    assert seen.text == "echo: and now?"
    with pytest.raises(ArgumentError, match="role"):
        await client.call("import", data='[{"content": "x"}]')


async def test_commands_describe_every_rpc(server: Server, connect: ClientMaker) -> None:
    commands = {c.name: c for c in await connect(server).call("commands")}
    for name in (
        "status",
        "providers",
        "chats",
        "messages",
        "chat",
        "cancel",
        "attach",
        "new",
        "rename",
        "fork",
        "destroy",
        "undo",
        "edit",
        "regenerate",
        "search",
        "prompts",
        "export",
        "import",
        "account",
    ):
        assert name in commands, name
        assert commands[name].help, name
    chat_args = {a.name: a for a in commands["chat"].args}
    assert chat_args["chat"].required is True
    assert chat_args["text"].type == "str"


async def test_account_and_status(server: Server, connect: ClientMaker) -> None:
    client = connect(server, "erin")
    await turn(client, "c", "hi")
    account = await client.call("account")
    assert account.profile == "erin"
    assert account.chats == 1 and account.messages == 2
    assert account.public_key == client.key.public_key.hex()
    status = await client.call("status")
    assert status.providers == ["echo"]
