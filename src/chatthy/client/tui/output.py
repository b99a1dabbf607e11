"""The chat as the user reads it: quoted user messages, replies as Markdown that grows
while it streams, reasoning dimmed and collapsible, one-line notices; vim-like keys."""

from __future__ import annotations

import re
import time
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Collapsible, Markdown, Static
from textual.widgets.markdown import MarkdownStream

__all__ = ["ChatLog", "ReplyView", "UserMessage", "code_blocks", "quote", "text_of"]

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})[^\n]*\n(.*?)^ {0,3}\1[ \t]*$", re.M | re.S)

_MARKS = {
    "cancelled": "⊘ cancelled",
    "interrupted": "⚠ interrupted (the server stopped)",
    "error": "✗ error",
    "streaming": "… streaming",
}


def text_of(content: Any) -> str:
    """The text of a stored message's content (a string, or OpenAI-style parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                parts.append(str(part.get("text", "")))
            elif isinstance(part, dict):
                parts.append(f"[{part.get('type', 'part')}]")
        return "\n".join(parts)
    return str(content)


def code_blocks(markdown: str) -> list[str]:
    """The contents of the fenced code blocks in ``markdown``."""
    return [match.group(2) for match in _FENCE.finditer(markdown)]


def quote(text: str) -> str:
    """``text`` as a Markdown block quote."""
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines() or [""])


class UserMessage(Markdown):
    """A message of the user's, quoted."""

    DEFAULT_CSS = """
    UserMessage { margin: 1 0 0 0; color: $text-primary; }
    """

    def __init__(self, text: str, message_id: int | None = None) -> None:
        super().__init__(quote(text))
        self.text = text
        self.message_id = message_id


class ReplyView(Vertical):
    """One reply: reasoning (dimmed, collapsible), the text as Markdown, and a footer with
    provider, model, time and how it ended. Streamed text is appended through Textual's
    :class:`MarkdownStream`, which batches fragments instead of re-rendering per token."""

    DEFAULT_CSS = """
    ReplyView { height: auto; margin: 1 0 0 0; }
    ReplyView > Collapsible { display: none; border: none; padding: 0; margin: 0; }
    ReplyView.-reasoning > Collapsible { display: block; }
    ReplyView .reasoning { color: $text-muted; text-style: dim italic; }
    ReplyView > Markdown { margin: 0; }
    ReplyView > .footer { color: $text-muted; height: 1; }
    ReplyView.-stopped > .footer { color: $warning; }
    ReplyView.-failed > .footer { color: $error; }
    """

    def __init__(
        self,
        text: str = "",
        *,
        provider: str = "",
        model: str = "",
        when: float | None = None,
        status: str = "complete",
        error: str = "",
        message_id: int | None = None,
    ) -> None:
        super().__init__()
        self.initial = text
        self.text = text
        self.reasoning = ""
        self.meta = f"{provider}:{model}" if model else provider
        self.when = when or time.time()
        self.status = status
        self.error = error
        self.message_id = message_id
        self._stream: MarkdownStream | None = None

    def compose(self) -> ComposeResult:
        with Collapsible(title="reasoning", collapsed=False):
            yield Static(Content(""), classes="reasoning")
        yield Markdown(self.initial)
        yield Static(Content(self._footer()), classes="footer")

    def _footer(self) -> str:
        parts = [p for p in (self.meta, time.strftime("%H:%M", time.localtime(self.when))) if p]
        if self.status != "complete":
            parts.append(_MARKS.get(self.status, self.status))
        if self.error:
            parts.append(self.error)
        return " · ".join(parts)

    async def add_text(self, text: str) -> None:
        if self._stream is None:
            self._stream = Markdown.get_stream(self.query_one(Markdown))
        self.text += text
        await self._stream.write(text)

    def add_reasoning(self, text: str) -> None:
        self.reasoning += text
        self.add_class("-reasoning")
        self.query_one(".reasoning", Static).update(Content(self.reasoning))

    async def finish(self, status: str, error: str = "") -> None:
        """The reply ended: flush the text, fold the reasoning away, mark how it ended."""
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        self.status, self.error = status, error
        self.set_class(status in ("cancelled", "interrupted"), "-stopped")
        self.set_class(status == "error", "-failed")
        if self.reasoning:
            self.query_one(Collapsible).collapsed = True
        self.query_one(".footer", Static).update(Content(self._footer()))

    async def on_unmount(self) -> None:
        """Removed mid-stream (the chat was switched): end the Markdown stream's task."""
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None

    def streaming(self) -> None:
        self.status = "streaming"
        self.query_one(".footer", Static).update(Content(self._footer()))


