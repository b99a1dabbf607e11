"""The Tk window's dialogs: a text to edit, a list to choose from (with a filter), a
tool call to approve, the workspace as a checklist, a text to read. Each is a Toplevel
that does not block the window's loop: the ones that give an answer are awaited
(:meth:`result`), resolved by their buttons or keys."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import tkinter as tk
from collections.abc import Callable
from tkinter import ttk
from typing import TYPE_CHECKING, Any

from chatthy.client.tk.markdown import Palette

if TYPE_CHECKING:
    from chatthy.client.session import Session
    from chatthy.wire import api

__all__ = [
    "ApprovalDialog",
    "TextDialog",
    "WorkspaceDialog",
    "ask_line",
    "choose",
    "show_text",
]


class _Dialog:
    """A Toplevel over ``parent`` whose answer is a future."""

    def __init__(self, parent: tk.Misc, title: str) -> None:
        self.window = tk.Toplevel(parent)
        self.window.title(title)
        self.window.transient(parent.winfo_toplevel())
        self.window.protocol("WM_DELETE_WINDOW", lambda: self.answer(None))
        self.window.bind("<Escape>", self._escape)
        self.done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def _escape(self, _event: Any) -> str:
        """Escape closes the dialog, and only that (not the reply streaming behind it)."""
        self.answer(None)
        return "break"

    def answer(self, value: Any) -> None:
        if not self.done.done():
            self.done.set_result(value)
        self.window.destroy()

    async def result(self) -> Any:
        return await self.done


class TextDialog(_Dialog):
    """``text`` to edit; Ctrl-Enter (or OK) gives it, Escape gives None."""

    def __init__(self, parent: tk.Misc, title: str, text: str, palette: Palette) -> None:
        super().__init__(parent, title)
        self.text = tk.Text(
            self.window,
            width=80,
            height=16,
            wrap="word",
            undo=True,
            background=palette.code_background,
            foreground=palette.foreground,
            insertbackground=palette.foreground,
        )
        self.text.insert("1.0", text)
        self.text.pack(fill="both", expand=True, padx=6, pady=6)
        row = ttk.Frame(self.window)
        row.pack(fill="x", padx=6, pady=(0, 6))
        ttk.Button(row, text="OK (Ctrl-Enter)", command=self._ok).pack(side="right")
        ttk.Button(row, text="Cancel", command=lambda: self.answer(None)).pack(side="right")
        self.text.bind("<Control-Return>", lambda _e: self._ok())
        self.text.focus_set()

    def _ok(self) -> str:
        self.answer(self.text.get("1.0", "end-1c"))
        return "break"

    async def result(self) -> str | None:
        answer = await self.done
        return answer if isinstance(answer, str) else None


class _Choice(_Dialog):
    def __init__(self, parent: tk.Misc, title: str, rows: list[str], current: str) -> None:
        super().__init__(parent, title)
        self.rows = rows
        self.filter = ttk.Entry(self.window)
        self.filter.pack(fill="x", padx=6, pady=6)
        self.list = tk.Listbox(self.window, width=60, height=16, exportselection=False)
        self.list.pack(fill="both", expand=True, padx=6, pady=(0, 6))
        self.shown: list[int] = []
        self._fill()
        if current in rows:
            at = rows.index(current)
            self.list.selection_clear(0, "end")
            self.list.selection_set(at)
            self.list.see(at)
        self.filter.bind("<KeyRelease>", lambda _e: self._fill())
        self.filter.bind("<Return>", lambda _e: self._ok())
        self.list.bind("<Return>", lambda _e: self._ok())
        self.list.bind("<Double-Button-1>", lambda _e: self._ok())
        self.filter.focus_set()

    def _fill(self) -> None:
        wanted = self.filter.get().strip().lower()
        self.shown = [i for i, row in enumerate(self.rows) if wanted in row.lower()]
        self.list.delete(0, "end")
        for index in self.shown:
            self.list.insert("end", self.rows[index])
        if self.shown:
            self.list.selection_set(0)

    def _ok(self) -> None:
        chosen = self.list.curselection()
        if chosen:
            self.answer(self.shown[chosen[0]])


class _Line(_Dialog):
    def __init__(self, parent: tk.Misc, title: str, said: str, value: str, button: str) -> None:
        super().__init__(parent, title)
        ttk.Label(self.window, text=said, padding=(8, 8, 8, 4)).pack(anchor="w")
        self.entry = ttk.Entry(self.window, width=48)
        self.entry.insert(0, value)
        self.entry.select_range(0, "end")
        self.entry.pack(fill="x", padx=8)
        row = ttk.Frame(self.window, padding=8)
        row.pack(fill="x")
        ttk.Button(row, text=button, command=self._ok).pack(side="right")
        ttk.Button(row, text="Cancel", command=lambda: self.answer(None)).pack(side="right")
        self.entry.bind("<Return>", lambda _e: self._ok())
        self.entry.focus_set()

    def _ok(self) -> None:
        value = self.entry.get().strip()
        if value:
            self.answer(value)


async def ask_line(
    parent: tk.Misc, title: str, said: str, value: str = "", *, button: str = "OK"
) -> str | None:
    """One line from the user (``value`` to begin with), or None: a dialog that, unlike
    Tk's own, lets the window go on (a reply streaming keeps streaming)."""
    answer = await _Line(parent, title, said, value, button).result()
    return answer if isinstance(answer, str) else None


