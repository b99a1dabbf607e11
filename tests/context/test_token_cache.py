"""The server's cached counter gives exactly the uncached counts."""

from __future__ import annotations

from chatthy.context import TokenCache, count_message_tokens, fit
from chatthy.providers.base import Message


def test_cached_counts_match_fresh_counts() -> None:
    history: list[Message] = [
        {"role": "user", "content": "Wie spät ist es? " * 5},
        {"role": "assistant", "content": "def f(x):\n    return {'a': [1, 2]}\n"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "and this"},
                {"type": "image_url", "image_url": {"url": "data:x"}},
            ],
        },
        {"role": "tool", "content": "42", "tool_call_id": "call_1"},
    ]
    cache = TokenCache(size=2)
    for _ in range(3):
        assert cache(history) == count_message_tokens(history)
    fresh = fit([], history * 50, 2000, 100)
    cached = fit([], history * 50, 2000, 100, counter=cache)
    assert (cached.tokens, cached.dropped) == (fresh.tokens, fresh.dropped)
