"""Native tool calling through both official SDK paths, against the real local upstream:
tools offered in each API's shape, calls streamed back (several, arguments in pieces)
as one ``ToolCall`` each, and what a faulty upstream sends not breaking the reply."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from chatthy.config import ProviderConfig
from chatthy.conversation.model import Message, ToolCallPart, ToolResultPart, ToolSpec
from chatthy.providers._tools import PendingCalls
from chatthy.providers.base import (
    Capabilities,
    Finish,
    Options,
    ProviderEvent,
    TextDelta,
    ToolCall,
    Usage,
)
from chatthy.providers.openai import OpenAIProvider
from providerkit import HELLO, MakeProvider, collect
from upstream import Reply, Upstream

SCHEMES = pytest.mark.parametrize("scheme", ["openai", "anthropic"])

WEATHER = ToolSpec(
    "weather",
    "Today's weather in a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
CLOCK = ToolSpec("clock")
OSLO = '{"city": "Oslo"}'


def _calls(events: list[ProviderEvent]) -> list[ToolCall]:
    return [e for e in events if isinstance(e, ToolCall)]


def _sent(upstream: Upstream) -> Any:
    return upstream.requests[-1].body


@SCHEMES
async def test_one_call_comes_whole_and_the_reply_finishes_for_tools(
    upstream: Upstream, make: MakeProvider, scheme: str
) -> None:
    upstream.push(Reply(chunks=[], tool_calls=[("call_a", "weather", OSLO)], usage=(20, 9)))
    events = await collect(make(scheme), options=Options(tools=[WEATHER]))
    assert events == [
        ToolCall("call_a", "weather", OSLO),
        Usage(input_tokens=20, output_tokens=9),
        Finish("tool_calls"),
    ]


@SCHEMES
async def test_parallel_calls_arrive_in_order_with_their_pieces_joined(
    upstream: Upstream, make: MakeProvider, scheme: str
) -> None:
    long_arguments = '{"city": "Trondheim", "units": "metric", "days": [1, 2, 3]}'
    calls = [("c1", "weather", long_arguments), ("c2", "clock", '{"zone": "UTC"}')]
    upstream.push(Reply(chunks=[], tool_calls=calls, delay=0.02))  # pieces in several reads
    events = await collect(make(scheme), options=Options(tools=[WEATHER, CLOCK]))
    assert _calls(events) == [ToolCall(*call) for call in calls]
    assert events[-1] == Finish("tool_calls")


@SCHEMES
async def test_text_before_the_calls_still_streams_first(
    upstream: Upstream, make: MakeProvider, scheme: str
) -> None:
    upstream.push(Reply(chunks=["Let me ", "check."], tool_calls=[("c1", "weather", OSLO)]))
    events = await collect(make(scheme), options=Options(tools=[WEATHER]))
    first_call = events.index(ToolCall("c1", "weather", OSLO))
    assert "".join(e.text for e in events[:first_call] if isinstance(e, TextDelta)) == (
        "Let me check."
    )
    assert not any(isinstance(e, TextDelta) for e in events[first_call:])


@SCHEMES
async def test_a_whole_answer_carries_its_calls_too(
    upstream: Upstream, make: MakeProvider, scheme: str
) -> None:
    calls = [("c1", "weather", OSLO), ("c2", "clock", "{}")]
    upstream.push(Reply(chunks=["On it."], tool_calls=calls, json_for_stream=True))
    events = await collect(make(scheme), options=Options(tools=[WEATHER, CLOCK]))
    assert events[0] == TextDelta("On it.")
    assert [(c.id, c.name, msgspec.json.decode(c.arguments)) for c in _calls(events)] == [
        ("c1", "weather", {"city": "Oslo"}),
        ("c2", "clock", {}),
    ]
    assert events[-1] == Finish("tool_calls")


@SCHEMES
async def test_a_call_without_name_is_dropped_and_one_without_id_gets_one(
    upstream: Upstream, make: MakeProvider, scheme: str
) -> None:
    calls = [("c1", "", OSLO), ("", "weather", OSLO), ("c3", "clock", "")]
    upstream.push(Reply(chunks=["Hm."], tool_calls=calls))
    events = await collect(make(scheme), options=Options(tools=[WEATHER, CLOCK]))
    assert _calls(events) == [ToolCall("call_1", "weather", OSLO), ToolCall("c3", "clock", "{}")]
    assert events[0] == TextDelta("Hm.")
    assert events[-1] == Finish("tool_calls")


async def test_openai_is_offered_functions_and_a_chosen_one(
    upstream: Upstream, make: MakeProvider
) -> None:
    await collect(make(), options=Options(tools=[WEATHER, CLOCK], tool_choice="weather"))
    body = _sent(upstream)
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "description": "Today's weather in a city.",
                "parameters": WEATHER.parameters,
            },
        },
        {
            "type": "function",
            "function": {"name": "clock", "parameters": {"type": "object", "properties": {}}},
        },
    ]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "weather"}}
    await collect(make(), options=Options(tools=[CLOCK], tool_choice="required"))
    assert _sent(upstream)["tool_choice"] == "required"


async def test_anthropic_is_offered_tools_with_input_schemas(
    upstream: Upstream, make: MakeProvider
) -> None:
    provider = make("anthropic")
    await collect(provider, options=Options(tools=[WEATHER, CLOCK], tool_choice="required"))
    body = _sent(upstream)
    assert body["tools"] == [
        {
            "name": "weather",
            "description": "Today's weather in a city.",
            "input_schema": WEATHER.parameters,
        },
        {"name": "clock", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert body["tool_choice"] == {"type": "any"}
    await collect(provider, options=Options(tools=[CLOCK], tool_choice="clock"))
    assert _sent(upstream)["tool_choice"] == {"type": "tool", "name": "clock"}


@SCHEMES
async def test_no_tools_sends_no_tools_key(
    upstream: Upstream, make: MakeProvider, scheme: str
) -> None:
    await collect(make(scheme), options=Options(tool_choice="auto"))
    assert "tools" not in _sent(upstream)
    assert "tool_choice" not in _sent(upstream)


async def test_a_provider_without_tool_support_is_sent_none(upstream: Upstream) -> None:
    class PlainCompletions(OpenAIProvider):
        capabilities = Capabilities()

    cfg = ProviderConfig(base_url=upstream.openai_url, model="test-model", timeout=5.0)
    provider = PlainCompletions("plain", cfg)
    try:
        await collect(provider, options=Options(tools=[WEATHER], tool_choice="weather"))
    finally:
        await provider.aclose()
    assert "tools" not in _sent(upstream)
    assert "tool_choice" not in _sent(upstream)


async def test_tabby_takes_tools_as_openai_does(upstream: Upstream, make: MakeProvider) -> None:
    upstream.push(Reply(chunks=[], tool_calls=[("c1", "clock", "{}")]))
    events = await collect(make("tabby"), options=Options(tools=[CLOCK]))
    assert _sent(upstream)["tools"][0]["function"]["name"] == "clock"
    assert _calls(events) == [ToolCall("c1", "clock", "{}")]


@SCHEMES
async def test_a_streamed_call_goes_back_as_the_model_made_it(
    upstream: Upstream, make: MakeProvider, scheme: str
) -> None:
    provider = make(scheme)
    upstream.push(Reply(chunks=[], tool_calls=[("c1", "weather", OSLO)]))
    [call] = _calls(await collect(provider, options=Options(tools=[WEATHER])))
    history = [
        *HELLO,
        Message("assistant", (ToolCallPart(call.id, call.name, call.arguments),)),
        Message("tool", (ToolResultPart(call.id, "sunny, 14 °C"),)),
    ]
    upstream.push(Reply(chunks=["Sunny."]))
    events = await collect(provider, history, Options(tools=[WEATHER]))
    assert events[-1] == Finish("stop")
    sent = _sent(upstream)["messages"]
    if scheme == "openai":
        function = sent[1]["tool_calls"][0]["function"]
        assert (sent[1]["tool_calls"][0]["id"], function["name"]) == ("c1", "weather")
        assert function["arguments"] == OSLO
        assert sent[2] == {"role": "tool", "tool_call_id": "c1", "content": "sunny, 14 °C"}
    else:
        assert sent[1]["content"] == [
            {"type": "tool_use", "id": "c1", "name": "weather", "input": {"city": "Oslo"}}
        ]
        assert sent[2]["content"][0]["tool_use_id"] == "c1"


def test_pieces_of_calls_side_by_side_are_kept_apart() -> None:
    """Some servers stream parallel calls interleaved; each piece goes by its index, and a
    made-up id never takes one the reply gives."""
    calls = PendingCalls()
    calls.feed(0, "call_1", "weather", '{"city": ')
    calls.feed(1, None, "clock", None)  # the reply's second call: call_1 if not taken
    calls.feed(1, None, None, '{"zone": "UTC"}')
    calls.feed(0, None, None, '"Oslo"}')
    assert calls.take_all() == [
        ToolCall("call_1", "weather", OSLO),
        ToolCall("call_2", "clock", '{"zone": "UTC"}'),
    ]


async def test_the_upstream_streams_calls_as_the_sdks_own_readers_expect(
    upstream: Upstream,
) -> None:
    """Every test above rests on the fake's shapes: the SDKs' own stream helpers, which
    assemble calls themselves, must read the same calls from them."""
    import anthropic
    import openai

    calls = [("c1", "weather", OSLO), ("c2", "clock", "{}")]
    ask: Any = [{"role": "user", "content": "weather?"}]
    upstream.push(Reply(chunks=["Hi"], tool_calls=calls), times=2)
    client = openai.AsyncOpenAI(base_url=upstream.openai_url, api_key="k")
    claude = anthropic.AsyncAnthropic(base_url=upstream.base_url, api_key="k")
    async with client, claude, client.chat.completions.stream(model="m", messages=ask) as stream:
        choice = (await stream.get_final_completion()).choices[0]
        async with claude.messages.stream(model="m", max_tokens=9, messages=ask) as answer:
            message = await answer.get_final_message()
    assert choice.finish_reason == "tool_calls"
    assert [
        (c.id, c.function.name, c.function.arguments) for c in choice.message.tool_calls or []
    ] == calls
    assert message.stop_reason == "tool_use"
    assert [(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"] == [
        ("c1", "weather", {"city": "Oslo"}),
        ("c2", "clock", {}),
    ]


def test_calls_streamed_without_index_are_told_apart_by_their_ids() -> None:
    calls = PendingCalls()
    calls.feed_unindexed("a", "weather", None)
    calls.feed_unindexed(None, None, '{"city": ')
    calls.feed_unindexed("a", None, '"Oslo"}')
    calls.feed_unindexed("b", "clock", None)
    assert calls.take_all() == [ToolCall("a", "weather", OSLO), ToolCall("b", "clock", "{}")]
