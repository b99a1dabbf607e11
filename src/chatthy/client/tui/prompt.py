"""The input: one line (Enter sends, Up/Down walk the history kept across runs, Tab
completes from the command table) or, toggled with Alt-m, several lines; a paste of
several lines switches to the multi-line input."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.suggester import Suggester
from textual.widgets import Input, TextArea

from chatthy.client.history import append_entry, read_entries

__all__ = ["Completion", "PromptArea", "PromptInput", "TableSuggester"]

Completion = Callable[[str], Awaitable[tuple[int, list[str]]]]
"""What may replace the word being typed: its start and the candidates."""


class TableSuggester(Suggester):
    """Suggests (greyed, Right takes it) the completion of the word being typed when
    there is exactly one."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.completion: Completion | None = None

    async def get_suggestion(self, value: str) -> str | None:
        if self.completion is None or not value.startswith("/") or value.startswith("//"):
            return None
        start, candidates = await self.completion(value)
        if len(candidates) != 1 or value[start:] == candidates[0]:
            return None
        return value[:start] + candidates[0]


MESSAGE_HINT = "Message or /command · F1 help · Alt-m multi-line · Ctrl-c cancel · Ctrl-q quit"


class PromptInput(Input):
    """One line of input with the history of what was typed (the profile's, kept across
    runs). Tab completes the word being typed; where several candidates fit, it
    completes what they share and lists them."""

    DEFAULT_CSS = """
    PromptInput { border: tall $primary 50%; }
    PromptInput:focus { border: tall $primary; }
    """

    COMPLETION_WAIT: ClassVar[float] = 1.5
    """Seconds Tab waits for candidates from the server."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "history(-1)", "Previous", show=False),
        Binding("down", "history(1)", "Next", show=False),
        Binding("tab", "complete", "Complete", show=False),
    ]

    class Candidates(Message):
        """Tab found several candidates (or none): the app lists them."""

        def __init__(self, candidates: list[str]) -> None:
            super().__init__()
            self.candidates = candidates

    class PastedLines(Message):
        """Several lines were pasted: the multi-line input takes them, after ``text``."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self) -> None:
        self.suggestions = TableSuggester()
        super().__init__(placeholder=MESSAGE_HINT, suggester=self.suggestions)
        self.chat = ""
        self.history: list[str] = []
        self.history_file: Path | None = None
        self._position = 0
        self._draft = ""

    @property
    def completion(self) -> Completion | None:
        return self.suggestions.completion

    @completion.setter
    def completion(self, completion: Completion | None) -> None:
        self.suggestions.completion = completion

    def use_chat(self, chat: str) -> None:
        self.chat = chat

    async def load_history(self, path: Path) -> None:
        """Read the history kept in ``path`` (earlier runs), before what was typed now."""
        self.history_file = path
        earlier = await asyncio.to_thread(read_entries, path)
        self.history = earlier + self.history
        self._position = len(self.history)

    def remember(self, line: str) -> None:
        if line and (not self.history or self.history[-1] != line):
            self.history.append(line)
            if self.history_file is not None:
                append_entry(self.history_file, line)
        self._position = len(self.history)
        self._draft = ""

    def action_history(self, step: int) -> None:
        history = self.history
        if not history:
            return
        if self._position == len(history):
            self._draft = self.value
        self._position = max(0, min(len(history), self._position + step))
        value = self._draft if self._position == len(history) else history[self._position]
        self.value = value.replace("\n", " ")
        self.cursor_position = len(self.value)

    async def action_complete(self) -> None:
        completion = self.completion
        value = self.value[: self.cursor_position]
        if completion is None or not value.startswith("/"):
            return
        try:  # names come from the server: a slow or gone one must not hold the keys
            start, candidates = await asyncio.wait_for(completion(value), self.COMPLETION_WAIT)
        except TimeoutError:
            self.post_message(self.Candidates([]))
            return
        if self.value[: self.cursor_position] != value:
            return  # typed on meanwhile: the candidates are for a word no longer there
        if not candidates:
            self.post_message(self.Candidates([]))
            return
        if len(candidates) == 1:
            word = candidates[0]
            end = "" if word.endswith(("/", "=")) else " "
        else:
            word = os.path.commonprefix(candidates)  # noqa: RUF071 - by character
            end = ""
            self.post_message(self.Candidates(candidates))
        rest = self.value[self.cursor_position :]
        self.value = value[:start] + word + end + rest
        self.cursor_position = start + len(word) + len(end)

    def _on_paste(self, event: events.Paste) -> None:
        # terminals send a pasted line break as CR (tmux, VTE, iTerm2, xterm)
        text = event.text.replace("\r\n", "\n").replace("\r", "\n")
        if "\n" in text.strip("\n"):
            event.stop()
            event.prevent_default()  # Input's own paste would keep the first line
            self.post_message(self.PastedLines(self.value + text))
        # else Input's own handler (Textual calls it after this one) pastes the line


class PromptArea(TextArea):
    """The multi-line input (Alt-m toggles it): Enter starts a new line, Esc then Enter
    (or Ctrl-s, or Alt-Enter where the terminal tells it apart) sends."""

    DEFAULT_CSS = """
    PromptArea { height: 8; border: tall $primary 50%; display: none; }
    PromptArea:focus { border: tall $primary; }
    PromptArea.-active { display: block; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("alt+enter", "send", "Send", show=False),
        # terminals send Alt-Enter as ESC CR, which reads as Enter: Ctrl-s always sends
        Binding("ctrl+s", "send", "Send", show=False),
    ]

    class Submitted(Message):
        """The user sent the text."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self) -> None:
        super().__init__(soft_wrap=True, show_line_numbers=False)
        self._escaped = 0.0

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "escape":
            self._escaped = time.monotonic()
            event.stop()
            event.prevent_default()
            return
        if event.key == "enter" and time.monotonic() - self._escaped < 1.0:
            self._escaped = 0.0
            event.stop()
            event.prevent_default()
            self.action_send()
            return
        self._escaped = 0.0
        await super()._on_key(event)

    def action_send(self) -> None:
        if self.text.strip():
            self.post_message(self.Submitted(self.text))