async def choose(parent: tk.Misc, title: str, rows: list[str], current: str = "") -> int | None:
    """The index of the row the user chose (typing filters; ``current``, when one of
    them, chosen to begin with), or None."""
    answer = await _Choice(parent, title, rows, current).result()
    return answer if isinstance(answer, int) else None


class ApprovalDialog:
    """A tool call that waits for the user: yes, no or always; it goes away by itself
    when the call no longer waits (``settled``: answered elsewhere, run out)."""

    def __init__(
        self,
        parent: tk.Misc,
        question: str,
        settled: asyncio.Future[str],
        answered: Callable[[str], None],
    ) -> None:
        self.window = tk.Toplevel(parent)
        self.window.title("Run this tool?")
        self.window.transient(parent.winfo_toplevel())
        ttk.Label(self.window, text=question, padding=12, wraplength=560).pack()
        row = ttk.Frame(self.window, padding=(12, 0, 12, 12))
        row.pack()
        for word in ("yes", "no", "always"):
            button = ttk.Button(row, text=word, command=functools.partial(self._say, word))
            button.pack(side="left", padx=4)
        self.window.bind("y", lambda _e: self._say("yes"))
        self.window.bind("n", lambda _e: self._say("no"))
        self.window.bind("a", lambda _e: self._say("always"))
        self.window.protocol("WM_DELETE_WINDOW", lambda: self._say("no"))
        self.answered = answered
        settled.add_done_callback(lambda _f: self._close())
        self.window.focus_force()

    def _say(self, word: str) -> None:
        self.answered(word)
        self._close()

    def _close(self) -> None:
        with contextlib.suppress(tk.TclError):  # gone already
            self.window.destroy()


class WorkspaceDialog(_Dialog):
    """The workspace as a checklist: a ticked file goes with every message, an unticked
    one is benched (kept, not sent); ``/ws add`` and ``/ws drop`` add and remove."""

    def __init__(
        self,
        parent: tk.Misc,
        session: Session,
        files: list[api.WorkspaceFile],
        palette: Palette,
    ) -> None:
        super().__init__(parent, "Workspace")
        self.session = session
        self.pending: set[asyncio.Future[Any]] = set()
        frame = ttk.Frame(self.window, padding=8)
        frame.pack(fill="both", expand=True)
        if not files:
            ttk.Label(frame, text="the workspace is empty (/ws add PATH adds files)").pack()
        self.ticks: dict[str, tk.BooleanVar] = {}
        for file in files:
            ticked = tk.BooleanVar(self.window, value=not file.benched)
            self.ticks[file.name] = ticked
            line = f"{file.name}  ({file.tokens:,} tokens, {file.source})"
            box = ttk.Checkbutton(
                frame,
                text=line,
                variable=ticked,
                command=functools.partial(self._toggle, file.name),
            )
            box.pack(anchor="w")
        self.problem = ttk.Label(frame, foreground=palette.error)
        self.problem.pack(anchor="w")
        ttk.Button(frame, text="Close", command=lambda: self.answer(None)).pack(pady=(8, 0))

    def _toggle(self, name: str) -> None:
        from chatthy.wire import api

        send = self.ticks[name].get()
        call = api.WsRestore(name=name) if send else api.WsBench(name=name)
        task = asyncio.ensure_future(self.session.client.rpc(call))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)
        task.add_done_callback(functools.partial(self._done, name, send))

    def _done(self, name: str, send: bool, task: asyncio.Future[Any]) -> None:
        """A change the server refused: the tick says what is so, the line says why."""
        if task.cancelled() or task.exception() is None:
            return
        self.ticks[name].set(not send)
        with contextlib.suppress(tk.TclError):
            self.problem.configure(text=f"{name}: {task.exception()}")


def show_text(parent: tk.Misc, title: str, text: str, palette: Palette) -> None:
    """A window to read ``text`` in (the help)."""
    window = tk.Toplevel(parent)
    window.title(title)
    body = tk.Text(
        window,
        width=100,
        height=36,
        wrap="none",
        background=palette.background,
        foreground=palette.foreground,
    )
    body.insert("1.0", text)
    body.configure(state="disabled")
    body.pack(fill="both", expand=True)
    window.bind("<Escape>", lambda _e: window.destroy())
    body.focus_set()
