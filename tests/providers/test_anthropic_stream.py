"""The anthropic scheme against a real HTTP upstream through the real SDK."""

from __future__ import annotations

from chatthy.conversation.content import message_of
from chatthy.conversation.model import Message, TextPart, ToolCallPart, ToolResultPart
from chatthy.providers.anthropic import to_anthropic
from chatthy.providers.base import Finish, Options, ReasoningDelta, TextDelta, Usage
from providerkit import MakeProvider, collect
from upstream import Reply, Upstream

PNG = "data:image/png;base64,iVBORw0KGgo="


async def test_reply_text_thinking_and_usage(upstream: Upstream, make: MakeProvider) -> None:
    upstream.push(Reply(chunks=["Bon", "jour"], reasoning=["Hmm", "…"], usage=(40, 7)))
    events = await collect(make("anthropic"))
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "Hmm…"
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Bonjour"
    assert events[-2:] == [Usage(input_tokens=40, output_tokens=7), Finish("stop")]
    assert sum(isinstance(e, Usage) for e in events) == 1


async def test_system_prompt_reaches_the_system_parameter(
    upstream: Upstream, make: MakeProvider
) -> None:
    messages = [
        Message.of_text("system", "You are terse."),
        Message.of_text("user", "first"),
        message_of("user", [{"type": "text", "text": "second"}]),
    ]
    await collect(make("anthropic", max_tokens=99), messages, Options(params={"top_k": 5}))
    request = upstream.requests[-1]
    assert request.path == "/v1/messages"
    assert request.body["system"] == "You are terse."
    assert request.body["max_tokens"] == 99
    assert request.body["top_k"] == 5
    assert request.body["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "first"}, {"type": "text", "text": "second"}],
        }
    ]
    assert "anthropic-version" in request.headers


def test_images_become_anthropic_image_blocks() -> None:
    system, turns = to_anthropic(
        [
            message_of("user", [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": PNG}},
                {"type": "image_url", "image_url": {"url": "https://example.org/a.jpg"}},
            ]),
            Message.of_text("assistant", "A pixel."),
        ]
    )  # fmt: skip
    assert system == ""
    assert turns[0]["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
    }
    assert turns[0]["content"][2]["source"] == {"type": "url", "url": "https://example.org/a.jpg"}
    assert turns[1] == {"role": "assistant", "content": [{"type": "text", "text": "A pixel."}]}


async def test_models_lists_the_endpoint(make: MakeProvider) -> None:
    assert await make("anthropic").models() == ["test-model", "big-model"]


def test_a_tool_call_becomes_a_tool_use_block_with_its_arguments_parsed() -> None:
    calling = Message(
        "assistant",
        (
            TextPart("Let me look."),
            ToolCallPart("toolu_1", "search", '{"query": "harbour dues", "year": 2024}'),
            ToolCallPart("toolu_2", "clock"),
        ),
    )
    _, turns = to_anthropic([Message.of_text("user", "dues?"), calling])
    assert turns[1] == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Let me look."},
            {
                "type": "tool_use",
                "id": "toolu_1",
                "name": "search",
                "input": {"query": "harbour dues", "year": 2024},
            },
            {"type": "tool_use", "id": "toolu_2", "name": "clock", "input": {}},
        ],
    }


def test_tool_results_travel_in_one_user_message_before_what_the_user_adds() -> None:
    messages = [
        Message.of_text("user", "dues and time?"),
        Message("assistant", (ToolCallPart("toolu_1", "search"), ToolCallPart("toolu_2", "clock"))),
        Message("tool", (ToolResultPart("toolu_1", "42 crowns"),)),
        Message("tool", (ToolResultPart("toolu_2", "clock is broken", is_error=True),)),
        Message.of_text("user", "and in euros?"),
    ]
    _, turns = to_anthropic(messages)
    assert [turn["role"] for turn in turns] == ["user", "assistant", "user"]
    assert turns[2]["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": "toolu_1",
            "content": "42 crowns",
            "is_error": False,
        },
        {
            "type": "tool_result",
            "tool_use_id": "toolu_2",
            "content": "clock is broken",
            "is_error": True,
        },
        {"type": "text", "text": "and in euros?"},
    ]


def test_a_tool_call_with_broken_arguments_is_sent_with_empty_input() -> None:
    # e.g. a reply cut at the token limit in the middle of the arguments
    calling = Message("assistant", (ToolCallPart("toolu_1", "search", '{"query": "harb'),))
    _, turns = to_anthropic([Message.of_text("user", "dues?"), calling])
    assert turns[1]["content"][0]["input"] == {}


def test_system_texts_join_and_empty_texts_vanish() -> None:
    system, turns = to_anthropic(
        [
            Message.of_text("system", "You are terse."),
            Message.of_text("system", "Files follow."),
            Message.of_text("user", "hi"),
            Message.of_text("assistant", ""),
            Message.of_text("user", "still there?"),
        ]
    )
    assert system == "You are terse.\n\nFiles follow."
    assert turns == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": "still there?"}],
        }
    ]


async def test_a_tool_exchange_reaches_the_upstream_in_anthropic_shape(
    upstream: Upstream, make: MakeProvider
) -> None:
    messages = [
        Message.of_text("user", "time?"),
        Message("assistant", (ToolCallPart("toolu_1", "clock"),)),
        Message("tool", (ToolResultPart("toolu_1", "noon"),)),
    ]
    await collect(make("anthropic"), messages)
    sent = upstream.requests[-1].body["messages"]
    assert sent == to_anthropic(messages)[1]
    assert sent[-1]["content"][0]["tool_use_id"] == "toolu_1"
