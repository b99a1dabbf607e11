"""The line client: type to chat, ``/command`` for the rest (the command table's).

``chatthy repl`` opens it, and so do ``chatthy`` and ``chatthy run`` when stdin or stdout
is not a terminal. On a terminal it reads lines with prompt_toolkit: line editing, a
history kept across runs (per profile, in the data dir), completion of commands and
their arguments, Ctrl-C that clears the line or cancels the running reply, and replies
that other clients start in the open chat printed above the prompt as they stream. Off
a terminal (pipes, scripts) it reads stdin line by line and prints plain text.

All it decides is how to read and print: the session (:mod:`chatthy.client.session`)
and the command table (:mod:`chatthy.client.command_table`) do the rest.

On a terminal the prompt is wanted in < 0.3 s, so the start does only what the first
prompt needs: prompt_toolkit is imported (and the prompt made) in a thread while the
session connects and opens the chat; the command table, the workspace code and
``$EDITOR`` support are imported at their first use (~15 ms, once); and the cyclic
garbage collector waits until the prompt is drawn (the start makes many objects and
frees few: the ~30 collections it would run, ~5 ms, find next to nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import shutil
import signal
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import IO, TYPE_CHECKING, Any

from chatthy.client.commands import TRUNCATED, connect
from chatthy.client.history import history_path
from chatthy.client.image_view import (
    MAX_COLUMNS,
    Fetch,
    ImageRef,
    as_png,
    image_bytes,
    image_parts,
    iterm_escape,
    kitty_escape,
    label,
    terminal_graphics,
    without_images,
)
from chatthy.client.session import ChatState, ReplySink, Session, replied_line, text_of
from chatthy.client.settings import Settings
from chatthy.client.tools import (
    ApprovalRequest,
    ToolCallInfo,
    ToolResultInfo,
    approval_question,
    call_line,
    call_text,
)
from chatthy.errors import ArgumentError, ChatthyError
from chatthy.wire import api

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import CompleteEvent, Completion
    from prompt_toolkit.document import Document

__all__ = ["LineFront", "repl", "run_once"]

KEYS = """\
Keys: Enter sends · Alt-Enter (or Esc Enter) a new line · Tab completes · Up/Down and
Ctrl-r walk the history · Ctrl-C clears the line, or cancels a reply while it streams ·
Ctrl-D (on an empty line) leaves. A line starting with // is sent as a message."""


