"""The full-screen client: a Textual App that renders a client session.

The :class:`~chatthy.client.session.Session` decides (which chat is open, which reply is
followed, what other clients did, reconnecting); the app is its
:class:`~chatthy.client.command_table.Front`: it draws what the session shows and turns
keys into session calls and command lines. Work that talks to the server runs in
workers, each wrapped so that a server error becomes one line on the status bar.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.css.query import NoMatches
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Input
from textual.worker import Worker

from chatthy.client.clipboard import copy_command, copy_to_system
from chatthy.client.command_table import run_line
from chatthy.client.core import Client, ReplyStream
from chatthy.client.history import history_path
from chatthy.client.image_view import ImageRef
from chatthy.client.session import ChatState, ReplySink, Session, replied_line
from chatthy.client.settings import Settings
from chatthy.client.tools import ApprovalRequest, ToolCallInfo, ToolResultInfo
from chatthy.client.tui import commands as _tui_commands  # noqa: F401 - registers /theme, /profile
from chatthy.client.tui.bars import StatusLine, TitleBar
from chatthy.client.tui.editor import edit_text
from chatthy.client.tui.find import SearchBar
from chatthy.client.tui.help import HelpScreen
from chatthy.client.tui.keymap import ACTIONS, binding_id, bindings, input_hint, read_keys
from chatthy.client.tui.messages import SearchHits
from chatthy.client.tui.output import ChatLog, ReplyView
from chatthy.client.tui.pickers import ChatPicker, ModelPicker
from chatthy.client.tui.prompt import PromptArea, PromptInput
from chatthy.client.tui.render import warm_up
from chatthy.client.tui.tools import ApprovalScreen
from chatthy.client.tui.workspace import WorkspaceScreen
from chatthy.config import DEFAULT_THEME
from chatthy.errors import (
    ArgumentError,
    AuthError,
    ChatthyError,
    DeniedError,
    ServerUnavailableError,
    SignatureError,
)
from chatthy.wire import api

__all__ = ["ChatthyApp", "run_tui", "tui_app"]


class _Sink:
    """A reply view as the session's :class:`ReplySink`; a call waiting for approval is
    asked in a modal (y / n / a)."""

    def __init__(self, view: ReplyView, app: ChatthyApp) -> None:
        self.view = view
        self.app = app

    async def tool_call(self, call: ToolCallInfo) -> None:
        await self.view.add_call(call)

    async def tool_result(self, result: ToolResultInfo) -> None:
        await self.view.add_result(result)

    async def approval(self, request: ApprovalRequest) -> None:
        app = self.app

        def answered(answer: str | None) -> None:
            if answer is not None:
                app.spawn(app.session.approve(request.call_id, answer))

        app.push_screen(ApprovalScreen(request), answered)

    async def text(self, text: str) -> None:
        self.view.add_text(text)

    async def reasoning(self, text: str) -> None:
        await self.view.add_reasoning(text)

    async def end(self, status: str, error: str, message_id: int | None) -> None:
        if message_id is not None:
            self.view.message_id = message_id
        await self.view.finish(status, error)


class ChatthyApp(App[int]):
    """One session, one open chat. The session starts on mount and closes on exit."""

    TITLE = "chatthy"
    CSS = "Screen { layout: vertical; }"

    BINDINGS: ClassVar[list[BindingType]] = list(bindings())
    ENABLE_COMMAND_PALETTE = False
    """Ctrl-p is the provider picker; the palette's commands are the table's."""

    kind = "tui"

    def __init__(
        self,
        client: Client,
        chat: str = "default",
        *,
        provider: str | None = None,
        prompt: str | None = None,
        theme: str = DEFAULT_THEME,
        keys: Mapping[str, object] | None = None,
        notify: str = "bell",
    ) -> None:
        super().__init__()
        self.session = Session(client, self, chat, provider=provider, prompt=prompt, approve="ask")
        self.session.on_replied = self._replied
        self.session.on_chats_changed = self._chats_changed
        self.key_config = dict(keys or {})
        """client.toml's ``[keys]``, applied on mount."""
        self.notify_by = notify
        """How a reply that ends in another chat is told: bell, desktop or off."""
        self.keys = {name: action.key for name, action in ACTIONS.items()}
        """Each action's key(s) in use (client.toml's where it gave usable ones)."""
        self.wanted_theme = theme
        """The theme asked for (client.toml), applied on mount if Textual knows it."""
        self.clipboard_command: list[str] | None = None
        """The system clipboard's copy command, if there is one (found on mount)."""
        self.notices: list[str] = []
        """Said on the status line at start: a server's key learned on first contact …"""
        self._status_timer: Timer | None = None
        self.failure = ""
        """Why the app left on its own (a refused passphrase), for the terminal after."""

    # what the commands and older code read of the session
    @property
    def client(self) -> Client:
        return self.session.client

    @property
    def chat(self) -> str:
        return self.session.chat

    @property
    def info(self) -> ChatState:
        return self.session.state

    @property
    def live(self) -> ReplyStream | None:
        """The reply streaming in the open chat, if any."""
        return self.session.live

    @property
    def server_commands(self) -> dict[str, api.CommandInfo]:
        return self.session.server_commands

    def compose(self) -> ComposeResult:
        yield TitleBar()
        log = ChatLog()
        log.images.fetch = self.session.fetch_image  # images named by digest, on demand
        yield log
        yield SearchBar()
        yield PromptInput()
        yield PromptArea()
        yield StatusLine()

    @property
    def output(self) -> ChatLog:
        return self.query_one(ChatLog)

    @property
    def status_line(self) -> StatusLine:
        return self.query_one(StatusLine)

    @property
    def prompt_input(self) -> PromptInput:
        return self.query_one(PromptInput)

    @property
    def prompt_area(self) -> PromptArea:
        return self.query_one(PromptArea)

    @property
    def multiline(self) -> bool:
        return self.prompt_area.has_class("-active")

    def on_mount(self) -> None:
        self.session.client.connect()
        self.prompt_input.completion = self._complete
        self.session.local_names["themes"] = lambda: sorted(self.available_themes)
        self.run_worker(
            self.prompt_input.load_history(history_path(self.client.profile)), group="history"
        )
        self.prompt_input.use_chat(self.chat)
        self.prompt_input.focus()
        self.show_title(self.session.state)
        keymap, warnings = read_keys(self.key_config)
        self.set_keymap(keymap)
        self.keys = {n: keymap.get(binding_id(n), a.key) for n, a in ACTIONS.items()}
        self.prompt_input.placeholder = input_hint(self.keys)
        self.notices += [f"warning: {w}" for w in warnings]
        if self.wanted_theme in self.available_themes:
            self.theme = self.wanted_theme
        else:
            unknown = f"client.toml: unknown theme '{self.wanted_theme}'"
            self.status(f"{unknown}, using {DEFAULT_THEME}", "error")
        for notice in self.notices:
            self.status(notice, "error" if notice.startswith("warning") else "")
        self.clipboard_command = copy_command(os.environ, sys.platform)
        self.spawn(self._boot(), group="boot", exclusive=True)
        self.run_worker(warm_up, thread=True, group="warm-up")

    async def on_unmount(self) -> None:
        await self.session.close()

    async def _complete(self, text: str) -> tuple[int, list[str]]:
        from chatthy.client.command_table import complete

        return await complete(self.session, self.kind, text)

    # ---- plumbing -------------------------------------------------------------------

    def spawn(
        self, work: Coroutine[Any, Any, Any], group: str = "default", exclusive: bool = False
    ) -> Worker[None]:
        """Run ``work`` in a worker; a server error ends it as one line on the status bar."""
        return self.run_worker(self._guard(work), group=group, exclusive=exclusive)

    async def _guard(self, work: Coroutine[Any, Any, Any]) -> None:
        try:
            await work
        except ServerUnavailableError as exc:
            self.session.lost(exc)
            self.status("")
        except ChatthyError as exc:
            await self._tell_error(exc.message)
        except OSError as exc:
            await self._tell_error(str(exc.strerror or exc))
        except Exception as exc:  # a bug: one line, and the app goes on
            await self._tell_error(f"internal error: {type(exc).__name__}: {exc}")

    async def _tell_error(self, message: str) -> None:
        """``message`` on the status line; if the line is too narrow for all of it, the
        whole of it in the output too (a path, a list of names)."""
        with contextlib.suppress(NoMatches):
            self.status(f"error: {message}", "error")
            if not self.status_line.fits():
                await self.output.add_notice(f"error: {message}", error=True)

    async def _boot(self) -> None:
        """Start the session; a refused passphrase ends the app with the reason (a dead
        screen saying "connecting…" helps nobody)."""
        try:
            await self.session.start()
        except (AuthError, SignatureError, DeniedError) as exc:
            self.failure = exc.message
            self.exit(return_code=1)
            return
        for notice in self.notices:  # kept in the output once the chat is shown
            await self.output.add_notice(notice, error=notice.startswith("warning"))
        self.notices = []

    # ---- the session's view ---------------------------------------------------------

    async def show_chat(
        self, state: ChatState, messages: list[api.MessageInfo], older: int
    ) -> None:
        self.prompt_input.use_chat(state.chat)
        await self.output.show(messages, older)

    async def show_older(self, messages: list[api.MessageInfo], older: int) -> None:
        """Not asked by this front end: its log asks for the pages it needs (below)."""

    async def add_user(
        self,
        text: str,
        message_id: int | None,
        when: float | None,
        images: Sequence[ImageRef] = (),
    ) -> None:
        await self.output.add_user(text, message_id, when, images)

    async def add_reply(self, provider: str, model: str, when: float | None) -> ReplySink:
        view = await self.output.add_reply(
            provider=provider, model=model, when=when, status="streaming"
        )
        self.output.scroll_end(animate=False)
        return _Sink(view, self)

    async def notice(self, text: str, *, markdown: bool = False, error: bool = False) -> None:
        await self.output.add_notice(text, markdown=markdown, error=error)

    def status(self, text: str, kind: str = "") -> None:
        """Say ``text`` on the status line; news that is not about something still going
        on (``busy``) is cleared after a while, so the line never shows stale news."""
        with contextlib.suppress(NoMatches):
            self.status_line.say(text, kind)
        if self._status_timer is not None:
            self._status_timer.stop()
            self._status_timer = None
        if text and kind != "busy":
            keep = self.ERROR_SHOWN if kind == "error" else self.NEWS_SHOWN
            self._status_timer = self.set_timer(keep, self._status_expired)

    NEWS_SHOWN: ClassVar[float] = 8.0
    """Seconds a line of news stays on the status line."""

    ERROR_SHOWN: ClassVar[float] = 20.0

    def _status_expired(self) -> None:
        self._status_timer = None
        with contextlib.suppress(NoMatches):
            self.status_line.say("")

    def show_title(self, state: ChatState) -> None:
        """Show the title bar's figures (none while the app is closing: no bar then)."""
        with contextlib.suppress(NoMatches):
            self.query_one(TitleBar).show(state)
            self.status_line.show_rag(state.rag)

    def connection(self, ok: bool, why: str = "") -> None:
        with contextlib.suppress(NoMatches):
            self.status_line.connected(ok, why)

    # ---- what only a front end does -------------------------------------------------

    async def edit(self, text: str, suffix: str = ".md", *, instead: str = "") -> str | None:
        return await edit_text(self, text, suffix)

    def load_input(self, text: str) -> None:
        if "\n" in text:
            self.set_multiline(True, text)
            return
        if self.multiline:
            self.set_multiline(False, text)
            return
        self.prompt_input.value = text
        self.prompt_input.cursor_position = len(text)
        self.prompt_input.focus()

    async def show_help(self, text: str) -> None:
        self.action_help()

    def quit(self) -> None:
        self.exit(0)

    def cursor_message(self) -> int | None:
        return self.output.cursor_message_id()

    async def show_hits(self, query: str, hits: list[api.SearchHit]) -> None:
        await self.output.add_hits(query, hits)

    async def workspace(self, files: list[api.WorkspaceFile]) -> None:
        async def refresh(_: None) -> None:
            await self.session.refresh_workspace()

        await self.push_screen(WorkspaceScreen(self.client, files), refresh)

    # ---- older messages, replies ----------------------------------------------------

    def on_chat_log_need_messages(self, event: ChatLog.NeedMessages) -> None:
        self.spawn(self._fetch_messages(event), group="older", exclusive=True)

    async def _fetch_messages(self, event: ChatLog.NeedMessages) -> None:
        """Fetch the page of the open chat the log asked for, and hand it over."""
        output = self.output

        async def take(page: api.MessagesPage) -> None:
            await output.take(event, page.messages, page.chat.messages)

        after = 0 if event.where == "first" else event.after
        try:
            await self.session.paged(take, before=event.before, after=after, limit=event.limit)
        finally:
            output.fetched()

    def on_search_hits_open(self, event: SearchHits.Open) -> None:
        self.spawn(self._open_hit(event.chat, event.message_id))

    async def _open_hit(self, chat: str, message_id: int) -> None:
        """Open a search hit's chat and bring its message into view: pages of older
        messages are fetched until it is held (at most ``HIT_PAGES`` of them)."""
        await self.session.open(chat)
        output = self.output
        for _ in range(self.HIT_PAGES):
            if await output.reveal(message_id):
                self.status(f"message #{message_id} of '{chat}'")
                return
            first = output.first_id()
            if first is None or first <= message_id or not output.above:
                break
            asked = ChatLog.NeedMessages("older", before=first)

            async def take(page: api.MessagesPage, asked: ChatLog.NeedMessages = asked) -> None:
                await output.take(asked, page.messages, page.chat.messages)

            await self.session.paged(take, before=first, limit=asked.limit)
        self.status(f"message #{message_id} is further up: Home goes to the first message")

    HIT_PAGES: ClassVar[int] = 30
    """Pages of older messages fetched at most to reach a search hit."""

    async def use_client(self, client: Client) -> None:
        """Talk through ``client`` (another profile's, connected) from now on."""
        await self.session.use_client(client)

    # ---- input and keys -------------------------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if isinstance(event.input, SearchBar):
            self._search(event.value)
            return
        self.prompt_input.value = ""
        self.submit(event.value)

    def on_prompt_input_candidates(self, event: PromptInput.Candidates) -> None:
        shown = "  ".join(event.candidates[:30])
        more = f"  … {len(event.candidates) - 30} more" if len(event.candidates) > 30 else ""
        self.status(shown + more if shown else "nothing to complete")

    def on_prompt_input_pasted_lines(self, event: PromptInput.PastedLines) -> None:
        self.set_multiline(True, event.text)

    def on_chat_log_search_asked(self, event: ChatLog.SearchAsked) -> None:
        self.query_one(SearchBar).open()

    def on_search_bar_closed(self, event: SearchBar.Closed) -> None:
        self.output.focus()

    def _search(self, query: str) -> None:
        self.query_one(SearchBar).close()
        self.output.focus()
        if query:
            self.output.search(query)

    def on_prompt_area_submitted(self, event: PromptArea.Submitted) -> None:
        self.prompt_area.clear()
        self.submit(event.text)

    def submit(self, line: str) -> None:
        """Send ``line`` as a message, or run it as a command if it starts with ``/``."""
        if not line.strip():
            return
        self.prompt_input.remember(line)
        if line.startswith("/") and not line.startswith("//"):
            self.spawn(run_line(self.session, self, line))
        else:
            self.spawn(self._send(line[1:] if line.startswith("//") else line, line))

    async def _send(self, text: str, typed: str) -> None:
        """Send a message; one the server never got goes back into the empty input, so
        nothing typed is lost."""
        try:
            await self.session.send(text)
        except ServerUnavailableError:
            if not (self.prompt_input.value or self.prompt_area.text):  # nothing new typed
                if "\n" in typed:
                    self.set_multiline(True, typed)
                else:
                    self.prompt_input.value = typed
            self.status("not sent: the server does not answer (it is back in the input)", "error")
            self.session.lost(ServerUnavailableError("no answer"))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.server_commands, self.keys))

    def action_chats(self) -> None:
        if isinstance(self.screen, ChatPicker):
            return

        def open_chat(name: str | None) -> None:
            if name:
                self.spawn(self.session.open(name), group="open", exclusive=True)

        self.push_screen(ChatPicker(self.session), open_chat)

    def action_models(self) -> None:
        if isinstance(self.screen, ModelPicker):
            return

        def use(choice: tuple[str, str] | None) -> None:
            if choice is not None:
                self.spawn(self._use(*choice))

        self.push_screen(ModelPicker(self.session), use)

    async def _use(self, provider: str, model: str) -> None:
        await self.session.use(provider=provider, model=model)
        state = self.session.state
        self.status(f"this chat now uses {state.provider}:{state.model}")

    def action_rag_search(self) -> None:
        """Search the documents for what the input holds, and show the hits; the input
        is left as it was (to send, edit, or search again)."""
        if len(self.screen_stack) > 1:  # a picker, the help, a question: not for them
            return
        query = (self.prompt_area.text if self.multiline else self.prompt_input.value).strip()
        if not query:
            self.status("type what to search your documents for, then Ctrl-v")
            return
        self.spawn(self._rag_search(query), group="rag", exclusive=True)

    async def _rag_search(self, query: str) -> None:
        from chatthy.client.rag import format_hits, search_request

        call = search_request(query)
        self.status("searching the documents…", "busy")
        hits = await self.session.rag_search(call)
        self.status(f"{len(hits)} hit(s): /rag ws N adds hit N to the workspace")
        await self.output.add_notice(format_hits(call.query, hits))
        self.output.scroll_end(animate=False)

    def _chats_changed(self) -> None:
        if isinstance(self.screen, ChatPicker):
            self.screen.reload()

    def _replied(self, chat: str, status: str) -> None:
        """A reply ended in a chat not on screen: say so, and ring (or notify)."""
        text = replied_line(chat, status)
        self.status(text)
        if self.notify_by == "off":
            return
        notifier = shutil.which("notify-send") if self.notify_by == "desktop" else None
        if notifier is None:
            self.bell()
        else:
            self.run_worker(_desktop(notifier, text), group="notify")

    def action_cancel(self) -> None:
        if self.session.live is None:
            self.status("nothing to cancel (Ctrl-q quits)")
            return
        self.spawn(self._cancel())

    async def _cancel(self) -> None:
        if await self.session.cancel():
            self.status("cancelling…", "busy")

    def action_reload(self) -> None:
        self.refresh(layout=True)
        self.spawn(self.session.reload())

    def action_toggle_focus(self) -> None:
        editor: Widget = self.prompt_area if self.multiline else self.prompt_input
        target = editor if self.output.has_focus else self.output
        target.focus()

    def action_toggle_multiline(self) -> None:
        self.set_multiline(not self.multiline)

    def set_multiline(self, on: bool, text: str | None = None) -> None:
        """Switch between the one-line and the multi-line input, keeping the text."""
        line, area = self.prompt_input, self.prompt_area
        if text is None:
            text = line.value if on else area.text
        line.display = not on
        area.set_class(on, "-active")
        if on:
            area.load_text(text)
            area.move_cursor(area.document.end)
            area.focus()
        else:
            line.value = text.replace("\n", " ")
            line.cursor_position = len(line.value)
            line.focus()

    def use_theme(self, name: str) -> None:
        """Show the app in Textual theme ``name``.

        Raises:
            ArgumentError: Textual has no theme of that name.
        """
        if name not in self.available_themes:
            raise ArgumentError(f"unknown theme '{name}' (/theme lists them)")
        self.theme = name

    def copy_to_clipboard(self, text: str) -> None:
        """Copy by OSC 52 (through the terminal), and to the system clipboard too where
        there is one; a failure there is only told on the status line."""
        super().copy_to_clipboard(text)
        if self.clipboard_command is not None:
            command = self.clipboard_command
            self.run_worker(self._copy_to_system(text, command), group="clipboard")

    async def _copy_to_system(self, text: str, command: list[str]) -> None:
        try:
            await copy_to_system(text, command)
        except ChatthyError as exc:
            self.status(f"copied by OSC 52 only: {exc.message}", "error")

    def on_chat_log_copied(self, event: ChatLog.Copied) -> None:
        if event.size:
            self.status(f"copied the {event.what} ({event.size} characters)")
        else:
            self.status(f"no {event.what} to copy")

    def on_chat_log_said(self, event: ChatLog.Said) -> None:
        self.status(event.text)


async def _desktop(notifier: str, text: str) -> None:
    """A desktop notification; one that fails is not worth a word."""
    with contextlib.suppress(OSError):
        process = await asyncio.create_subprocess_exec(
            notifier,
            "chatthy",
            text,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await process.wait()


def run_tui(
    settings: Settings, chat: str, *, provider: str | None = None, prompt: str | None = None
) -> int:
    """Run the full-screen client until the user quits; return the exit status.

    Raises:
        ChatthyError: the server refused the profile's key (after the screen is gone).
    """
    app = tui_app(settings, chat, provider=provider, prompt=prompt)
    app.run()
    if app.failure:
        raise AuthError(app.failure)
    return app.return_code or 0


def tui_app(
    settings: Settings, chat: str, *, provider: str | None = None, prompt: str | None = None
) -> ChatthyApp:
    """The full-screen client for ``settings`` (its client not connected yet)."""
    from chatthy.client.commands import connect

    app = ChatthyApp(
        connect(settings),
        chat,
        provider=provider,
        prompt=prompt,
        theme=settings.theme,
        keys=settings.keys,
        notify=settings.notify,
    )
    app.notices = list(settings.notices)
    return app
