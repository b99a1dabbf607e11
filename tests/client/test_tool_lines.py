"""How a tool call reads on one line, and a stored reply's parts read back in order."""

from __future__ import annotations

from chatthy.client.session import text_of
from chatthy.client.tools import (
    ToolCallInfo,
    ToolResultInfo,
    call_line,
    call_text,
    parts_of,
    result_line,
)


def test_a_call_shows_its_arguments_cut_to_one_line() -> None:
    assert call_text("current_time", "{}") == "current_time()"
    assert call_text("w", '{"name": "a.txt", "n": 2}') == 'w(name="a.txt", n=2)'
    long = call_text("w", '{"text": "' + "x" * 200 + '"}')
    assert len(long) == len("w()") + 60 and long.endswith("…)")
    assert call_text("w", "not json {") == "w(not json {)"  # shown as the model gave it


def test_a_result_line_says_how_it_went_and_its_first_line() -> None:
    ok = ToolResultInfo("c1", "\n  first line\nsecond", seconds=0.234)
    assert result_line(ok) == "ok 0.2 s: first line"
    failed = ToolResultInfo("c1", "boom", is_error=True, seconds=1.0)
    assert call_line(ToolCallInfo("c1", "t"), failed) == "⚙ t() → error 1.0 s: boom"
    assert result_line(ToolResultInfo("c1", "")) == "ok"  # stored: no time kept


def test_stored_parts_come_back_in_order_and_text_of_names_calls() -> None:
    content = [
        {"type": "text", "text": "Checking."},
        {"type": "tool_call", "id": "c1", "name": "current_time", "arguments": "{}"},
        {"type": "tool_result", "call_id": "c1", "content": "now", "is_error": False},
        {"type": "text", "text": "It is now."},
    ]
    assert parts_of(content) == [
        "Checking.",
        ToolCallInfo("c1", "current_time", "{}"),
        ToolResultInfo("c1", "now"),
        "It is now.",
    ]
    assert text_of(content) == "Checking.\n⚙ current_time()\nIt is now."