class _Sink:
    """One reply printed as it streams: the answer on stdout, reasoning dimmed on
    stderr (on a terminal), each tool call a line once its result came, how it ended
    on stderr."""

    def __init__(self, front: LineFront) -> None:
        self.front = front
        self.calls: dict[str, ToolCallInfo] = {}
        self.mid_line = False
        """The answer's last line is not finished (a tool's line starts a new one)."""
        self.after_tool = False
        """The last thing printed was a tool's line (the reply's end adds no blank one)."""
        self.in_reasoning = False
        self.held = ""
        """Text of an unfinished line, held while the prompt is shown (a reply another
        client started): lines printed above a prompt must be whole."""

    async def text(self, text: str) -> None:
        front = self.front
        if self.in_reasoning:
            front.err.write("\x1b[0m\n" if front.colour else "\n")
            self.in_reasoning = False
        if front.prompting:
            self.held += text
            whole, newline, self.held = self.held.rpartition("\n")
            if not newline:
                self.held = whole + self.held
                return
            text = whole + newline
        elif self.held:
            text, self.held = self.held + text, ""
        front.out.write(text)
        front.out.flush()
        self.mid_line = bool(text) and not text.endswith("\n")
        self.after_tool = False

    def _new_line(self) -> None:
        """Before a line of the client's: the answer's unfinished line ends (a held one,
        above a prompt, is said first)."""
        front = self.front
        if self.in_reasoning:
            front.err.write("\x1b[0m\n" if front.colour else "\n")
            self.in_reasoning = False
        if self.held:
            front.out.write(self.held + "\n")
            self.held = ""
        elif self.mid_line:
            front.out.write("\n")
        self.mid_line = False
        self.after_tool = True
        front.out.flush()

    async def tool_call(self, call: ToolCallInfo) -> None:
        self.calls[call.id] = call

    async def tool_result(self, result: ToolResultInfo) -> None:
        self._new_line()
        call = self.calls.pop(result.call_id, None) or ToolCallInfo(result.call_id, result.name)
        refused = result.is_error and result.content.startswith("not run:")
        if refused:
            why = result.content.removeprefix("not run:").strip()
            line = f"⚙ {call_text(call.name, call.arguments)} → refused: {why}"
        else:
            line = call_line(call, result)
        self.front.line(line)
        await self.front.show_images(list(result.images), "  ")

    async def approval(self, request: ApprovalRequest) -> None:
        self._new_line()
        self.front.ask_approval(request)

    async def reasoning(self, text: str) -> None:
        front = self.front
        if not self.in_reasoning and front.colour:
            front.err.write("\x1b[2m")
        self.in_reasoning = True
        front.err.write(text)
        front.err.flush()

    async def end(self, status: str, error: str, message_id: int | None) -> None:
        front = self.front
        if self.in_reasoning and front.colour:
            front.err.write("\x1b[0m")
        if self.held or not self.after_tool:
            front.out.write(self.held + "\n")
        self.held = ""
        front.out.flush()
        if error:
            front.line(f"error: {error}")
        elif status == "truncated":
            front.line(f"[{TRUNCATED}]")
        elif status == "cancelled":
            front.line("[reply cancelled]")
        elif status != "complete":
            front.line(f"[reply {status}]")