class ChatLog(VerticalScroll, can_focus=True):
    """The open chat, newest at the bottom; follows the end while a reply streams until the
    user scrolls away."""

    DEFAULT_CSS = """
    ChatLog { height: 1fr; padding: 0 1; scrollbar-size-vertical: 1; }
    ChatLog:focus { background: $surface-lighten-1 5%; }
    ChatLog > .notice { color: $text-muted; margin: 1 0 0 0; }
    ChatLog > .notice.-error { color: $error; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "scroll_down", "Down", show=False),
        Binding("k", "scroll_up", "Up", show=False),
        Binding("g", "scroll_home", "Top", show=False),
        Binding("G", "scroll_end", "Bottom", show=False),
        Binding("ctrl+d", "page_down", "Page down", show=False),
        Binding("ctrl+u", "page_up", "Page up", show=False),
        Binding("y", "copy_reply", "Copy", show=False),
        Binding("c", "copy_code", "Copy code", show=False),
    ]

    class Copied(Message):
        """Text went to the clipboard (``size`` 0: there was nothing to copy)."""

        def __init__(self, what: str, size: int) -> None:
            super().__init__()
            self.what = what
            self.size = size

    def on_mount(self) -> None:
        self.anchor()

    async def clear(self) -> None:
        await self.remove_children()
        self.anchor()

    async def add_user(self, text: str, message_id: int | None = None) -> UserMessage:
        widget = UserMessage(text, message_id)
        await self.mount(widget)
        return widget

    async def add_reply(self, **fields: Any) -> ReplyView:
        view = ReplyView(**fields)
        await self.mount(view)
        return view

    async def add_notice(self, text: str, *, markdown: bool = False, error: bool = False) -> None:
        """Something the client says (command output, hints), apart from the chat."""
        widget: Static | Markdown
        if markdown:
            widget = Markdown(text, classes="notice")
        else:
            widget = Static(Content(text), classes="notice")
        widget.set_class(error, "-error")
        await self.mount(widget)

    def shown_reply(self) -> ReplyView | None:
        """The lowest reply on screen (else the last one)."""
        replies = self.replies()
        seen = [v for v in replies if v.region.overlaps(self.region)]
        candidates = seen or replies
        return candidates[-1] if candidates else None

    def action_copy_reply(self) -> None:
        """Copy the selected text, else the reply on screen (OSC 52 and the app's clipboard)."""
        selected = self.screen.get_selected_text()
        reply = self.shown_reply()
        text = selected or (reply.text if reply else "")
        self._copy(text, "selection" if selected else "reply")

    def action_copy_code(self) -> None:
        """Copy the last code block of the reply on screen."""
        reply = self.shown_reply()
        blocks = code_blocks(reply.text) if reply else []
        self._copy(blocks[-1] if blocks else "", "code block")

    def _copy(self, text: str, what: str) -> None:
        if text:
            self.app.copy_to_clipboard(text)
        self.post_message(self.Copied(what, len(text)))

    def replies(self) -> list[ReplyView]:
        return list(self.query(ReplyView))

    def users(self) -> list[UserMessage]:
        return list(self.query(UserMessage))
