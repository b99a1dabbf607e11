"""``/ws``: the profile's workspace as a checklist, and its subcommands (``/ws add``,
``/ws attach`` for this session's transient files …).

A ticked file is sent with every turn; unticking benches it (kept, not sent). Space or
a click toggles a row; ``d`` (or Delete) asks to drop the highlighted file and a second
``d`` drops it; the Delete button does the same with the mouse. Every change goes to the
server at once, so other clients see it too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, SelectionList, Static
from textual.widgets.selection_list import Selection

from chatthy.client.editing import edit_workspace_file
from chatthy.client.sources import SOURCE_COMMANDS
from chatthy.client.transient import attached_line, format_attached
from chatthy.client.tui.editor import edit_text
from chatthy.client.workspace import (
    added_line,
    fetched_line,
    format_sources,
    format_workspace,
    gather,
    send_files,
    typed_source_request,
)
from chatthy.errors import ArgumentError, ChatthyError
from chatthy.wire import api

if TYPE_CHECKING:
    from chatthy.client.core import Client
    from chatthy.client.tui.app import ChatthyApp

__all__ = ["WS_SUBCOMMANDS", "WorkspaceScreen", "active_tokens", "run_ws"]

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


async def run_ws(app: ChatthyApp, words: list[str]) -> None:
    """``/ws [SUBCOMMAND …]``: the checklist without one, else that subcommand.

    Raises:
        ChatthyError: a malformed subcommand, or the server refused it.
    """
    if not words:
        files = await app.client.rpc(api.WsList())
        await app.push_screen(WorkspaceScreen(app.client, files), _closed(app))
        return
    sub, rest = words[0], words[1:]
    handler = WS_SUBCOMMANDS.get(sub)
    if handler is None:
        raise ArgumentError(f"unknown /ws {sub}: {', '.join(WS_SUBCOMMANDS)}")
    await handler(app, rest)
    await app.refresh_workspace()


def _closed(app: ChatthyApp) -> Callable[[None], Awaitable[None]]:
    async def refresh(_: None) -> None:
        await app.refresh_workspace()

    return refresh


def _one(words: list[str], usage: str) -> str:
    if len(words) != 1:
        raise ArgumentError(f"one name needed: {usage}")
    return words[0]


async def _list(app: ChatthyApp, words: list[str]) -> None:
    await app.output.add_notice(format_workspace(await app.client.rpc(api.WsList())))


async def _add(app: ChatthyApp, words: list[str]) -> None:
    if not words:
        raise ArgumentError("files, folders or patterns needed: /ws add PATH…")
    paths = [Path(w).expanduser() for w in words]
    found = await asyncio.to_thread(gather, paths)
    added = await send_files(app.client, found)
    lines = [added_line(info) for info in added] + found.notices
    if not added:
        lines.append("nothing added to the workspace")
    await app.output.add_notice("\n".join(lines))


async def _show(app: ChatthyApp, words: list[str]) -> None:
    file = await app.client.rpc(api.WsShow(name=_one(words, "/ws show NAME")))
    head = f"{file.name} ({file.tokens:,} tokens{', benched' if file.benched else ''})"
    await app.output.add_notice(f"{head}\n{file.text}")


async def _edit(app: ChatthyApp, words: list[str]) -> None:
    name = _one(words, "/ws edit NAME")
    saved = await edit_workspace_file(
        app.client, name, lambda text, suffix: edit_text(app, text, suffix)
    )
    if saved is None:
        app.status.say(f"{name}: unchanged")
        return
    app.status.say(f"saved {saved.name} ({saved.tokens:,} tokens)")


def _simple(method: str, usage: str, done: str) -> WsHandler:
    async def run(app: ChatthyApp, words: list[str]) -> None:
        name = _one(words, usage)
        await app.client.call(method, name=name)
        app.status.say(f"{name}: {done}")

    return run


async def _rename(app: ChatthyApp, words: list[str]) -> None:
    if len(words) != 2:
        raise ArgumentError("two names needed: /ws rename NAME NEW")
    renamed = await app.client.rpc(api.WsRename(name=words[0], new=words[1]))
    app.status.say(f"{words[0]} is now {renamed.name}")


async def _attach(app: ChatthyApp, words: list[str]) -> None:
    if not words:
        raise ArgumentError("files or folders needed: /ws attach PATH…")
    before = await asyncio.to_thread(app.client.transient.tokens)
    lines = []
    try:
        for word in words:
            found = await asyncio.to_thread(app.client.transient.attach, word)
            lines += [attached_line(word, found), *found.notices]
    finally:
        if lines:
            await app.output.add_notice("\n".join(lines))
        await app.recount_attached(before)


async def _detach(app: ChatthyApp, words: list[str]) -> None:
    transient = app.client.transient
    before = await asyncio.to_thread(transient.tokens)
    detached = [p for word in words for p in transient.detach(word)] or transient.detach()
    app.status.say(f"detached {', '.join(map(str, detached)) or 'nothing'}")
    await app.recount_attached(before)


async def _sources(app: ChatthyApp, words: list[str]) -> None:
    await app.output.add_notice(format_sources(await app.client.rpc(api.WsSources())))


async def _attached(app: ChatthyApp, words: list[str]) -> None:
    await app.output.add_notice(await asyncio.to_thread(format_attached, app.client.transient))


def _source(action: str) -> WsHandler:
    async def run(app: ChatthyApp, words: list[str]) -> None:
        call = typed_source_request(action, words)
        what = getattr(call, call.__struct_fields__[0])
        app.status.say(f"fetching {action} {what}…", "busy")
        app.status.say(fetched_line(await app.client.rpc(call)))

    return run


WsHandler = Callable[["ChatthyApp", list[str]], Awaitable[None]]

WS_SUBCOMMANDS: dict[str, WsHandler] = {
    "list": _list,
    "add": _add,
    "show": _show,
    "edit": _edit,
    "bench": _simple("ws_bench", "/ws bench NAME", "benched (kept, not sent)"),
    "restore": _simple("ws_restore", "/ws restore NAME", "sent with every turn again"),
    "drop": _simple("ws_drop", "/ws drop NAME", "deleted"),
    "rename": _rename,
    "attach": _attach,
    "detach": _detach,
    "attached": _attached,
    "sources": _sources,
    **{action: _source(action) for action in SOURCE_COMMANDS},
}
"""``/ws`` subcommands by name, in the order completion and errors list them."""
