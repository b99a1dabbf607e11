"""The Tk window: ``chatthy tk``, on the same client session and command table as the
other front ends (it renders and binds keys; what happens is theirs).

Tk and asyncio share one thread: the window's loop is an asyncio task that lets Tk
handle what is pending (``update``) about 120 times a second and draws what the
streaming replies got since the last frame, so that a reply of hundreds of pieces a
second costs a frame's work, not a redraw a piece. Tk calls back into the app from
inside that task, where the app starts coroutines (a command, a message sent) as tasks;
each one's failure is one line on the status bar.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import subprocess
import sys
import tkinter as tk
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from tkinter import simpledialog, ttk
from typing import Any

from chatthy.client.command_table import complete, help_lines, run_line
from chatthy.client.core import Client
from chatthy.client.image_view import ImageRef
from chatthy.client.session import ChatState, ReplySink, Session, replied_line
from chatthy.client.tk.conversation import Conversation, LiveReply
from chatthy.client.tk.markdown import DARK, LIGHT, Palette
from chatthy.client.tools import ApprovalRequest, ToolCallInfo, ToolResultInfo, approval_question
from chatthy.errors import (
    AuthError,
    ChatthyError,
    DeniedError,
    ServerUnavailableError,
    SignatureError,
)
from chatthy.wire import api

__all__ = ["KEYS", "TkApp", "system_theme"]

FRAME = 1 / 120
"""Seconds between two of the window's frames (Tk's events handled, replies drawn)."""

KEYS = (
    ("Enter", "send the message (or run the /command)"),
    ("Shift-Enter", "a new line in the message"),
    ("Tab", "complete a /command, a chat, a file …"),
    ("Escape", "cancel the reply streaming"),
    ("Ctrl-n", "a new chat"),
    ("Ctrl-k", "find a chat (the filter above the list)"),
    ("Ctrl-p", "choose the provider and model"),
    ("Ctrl-o", "choose the personality"),
    ("Ctrl-w", "the workspace (a checklist)"),
    ("Ctrl-r", "regenerate the last reply"),
    ("Ctrl-t", "light or dark"),
    ("F1", "this help"),
    ("Ctrl-q", "quit"),
    ("right click", "a message's menu: edit, regenerate, fork, copy"),
)
"""The window's keys, as its help lists them."""


def system_theme(env: dict[str, str] | None = None) -> str:
    """``dark`` or ``light``: what the desktop says where Tk cannot (GNOME's colour
    scheme, GTK_THEME, macOS's appearance), else light."""
    env = dict(os.environ) if env is None else env
    if "dark" in env.get("GTK_THEME", "").lower():
        return "dark"
    probes = []
    if sys.platform == "darwin":
        probes.append(["defaults", "read", "-g", "AppleInterfaceStyle"])
    elif shutil.which("gsettings"):
        probes.append(["gsettings", "get", "org.gnome.desktop.interface", "color-scheme"])
    for probe in probes:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            said = subprocess.run(probe, capture_output=True, text=True, timeout=1).stdout
            if "dark" in said.lower():
                return "dark"
    return "light"


def _only(action: Callable[[Any], object], event: Any) -> str:
    """Run a window key's ``action``; nothing else of the key (``break``)."""
    action(event)
    return "break"


class _Sink:
    """One streaming reply as the session's :class:`ReplySink`."""

    def __init__(self, app: TkApp, reply: LiveReply) -> None:
        self.app = app
        self.reply = reply

    async def text(self, text: str) -> None:
        self.app.conversation.text_in(self.reply, text)

    async def reasoning(self, text: str) -> None:
        self.app.conversation.reasoning(self.reply, text)

    async def tool_call(self, call: ToolCallInfo) -> None:
        self.app.conversation.tool_call(self.reply, call)

    async def tool_result(self, result: ToolResultInfo) -> None:
        self.app.conversation.tool_result(self.reply, result)

    async def approval(self, request: ApprovalRequest) -> None:
        self.app.ask_approval(request)

    async def end(self, status: str, error: str, message_id: int | None) -> None:
        self.app.conversation.end(self.reply, status, error, message_id)


