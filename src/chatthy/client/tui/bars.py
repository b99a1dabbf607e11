"""The title bar (who, which chat, how big, what answers) and the one-line status."""

from __future__ import annotations

import time

from textual.content import Content
from textual.widgets import Static

from chatthy.client.session import ChatState

__all__ = ["StatusLine", "TitleBar", "TitleInfo"]


TitleInfo = ChatState
"""What the title shows: the session's state of the open chat."""


class TitleBar(Static):
    """``profile — chat (history tokens + workspace tokens) [personality@provider:model]``."""

    DEFAULT_CSS = """
    TitleBar {
        height: 1;
        padding: 0 1;
        background: $primary;
        color: $text;
        text-style: bold;
    }
    """

    def show(self, info: TitleInfo) -> None:
        self.update(Content(info.render()))


class StatusLine(Static):
    """Connection, streaming, cancelled or the last error: always exactly one line."""

    DEFAULT_CSS = """
    StatusLine {
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $text-muted;
    }
    StatusLine.-error { color: $error; text-style: bold; }
    StatusLine.-busy { color: $accent; }
    """

    def __init__(self) -> None:
        super().__init__(Content("connecting…"))
        self.connection = "connecting…"
        self.since = time.monotonic()
        self.message = ""
        self.rag = False
        """``/rag on`` in the open chat: said beside the connection."""

    def connected(self, ok: bool, why: str = "") -> None:
        """The connection's state; ``why`` says what failed when it is down."""
        state = "connected" if ok else f"server unreachable ({why})" if why else "unreachable"
        if state != self.connection:
            self.connection, self.since = state, time.monotonic()
        self._show()

    def say(self, message: str, kind: str = "") -> None:
        """Show ``message`` (first line only) beside the connection; ``kind`` is
        ``error``, ``busy`` or empty."""
        self.message = message.strip().splitlines()[0] if message.strip() else ""
        self.set_class(kind == "error", "-error")
        self.set_class(kind == "busy", "-busy")
        self._show()

    def show_rag(self, on: bool) -> None:
        """Whether turns in the open chat search the documents (``rag on``)."""
        if on != self.rag:
            self.rag = on
            self._show()

    def fits(self) -> bool:
        """Whether what the line says fits its width (its end is cut otherwise)."""
        width = self.content_region.width or self.app.size.width
        return len(self._text()) <= width

    def _show(self) -> None:
        self.update(Content(self._text()))

    def _text(self) -> str:
        parts = [self.connection]
        if not self.connection.startswith("connected"):
            parts[0] += f" for {time.monotonic() - self.since:.0f} s"
        if self.rag:
            parts.append("rag on")
        if self.message:
            parts.append(self.message)
        return " · ".join(parts)