class LineFront:
    """The line client's :class:`~chatthy.client.command_table.Front`: plain text on
    stdout (replies, results) and stderr (notices, errors)."""

    kind = "line"

    def __init__(
        self, out: IO[str] | None = None, err: IO[str] | None = None, *, terminal: bool
    ) -> None:
        self._out = out
        self._err = err
        self.prompting = False
        """The prompt is on screen (what prints goes above it, whole lines only)."""
        self.terminal = terminal
        self.colour = terminal and self.err.isatty()
        self.leaving = False
        self.in_command = False
        self.next_input = ""
        self._up: bool | None = None
        self._shown = ""
        self.holding = False
        self._held: tuple[ChatState, list[api.MessageInfo]] | None = None
        self.quiet = False
        """One command and out (``chatthy /NAME …``): no word about the chat opened."""
        self.session: Session | None = None
        self.asker: Callable[[str], Awaitable[str]] | None = None
        """Reads one answer on the terminal (a prompt of its own, not the chat's line):
        set while the line client runs on a terminal."""
        self._asking: set[asyncio.Task[None]] = set()
        self.fetch_image: Fetch | None = None
        """The session's way to the bytes of an image the server keeps (digest → bytes);
        without it such an image is its label."""

    @property
    def out(self) -> IO[str]:
        """stdout: while the prompt is on screen, prompt_toolkit's proxy that prints above
        it; else the terminal itself (the proxy writes from a thread of its own, in
        batches, and text it held when a prompt came and went was seen lost)."""
        if self._out is not None:
            return self._out
        return sys.stdout if self.prompting else sys.__stdout__ or sys.stdout

    @property
    def err(self) -> IO[str]:
        if self._err is not None:
            return self._err
        return sys.stderr if self.prompting else sys.__stderr__ or sys.stderr

    def line(self, text: str) -> None:
        self.err.write(text + "\n")
        self.err.flush()

    def ask_approval(self, request: ApprovalRequest) -> None:
        """Ask whether a call may run, on a prompt of its own, while the reply goes on
        (the question goes when another client answers it first); off a terminal, or
        while the chat's prompt is on screen (a reply another client started), say that
        it waits and where to answer."""
        if self.asker is None or self.session is None or self.prompting:
            self.line(f"[waiting for approval: {approval_question(request)} — answer it there]")
            return
        task = asyncio.ensure_future(self._approve(self.session, self.asker, request))
        self._asking.add(task)
        task.add_done_callback(self._asking.discard)

    async def _approve(
        self, session: Session, asker: Callable[[str], Awaitable[str]], request: ApprovalRequest
    ) -> None:
        question = approval_question(request) + " "
        self.prompting = True
        try:
            answer = await _first_answer(asker, question, request)
        except KeyboardInterrupt:
            answer = None
            self.line("[cancelling…]")
            with contextlib.suppress(ChatthyError):
                await session.cancel()
        finally:
            self.prompting = False
        if answer is None:
            if request.settled.done() and not request.settled.result():
                self.line("[answered elsewhere]")
            return
        try:
            await session.approve(request.call_id, answer)
        except ChatthyError as exc:
            self.line(f"error: {exc.message}")

    async def show_chat(
        self, state: ChatState, messages: list[api.MessageInfo], older: int
    ) -> None:
        if self.holding:  # starting: said once the start succeeded
            self._held = (dataclasses.replace(state), messages)
            return
        if state.chat == self._shown or self.quiet:
            return  # the same chat again (an edit, a reconnect): nothing new to say
        self._shown = state.chat
        if state.new:
            self.line(f"[chat '{state.chat}': new, {state.personality}@{state.provider}]")
            return
        self.line(f"[chat '{state.chat}': {state.messages} messages, {state.render()}]")
        last = messages[-2:] if self.terminal else []
        for record in last:
            who = "you" if record.role == "user" else record.role
            text = " ".join(text_of(without_images(record.content)).split())
            self.line(f"  {who}: {text[:200]}{'…' if len(text) > 200 else ''}")
            await self.show_images(image_parts(record.content), "    ")

    async def show_images(self, refs: list[ImageRef], indent: str = "") -> None:
        """Each image drawn by the terminal (its graphics protocol, when it speaks one and
        stdout is that terminal), else its label on a line of its own; one that cannot be
        had or read is its label and why."""
        if not refs:
            return
        graphics = terminal_graphics() if self.out.isatty() else None
        columns = max(1, min(MAX_COLUMNS, shutil.get_terminal_size().columns - len(indent)))
        for ref in refs:
            if graphics is None:
                self.line(f"{indent}{label(ref)}")
                continue
            try:
                data = await image_bytes(ref, self.fetch_image)
            except Exception:  # the fetch's own failure, whatever its kind: one line
                broken = ref.url.startswith("data:")
                why = "not an image that can be drawn" if broken else "could not be fetched"
                self.line(f"{indent}{label(ref)} ({why})")
                continue
            try:
                if graphics == "kitty":
                    escape = kitty_escape(await asyncio.to_thread(as_png, data), columns)
                else:
                    escape = iterm_escape(data, ref.name, columns)
            except ArgumentError:
                self.line(f"{indent}{label(ref)} (not an image that can be drawn)")
                continue
            self.out.write(f"{indent}{escape}\n")
            self.out.flush()

    async def show_held(self) -> None:
        """Say which chat was opened while starting (held until the start succeeded)."""
        held, self._held = self._held, None
        if held is not None:
            await self.show_chat(held[0], held[1], 0)

    async def show_older(self, messages: list[api.MessageInfo], older: int) -> None:
        return

    async def add_user(
        self,
        text: str,
        message_id: int | None,
        when: float | None,
        images: Sequence[ImageRef] = (),
    ) -> None:
        if when is not None:  # sent by another client: say what it asked
            self.line(f"[another client] you: {text}")
            await self.show_images(list(images), "  ")

    async def add_reply(self, provider: str, model: str, when: float | None) -> ReplySink:
        return _Sink(self)

    async def notice(self, text: str, *, markdown: bool = False, error: bool = False) -> None:
        stream = self.err if error else self.out
        stream.write(text.rstrip("\n") + "\n")
        stream.flush()

    def status(self, text: str, kind: str = "") -> None:
        if not text or (kind == "busy" and text.endswith("…")):
            return
        if text.startswith(("error:", "reply ", "streaming")):
            return  # the reply's own end line says it
        if self.in_command:  # what the command the user typed did: its output
            self.out.write(text + "\n")
            self.out.flush()
        else:
            self.line(f"[{text}]")

    def show_title(self, state: ChatState) -> None:
        return

    def replied(self, chat: str, status: str, *, ring: bool) -> None:
        """A reply ended in a chat not on screen: a line, and the terminal's bell."""
        self.line(f"[{replied_line(chat, status)}]")
        if ring and self.terminal:
            self.err.write("\a")
            self.err.flush()

    def connection(self, ok: bool, why: str = "") -> None:
        if ok == self._up:
            return
        if self._up is not None or not ok:
            self.line("[connected again]" if ok else f"[server unreachable: {why}]")
        self._up = ok

    async def edit(self, text: str, suffix: str = ".md", *, instead: str = "") -> str | None:
        if not self.terminal:
            hint = f"; without one: {instead}" if instead else ""
            raise ArgumentError(f"$EDITOR needs a terminal{hint}")
        from chatthy.client.editing import edit_in_editor

        return await edit_in_editor(text, suffix)

    def load_input(self, text: str) -> None:
        if not self.terminal:
            raise ArgumentError("/load fills the input line: it needs a terminal")
        self.next_input = text

    async def show_help(self, text: str) -> None:
        intro = "Type a message and press Enter to chat. Commands:\n"
        more = "\n  /NAME key=value …  any server command (/commands lists them)\n"
        if self.quiet:  # chatthy do /help: one command and out
            intro = "chatthy [--chat C] /NAME [ARG…] runs one of these:\n"
            pointless = ("/help", "/quit", "/load ", "/chat ")
            text = "\n".join(
                line for line in text.splitlines() if not line.strip().startswith(pointless)
            )
        self.out.write(intro + text + more + (KEYS + "\n" if self.terminal else ""))
        self.out.flush()

    def quit(self) -> None:
        self.leaving = True

    def cursor_message(self) -> int | None:
        return None

    async def show_hits(self, query: str, hits: list[api.SearchHit]) -> None:
        from chatthy.client.command_table import format_hit

        marks = ("\x1b[1m", "\x1b[0m") if self.terminal and self.out.isatty() else ("", "")
        lines = [f"{len(hits)} hit(s) for '{query}' (/chat NAME opens one):"]
        lines += [f"  {format_hit(hit, marks=marks)}" for hit in hits]
        await self.notice("\n".join(lines))

    async def workspace(self, files: list[api.WorkspaceFile]) -> None:
        from chatthy.client.workspace import format_workspace

        await self.notice(format_workspace(files))


