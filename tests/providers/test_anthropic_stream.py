"""The anthropic scheme against a real HTTP upstream through the real SDK."""

from __future__ import annotations

from chatthy.providers.anthropic import to_anthropic
from chatthy.providers.base import Message, Options, ReasoningDelta, TextDelta, Usage
from providerkit import MakeProvider, collect
from upstream import Reply, Upstream

PNG = "data:image/png;base64,iVBORw0KGgo="


async def test_reply_text_thinking_and_usage(upstream: Upstream, make: MakeProvider) -> None:
    upstream.push(Reply(chunks=["Bon", "jour"], reasoning=["Hmm", "…"], usage=(40, 7)))
    events = await collect(make("anthropic"))
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "Hmm…"
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Bonjour"
    assert events[-1] == Usage(input_tokens=40, output_tokens=7)
    assert sum(isinstance(e, Usage) for e in events) == 1


async def test_system_prompt_reaches_the_system_parameter(
    upstream: Upstream, make: MakeProvider
) -> None:
    messages: list[Message] = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "first"},
        {"role": "user", "content": [{"type": "text", "text": "second"}]},
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
            {"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": PNG}},
                {"type": "image_url", "image_url": {"url": "https://example.org/a.jpg"}},
            ]},
            {"role": "assistant", "content": "A pixel."},
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
