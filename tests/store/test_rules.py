"""The store's rules on their own, with no database (every backend gets them through the
front; the suite checks them through each backend too)."""

from __future__ import annotations

import pytest

from chatthy.errors import ArgumentError, ConflictError, NotFoundError
from chatthy.store import rules
from chatthy.store.rules import NAME_MAX, NewMessage


def test_names_are_stripped_and_bounded() -> None:
    assert rules.valid_name("chat", "  trip  ") == "trip"
    assert rules.valid_name("chat", "é" * NAME_MAX) == "é" * NAME_MAX
    for bad in ("", "   ", "x" * (NAME_MAX + 1), "a\nb", "a\u2028b", 5):
        with pytest.raises(ArgumentError, match="chat name"):
            rules.valid_name("chat", bad)


def test_a_profile_name_is_taken_as_given_or_refused() -> None:
    assert rules.valid_profile_name("alice") == "alice"
    with pytest.raises(ArgumentError, match="spaces"):
        rules.valid_profile_name("alice ")


@pytest.mark.parametrize("bad", ["/abs", "a\\b", "..", "a/../b", "a//b", "a/./b", "a/"])
def test_a_workspace_name_cannot_leave_the_workspace(bad: str) -> None:
    with pytest.raises(ArgumentError, match="workspace file name"):
        rules.valid_workspace_name(bad)


def test_a_new_message_is_checked_and_encoded() -> None:
    message = rules.new_message("user", [{"type": "text", "text": "hi"}], usage={"in": 1})
    assert message == NewMessage(
        "user", '[{"type":"text","text":"hi"}]', "complete", "", "", '{"in":1}', ""
    )
    assert rules.new_message_of({"role": "assistant", "content": ""}).usage is None
    with pytest.raises(ArgumentError, match="colour"):
        rules.new_message_of({"role": "user", "content": "x", "colour": 1})


def test_an_imported_reply_that_was_streaming_arrives_interrupted() -> None:
    got = rules.imported_message({"role": "assistant", "content": "cut", "status": "streaming"}, 7)
    assert (got.status, got.created) == ("interrupted", 7.0)
    with pytest.raises(ArgumentError, match="created"):
        rules.imported_message({"role": "user", "content": "x", "created": True}, 7)


def test_changes_leave_out_what_is_none() -> None:
    assert rules.chat_changes(None, "local", None) == {"provider": "local"}
    assert rules.message_changes("text", None, None, "") == {"content": '"text"', "error": ""}
    with pytest.raises(ArgumentError, match="status"):
        rules.message_changes(None, "finished", None, None)


def test_searchable() -> None:
    assert rules.searchable("ridge", 1)
    assert not rules.searchable(" ", 20)
    assert not rules.searchable("ridge", 0)
    assert not rules.searchable(None, 20)


def test_every_backend_says_not_found_and_taken_in_the_same_words() -> None:
    assert isinstance(rules.no_chat("x"), NotFoundError)
    assert str(rules.no_chat("x")) == "no chat named 'x'"
    assert str(rules.no_message(3, in_chat=True)) == "no message 3 in this chat"
    assert isinstance(rules.workspace_file_taken("a.md"), ConflictError)
    assert str(rules.profile_taken("alice")) == "profile 'alice' is already registered"
