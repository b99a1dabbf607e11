"""The pickers: the profile's chats (Ctrl-o) and the server's providers and models
(Ctrl-p), each a list with a filter, over the client session.

Typing narrows the list (a letter the list has no key for starts the filter; ``/`` too),
the arrows move, Enter picks, Esc closes. In the chat picker ``r`` renames the
highlighted chat in a line below the list and ``d`` twice deletes it, as the workspace
checklist does. Every change goes through the :class:`~chatthy.client.session.Session`
and the list is read again after it, and when the server's news says the profile's
chats changed.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from chatthy.errors import ChatthyError
from chatthy.wire import api

if TYPE_CHECKING:
    from chatthy.client.session import Session

__all__ = ["ChatPicker", "ModelPicker", "PickerScreen", "matches", "when"]

Picked = TypeVar("Picked")

RUNNING = "●"
"""Marks a chat a reply is running in (a mark, not a colour: NO_COLOR users see it)."""

OPEN = "»"
"""Marks the open chat, and the open chat's provider and model."""


def matches(query: str, *fields: str) -> bool:
    """Whether every word of ``query`` is in one of ``fields`` (case ignored)."""
    text = " ".join(fields).casefold()
    return all(word in text for word in query.casefold().split())


def when(stamp: float, now: float | None = None) -> str:
    """A time as a list shows it: the hour today, the date before."""
    now = time.time() if now is None else now
    local = time.localtime(stamp)
    if time.strftime("%Y-%m-%d", local) == time.strftime("%Y-%m-%d", time.localtime(now)):
        return time.strftime("%H:%M", local)
    return time.strftime("%Y-%m-%d", local)


class PickerScreen(ModalScreen[Picked | None], Generic[Picked]):
    """A titled list with a filter line above it and a status line below."""

    DEFAULT_CSS = """
    PickerScreen { align: center middle; }
    PickerScreen > Vertical {
        width: 90%; height: auto; max-height: 90%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    PickerScreen .picker-title { text-style: bold; }
    PickerScreen OptionList { height: auto; max-height: 24; }
    PickerScreen #picker-edit { display: none; }
    PickerScreen #picker-edit.-active { display: block; }
    PickerScreen .picker-status { color: $text-muted; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("slash", "filter", "Filter", show=False),
    ]

    HINT = "type to filter · Enter: pick · Esc: close"
    LIST_KEYS: ClassVar[frozenset[str]] = frozenset()
    """Printable keys the list acts on itself (not the start of a filter)."""

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(classes="picker-title", id="picker-title")
            yield Input(placeholder="filter", id="picker-filter", select_on_focus=False)
            yield OptionList(id="picker-list")
            yield Input(id="picker-edit", select_on_focus=False)
            yield Static(Text(self.HINT), classes="picker-status", id="picker-status")

    def on_mount(self) -> None:
        self.options.focus()
        self.reload()

    @property
    def options(self) -> OptionList:
        return self.query_one("#picker-list", OptionList)

    @property
    def filter(self) -> Input:
        return self.query_one("#picker-filter", Input)

    def say(self, text: str) -> None:
        self.query_one("#picker-status", Static).update(Text(text))

    def title_line(self, text: str) -> None:
        self.query_one("#picker-title", Static).update(Text(text))

    def reload(self) -> None:
        """Read the list again from the server (in a worker; a newer read replaces it)."""
        self.run_worker(self._load(), group="load", exclusive=True)

    async def _load(self) -> None:
        try:
            await self.load()
        except ChatthyError as exc:
            self.say(f"error: {exc.message}")
            return
        self.show_rows()

    async def load(self) -> None:
        """Read what the list shows."""

    def rows(self, query: str) -> list[Option]:
        """The list's rows for the filter ``query``."""
        return []

    def show_rows(self, *, fresh: bool = False) -> None:
        """Show the rows the filter leaves, keeping the highlight on the same row (with
        ``fresh``, a new filter: on the first that matches)."""
        options = self.options
        current = options.highlighted_option
        keep = current.id if current is not None else None
        rows = self.rows(self.filter.value)
        options.clear_options()
        options.add_options(rows)
        ids = [row.id for row in rows]
        options.highlighted = ids.index(keep) if keep in ids and not fresh else self.first(rows)

    def first(self, rows: list[Option]) -> int | None:
        """The row highlighted when the filter changed, or the one that was is gone."""
        return next((i for i, row in enumerate(rows) if not row.disabled), None)

    def picked_row(self) -> Option | None:
        return self.options.highlighted_option

    def on_key(self, event: events.Key) -> None:
        """A letter typed on the list starts the filter; the arrows typed in the filter
        move the list."""
        options = self.options
        moves = {
            "up": options.action_cursor_up,
            "down": options.action_cursor_down,
            "pageup": options.action_page_up,
            "pagedown": options.action_page_down,
        }
        if self.filter.has_focus and event.key in moves:
            moves[event.key]()
            event.stop()
        elif (
            options.has_focus
            and event.is_printable
            and event.character
            and event.character not in self.LIST_KEYS
        ):
            self.filter.focus()
            self.filter.insert_text_at_cursor(event.character)
            event.stop()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "picker-filter":
            self.show_rows(fresh=True)

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "picker-filter":
            event.stop()
            await self.pick(self.picked_row())

    async def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        await self.pick(event.option)

    async def pick(self, row: Option | None) -> None:
        """Enter on ``row`` (None: no row is highlighted)."""

    def action_filter(self) -> None:
        self.filter.focus()

    def action_close(self) -> None:
        self.dismiss(None)


