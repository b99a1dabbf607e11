"""``/ws``: the profile's workspace as a checklist (its subcommands are the command
table's, :mod:`chatthy.client.command_table`).

A ticked file is sent with every turn; unticking benches it (kept, not sent). Space or
a click toggles a row; ``d`` (or Delete) asks to drop the highlighted file and a second
``d`` drops it; the Delete button does the same with the mouse. Every change goes to the
server at once, so other clients see it too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, SelectionList, Static
from textual.widgets.selection_list import Selection

from chatthy.errors import ChatthyError
from chatthy.wire import api

if TYPE_CHECKING:
    from chatthy.client.core import Client

__all__ = ["WorkspaceScreen", "active_tokens"]

HINT = "space/click: send or bench · d d: delete · Esc: close"


def active_tokens(files: list[api.WorkspaceFile]) -> int:
    """The tokens the files that are not benched add to every turn."""
    return sum(f.tokens for f in files if not f.benched)


def _row(file: api.WorkspaceFile, width: int) -> Text:
    row = Text(f"{file.name:<{width}}  {file.tokens:>7,} tok")
    if file.source:
        row.append(f"  {file.source}", style="dim")
    return row


class WorkspaceScreen(ModalScreen[None]):
    """The checklist of workspace files; dismissed with Esc."""

    DEFAULT_CSS = """
    WorkspaceScreen { align: center middle; }
    WorkspaceScreen > Vertical {
        width: 90%; height: auto; max-height: 90%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    WorkspaceScreen SelectionList { height: auto; max-height: 30; }
    WorkspaceScreen #ws-status { color: $text-muted; }
    WorkspaceScreen Horizontal { height: auto; align-horizontal: right; }
    WorkspaceScreen Button { margin-left: 1; min-width: 10; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("d,delete", "delete", "Delete"),
    ]

    def __init__(self, client: Client, files: list[api.WorkspaceFile]) -> None:
        super().__init__()
        self.client = client
        self.files = {f.name: f for f in files}
        self._armed: str | None = None
        """The file a first ``d`` asked to delete; a second one deletes it."""

    def compose(self) -> ComposeResult:
        width = max((len(name) for name in self.files), default=0)
        with Vertical():
            yield Static(id="ws-summary")
            yield SelectionList[str](
                *(Selection(_row(f, width), name, not f.benched) for name, f in self.files.items())
            )
            yield Static(HINT, id="ws-status")
            with Horizontal():
                yield Button("Delete", id="ws-delete", variant="error")
                yield Button("Close", id="ws-close")

    def on_mount(self) -> None:
        self._summarise()
        checklist = self.checklist
        if checklist.option_count:
            checklist.highlighted = 0
        checklist.focus()

    @property
    def checklist(self) -> SelectionList[str]:
        return self.query_one(SelectionList)

    def say(self, text: str) -> None:
        self.query_one("#ws-status", Static).update(Text(text))

    def _summarise(self) -> None:
        files = list(self.files.values())
        if not files:
            text = "the workspace is empty: /ws add PATH… or /ws url URL puts files in it"
        else:
            text = (
                f"workspace: {len(files)} file(s), {active_tokens(files):,} tokens sent "
                "with every turn"
            )
        self.query_one("#ws-summary", Static).update(Text(text, style="bold"))

    def _highlighted(self) -> str | None:
        checklist = self.checklist
        if checklist.highlighted is None:
            return None
        return checklist.get_option_at_index(checklist.highlighted).value

    async def on_selection_list_selection_toggled(
        self, event: SelectionList.SelectionToggled[str]
    ) -> None:
        name = event.selection.value
        send = name in event.selection_list.selected
        try:
            call = api.WsRestore(name=name) if send else api.WsBench(name=name)
            file = await self.client.rpc(call)
        except ChatthyError as exc:
            with self.prevent(SelectionList.SelectionToggled):
                event.selection_list.toggle(name)
            self.say(f"{name}: {exc.message}")
            return
        self.files[name] = file
        self._armed = None
        self.say(f"{name}: {'sent with every turn' if send else 'benched (kept, not sent)'}")
        self._summarise()

    async def action_delete(self) -> None:
        name = self._highlighted()
        if name is None:
            return
        if self._armed != name:
            self._armed = name
            self.say(f"delete {name}? d again (or Delete) deletes it; anything else keeps it")
            return
        self._armed = None
        try:
            await self.client.rpc(api.WsDrop(name=name))
        except ChatthyError as exc:
            self.say(f"{name}: {exc.message}")
            return
        self.files.pop(name, None)
        checklist = self.checklist
        for index in range(checklist.option_count):
            if checklist.get_option_at_index(index).value == name:
                checklist.remove_option_at_index(index)
                break
        self.say(f"deleted {name}")
        self._summarise()

    def on_selection_list_selection_highlighted(self, event: Any) -> None:
        if self._armed is not None and self._highlighted() != self._armed:
            self._armed = None
            self.say(HINT)

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ws-delete":
            await self.action_delete()
        else:
            self.action_close()

    def action_close(self) -> None:
        self.dismiss(None)