_ANSWER_KEYS = {"y": "yes", "yes": "yes", "n": "no", "no": "no", "": "no"}
_ANSWER_KEYS |= {"a": "always", "always": "always"}


async def _first_answer(
    asker: Callable[[str], Awaitable[str]], question: str, request: ApprovalRequest
) -> str | None:
    """The user's answer (Enter alone says no; anything else unknown asks again), or
    None once the call no longer waits (answered elsewhere, run out, the reply ended).

    Raises:
        KeyboardInterrupt: Ctrl-C at the question.
    """
    while not request.settled.done():
        typed = asyncio.ensure_future(asker(question))
        done, _ = await asyncio.wait({typed, request.settled}, return_when=asyncio.FIRST_COMPLETED)
        if typed not in done:
            typed.cancel()
            with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt, EOFError):
                await typed
            return None
        try:
            said = typed.result().strip().lower()
        except EOFError:
            return "no"
        if said in _ANSWER_KEYS:
            return _ANSWER_KEYS[said]
        question = "y, n or a? "
    return None


# ---- reading lines ---------------------------------------------------------------------


async def _piped_lines() -> AsyncIterator[str]:
    """stdin's lines, read in a thread (a pipe or a file)."""
    while True:
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            return
        yield line.rstrip("\n")


class _Completer:
    """prompt_toolkit's completer over the command table's :func:`complete`."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def make(self) -> Any:
        from prompt_toolkit.completion import Completer, Completion

        session = self.session

        class TableCompleter(Completer):
            def get_completions(
                self, document: Document, complete_event: CompleteEvent
            ) -> Iterable[Completion]:
                return []

            async def get_completions_async(
                self, document: Document, complete_event: CompleteEvent
            ) -> AsyncGenerator[Completion, None]:
                from chatthy.client.command_table import complete

                text = document.text_before_cursor
                if "\n" in text:
                    return
                start, candidates = await complete(session, "line", text)
                for candidate in candidates:
                    yield Completion(candidate, start_position=start - len(text))

        return TableCompleter()


def _prompt_session(settings: Settings, session: Session) -> PromptSession[str]:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory
    from prompt_toolkit.key_binding import KeyBindings

    keys = KeyBindings()

    @keys.add("escape", "enter")
    def _newline(event: Any) -> None:
        event.current_buffer.insert_text("\n")

    try:
        history: Any = FileHistory(str(history_path(settings.profile)))
    except OSError:
        from prompt_toolkit.history import InMemoryHistory

        history = InMemoryHistory()
    return PromptSession(
        history=history,
        completer=_Completer(session).make(),
        complete_while_typing=False,
        key_bindings=keys,
        enable_history_search=False,
    )


async def _handle(session: Session, front: LineFront, line: str) -> None:
    """A message or a command, then the reply it started (if any) to its end; never a
    reply another client started meanwhile."""
    from chatthy.client.command_table import run_line

    before = session.started
    if line.startswith("/") and not line.startswith("//"):
        front.in_command = True
        try:
            await run_line(session, front, line)
        finally:
            front.in_command = False
    else:
        await session.send(line[1:] if line.startswith("//") else line)
    if session.started is not before and session.started is not None:
        await session.wait_reply(session.started)


async def _interruptible(session: Session, front: LineFront, work: Awaitable[None]) -> None:
    """Run ``work`` (one line's); Ctrl-C (SIGINT) meanwhile cancels the reply that line
    started, on the server, or else the work itself — never the client."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    cancelling: list[asyncio.Task[bool]] = []
    mine = session.started

    def interrupted() -> None:
        live = session.live
        if live is not None and live is session.started and live is not mine:
            front.line("\n[cancelling…]")
            cancelling.append(asyncio.ensure_future(session.cancel()))
        else:
            task.cancel()

    try:
        loop.add_signal_handler(signal.SIGINT, interrupted)
        handled = True
    except (NotImplementedError, RuntimeError):
        handled = False
    try:
        await task
    except asyncio.CancelledError:
        if not task.cancelled():
            raise
        front.line("[cancelled]")
    finally:
        if handled:
            loop.remove_signal_handler(signal.SIGINT)
        for each in cancelling:
            with contextlib.suppress(ChatthyError):
                await each


async def _run_reply(session: Session, front: LineFront) -> None:
    """Wait for the reply this session started last to end (Ctrl-C cancels it)."""
    await _interruptible(session, front, session.wait_reply(session.started))


async def repl(
    settings: Settings, chat: str, *, provider: str | None = None, prompt: str | None = None
) -> int:
    """Read lines until /quit or end of input; ``provider`` and ``prompt``, when given, are
    set on the chat first. Returns the exit status.

    Raises:
        ChatthyError: the server cannot be reached, or refused the provider or prompt.
    """
    terminal = sys.stdin.isatty() and sys.stdout.isatty()
    front = LineFront(terminal=terminal)
    approve = "ask" if terminal else "no"  # piped: nobody to ask, such calls are refused
    session = Session(
        connect(settings), front, chat, provider=provider, prompt=prompt, approve=approve
    )
    front.session = session
    front.fetch_image = session.fetch_image
    ring = settings.notify != "off"
    session.on_replied = lambda chat, status: front.replied(chat, status, ring=ring)
    session.client.connect()
    prompter = None
    if terminal:
        gc.disable()  # until the prompt is drawn (the module's docstring says why)
        prompter = _prepare_prompt(settings, session)
    try:
        front.holding = True  # a refused --provider is then the one line said
        try:
            await session.start()
        finally:
            front.holding = False
        await front.show_held()
        front.line(
            f"chatthy — profile {settings.profile} at {session.client.address}. /help for help."
        )
        if prompter is not None:
            return await _interactive(await prompter, session, front)
        return await _piped(session, front)
    finally:
        if prompter is not None:  # after a failed start: no prompt wanted, the GC back on
            prompter.cancel()
            gc.enable()
        await session.close()


def _prepare_prompt(settings: Settings, session: Session) -> asyncio.Future[PromptSession[str]]:
    """Import prompt_toolkit and make the prompt in a thread, started before the session
    starts: the ~60 ms that takes then runs while this thread waits for the server's
    answers (``hello``, ``attach`` …), not after them. prompt_toolkit allows its objects
    made in one thread and run in another (a buffer loads its history once it runs)."""
    return asyncio.ensure_future(asyncio.to_thread(_prompt_session, settings, session))


def _drawn() -> None:
    """prompt_toolkit's ``pre_run``, called just before it draws the prompt: the garbage
    collector runs again just after (held while starting)."""
    asyncio.get_running_loop().call_soon(gc.enable)


async def _take(session: Session, front: LineFront, raw: str) -> None:
    """One line the user typed: a message or a command; what fails is one error line."""
    line = raw.strip()
    if not line:
        return
    try:
        await _interruptible(session, front, _handle(session, front, line))
    except ChatthyError as exc:
        front.line(f"error: {exc.message}")
    except Exception as exc:  # a bug: one line, and the client goes on
        front.line(f"error: internal error: {type(exc).__name__}: {exc}")


async def _piped(session: Session, front: LineFront) -> int:
    async for raw in _piped_lines():
        await _take(session, front, raw)
        if front.leaving:
            break
    return 0


async def _interactive(prompter: PromptSession[str], session: Session, front: LineFront) -> int:
    from prompt_toolkit.patch_stdout import patch_stdout

    front.asker = _asker()
    with patch_stdout(raw=True):
        while not front.leaving:
            default, front.next_input = front.next_input, ""
            front.prompting = True
            try:
                text = await prompter.prompt_async(
                    lambda: f"{session.chat}> ",  # redrawn: a rename elsewhere shows at once
                    default=default,
                    multiline=False,
                    pre_run=_drawn,
                )
            except KeyboardInterrupt:
                continue  # Ctrl-C at the prompt: the line is cleared
            except EOFError:
                return 0
            finally:
                front.prompting = False
            await _take(session, front, text)
    return 0


def _asker() -> Callable[[str], Awaitable[str]]:
    """A prompt of its own for the approval questions: no history, no completion, so
    that answers stay out of the chat's history and its line editing is untouched."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import InMemoryHistory

    questions: PromptSession[str] = PromptSession(history=InMemoryHistory())

    async def ask(question: str) -> str:
        return await questions.prompt_async(question)

    return ask


async def run_once(settings: Settings, chat: str, words: list[str]) -> int:
    """``chatthy /NAME ARGS…``: one command of the table (or the server's), its output
    on stdout, then leave; a reply it starts is streamed to its end. Returns the exit
    status.

    Raises:
        ChatthyError: the server cannot be reached, refused, or the command failed.
    """
    from chatthy.client.command_table import run_words

    front = LineFront(terminal=False)
    front.quiet = front.in_command = True
    session = Session(connect(settings), front, chat)
    front.fetch_image = session.fetch_image
    session.client.connect()
    try:
        await session.start()
        await run_words(session, front, words)
        await _run_reply(session, front)
    finally:
        await session.close()
    return 0