def _chat_row(chat: api.ChatInfo, width: int, open_chat: str, now: float) -> Text:
    row = Text(f"{OPEN if chat.name == open_chat else ' '} ")
    row.append(f"{chat.name:<{width}}", style="bold" if chat.name == open_chat else "")
    row.append(f"  {chat.messages:>5} msgs  {when(chat.updated, now):>10}  ")
    model = f":{chat.model}" if chat.model else ""
    row.append(f"{chat.provider}{model}", style="dim")
    if chat.running:
        row.append(f"  {RUNNING} replying")
    return row


class ChatPicker(PickerScreen[str]):
    """The profile's chats, the most recently changed first; dismissed with the name of
    the chat to open (Enter on none: the filter's text, a new chat)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "rename", "Rename"),
        Binding("d,delete", "delete", "Delete"),
    ]
    HINT = "type to filter · Enter: open · r: rename · d d: delete · Esc: close"
    LIST_KEYS = frozenset("rd/")

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.chats: list[api.ChatInfo] = []
        self._armed: str | None = None
        """The chat a first ``d`` asked to delete; a second one deletes it."""
        self._renaming: str | None = None
        """The chat the rename line is for."""

    async def load(self) -> None:
        self.chats = await self.session.chats()

    def rows(self, query: str) -> list[Option]:
        shown = [c for c in self.chats if matches(query, c.name, c.provider, c.model)]
        width = max((len(c.name) for c in shown), default=0)
        now = time.time()
        if not self.chats:
            self.title_line("no chats yet: type a name, Enter starts it")
        elif query:
            self.title_line(f"chats: {len(shown)} of {len(self.chats)}")
        else:
            self.title_line(f"chats: {len(self.chats)}")
        rows = [Option(_chat_row(c, width, self.session.chat, now), id=c.name) for c in shown]
        if not rows and query.strip():
            rows.append(Option(Text(f"  new chat '{query.strip()}'"), id="\0new"))
        return rows

    def _highlighted(self) -> str | None:
        row = self.picked_row()
        return row.id if row is not None and row.id != "\0new" else None

    async def pick(self, row: Option | None) -> None:
        if row is None:
            return
        self.dismiss(self.filter.value.strip() if row.id == "\0new" else row.id)

    # ---- rename ---------------------------------------------------------------------

    @property
    def editor(self) -> Input:
        return self.query_one("#picker-edit", Input)

    def action_rename(self) -> None:
        name = self._highlighted()
        if name is None:
            return
        self._renaming = name
        editor = self.editor
        editor.value = name
        editor.cursor_position = len(name)
        editor.add_class("-active")
        editor.focus()
        self.say(f"new name for '{name}' · Enter: rename · Esc: keep it")

    def _end_rename(self) -> None:
        self._renaming = None
        self.editor.remove_class("-active")
        self.options.focus()

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        """The rename line (the filter's Enter is the base class's: Textual calls both)."""
        if event.input.id != "picker-edit":
            return
        event.stop()
        old, new = self._renaming, event.value.strip()
        self._end_rename()
        if old is None or not new or new == old:
            self.say(self.HINT)
            return
        try:
            await self.session.rename(new, chat=old)
        except ChatthyError as exc:
            self.say(f"{old}: {exc.message}")
            return
        self.say(f"renamed '{old}' to '{new}'")
        await self._load()
        self._highlight(new)

    def _highlight(self, name: str) -> None:
        options = self.options
        for index in range(options.option_count):
            if options.get_option_at_index(index).id == name:
                options.highlighted = index
                return

    def action_close(self) -> None:
        if self._renaming is not None:
            self._end_rename()
            self.say(self.HINT)
            return
        super().action_close()

    # ---- delete ---------------------------------------------------------------------

    async def action_delete(self) -> None:
        name = self._highlighted()
        if name is None:
            return
        if self._armed != name:
            self._armed = name
            self.say(f"delete '{name}' and all its messages? d again deletes it")
            return
        self._armed = None
        try:
            await self.session.destroy(name)
        except ChatthyError as exc:
            self.say(f"{name}: {exc.message}")
            return
        self.say(f"deleted '{name}'")
        await self._load()

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if self._armed is not None and event.option.id != self._armed:
            self._armed = None
            self.say(self.HINT)


class ModelPicker(PickerScreen[tuple[str, str]]):
    """The server's providers, each with its models under it (or why they could not be
    listed); dismissed with (provider, model) for the open chat, the model empty for the
    provider's default."""

    HINT = "type to filter · Enter: use in this chat · Esc: close"

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.providers: list[api.ProviderInfo] = []
        self._targets: dict[str, tuple[str, str]] = {}

    def on_mount(self) -> None:  # then the base class's (Textual calls both)
        self.title_line("providers: asking them for their models…")

    async def load(self) -> None:
        self.providers = await self.session.providers(fresh=True)

    def rows(self, query: str) -> list[Option]:
        state = self.session.state
        rows: list[Option] = []
        self._targets = {}
        for p in self.providers:
            models = list(dict.fromkeys([p.model, *(p.models or [])]))
            if not matches(query, p.name, *models):
                continue
            shown = [m for m in models if matches(query, p.name, m)] if query else models
            mark = OPEN if p.name == state.provider else " "
            head = Text(f"{mark} {p.name}", style="bold")
            head.append(f"{' (default)' if p.default else ''}  {p.context_length:,} tokens")
            rows.append(Option(head, id=p.name))
            self._targets[p.name] = (p.name, "")
            for model in shown:
                here = p.name == state.provider and model == state.model
                label = f"    {OPEN if here else ' '} {model}"
                label += "  (default)" if model == p.model else ""
                key = f"{p.name}\0{model}"
                rows.append(Option(Text(label), id=key))
                self._targets[key] = (p.name, model)
            if p.error:
                rows.append(Option(Text(f"      {p.error}", style="italic"), disabled=True))
        total = len(self.providers)
        self.title_line(f"providers: {total} (open chat: {state.provider}:{state.model})")
        return rows

    def first(self, rows: list[Option]) -> int | None:
        """The open chat's model; while filtering, the first model that matches."""
        state = self.session.state
        wanted = None if self.filter.value else (state.provider, state.model)
        for index, row in enumerate(rows):
            target = self._targets.get(row.id or "")
            if target is not None and target[1] and wanted in (None, target):
                return index
        return super().first(rows)

    async def pick(self, row: Option | None) -> None:
        if row is None or row.id not in self._targets:
            return
        self.dismiss(self._targets[row.id])
