"""The input: one line (Enter sends, Up/Down walk this chat's history, Tab completes a
command) or, toggled with Alt-m, several lines."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.suggester import Suggester
from textual.widgets import Input, TextArea

__all__ = ["CommandSuggester", "PromptArea", "PromptInput"]


class CommandSuggester(Suggester):
    """Completes the first word of a slash command from the names it knows, and the
    second from the subcommands of those that have some (``/ws add``)."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.names: list[str] = []
        self.subcommands: dict[str, list[str]] = {}
        self.bare = False
        """Command mode: names are completed without the leading ``/``."""

    def set_names(self, names: Iterable[str]) -> None:
        self.names = sorted(set(names))

    async def get_suggestion(self, value: str) -> str | None:
        slash = "" if self.bare and not value.startswith("/") else "/"
        if not value.startswith(slash) or value.startswith("//"):
            return None
        words = value[len(slash) :].split(" ")
        if len(words) == 1:
            choices, typed = self.names, words[0]
        elif len(words) == 2 and words[0] in self.subcommands:
            choices, typed = self.subcommands[words[0]], words[1]
        else:
            return None
        if not typed and slash == "" and len(words) == 1:
            return None
        for choice in choices:
            if choice.startswith(typed) and choice != typed:
                return value[: len(value) - len(typed)] + choice
        return None


MESSAGE_HINT = "Message or /command · F1 help · Alt-m multi-line · Ctrl-c cancel · Ctrl-q quit"
COMMAND_HINT = "command without the / (chat NAME, help …) · Tab back to messages · F1 help"


class PromptInput(Input):
    """One line of input with a history per chat (the chat's name picks the list). Tab
    completes a command name, or with nothing to complete toggles command mode, where
    every line is a command and the ``/`` is implied."""

    DEFAULT_CSS = """
    PromptInput { border: tall $primary 50%; }
    PromptInput:focus { border: tall $primary; }
    PromptInput.-command, PromptInput.-command:focus { border: tall $accent; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "history(-1)", "Previous", show=False),
        Binding("down", "history(1)", "Next", show=False),
        Binding("tab", "complete", "Complete", show=False),
    ]

    def __init__(self) -> None:
        self.commands = CommandSuggester()
        super().__init__(placeholder=MESSAGE_HINT, suggester=self.commands)
        self.chat = ""
        self._histories: dict[str, list[str]] = {}
        self._position = 0
        self._draft = ""

    @property
    def history(self) -> list[str]:
        return self._histories.setdefault(self.chat, [])

    def use_chat(self, chat: str) -> None:
        """Switch to ``chat``'s history."""
        self.chat = chat
        self._position = len(self.history)

    def rename_chat(self, old: str, new: str) -> None:
        self._histories[new] = self._histories.pop(old, [])
        self.use_chat(new)

    def remember(self, line: str) -> None:
        if line and (not self.history or self.history[-1] != line):
            self.history.append(line)
        self._position = len(self.history)
        self._draft = ""

    def action_history(self, step: int) -> None:
        history = self.history
        if not history:
            return
        if self._position == len(history):
            self._draft = self.value
        self._position = max(0, min(len(history), self._position + step))
        self.value = self._draft if self._position == len(history) else history[self._position]
        self.cursor_position = len(self.value)

    @property
    def command_mode(self) -> bool:
        return self.commands.bare

    def as_line(self, text: str) -> str:
        """``text`` as submitted: in command mode, a command even without its ``/``."""
        if self.command_mode and text.strip() and not text.startswith("/"):
            return "/" + text
        return text

    def action_complete(self) -> None:
        suggestion = self._suggestion
        if suggestion and len(suggestion) > len(self.value):
            self.value = suggestion + " "
            self.cursor_position = len(self.value)
        else:
            self.set_command_mode(not self.command_mode)

    def set_command_mode(self, on: bool) -> None:
        self.commands.bare = on
        self.set_class(on, "-command")
        self.border_title = "command mode (Tab: messages)" if on else None
        self.placeholder = COMMAND_HINT if on else MESSAGE_HINT
        if on and self.value.startswith("/") and not self.value.startswith("//"):
            self.value = self.value[1:]


class PromptArea(TextArea):
    """The multi-line input (Alt-m toggles it): Enter starts a new line, Esc then Enter
    (or Alt-Enter) sends."""

    DEFAULT_CSS = """
    PromptArea { height: 8; border: tall $primary 50%; display: none; }
    PromptArea:focus { border: tall $primary; }
    PromptArea.-active { display: block; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("alt+enter", "send", "Send", show=False),
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
