"""Tool calls in the full-screen client: each call folded inside its reply (the title says
which tool, how long and how it went; unfolded, its arguments and result), and the
question asked before a call that changes something runs (y / n / a)."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Collapsible, Static

from chatthy.client.tools import (
    ApprovalRequest,
    ToolCallInfo,
    ToolResultInfo,
    approval_question,
    arguments_text,
    result_summary,
)

__all__ = ["ApprovalScreen", "ToolBox", "tool_title"]

SHOWN_RESULT = 4000
"""Characters of a result shown unfolded (a tool may give up to the server's cap, 100 kB
by default: the model reads it all, the user a screenful)."""


def tool_title(call: ToolCallInfo, result: ToolResultInfo | None) -> str:
    """``⚙ name · 0.2 s · ok``; ``⚙ name · running…`` until the result comes."""
    if result is None:
        return f"⚙ {call.name} · running…"
    refused = result.is_error and result.content.startswith("not run:")
    if refused:
        return f"⚙ {call.name} · refused"
    how = result_summary(result).split(" ", 1)
    if len(how) == 2:  # "ok 0.2 s": the time first, as the title reads
        return f"⚙ {call.name} · {how[1]} · {how[0]}"
    return f"⚙ {call.name} · {how[0]}"


def _body(call: ToolCallInfo, result: ToolResultInfo | None) -> str:
    text = f"arguments:\n{arguments_text(call.arguments)}"
    if result is not None:
        content = result.content
        if len(content) > SHOWN_RESULT:
            more = len(content) - SHOWN_RESULT
            content = f"{content[:SHOWN_RESULT]}\n… ({more} more characters)"
        text += f"\n\n{'error' if result.is_error else 'result'}:\n{content}"
    return text


class ToolBox(Collapsible):
    """One call, folded: its title says the tool, time and outcome; unfolded, the
    arguments and the result. Folding it does not pull the view to it (a reader following
    the end of the chat stays there)."""

    DEFAULT_CSS = """
    ToolBox { border: none; padding: 0 0 0 2; margin: 0; background: transparent; }
    ToolBox > Contents { padding: 0 0 0 2; }
    ToolBox .tool-body { color: $text-muted; }
    ToolBox.-failed CollapsibleTitle { color: $warning; }
    ToolBox CollapsibleTitle { width: 1fr; }
    """
    # the title takes the whole row: measured by its text (Textual's `width: auto`), a
    # title that grew ("running…" → "0.0 s · ok") was sometimes still cut to the old width

    def __init__(self, call: ToolCallInfo, result: ToolResultInfo | None = None) -> None:
        self.call = call
        self.result = result
        self._text = Static(Content(_body(call, result)), classes="tool-body")
        super().__init__(self._text, title=tool_title(call, result), collapsed=True)
        self.set_class(result is not None and result.is_error, "-failed")

    def set_result(self, result: ToolResultInfo) -> None:
        """The call's result came: the title and body say it."""
        self.result = result
        self.title = tool_title(self.call, result)
        self._text.update(Content(_body(self.call, result)))
        self.set_class(result.is_error, "-failed")

    def scroll_visible(self, *args: object, **kwargs: object) -> None:
        if not self.collapsed:
            super().scroll_visible(*args, **kwargs)  # type: ignore[arg-type]


class ApprovalScreen(ModalScreen[str | None]):
    """Whether a call that changes something may run: ``y`` yes, ``n`` (or Esc) no,
    ``a`` always (this tool in this chat). At the top of the screen, so that the reply
    asking, at the bottom, stays in view. Goes away by itself when the call no longer
    waits (another client answered, it ran out, the reply ended): then it answers None."""

    DEFAULT_CSS = """
    ApprovalScreen { align: center top; background: $background 20%; }
    ApprovalScreen > Vertical {
        width: 90%; max-width: 100; height: auto; max-height: 50%;
        border: round $warning; background: $panel; padding: 0 1; margin: 1 0 0 0;
    }
    ApprovalScreen .question { text-style: bold; }
    ApprovalScreen .arguments { color: $text-muted; height: auto; max-height: 12; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer('yes')", "Yes"),
        Binding("n", "answer('no')", "No"),
        Binding("a", "answer('always')", "Always"),
        Binding("escape", "answer('no')", "No", show=False),
    ]

    def __init__(self, request: ApprovalRequest) -> None:
        super().__init__()
        self.request = request

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content(approval_question(self.request)), classes="question")
            yield Static(Content(arguments_text(self.request.arguments)), classes="arguments")

    def on_mount(self) -> None:
        self.request.settled.add_done_callback(self._settled)

    def _settled(self, _: asyncio.Future[str]) -> None:
        """Gone at once if on top, else when it comes on top again (a screen under
        another cannot be dismissed)."""
        if self.is_attached and self.app.screen is self:
            self.dismiss(None)

    def on_screen_resume(self) -> None:
        if self.request.settled.done():
            self.call_later(self.dismiss, None)

    def action_answer(self, answer: str) -> None:
        self.dismiss(None if self.request.settled.done() else answer)
