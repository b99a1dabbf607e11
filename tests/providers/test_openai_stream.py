"""The openai scheme against a real HTTP upstream through the real SDK."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from chatthy.conversation.content import message_of
from chatthy.conversation.model import Message, TextPart, ToolCallPart, ToolResultPart
from chatthy.providers.base import Finish, Options, ProviderEvent, ReasoningDelta, TextDelta, Usage
from chatthy.providers.openai import to_openai
from providerkit import HELLO, MakeProvider, closing_stream, collect
from upstream import Reply, Upstream


def _text(
    events: Sequence[ProviderEvent], kind: type[TextDelta | ReasoningDelta] = TextDelta
) -> str:
    return "".join(e.text for e in events if isinstance(e, kind))


async def test_reply_text_reasoning_and_usage(upstream: Upstream, make: MakeProvider) -> None:
    upstream.push(Reply(chunks=["Hel", "lo!"], reasoning=["Let me ", "think."], usage=(30, 2)))
    events = await collect(make())
    assert _text(events, ReasoningDelta) == "Let me think."
    assert _text(events) == "Hello!"
    assert events[-2:] == [Usage(input_tokens=30, output_tokens=2), Finish("stop")]
    first_text = next(i for i, e in enumerate(events) if isinstance(e, TextDelta))
    assert all(isinstance(e, ReasoningDelta) for e in events[:first_text])


async def test_request_carries_model_limits_and_params(
    upstream: Upstream, make: MakeProvider
) -> None:
    provider = make(max_tokens=77, params={"temperature": 0.7, "top_p": 0.9})
    await collect(provider, options=Options(model="big-model", params={"temperature": 0.1}))
    body = upstream.requests[-1].body
    assert body["model"] == "big-model"
    assert body["max_tokens"] == 77
    assert body["temperature"] == 0.1
    assert body["top_p"] == 0.9
    assert body["messages"] == [{"role": "user", "content": "hello"}]
    assert body["stream"] is True


async def test_default_reply_echoes_the_user(make: MakeProvider) -> None:
    events = await collect(make(), [Message.of_text("user", "tell me more")])
    assert _text(events) == "upstream: tell me more"


async def test_slow_chunks_arrive_one_by_one(upstream: Upstream, make: MakeProvider) -> None:
    upstream.push(Reply(chunks=["a", "b", "c"], delay=0.1))
    events = await collect(make())
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["a", "b", "c"]


async def test_chunks_that_pile_up_come_merged(upstream: Upstream, make: MakeProvider) -> None:
    upstream.push(Reply(chunks=[f"{n} " for n in range(200)], stall_after=1, stall=0.2))
    texts = []
    async with closing_stream(make(), HELLO, Options()) as stream:
        async for event in stream:
            if isinstance(event, TextDelta):
                texts.append(event.text)
                if len(texts) == 1:
                    await asyncio.sleep(0.6)  # busy: the rest arrives meanwhile
    assert texts == ["0 ", "".join(f"{n} " for n in range(1, 200))]


async def test_models_lists_the_endpoint(make: MakeProvider) -> None:
    assert await make().models() == ["test-model", "big-model"]


async def test_one_client_serves_every_request(upstream: Upstream, make: MakeProvider) -> None:
    provider = make()
    await collect(provider)
    await collect(provider)
    chats = [r for r in upstream.requests if r.path == "/v1/chat/completions"]
    assert len(chats) == 2
    assert chats[0].peer == chats[1].peer  # same kept-alive connection, same client


async def test_stopping_early_leaves_the_provider_usable(
    upstream: Upstream, make: MakeProvider
) -> None:
    provider = make()
    upstream.push(Reply(chunks=["first ", "second"], stall_after=1, stall=10))
    async with closing_stream(provider, HELLO, Options()) as stream:
        async for event in stream:
            assert event == TextDelta("first ")
            break  # a user cancels the reply
    assert _text(await collect(provider)) == "upstream: hello"


PNG = "data:image/png;base64,iVBORw0KGgo="


def test_text_alone_is_sent_as_a_plain_string() -> None:
    messages = [Message.of_text("system", "be brief"), *HELLO]
    assert to_openai(messages) == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello"},
    ]


def test_images_become_image_url_parts_beside_the_text() -> None:
    asked = message_of(
        "user",
        [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": PNG}},
            {"type": "image_url", "image_url": {"url": "https://example.org/a.jpg"}},
        ],
    )
    assert to_openai([asked]) == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": PNG}},
                {"type": "image_url", "image_url": {"url": "https://example.org/a.jpg"}},
            ],
        }
    ]


def test_tool_calls_go_on_the_assistant_message_and_results_follow_as_tool_messages() -> None:
    arguments = '{"query": "harbour dues 2024"}'
    messages = [
        Message.of_text("user", "what are the harbour dues?"),
        Message(
            "assistant",
            (
                TextPart("Let me look."),
                ToolCallPart("call_1", "search", arguments),
                ToolCallPart("call_2", "clock"),
            ),
        ),
        Message(
            "tool",
            (ToolResultPart("call_1", "42 crowns a day"), ToolResultPart("call_2", "noon")),
        ),
        Message.of_text("assistant", "42 crowns a day."),
    ]
    sent = to_openai(messages)
    assert sent[1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "Let me look."}],
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "search", "arguments": arguments},
            },
            {"id": "call_2", "type": "function", "function": {"name": "clock", "arguments": "{}"}},
        ],
    }
    assert sent[2:] == [
        {"role": "tool", "tool_call_id": "call_1", "content": "42 crowns a day"},
        {"role": "tool", "tool_call_id": "call_2", "content": "noon"},
        {"role": "assistant", "content": "42 crowns a day."},
    ]


def test_a_tool_call_without_text_has_no_content() -> None:
    calling = Message("assistant", (ToolCallPart("call_1", "clock"),))
    [sent] = to_openai([calling])
    assert sent["content"] is None
    assert [c["function"]["name"] for c in sent["tool_calls"]] == ["clock"]


async def test_a_tool_exchange_reaches_the_upstream_in_openai_shape(
    upstream: Upstream, make: MakeProvider
) -> None:
    messages = [
        *HELLO,
        Message("assistant", (ToolCallPart("call_1", "clock"),)),
        Message("tool", (ToolResultPart("call_1", "noon"),)),
    ]
    await collect(make(), messages)
    assert upstream.requests[-1].body["messages"] == to_openai(messages)
    assert upstream.requests[-1].body["messages"][-1]["tool_call_id"] == "call_1"
