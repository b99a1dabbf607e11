"""What another server keeps of a reply whose server stopped: its events folded back into
the content the reply would have stored so far."""

from __future__ import annotations

from chatthy.conversation.events import (
    Notice,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolResult,
    TurnEvent,
    TurnStarted,
    Usage,
)
from chatthy.conversation.reply import streamed_content


def test_text_alone_is_the_text_without_reasoning() -> None:
    events: list[TurnEvent] = [
        TurnStarted("c", 2, "p", "m", 10),
        ReasoningDelta("let me think"),
        TextDelta("Hello, "),
        Notice("info", "ignored"),
        TextDelta("world"),
        Usage(3, 4),
    ]
    assert streamed_content(events) == "Hello, world"


def test_a_call_cut_off_before_its_result_is_kept_with_a_result_saying_so() -> None:
    events: list[TurnEvent] = [
        TextDelta("Looking it up."),
        ToolCall("c1", "current_time", "{}"),
        ToolResult("c1", "12:00"),
        TextDelta("It is noon. Also "),
        ToolCall("c2", "fetch_url", '{"url": "http://x"}'),
    ]
    parts = streamed_content(events)
    assert [p["type"] for p in parts] == [
        "text",
        "tool_call",
        "tool_result",
        "text",
        "tool_call",
        "tool_result",
    ]
    assert parts[0]["text"] == "Looking it up."
    assert parts[2]["content"] == "12:00"
    assert parts[3]["text"] == "It is noon. Also "
    assert parts[-1]["is_error"] is True and "not run" in parts[-1]["content"]
