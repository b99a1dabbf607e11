"""Chats to and from files through a real server: the OpenAI messages export, the
exports of ChatGPT and claude.ai, and the Markdown round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatthy.client.core import Client
from chatthy.errors import ArgumentError
from chatthy.server.app import Server
from chatthy.wire import api
from helpers import ClientMaker, turn

DATA = Path(__file__).resolve().parent.parent / "conversation" / "data"


async def history(client: Client, chat: str) -> list[tuple[str, str]]:
    page = await client.rpc(api.Messages(chat=chat))
    return [(m.role, m.content) for m in page.messages]


async def test_chatgpt_export_makes_a_chat_per_conversation(
    server: Server, connect: ClientMaker
) -> None:
    client = connect(server)
    result = await client.import_text((DATA / "chatgpt_conversations.json").read_text())
    made = [(c.chat, c.messages) for c in result.chats]
    assert made == [("Feeding a sourdough starter", 4), ("Lisbon in three days", 2)]
    assert (result.chat, result.messages) == ("Feeding a sourdough starter", 4)
    # the branch the user saw (the regenerated reply), without the hidden system
    # message, the reasoning, or the tool call and its output; the image named
    assert await history(client, "Feeding a sourdough starter") == [
        ("user", "How often should I feed my starter?"),
        ("assistant", "At room temperature, every 12 hours."),
        ("user", "[image]\nHere is mine after a day. Is it ready?"),
        (
            "assistant",
            "Let me measure the rise in your photo.\n\nIt has doubled: it is ready to bake with.",
        ),
    ]
    page = await client.rpc(api.Messages(chat="Lisbon in three days"))
    assert page.messages[1].model == "gpt-4o-mini"
    assert page.messages[0].created == 1718200005.0
    seen = await turn(client, "Lisbon in three days", "and a fourth day?")
    assert seen.text == "echo: and a fourth day?"


async def test_claude_export_makes_a_chat_per_conversation(
    server: Server, connect: ClientMaker
) -> None:
    client = connect(server)
    await client.rpc(api.New(chat="Metric conversion"))
    result = await client.import_text((DATA / "claude_conversations.json").read_text())
    assert [(c.chat, c.messages) for c in result.chats] == [
        ("A haiku about rain", 2),
        ("Metric conversion (2)", 2),  # the name was taken
    ]
    assert await history(client, "A haiku about rain") == [
        (
            "user",
            "Write a haiku about the rain in this note.\n\n"
            "[attached: note.txt]\nIt rained all week in Bergen.\n\n[file: window.jpg]",
        ),
        ("assistant", "Bergen rain all week\nwindows keep their silver beads\nthe kettle sings on"),
    ]
    assert await history(client, "Metric conversion (2)") == [
        ("user", "How many grams in a pound?"),
        ("assistant", "About 453.6 grams."),
    ]


async def test_an_export_imported_under_a_name(server: Server, connect: ClientMaker) -> None:
    client = connect(server)
    result = await client.import_text(
        (DATA / "claude_conversations.json").read_text(), chat="claude"
    )
    assert [c.chat for c in result.chats] == ["claude", "claude (2)"]


async def test_claude_branches_keep_the_last_message_s_branch(
    server: Server, connect: ClientMaker
) -> None:
    root = "00000000-0000-4000-8000-000000000000"

    def said(uuid: str, parent: str, sender: str, text: str) -> dict[str, str]:
        return {"uuid": uuid, "parent_message_uuid": parent, "sender": sender, "text": text}

    export = [
        {
            "uuid": "c",
            "name": "edited",
            "chat_messages": [
                said("u1", root, "human", "first try"),
                said("a1", "u1", "assistant", "answer to the first try"),
                said("u2", root, "human", "second try"),
                said("a2", "u2", "assistant", "answer to the second try"),
            ],
        }
    ]
    client = connect(server)
    await client.import_text(json.dumps(export))
    assert await history(client, "edited") == [
        ("user", "second try"),
        ("assistant", "answer to the second try"),
    ]


@pytest.mark.parametrize(
    "data",
    [
        '{"conversations": []}',
        '{"title": "x", "items": [1, 2]}',
        "[1, 2, 3]",
        '[{"uuid": "x", "summary": "no messages key"}]',
        "just some text without any message header",
    ],
)
async def test_a_file_of_no_known_format_names_the_formats(
    server: Server, connect: ClientMaker, data: str
) -> None:
    with pytest.raises(ArgumentError) as info:
        await connect(server).import_text(data)
    assert "ChatGPT or Claude conversations.json export" in info.value.message
    assert await connect(server).rpc(api.Chats()) == []


async def test_an_export_without_any_message_is_refused(
    server: Server, connect: ClientMaker
) -> None:
    empty = [{"title": "New chat", "current_node": "r", "mapping": {"r": {"id": "r"}}}]
    with pytest.raises(ArgumentError, match="no conversation of this ChatGPT export"):
        await connect(server).import_text(json.dumps(empty))


async def test_openai_export_is_the_messages_list(server: Server, connect: ClientMaker) -> None:
    client = connect(server)
    await turn(client, "c", "hello")
    exported = await client.rpc(api.Export(chat="c", format="openai"))
    assert json.loads(exported.data) == [
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "echo: hello"},
    ]
    again = await client.import_text(exported.data)
    assert await history(client, again.chat) == [("user", "hello"), ("assistant", "echo: hello")]


async def test_markdown_keeps_a_message_holding_a_header_line(
    server: Server, connect: ClientMaker
) -> None:
    client = connect(server)
    text = "Format it so:\n## assistant\n\\## user\nthen the rest"
    await turn(client, "tricky", text)
    md = (await client.rpc(api.Export(chat="tricky", format="md"))).data
    assert "\n\\## assistant\n\\\\## user\n" in md  # escaped, so still read as text
    await client.import_text(md, chat="back")
    assert await history(client, "back") == [("user", text), ("assistant", f"echo: {text}")]
    await turn(client, "crlf", "from Windows:\r\n## user\r\nend")
    md = (await client.rpc(api.Export(chat="crlf", format="md"))).data
    await client.import_text(md, chat="crlf back")
    assert [role for role, _ in await history(client, "crlf back")] == ["user", "assistant"]


async def test_markdown_of_earlier_versions_still_imports(
    server: Server, connect: ClientMaker
) -> None:
    old = (
        "# notes\n\n- personality: default\n- provider: echo\n\n"
        "## user\n\nwhat is 2+2?\n\n## assistant · echo/echo\n\n4\n"
    )
    client = connect(server)
    result = await client.import_text(old)
    assert result.chat == "notes"
    assert await history(client, "notes") == [("user", "what is 2+2?"), ("assistant", "4")]
