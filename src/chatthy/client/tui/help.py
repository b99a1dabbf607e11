"""The help screen (F1, /help): the client's commands, keys, and the server's commands."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from chatthy.client.command_table import TABLE, help_lines
from chatthy.client.tui.keymap import ACTIONS, key_label
from chatthy.wire import api

__all__ = ["HelpScreen", "help_text"]

KEYS = [
    ("Enter", "send the message (a line starting // sends a literal /)"),
    ("Up / Down", "earlier input (kept across runs)"),
    ("{multiline}", "multi-line input on/off (there: Ctrl-s, or Esc then Enter, sends)"),
    ("Tab", "complete a command, its subcommand or argument (several: listed)"),
    ("Right", "take the suggested completion"),
    ("{help}", "this help (Esc closes it)"),
    ("{chats}", "the chats: type to filter, Enter opens, r renames, d d deletes"),
    ("{models}", "the providers and models: Enter uses one in this chat"),
    ("{rag_search}", "search your documents for the input's text (the input stays)"),
    ("{cancel}", "cancel the running reply"),
    ("{reload}", "redraw and reload the chat"),
    ("{focus}", "focus output / input"),
    ("j k  g G", "in the output: down, up, top, bottom"),
    ("Ctrl-d Ctrl-u", "in the output: page down, page up"),
    ("/  n N", "in the output: search down from the view, next, previous match"),
    ("v", "in the output: select lines (j/k extend, y copies, Esc cancels)"),
    ("y", "in the output: copy the selection (v or mouse), else the reply"),
    ("c", "in the output: copy the code block at the match or v line, else"),
    ("", "  the lowest on screen; again: the one above (Esc unmarks)"),
    ("$", "in the output: math as Unicode / as LaTeX source"),
    ("{quit}", "quit"),
]
"""The keys; ``{action}`` is the key client.toml's ``[keys]`` gives that action."""


def _table(rows: list[tuple[str, str]]) -> list[str]:
    width = max(len(left) for left, _ in rows)
    return [f"  {left:<{width}}  {right}" for left, right in rows]


def help_text(
    server_commands: dict[str, api.CommandInfo], keys: Mapping[str, str] | None = None
) -> str:
    """The help; ``keys`` are the actions' keys in use (their defaults where missing)."""
    labels = {name: key_label((keys or {}).get(name, a.key)) for name, a in ACTIONS.items()}
    rows = [(left.format_map(labels), right) for left, right in KEYS]
    lines = ["Keys", "", *_table(rows), "", "Commands", ""]
    lines += _table(help_lines("tui"))
    others = [c for name, c in sorted(server_commands.items()) if name not in TABLE.commands]
    if others:
        lines += ["", "Server commands: /NAME key=value … (chat is the open one)", ""]
        rows = []
        for c in others:
            args = " ".join(a.name if a.required else f"[{a.name}]" for a in c.args)
            rows.append((f"/{c.name} {args}".rstrip(), c.help))
        lines += _table(rows)
    return "\n".join(lines)


class HelpScreen(ModalScreen[None]):
    """Commands and keys; Esc, q or F1 closes it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90%; height: 90%; border: round $primary; background: $surface; padding: 0 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,f1", "dismiss", "Close"),
    ]

    def __init__(
        self, server_commands: dict[str, api.CommandInfo], keys: Mapping[str, str] | None = None
    ) -> None:
        super().__init__()
        self.server_commands = server_commands
        self.keys = keys

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Content(help_text(self.server_commands, self.keys)))
