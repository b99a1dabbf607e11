"""Truncation: system prompt and newest turn always sent, oldest whole turns dropped."""

from __future__ import annotations

import pytest

from chatthy.context import Fitted, count_message_tokens, fit
from chatthy.conversation.model import Message, Role, TextPart, ToolCallPart, ToolResultPart
from chatthy.errors import ArgumentError


def words(messages: list[Message]) -> int:
    """A counter easy to reason about: one token per word of text or tool result."""
    return sum(
        len(part.text.split()) if isinstance(part, TextPart) else len(part.content.split())
        for m in messages
        for part in m.parts
        if isinstance(part, TextPart | ToolResultPart)
    )


def msg(role: Role, n_words: int, tag: str = "w") -> Message:
    return Message.of_text(role, " ".join([tag] * n_words))


def tool_call(call_id: str) -> Message:
    return Message("assistant", (ToolCallPart(call_id, "lookup"),))


def tool_result(call_id: str, n_words: int) -> Message:
    return Message("tool", (ToolResultPart(call_id, "w " * n_words),))


SYSTEM = [msg("system", 5, "sys")]
HISTORY = [
    msg("user", 10, "u1"),
    msg("assistant", 10, "a1"),
    msg("user", 10, "u2"),
    msg("assistant", 10, "a2"),
    msg("user", 10, "u3"),
]


def test_everything_is_kept_when_it_fits() -> None:
    fitted = fit(SYSTEM, HISTORY, context_length=100, max_tokens=45, counter=words)
    assert fitted == Fitted(messages=SYSTEM + HISTORY, tokens=55, dropped=0, dropped_tokens=0)


def test_the_oldest_turn_goes_first_and_the_counts_say_so() -> None:
    fitted = fit(SYSTEM, HISTORY, context_length=100, max_tokens=55, counter=words)
    assert fitted.messages == SYSTEM + HISTORY[2:]
    assert (fitted.tokens, fitted.dropped, fitted.dropped_tokens) == (35, 2, 20)


def test_an_answer_is_never_left_without_its_question() -> None:
    # Room for a2 + u3 but not for u2 + a2 + u3: a2 must go with u2.
    fitted = fit(SYSTEM, HISTORY, context_length=100, max_tokens=70, counter=words)
    assert fitted.messages == SYSTEM + HISTORY[4:]
    assert fitted.messages[1].role == "user"
    assert (fitted.tokens, fitted.dropped, fitted.dropped_tokens) == (15, 4, 40)


def test_a_tool_exchange_is_dropped_with_its_turn() -> None:
    history = [
        msg("user", 10, "u1"),
        tool_call("c1"),
        tool_result("c1", 10),
        msg("assistant", 10, "a1"),
        msg("user", 10, "u2"),
        msg("assistant", 10, "a2"),
        msg("user", 10, "u3"),
    ]
    fitted = fit([], history, context_length=60, max_tokens=25, counter=words)
    assert fitted.messages == history[4:]
    assert fitted.dropped == 4


def test_the_newest_turn_with_its_tool_results_is_kept_whole() -> None:
    history = [
        msg("user", 10, "u1"),
        msg("assistant", 10, "a1"),
        msg("user", 10, "u2"),
        tool_call("c1"),
        tool_result("c1", 10),
    ]
    fitted = fit([], history, context_length=40, max_tokens=15, counter=words)
    assert fitted.messages == history[2:]


def test_system_messages_are_always_first_and_always_kept() -> None:
    system = [msg("system", 5, "persona"), msg("system", 5, "workspace")]
    fitted = fit(system, HISTORY, context_length=30, max_tokens=10, counter=words)
    assert fitted.messages[:2] == system
    assert fitted.messages[2:] == HISTORY[4:]


def test_a_message_too_big_for_the_provider_is_refused_with_both_numbers() -> None:
    huge = [msg("user", 1200)]
    with pytest.raises(ArgumentError) as caught:
        fit(SYSTEM, HISTORY + huge, context_length=1024, max_tokens=24, counter=words)
    text = str(caught.value)
    assert "1,205 tokens" in text
    assert "accepts 1,000" in text
    assert "\n" not in text
    assert caught.value.code == "bad_args"


def test_each_message_is_counted_once() -> None:
    calls: list[int] = []

    def counting(messages: list[Message]) -> int:
        calls.append(len(messages))
        return words(messages)

    history = [msg("user" if i % 2 == 0 else "assistant", 3) for i in range(5000)]
    fitted = fit(SYSTEM, history, context_length=2000, max_tokens=500, counter=counting)
    assert len(calls) == len(SYSTEM) + len(history)
    assert fitted.tokens <= 1500
    assert fitted.messages[1].role == "user"


def test_real_token_counts_keep_a_long_chat_within_the_context() -> None:
    turn = [
        Message.of_text("user", "Tell me about the harbour town and its fishing boats."),
        Message.of_text("assistant", "The boats wait for the fog to lift. " * 20),
    ]
    history = turn * 200 + [Message.of_text("user", "And the council meeting?")]
    fitted = fit(SYSTEM, history, context_length=8192, max_tokens=1024)
    assert 0 < fitted.dropped < len(history)
    assert fitted.tokens == count_message_tokens(fitted.messages) <= 8192 - 1024
    assert fitted.dropped_tokens == count_message_tokens(history[: fitted.dropped])
    assert fitted.messages[-1] == history[-1]
