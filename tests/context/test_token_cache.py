"""The server's cached counter gives exactly the uncached counts."""

from __future__ import annotations

from chatthy.context import TokenCache, count_message_tokens, fit
from chatthy.conversation.content import message_of
from chatthy.conversation.model import Message

PNG = "data:image/png;base64,iVBORw0KGgo="


def test_cached_counts_match_fresh_counts() -> None:
    history = [
        Message.of_text("user", "Wie spät ist es? " * 5),
        Message.of_text("assistant", "def f(x):\n    return {'a': [1, 2]}\n"),
        message_of(
            "user",
            [
                {"type": "text", "text": "and this"},
                {"type": "image_url", "image_url": {"url": PNG}},
            ],
        ),
        message_of(
            "assistant",
            [{"type": "tool_call", "id": "call_1", "name": "clock", "arguments": "{}"}],
        ),
        message_of("tool", [{"type": "tool_result", "call_id": "call_1", "content": "42"}]),
        Message.of_text("assistant", "It is 42 o'clock.", tokens=7),
    ]
    cache = TokenCache(size=2)
    for _ in range(3):
        assert cache(history) == count_message_tokens(history)
    fresh = fit([], history * 50, 2000, 100)
    cached = fit([], history * 50, 2000, 100, counter=cache)
    assert (cached.tokens, cached.dropped) == (fresh.tokens, fresh.dropped)


def test_a_kept_count_wins_over_the_cache_and_does_not_change_it() -> None:
    cache = TokenCache()
    asked = Message.of_text("user", "hello")
    fresh = count_message_tokens([asked])
    assert cache([asked]) == fresh
    assert cache([Message.of_text("user", "hello", tokens=99)]) == 99
    assert cache([asked]) == fresh
