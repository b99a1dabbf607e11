"""Workspace files as system messages, and the check that they fit beside the newest turn."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from chatthy.context.tokens import count_message_tokens
from chatthy.context.workspace import check_workspace_fits, newest_turn, workspace_message
from chatthy.conversation.model import Message, TextPart, ToolCallPart, ToolResultPart
from chatthy.errors import ArgumentError


@dataclass
class File:
    name: str
    text: str
    source: str = ""


def words(messages: list[Message]) -> int:
    """One token per word of text: easy to reason about."""
    return sum(len(p.text.split()) for m in messages for p in m.parts if isinstance(p, TextPart))


def test_a_file_is_a_system_message_naming_it_and_its_source() -> None:
    message = workspace_message(File('notes "v2".md', "line one\nline two", "https://ex.org/a"))
    assert message.role == "system"
    assert message.text == (
        '<workspace_file name="notes &quot;v2&quot;.md" source="https://ex.org/a">\n'
        "line one\nline two\n</workspace_file>"
    )


def test_the_newest_turn_starts_at_the_last_user_message() -> None:
    history = [
        Message.of_text("user", "old"),
        Message.of_text("assistant", "answer"),
        Message.of_text("user", "new"),
        Message("assistant", (ToolCallPart("c1", "clock"),)),
        Message("tool", (ToolResultPart("c1", "noon"),)),
    ]
    assert newest_turn(history) == history[2:]
    assert newest_turn(history[1:2]) == history[1:2]


def test_files_that_fit_give_their_tokens() -> None:
    files = [File("a.txt", "alpha " * 10), File("b.txt", "beta " * 5)]
    history = [Message.of_text("user", "hi")]
    tokens = check_workspace_fits([], files, history, budget=10_000)
    assert tokens == count_message_tokens([workspace_message(f) for f in files])


def test_files_that_do_not_fit_are_named_largest_first_with_the_excess() -> None:
    system = [Message.of_text("system", "be kind")]
    files = [
        File("small.txt", "w " * 10),
        File("big.txt", "w " * 100),
        File("pasted.txt", "w " * 50, "transient:/tmp/pasted.txt"),
    ]
    history = [
        Message.of_text("user", "w " * 1000),  # an old turn does not count
        Message.of_text("user", "w " * 20),
    ]
    counts = [words([workspace_message(f)]) for f in files]
    budget = 2 + 20 + sum(counts) - 7
    with pytest.raises(ArgumentError) as caught:
        check_workspace_fits(system, files, history, budget, counter=words)
    text = str(caught.value)
    assert "7 tokens too many" in text
    assert text.index("big.txt") < text.index("pasted.txt [attached]") < text.index("small.txt")
    assert f"big.txt ({counts[1]})" in text
    assert "detach" in text and "\n" not in text
    assert check_workspace_fits(system, files, history, budget + 7, counter=words) == sum(counts)