class TkApp:
    """One window, one session, one open chat."""

    kind = "tk"

    def __init__(
        self,
        client: Client,
        chat: str = "default",
        *,
        provider: str | None = None,
        prompt: str | None = None,
        theme: str = "system",
        reconnect: Callable[[str], Awaitable[Client | None]] | None = None,
    ) -> None:
        self.session = Session(client, self, chat, provider=provider, prompt=prompt, approve="ask")
        self.session.on_replied = self._replied
        self.session.on_chats_changed = self._chats_changed
        self.theme_name = system_theme() if theme not in ("light", "dark") else theme
        self.reconnect = reconnect
        """Asks for the passphrase again when the server refuses it: a coroutine
        function giving a new connected client, or None (the window closes)."""
        self.closed = False
        self.failure = ""
        self.frames = 0
        self.pointed: int | None = None
        """The message a menu was opened on (``/fork`` forks up to it)."""
        self._tasks: set[asyncio.Task[None]] = set()
        self.chat_names: list[str] = []
        self.root = tk.Tk(className="chatthy")
        self.root.title("chatthy")
        self.root.geometry("1100x760")
        self.root.protocol("WM_DELETE_WINDOW", self.quit)
        self._build()
        self.conversation = Conversation(
            self.output,
            self.palette,
            on_copy=self.copy,
            fetch=self.session.fetch_image,
        )
        self.output.tag_bind("older", "<Button-1>", lambda _e: self.spawn(self.session.older()))
        self._apply_theme()

    # ---- the window -----------------------------------------------------------------

    @property
    def palette(self) -> Palette:
        return DARK if self.theme_name == "dark" else LIGHT

    def _build(self) -> None:
        root = self.root
        panes = ttk.PanedWindow(root, orient="horizontal")
        panes.pack(fill="both", expand=True)

        side = ttk.Frame(panes, padding=4)
        self.filter = ttk.Entry(side)
        self.filter.pack(fill="x")
        self.filter.bind("<KeyRelease>", lambda _e: self._fill_chats())
        self.filter.bind("<Return>", lambda _e: self._open_selected())
        self.chat_list = tk.Listbox(side, activestyle="dotbox", exportselection=False, width=28)
        self.chat_list.pack(fill="both", expand=True, pady=(4, 4))
        self.chat_list.bind("<Double-Button-1>", lambda _e: self._open_selected())
        self.chat_list.bind("<Return>", lambda _e: self._open_selected())
        self.chat_list.bind("<Button-3>", self._chat_menu)
        buttons = ttk.Frame(side)
        buttons.pack(fill="x")
        ttk.Button(buttons, text="New", command=self.new_chat).pack(side="left")
        ttk.Button(buttons, text="Rename", command=self.rename_chat).pack(side="left")
        ttk.Button(buttons, text="Delete", command=self.delete_chat).pack(side="left")
        panes.add(side, weight=0)

        main = ttk.Frame(panes, padding=(4, 4, 4, 0))
        self.title = ttk.Label(main, anchor="w")
        self.title.pack(fill="x")
        body = ttk.Frame(main)
        body.pack(fill="both", expand=True, pady=(4, 4))
        self.output = tk.Text(body, padx=10, pady=6, borderwidth=0, highlightthickness=0)
        bar = ttk.Scrollbar(body, command=self.output.yview)
        self.output.configure(yscrollcommand=bar.set)
        bar.pack(side="right", fill="y")
        self.output.pack(side="left", fill="both", expand=True)
        self.output.bind("<Button-3>", self._message_menu)
        self.output.bind("<Control-c>", lambda _e: self._copy_selection())

        entry = ttk.Frame(main)
        entry.pack(fill="x")
        self.input = tk.Text(entry, height=4, wrap="word", undo=True, padx=6, pady=4)
        self.input.pack(side="left", fill="x", expand=True)
        self.input.bind("<Return>", self._on_return)
        self.input.bind("<Shift-Return>", lambda _e: None)  # Tk's own: a new line
        self.input.bind("<KP_Enter>", self._on_return)
        self.input.bind("<Tab>", self._on_tab)
        actions = ttk.Frame(entry)
        actions.pack(side="right", fill="y", padx=(4, 0))
        ttk.Button(actions, text="Send", command=self.submit).pack(fill="x")
        self.cancel_button = ttk.Button(actions, text="Cancel", command=self.cancel)
        self.cancel_button.pack(fill="x", pady=(4, 0))
        self.status_bar = ttk.Label(main, anchor="w", padding=(2, 2))
        self.status_bar.pack(fill="x")
        panes.add(main, weight=1)

        keys = {
            "<Escape>": lambda _e: self.cancel(),
            "<Control-n>": lambda _e: self.new_chat(),
            "<Control-k>": lambda _e: self.filter.focus_set(),
            "<Control-p>": lambda _e: self.pick_model(),
            "<Control-o>": lambda _e: self.pick_personality(),
            "<Control-w>": lambda _e: self.show_workspace(),
            "<Control-r>": lambda _e: self.run("/regenerate"),
            "<Control-t>": lambda _e: self.toggle_theme(),
            "<F1>": lambda _e: self.show_keys(),
            "<Control-q>": lambda _e: self.quit(),
        }
        for key, action in keys.items():
            # on each widget that takes keys too, where Tk's own bindings of the key (a
            # Text's Ctrl-k deletes to the line's end, Ctrl-o opens a line …) would run
            # first: the window's key wins, and the text typed is left alone
            for widget in (root, self.input, self.output, self.filter, self.chat_list):
                widget.bind(key, functools.partial(_only, action))
        self._menus()

    def _menus(self) -> None:
        bar = tk.Menu(self.root)
        chat = tk.Menu(bar, tearoff=False)
        chat.add_command(label="New…", accelerator="Ctrl-N", command=self.new_chat)
        chat.add_command(label="Rename…", command=self.rename_chat)
        chat.add_command(label="Delete…", command=self.delete_chat)
        chat.add_separator()
        chat.add_command(
            label="Regenerate", accelerator="Ctrl-R", command=lambda: self.run("/regenerate")
        )
        chat.add_command(label="Undo the last turn", command=lambda: self.run("/undo"))
        chat.add_separator()
        chat.add_command(label="Quit", accelerator="Ctrl-Q", command=self.quit)
        bar.add_cascade(label="Chat", menu=chat)
        model = tk.Menu(bar, tearoff=False)
        model.add_command(
            label="Provider and model…", accelerator="Ctrl-P", command=self.pick_model
        )
        model.add_command(label="Personality…", accelerator="Ctrl-O", command=self.pick_personality)
        model.add_command(label="Workspace…", accelerator="Ctrl-W", command=self.show_workspace)
        bar.add_cascade(label="Model", menu=model)
        view = tk.Menu(bar, tearoff=False)
        view.add_command(label="Light or dark", accelerator="Ctrl-T", command=self.toggle_theme)
        bar.add_cascade(label="View", menu=view)
        helps = tk.Menu(bar, tearoff=False)
        helps.add_command(label="Keys and commands", accelerator="F1", command=self.show_keys)
        bar.add_cascade(label="Help", menu=helps)
        self.root.configure(menu=bar)

    def _apply_theme(self) -> None:
        palette = self.palette
        self.conversation.theme(palette)
        style = ttk.Style(self.root)
        with contextlib.suppress(tk.TclError):
            style.theme_use("clam")
        style.configure(".", background=palette.background, foreground=palette.foreground)
        style.configure("TLabel", background=palette.background, foreground=palette.foreground)
        style.configure("TFrame", background=palette.background)
        style.configure(
            "TButton", background=palette.code_background, foreground=palette.foreground
        )
        style.configure(
            "TEntry", fieldbackground=palette.code_background, foreground=palette.foreground
        )
        self.root.configure(background=palette.background)
        for widget in (self.input, self.chat_list):
            widget.configure(
                background=palette.code_background,
                foreground=palette.foreground,
                selectbackground=palette.accent,
            )
        self.input.configure(insertbackground=palette.foreground)

    def toggle_theme(self) -> None:
        self.theme_name = "light" if self.theme_name == "dark" else "dark"
        self._apply_theme()
        self.status(f"{self.theme_name} theme")

    # ---- running ------------------------------------------------------------------

    async def mainloop(self) -> int:
        """Run the window until it is closed; the exit status."""
        self.session.client.connect()
        self.spawn(self._boot())
        self.input.focus_force()
        try:
            while not self.closed:
                try:
                    self.root.update()
                except tk.TclError:  # the window was destroyed under us
                    break
                self.conversation.flush()
                self.frames += 1
                await asyncio.sleep(FRAME)
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.session.close()
            with contextlib.suppress(tk.TclError):
                self.root.destroy()
        return 1 if self.failure else 0

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run ``work`` as a task; a server error ends it as one line on the status bar."""
        task = asyncio.ensure_future(self._guard(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guard(self, work: Coroutine[Any, Any, Any]) -> None:
        try:
            await work
        except ServerUnavailableError as exc:
            self.session.lost(exc)
        except ChatthyError as exc:
            self.status(f"error: {exc.message}", "error")
        except OSError as exc:
            self.status(f"error: {exc.strerror or exc}", "error")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug: one line, and the window goes on
            self.status(f"internal error: {type(exc).__name__}: {exc}", "error")

    async def _boot(self) -> None:
        """Start the session; a refused passphrase is asked again (the window closes
        when it cannot be, or the user gives up)."""
        start: Callable[[], Awaitable[None]] = self.session.start
        while True:
            try:
                await start()
            except (AuthError, SignatureError, DeniedError) as exc:
                client = await self.reconnect(exc.message) if self.reconnect else None
                if client is None:
                    self.failure = exc.message
                    self.quit()
                    return
                start = functools.partial(self.session.use_client, client)
                continue
            break
        await self.refresh_chats()

    def quit(self) -> None:
        self.closed = True

    # ---- the session's view (and what commands ask of a front end) ------------------

    async def show_chat(
        self, state: ChatState, messages: list[api.MessageInfo], older: int
    ) -> None:
        self.conversation.show(messages, older)
        if state.chat not in self.chat_names and not state.new:
            self.spawn(self.refresh_chats())  # (a start that failed, a chat made elsewhere)
        self._select_chat(state.chat)

    async def show_older(self, messages: list[api.MessageInfo], older: int) -> None:
        self.conversation.prepend(messages, older)

    async def add_user(
        self,
        text: str,
        message_id: int | None,
        when: float | None,
        images: Sequence[ImageRef] = (),
    ) -> None:
        self.conversation.add_user(text, message_id, when, images)

    async def add_reply(self, provider: str, model: str, when: float | None) -> ReplySink:
        return _Sink(self, self.conversation.add_reply(provider, model, when))

    async def notice(self, text: str, *, markdown: bool = False, error: bool = False) -> None:
        self.conversation.notice(text, error=error, markdown=markdown)

    def status(self, text: str, kind: str = "") -> None:
        colour = self.palette.error if kind == "error" else self.palette.foreground
        with contextlib.suppress(tk.TclError):
            self.status_bar.configure(text=text, foreground=colour)

    def show_title(self, state: ChatState) -> None:
        with contextlib.suppress(tk.TclError):
            self.title.configure(text=state.render())
            self.root.title(f"chatthy — {state.chat}")

    def connection(self, ok: bool, why: str = "") -> None:
        self.status("connected" if ok else f"server unreachable: {why}", "" if ok else "error")

    async def edit(self, text: str, suffix: str = ".md", *, instead: str = "") -> str | None:
        return await self.ask_text("Edit", text)

    def load_input(self, text: str) -> None:
        self.input.delete("1.0", "end")
        self.input.insert("1.0", text)
        self.input.focus_set()

    async def show_help(self, text: str) -> None:
        self.show_keys()

    def cursor_message(self) -> int | None:
        return self.pointed

    async def show_hits(self, query: str, hits: list[api.SearchHit]) -> None:
        lines = [f"{len(hits)} hit(s) for '{query}':"]
        lines += [
            f"  {h.chat} #{h.message_id} {h.role}: {h.snippet.replace('**', '')}" for h in hits
        ]
        self.conversation.notice("\n".join(lines))

    async def workspace(self, files: list[api.WorkspaceFile]) -> None:
        self.spawn(self._workspace(files))  # (not awaited: the command ends, the dialog stays)

    # ---- input ----------------------------------------------------------------------

    def _on_return(self, _event: tk.Event[Any]) -> str:
        self.submit()
        return "break"

    def submit(self, line: str | None = None) -> None:
        """Send what the input holds (or ``line``): a message, or a /command."""
        if line is None:
            line = self.input.get("1.0", "end-1c")
            if not line.strip():
                return
            self.input.delete("1.0", "end")
        if line.startswith("/") and not line.startswith("//"):
            self.spawn(run_line(self.session, self, line))
        else:
            self.spawn(self._send(line[1:] if line.startswith("//") else line, line))

    async def _send(self, text: str, typed: str) -> None:
        """Send a message; one the server never got goes back into the empty input."""
        try:
            await self.session.send(text)
        except ServerUnavailableError:
            if not self.input.get("1.0", "end-1c").strip():
                self.load_input(typed)
            self.status("not sent: the server does not answer (it is back in the input)", "error")
            self.session.lost(ServerUnavailableError("no answer"))

    def run(self, line: str) -> None:
        """Run a /command line (the menus' and keys' way to the command table)."""
        self.spawn(run_line(self.session, self, line))

    def _on_tab(self, _event: tk.Event[Any]) -> str:
        self.spawn(self._complete())
        return "break"

    async def _complete(self) -> None:
        typed = self.input.get("1.0", "insert")
        start, candidates = await complete(self.session, self.kind, typed)
        if len(candidates) == 1:
            self.input.delete(f"1.0 + {start} chars", "insert")
            self.input.insert("insert", candidates[0])
        elif candidates:
            shown = "  ".join(candidates[:30])
            more = f"  … {len(candidates) - 30} more" if len(candidates) > 30 else ""
            self.status(shown + more)
        else:
            self.status("nothing to complete")

    def cancel(self) -> None:
        if self.session.live is None:
            self.status("nothing to cancel")
            return
        self.spawn(self._cancel())

    async def _cancel(self) -> None:
        if await self.session.cancel():
            self.status("cancelling…", "busy")

    def copy(self, text: str) -> None:
        """Put ``text`` on the clipboard (a code block's copy button)."""
        self.root.clipboard_clear()
        self.root.clipboard_append(text)
        self.status(f"copied ({len(text)} characters)")

    def _copy_selection(self) -> str:
        with contextlib.suppress(tk.TclError):
            self.copy(self.output.get("sel.first", "sel.last"))
        return "break"

    # ---- chats ----------------------------------------------------------------------

    async def refresh_chats(self) -> None:
        self.chat_names = [c.name for c in await self.session.chats()]
        self._fill_chats()

    def _fill_chats(self) -> None:
        wanted = self.filter.get().strip().lower()
        shown = [n for n in self.chat_names if wanted in n.lower()]
        self.chat_list.delete(0, "end")
        for name in shown:
            self.chat_list.insert("end", name)
        self._select_chat(self.session.chat)

    def _select_chat(self, name: str) -> None:
        names = self.chat_list.get(0, "end")
        self.chat_list.selection_clear(0, "end")
        if name in names:
            at = names.index(name)
            self.chat_list.selection_set(at)
            self.chat_list.see(at)

    def _selected(self) -> str | None:
        chosen = self.chat_list.curselection()
        return str(self.chat_list.get(chosen[0])) if chosen else None

    def _open_selected(self) -> None:
        name = self._selected()
        if name is None and self.chat_list.size():
            name = str(self.chat_list.get(0))
        if name:
            self.spawn(self.session.open(name))

    def _chats_changed(self) -> None:
        self.spawn(self.refresh_chats())

    def _chat_menu(self, event: tk.Event[Any]) -> None:
        at = self.chat_list.nearest(event.y)
        if at < 0:
            return
        self.chat_list.selection_clear(0, "end")
        self.chat_list.selection_set(at)
        menu = tk.Menu(self.root, tearoff=False)
        menu.add_command(label="Open", command=self._open_selected)
        menu.add_command(label="Rename…", command=self.rename_chat)
        menu.add_command(label="Delete…", command=self.delete_chat)
        menu.tk_popup(event.x_root, event.y_root)

    def new_chat(self) -> None:
        self.spawn(self._new_chat())

    async def _new_chat(self) -> None:
        from chatthy.client.tk.dialogs import ask_line

        name = await ask_line(self.root, "New chat", "Name of the new chat:")
        if name:
            await self.session.open(name)
            self.status(f"chat '{name}': its first message creates it")

    def rename_chat(self) -> None:
        self.spawn(self._rename(self._selected() or self.session.chat))

    async def _rename(self, old: str) -> None:
        from chatthy.client.tk.dialogs import ask_line

        new = await ask_line(self.root, "Rename", f"New name for '{old}':", old)
        if new and new != old:
            await self.session.rename(new, chat=old)
            await self.refresh_chats()
            self.status(f"chat '{old}' renamed to '{new}'")

    def delete_chat(self) -> None:
        self.spawn(self._delete(self._selected() or self.session.chat))

    async def _delete(self, name: str) -> None:
        from chatthy.client.tk.dialogs import ask_line

        said = f"This deletes chat '{name}' and all its messages."
        if await ask_line(self.root, "Delete", said, name, button="Delete") is not None:
            await self.session.destroy(name)
            await self.refresh_chats()
            self.status(f"chat '{name}' deleted")

    def _replied(self, chat: str, status: str) -> None:
        self.status(replied_line(chat, status))
        self.root.bell()

    # ---- a message's menu -----------------------------------------------------------

    def _message_menu(self, event: tk.Event[Any]) -> None:
        index = self.output.index(f"@{event.x},{event.y}")
        message_id = self.conversation.message_at(index)
        if message_id is None:
            return
        self.pointed = message_id
        role = self.conversation.roles.get(message_id, "")
        menu = tk.Menu(self.root, tearoff=False)
        if role == "user":
            menu.add_command(
                label="Edit…", command=functools.partial(self.edit_message, message_id)
            )
        roles = self.conversation.roles
        last_reply = next((i for i in reversed(roles) if roles[i] == "assistant"), None)
        if role == "assistant" and message_id == last_reply:
            menu.add_command(label="Regenerate", command=lambda: self.run("/regenerate"))
        menu.add_command(label="Fork from here", command=lambda: self.run("/fork"))
        menu.add_command(
            label="Copy",
            command=lambda: self.copy(self.conversation.message_text(message_id)),
        )
        menu.tk_popup(event.x_root, event.y_root)

    def edit_message(self, message_id: int) -> None:
        self.spawn(self._edit_message(message_id))

    async def _edit_message(self, message_id: int) -> None:
        text = self.conversation.message_text(message_id)
        text = text.rsplit("\nyou · ", 1)[0]
        edited = await self.ask_text(f"Edit message #{message_id}", text)
        if edited is None or edited == text:
            self.status("message unchanged")
            return
        await self.session.restart("edit", text=edited, message_id=message_id)

    # ---- dialogs --------------------------------------------------------------------

    async def ask_text(self, title: str, text: str) -> str | None:
        """A dialog to edit ``text``; None when cancelled."""
        from chatthy.client.tk.dialogs import TextDialog

        return await TextDialog(self.root, title, text, self.palette).result()

    def ask_approval(self, request: ApprovalRequest) -> None:
        from chatthy.client.tk.dialogs import ApprovalDialog

        def answered(answer: str) -> None:
            self.spawn(self.session.approve(request.call_id, answer))

        ApprovalDialog(self.root, approval_question(request), request.settled, answered)

    def pick_model(self) -> None:
        self.spawn(self._pick_model())

    async def _pick_model(self) -> None:
        from chatthy.client.tk.dialogs import choose

        rows: list[tuple[str, str]] = []
        for info in await self.session.providers(fresh=True):
            for model in info.models or [info.model]:
                rows.append((info.name, model))
        shown = [f"{p}:{m}" for p, m in rows]
        state = self.session.state
        now = f"{state.provider}:{state.model}"
        chosen = await choose(self.root, "Provider and model", shown, now)
        if chosen is not None:
            provider, model = rows[chosen]
            await self.session.use(provider=provider, model=model)
            self.status(f"this chat now uses {provider}:{model}")

    def pick_personality(self) -> None:
        self.spawn(self._pick_personality())

    async def _pick_personality(self) -> None:
        from chatthy.client.tk.dialogs import choose

        names = await self.session.names("prompts")
        chosen = await choose(self.root, "Personality", names, self.session.state.personality)
        if chosen is not None:
            await run_line(self.session, self, f"/prompt {names[chosen]}")

    def show_workspace(self) -> None:
        self.run("/ws")  # the table reads the files and hands them to workspace()

    async def _workspace(self, files: list[api.WorkspaceFile]) -> None:
        from chatthy.client.tk.dialogs import WorkspaceDialog

        await WorkspaceDialog(self.root, self.session, files, self.palette).result()
        await self.session.refresh_workspace()

    def show_keys(self) -> None:
        from chatthy.client.tk.dialogs import show_text

        width = max(len(k) for k, _ in KEYS)
        keys = [f"  {k:<{width}}  {what}" for k, what in KEYS]
        lines = help_lines(self.kind)
        uwidth = max(len(u) for u, _ in lines)
        commands = [f"  {usage:<{uwidth}}  {what}" for usage, what in lines]
        show_text(
            self.root,
            "chatthy — keys and commands",
            "\n".join(["Keys", *keys, "", "Commands", *commands]),
            self.palette,
        )


def ask_passphrase(profile: str, why: str = "", parent: tk.Misc | None = None) -> str | None:
    """The passphrase of ``profile`` from a dialog (hidden as it is typed); None when
    the user gives up."""
    root = parent
    if root is None:
        root = tk.Tk(className="chatthy")
        root.withdraw()
    try:
        said = f"{why}\n\n" if why else ""
        return simpledialog.askstring(
            "chatthy", f"{said}Passphrase for profile '{profile}':", show="•", parent=root
        )
    finally:
        if parent is None:
            root.destroy()


def run_tk(
    server: str | None,
    profile: str | None,
    chat: str,
    *,
    provider: str | None = None,
    prompt: str | None = None,
    theme: str = "system",
) -> int:
    """Run the Tk window until it is closed; the exit status (1 with a line on stderr
    when the settings or the passphrase are refused)."""
    import dataclasses

    from chatthy.client.commands import connect
    from chatthy.client.settings import derive_soon, resolve

    try:
        settings = resolve(server, profile, ask=ask_passphrase)
    except ChatthyError as exc:
        print(f"chatthy: {exc.message}", file=sys.stderr)
        return 1
    derive_soon(settings)

    def client_for(passphrase: str, typed: bool) -> Client:
        chosen = dataclasses.replace(settings, passphrase=passphrase, typed=typed, prompted=False)
        client = connect(chosen)
        if typed:  # a new profile: its passphrase asked again before it is registered

            async def confirm() -> None:
                again = ask_passphrase(chosen.profile, "a new profile here: once more", app.root)
                if again != passphrase:
                    raise AuthError("the passphrases do not match: nothing was registered")

            client.on_new_profile = confirm
        return client

    async def reconnect(why: str) -> Client | None:
        passphrase = ask_passphrase(settings.profile, f"refused: {why}", app.root)
        if not passphrase:
            return None
        client = await asyncio.to_thread(client_for, passphrase, True)
        client.connect()
        return client

    app = TkApp(
        client_for(settings.passphrase, settings.typed),
        chat,
        provider=provider,
        prompt=prompt,
        theme=theme,
        reconnect=reconnect,
    )
    for notice in settings.notices:
        app.status(notice)
    code = asyncio.run(app.mainloop())
    if app.failure:
        print(f"chatthy: {app.failure}", file=sys.stderr)
    return code
