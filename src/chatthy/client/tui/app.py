"""The full-screen client: a Textual App on the shared client core.

Everything that talks to the server runs in workers, each wrapped so that a server error
becomes one line on the status bar. What the output shows is changed under one lock, so
that opening a chat, a reply started here and a reply started by another client never
render the same stream twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Coroutine
from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import Input
from textual.worker import Worker

from chatthy.client.clipboard import copy_command, copy_to_system
from chatthy.client.core import Client, ReplyStream, error_of
from chatthy.client.settings import Settings
from chatthy.client.tui.bars import StatusLine, TitleBar, TitleInfo
from chatthy.client.tui.commands import CLIENT_COMMANDS, run_command
from chatthy.client.tui.find import SearchBar
from chatthy.client.tui.help import HelpScreen
from chatthy.client.tui.output import ChatLog, ReplyView, text_of
from chatthy.client.tui.prompt import PromptArea, PromptInput
from chatthy.client.tui.render import warm_up
from chatthy.client.tui.workspace import WS_SUBCOMMANDS, active_tokens
from chatthy.config import DEFAULT_THEME
from chatthy.errors import ArgumentError, ChatthyError, NotFoundError, ServerUnavailableError
from chatthy.wire import api

__all__ = ["ChatthyApp", "run_tui", "tui_app"]

FIRST_PAGE = 24
"""How many of a chat's newest messages are shown when it is opened: a screenful or more,
so that a chat of thousands opens at once; older ones come when scrolled up to."""


class ChatthyApp(App[int]):
    """One connection, one open chat. ``client`` is connected on mount and closed on exit."""

    TITLE = "chatthy"
    CSS = "Screen { layout: vertical; }"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Help"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("ctrl+c", "cancel", "Cancel reply", priority=True),
        Binding("ctrl+l", "reload", "Refresh"),
        Binding("shift+tab", "toggle_focus", "Output/Input", priority=True),
        Binding("alt+m", "toggle_multiline", "Multi-line", priority=True),
    ]

    PING_INTERVAL: ClassVar[float] = 10.0
    """Seconds between connection checks; the first good one after a failure reopens the
    chat, so that a restarted server's replies are seen again without duplicates."""

    def __init__(
        self,
        client: Client,
        chat: str = "default",
        *,
        provider: str | None = None,
        prompt: str | None = None,
        theme: str = DEFAULT_THEME,
    ) -> None:
        super().__init__()
        self.client = client
        self.wanted_theme = theme
        """The theme asked for (client.toml), applied on mount if Textual knows it."""
        self.clipboard_command: list[str] | None = None
        """The system clipboard's copy command, if there is one (found on mount)."""
        self.chat = chat
        self.info = TitleInfo(profile=client.profile, chat=chat)
        self.models: dict[str, str] = {}
        """Each provider's default model."""
        self.default_provider = "?"
        self.server_commands: dict[str, api.CommandInfo] = {}
        self.live: ReplyStream | None = None
        """The reply streaming in the open chat, if any."""
        self._use = {"provider": provider, "prompt": prompt}
        self.notices: list[str] = []
        """Said on the status line at start: a server's key learned on first contact …"""
        self._booted = False
        self._down = False
        self._claimed: set[str] = set()
        self._view_lock = asyncio.Lock()

    def compose(self) -> ComposeResult:
        yield TitleBar()
        yield ChatLog()
        yield SearchBar()
        yield PromptInput()
        yield PromptArea()
        yield StatusLine()

    @property
    def output(self) -> ChatLog:
        return self.query_one(ChatLog)

    @property
    def status(self) -> StatusLine:
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
        self.client.connect()
        self.prompt_input.commands.set_names(CLIENT_COMMANDS)
        self.prompt_input.commands.subcommands = {"ws": list(WS_SUBCOMMANDS), "prompt": ["edit"]}
        self.prompt_input.use_chat(self.chat)
        self.prompt_input.focus()
        self.show_title()
        if self.wanted_theme in self.available_themes:
            self.theme = self.wanted_theme
        else:
            unknown = f"client.toml: unknown theme '{self.wanted_theme}'"
            self.status.say(f"{unknown}, using {DEFAULT_THEME}", "error")
        for notice in self.notices:
            self.status.say(notice, "error" if notice.startswith("warning") else "")
        self.clipboard_command = copy_command(os.environ, sys.platform)
        self.spawn(self._boot(), group="boot", exclusive=True)
        self.run_worker(self._watch_incoming(), group="incoming")
        self.run_worker(warm_up, thread=True, group="warm-up")
        self.set_interval(self.PING_INTERVAL, self._ping)

    async def on_unmount(self) -> None:
        await self.client.aclose()

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
            self._down = True
            self.status.connected(False, exc.message)
            self.status.say("")
        except ChatthyError as exc:
            await self._tell_error(exc.message)
        except OSError as exc:
            await self._tell_error(str(exc.strerror or exc))

    async def _tell_error(self, message: str) -> None:
        """``message`` on the status line; if the line is too narrow for all of it, the
        whole of it in the output too (a path, a list of names)."""
        self.status.say(f"error: {message}", "error")
        if not self.status.fits():
            with contextlib.suppress(NoMatches):
                await self.output.add_notice(f"error: {message}", error=True)

    def show_title(self) -> None:
        """Show the title bar's figures (none while the app is closing: no bar then)."""
        with contextlib.suppress(NoMatches):
            self.query_one(TitleBar).show(self.info)

    async def _boot(self) -> None:
        """Learn the providers and commands, apply --provider/--prompt, open the chat."""
        providers = await self.client.rpc(api.Providers(models=False))
        self.status.connected(True)
        self.models = {p.name: p.model for p in providers}
        default = next((p.name for p in providers if p.default), None)
        self.default_provider = default or self.info.provider
        self.info.provider = self.default_provider
        commands = await self.client.rpc(api.Commands())
        self.server_commands = {c.name: c for c in commands}
        self.prompt_input.commands.set_names([*CLIENT_COMMANDS, *self.server_commands])
        use = {k: v for k, v in self._use.items() if v}
        if use:
            await self.client.rpc(api.Use(chat=self.chat, **use))
        await self.open_chat(self.chat)
        await self.refresh_workspace()
        self._booted = True
        for notice in self.notices:  # kept in the output once the chat is shown
            await self.output.add_notice(notice, error=notice.startswith("warning"))
        self.notices = []

    async def _ping(self) -> None:
        """Check the connection. The first success after a failed start opens the chat;
        after the connection was lost, it reopens the chat (the socket reconnects by
        itself, but a restarted server knows nothing of what this client watched)."""
        try:
            await asyncio.wait_for(self.client.rpc(api.Status()), 5.0)
        except (ChatthyError, TimeoutError) as exc:
            self._down = True
            self._say_connected(False, getattr(exc, "message", "no answer"))
            return
        if not self._say_connected(True):
            return
        if not self._booted:
            self.spawn(self._boot(), group="boot", exclusive=True)
        elif self._down:
            self._down = False
            self.spawn(self._reopen())

    def _say_connected(self, ok: bool, why: str = "") -> bool:
        """Show the connection's state; False when the app is closing (no status line)."""
        try:
            self.status.connected(ok, why)
        except NoMatches:
            return False
        return True

    async def use_client(self, client: Client) -> None:
        """Talk through ``client`` (another profile's, connected) from now on: close the
        old one, then learn the commands and reopen the chat as a fresh start does."""
        async with self._view_lock:
            self._stop_following()
            self.workers.cancel_group(self, "incoming")
            old, self.client = self.client, client
            await old.aclose()
            self._claimed.clear()
            self._down = False
            self.info = TitleInfo(profile=client.profile, chat=self.chat)
            self.show_title()
        self.run_worker(self._watch_incoming(), group="incoming")
        await self._boot()

    async def _reopen(self) -> None:
        await self.open_chat(self.chat)
        self.status.say("reconnected")

    # ---- the open chat --------------------------------------------------------------

    async def open_chat(self, name: str) -> None:
        """Show chat ``name`` (it need not exist yet) and follow a reply running in it."""
        async with self._view_lock:
            self._stop_following()
            stream = await self.client.attach(name)
            if stream is not None:
                self._claimed.add(stream.id)
            page = await self._page(name)
            running = page.running if page is not None else None
            live = running is not None and stream is not None and running.stream == stream.id
            follow = stream if live else None
            if stream is not None and follow is None:
                self.client.forget_stream(stream.id)
            self.chat = name
            self.prompt_input.use_chat(name)
            view = await self._show_page(name, page, streaming=follow is not None)
        if follow is not None and view is not None:
            self.follow(follow, view)

    async def restart(self, method: str, **args: Any) -> None:
        """Run ``edit``, ``regenerate`` or ``template``: the history changes, so show it
        again, then the new reply as it streams."""
        async with self._view_lock:
            self._stop_following()
            stream, result = await self.client.start(method, self.chat, **args)
            self._claimed.add(stream.id)
            page = await self._page(self.chat)
            view = await self._show_page(self.chat, page, streaming=True)
            for notice in stream.notices:
                await self.output.add_notice(notice)
            self._take_tokens(result)
            self.show_title()
        if view is not None:
            self.follow(stream, view)

    async def _page(self, chat: str, limit: int = FIRST_PAGE) -> api.MessagesPage | None:
        try:
            return await self.client.rpc(api.Messages(chat=chat, limit=limit))
        except NotFoundError:
            return None

    async def _show_page(
        self, name: str, page: api.MessagesPage | None, *, streaming: bool
    ) -> ReplyView | None:
        """Render the page; with ``streaming``, the reply in progress (stored as
        ``streaming``) becomes the view returned, to be filled from its stream."""
        records = page.messages if page is not None else []
        live = next((r for r in reversed(records) if r.status == "streaming"), None)
        shown = [r for r in records if r is not live] if streaming else records
        output = self.output
        older = page.chat.messages - len(records) if page and records else 0
        await output.show(shown, older)
        view = None
        if streaming:
            view = await output.add_reply(
                provider=live.provider if live else "",
                model=live.model if live else "",
                when=live.created if live else None,
                status="streaming",
            )
            output.scroll_end(animate=False)
        self._title_from(name, page)
        return view

    def on_chat_log_need_messages(self, event: ChatLog.NeedMessages) -> None:
        self.spawn(self._fetch_messages(event), group="older", exclusive=True)

    async def _fetch_messages(self, event: ChatLog.NeedMessages) -> None:
        """Fetch the page of the open chat the output asked for, and hand it over."""
        output = self.output
        try:
            async with self._view_lock:
                after = 0 if event.where == "first" else event.after
                page = await self.client.rpc(
                    api.Messages(
                        chat=self.chat, before=event.before, after=after, limit=event.limit
                    )
                )
                await output.take(event, page.messages, page.chat.messages)
        finally:
            output.fetched()

    def _title_from(self, name: str, page: api.MessagesPage | None) -> None:
        info = self.info
        info.chat, info.tokens = name, None
        if page is None:
            info.new = True
            info.personality = self._use.get("prompt") or "default"
            info.model = self.models.get(info.provider, "")
        else:
            chat = page.chat
            info.new = False
            info.personality = chat.personality
            info.provider = chat.provider or self.default_provider
            info.model = chat.model or self.models.get(info.provider, "")
            info.messages = chat.messages
        self.show_title()

    def _take_tokens(self, result: api.Started) -> None:
        """A turn's token figures: what the context holds, of which the workspace."""
        self.info.workspace_tokens = result.workspace_tokens
        self.info.tokens = result.tokens - result.workspace_tokens

    async def refresh_workspace(self) -> None:
        """Count the workspace's active files and the attached ones again for the title
        (after a /ws change)."""
        stored = active_tokens(await self.client.rpc(api.WsList()))
        attached = await asyncio.to_thread(self.client.transient.tokens)
        self.info.workspace_tokens = stored + attached
        self.show_title()

    async def recount_attached(self, before: int) -> None:
        """Move the title's workspace figure by what the attached files hold now less
        ``before`` (what they held before an attach or detach): no server needed."""
        after = await asyncio.to_thread(self.client.transient.tokens)
        self.info.workspace_tokens = max(0, self.info.workspace_tokens + after - before)
        self.show_title()

    async def refresh_title(self) -> None:
        """Read the open chat's record again (after /use, /rename, a first message)."""
        page = await self._page(self.chat, limit=1)
        tokens = self.info.tokens
        self._title_from(self.chat, page)
        self.info.tokens = tokens
        self.show_title()

    # ---- replies --------------------------------------------------------------------

    async def send(self, text: str) -> None:
        stream, result = await self.client.start("chat", self.chat, text=text)
        self._claimed.add(stream.id)
        async with self._view_lock:
            await self.output.add_user(text, result.user_message_id)
            for notice in stream.notices:
                await self.output.add_notice(notice)
            view = await self.output.add_reply(
                provider=self.info.provider, model=self.info.model, status="streaming"
            )
        self.follow(stream, view)
        was_new = self.info.new
        self._take_tokens(result)
        self.info.messages += 2
        if was_new:
            await self.refresh_title()
        self.show_title()

    def follow(self, stream: ReplyStream, view: ReplyView) -> None:
        self.live = stream

        async def follow() -> None:
            await self._follow(stream, view)

        # A function, not a coroutine: a follow cancelled before it starts (a chat
        # opening at once) then leaves no coroutine that was never awaited. (mypy cannot
        # solve textual's WorkType for an async function.)
        self.run_worker(follow, group="follow")  # type: ignore[arg-type]

    async def _follow(self, stream: ReplyStream, view: ReplyView) -> None:
        self.status.say("streaming…", "busy")
        try:
            async for event in stream.events():
                if event.kind == "text":
                    view.add_text(event.text)
                elif event.kind == "reasoning":
                    await view.add_reasoning(event.text)
                elif event.kind == "info" and (dropped := (event.data or {}).get("dropped")):
                    self.status.say(f"{dropped} older message(s) left out to fit the context")
                elif event.kind == "end":
                    await self._ended(view, event.data or {}, error_of(event))
        finally:
            if self.live is stream:
                self.live = None

    async def _ended(self, view: ReplyView, data: dict[str, Any], error: Any) -> None:
        status = data.get("status", "complete")
        if data.get("message_id") is not None:
            view.message_id = data["message_id"]
        await view.finish(status, error.message if error else "")
        if error is not None:
            self.status.say(f"error: {error.message}", "error")
        elif status == "cancelled":
            self.status.say("reply cancelled", "busy")
        elif status == "truncated":
            self.status.say("reply cut off at the token limit", "busy")
        elif status != "complete":
            self.status.say(f"reply {status}", "busy")
        else:
            self.status.say("")

    def _stop_following(self) -> None:
        if self.live is not None:
            self.client.forget_stream(self.live.id)
            self.live = None
        self.workers.cancel_group(self, "follow")

    async def _watch_incoming(self) -> None:
        """Show replies that other clients start in the open chat, with their message."""
        while True:
            stream = await self.client.incoming.get()
            try:
                await self._incoming(stream)
            except ChatthyError as exc:
                await self._tell_error(exc.message)

    async def _incoming(self, stream: ReplyStream) -> None:
        async with self._view_lock:
            if stream.id in self._claimed:
                return
            self._claimed.add(stream.id)
            if stream.chat != self.chat:
                self.client.forget_stream(stream.id)
                return
            page = await self.client.rpc(api.Messages(chat=self.chat, limit=4))
            last = max((w.message_id or 0 for w in self.output.users()), default=0)
            live: api.MessageInfo | None = None
            for record in page.messages:
                if record.role == "user" and record.id > last:
                    await self.output.add_user(text_of(record.content), record.id, record.created)
                elif record.status == "streaming":
                    live = record
            view = await self.output.add_reply(
                provider=live.provider if live else "",
                model=live.model if live else "",
                when=live.created if live else None,
                status="streaming",
            )
            self.info.messages = page.chat.messages
            self.show_title()
        self.follow(stream, view)

    # ---- input and keys -------------------------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if isinstance(event.input, SearchBar):
            self._search(event.value)
            return
        self.prompt_input.value = ""
        self.submit(self.prompt_input.as_line(event.value))

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
            self.spawn(run_command(self, line))
        else:
            self.spawn(self.send(line[1:] if line.startswith("//") else line))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.server_commands))

    def action_cancel(self) -> None:
        if self.live is None:
            self.status.say("nothing to cancel (Ctrl-q quits)")
            return
        self.spawn(self._cancel(self.live.chat))

    async def _cancel(self, chat: str) -> None:
        try:
            await self.client.rpc(api.Cancel(chat=chat))
        except NotFoundError:
            return
        self.status.say("cancelling…", "busy")

    def action_reload(self) -> None:
        self.refresh(layout=True)
        self.spawn(self.open_chat(self.chat))

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
            self.status.say(f"copied by OSC 52 only: {exc.message}", "error")

    def on_chat_log_copied(self, event: ChatLog.Copied) -> None:
        if event.size:
            self.status.say(f"copied the {event.what} ({event.size} characters)")
        else:
            self.status.say(f"no {event.what} to copy")

    def on_chat_log_said(self, event: ChatLog.Said) -> None:
        self.status.say(event.text)


def run_tui(
    settings: Settings, chat: str, *, provider: str | None = None, prompt: str | None = None
) -> int:
    """Run the full-screen client until the user quits; return the exit status."""
    app = tui_app(settings, chat, provider=provider, prompt=prompt)
    app.run()
    return app.return_code or 0


def tui_app(
    settings: Settings, chat: str, *, provider: str | None = None, prompt: str | None = None
) -> ChatthyApp:
    """The full-screen client for ``settings`` (its client not connected yet)."""
    from chatthy.client.commands import connect

    theme = settings.theme
    app = ChatthyApp(connect(settings), chat, provider=provider, prompt=prompt, theme=theme)
    app.notices = list(settings.notices)
    return app
