"""Helpers for the Tk window's tests: an X server of their own (Xvfb), keys and clicks
sent as a user's are (xdotool, through the X server, not Tk's ``event generate``), the
screen kept as a PNG, and a Tk root run beside the asyncio loop.

Nothing starts at import: :func:`xvfb` starts the server (the ``display`` fixture of
``tests/client/tk/conftest.py`` calls it once a session); :data:`XVFB_MISSING` only looks
on PATH, so that a machine without Xvfb skips the Tk tests with one reason instead of
failing them."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    import tkinter

__all__ = [
    "ARTIFACTS",
    "SCREEN",
    "XVFB_MISSING",
    "XvfbError",
    "click",
    "current_display",
    "focus",
    "press",
    "pump",
    "screenshot",
    "type_text",
    "xdotool",
    "xvfb",
]

SCREEN = (1280, 900)
"""The virtual screen's width and height in pixels (24-bit colour)."""

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
"""Where tests keep what a person may want to look at after a run (screenshots); CI can
upload the folder, git ignores it."""

_X11_SOCKETS = Path("/tmp/.X11-unix")
_FIRST_DISPLAY = 90  # above what a desktop session or ssh X forwarding (:10…) takes
_STARTUP = 10.0  # seconds Xvfb has to accept connections
_XDOTOOL_TIMEOUT = 20.0


def _missing() -> str | None:
    """Why the Tk tests cannot run on this machine, or None when they can."""
    for program in ("Xvfb", "xdotool"):
        if shutil.which(program) is None:
            return f"{program} is not on PATH (apt-get install xvfb xdotool to run the Tk tests)"
    if importlib.util.find_spec("tkinter") is None:
        return "tkinter is not importable (this Python was built without Tk)"
    return None


XVFB_MISSING: str | None = _missing()
"""None, or the one-line reason the Tk tests are skipped here."""


class XvfbError(RuntimeError):
    """Raised when Xvfb does not start, or xdotool fails (with their stderr)."""


_display: str | None = None  # the Xvfb this process started and is running, if any


def current_display() -> str:
    """The display (``":93"``) of the Xvfb :func:`xvfb` is running: what xdotool and
    screenshots talk to even after a test's environment dropped ``DISPLAY``."""
    if _display is None:
        raise XvfbError("no Xvfb is running: use the display fixture")
    return _display


def _taken(number: int) -> bool:
    return (_X11_SOCKETS / f"X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists()


def _accepts(number: int) -> bool:
    """Whether the display's socket takes a connection (the file appears before the
    server listens on it)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(str(_X11_SOCKETS / f"X{number}"))
        except OSError:
            return False
    return True


def _stderr_of(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode(errors="replace").strip()


def _start(number: int, log: IO[bytes]) -> subprocess.Popen[bytes] | None:
    """Xvfb on ``:number``, accepting connections; None when another server took the
    number first (the race between looking for a free one and starting)."""
    width, height = SCREEN
    proc = subprocess.Popen(
        ["Xvfb", f":{number}", "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    deadline = time.monotonic() + _STARTUP
    while not _accepts(number):
        if proc.poll() is not None:
            if _taken(number) or "already" in _stderr_of(log):
                return None
            raise XvfbError(f"Xvfb :{number} exited {proc.returncode}: {_stderr_of(log)}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise XvfbError(f"Xvfb :{number} took over {_STARTUP:.0f} s: {_stderr_of(log)}")
        time.sleep(0.02)
    return proc


@contextlib.contextmanager
def xvfb(tries: int = 20) -> Iterator[str]:
    """Run Xvfb on a free display for the block; yield its name (``":93"``).

    A display is free when neither its socket nor its lock file exists; another process
    may still take it between the look and the start, so a lost race moves on to the
    next number. Raises :class:`XvfbError` with Xvfb's stderr when it does not start."""
    global _display
    number = _FIRST_DISPLAY
    with tempfile.TemporaryFile() as log:  # a file: a pipe nobody reads could fill up
        for _ in range(tries):
            while _taken(number):
                number += 1
            log.seek(0)
            log.truncate()
            proc = _start(number, log)
            if proc is not None:
                break
            number += 1
        else:
            raise XvfbError(f"no free display found in {tries} tries: {_stderr_of(log)}")
        outer, _display = _display, f":{number}"
        try:
            yield _display
        finally:
            _display = outer
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def xdotool(*args: str) -> str:
    """Run ``xdotool ARGS…`` on the session's display; its stdout. Async so that the Tk
    app, pumped on the same loop, keeps handling events while xdotool waits on them."""
    env = {**os.environ, "DISPLAY": current_display()}
    proc = await asyncio.create_subprocess_exec(
        "xdotool",
        *args,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), _XDOTOOL_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise XvfbError(f"xdotool {' '.join(args)} took over {_XDOTOOL_TIMEOUT:.0f} s") from None
    if proc.returncode != 0:
        raise XvfbError(f"xdotool {' '.join(args)} exited {proc.returncode}: {err.decode()}")
    return out.decode()


async def type_text(text: str) -> None:
    """Type ``text`` into the window that has the keyboard focus, key by key.

    xdotool types a character missing from the keyboard map (most beyond ASCII) by
    mapping a spare key to it for that keystroke: Tk sees the character only if it reads
    the new map before xdotool restores the old one, so such text goes slowly and needs
    Tk running meanwhile (the app's own pump, or :func:`pump` on a task beside this)."""
    delay = "5" if text.isascii() else "100"
    await xdotool("type", "--delay", delay, "--", text)


async def press(*keys: str) -> None:
    """Press keys, one after the other, named as X keysyms with modifiers joined by
    ``+``: ``"Return"``, ``"Escape"``, ``"shift+Return"``, ``"ctrl+k"``."""
    await xdotool("key", "--delay", "20", "--", *keys)


async def click(x: int, y: int) -> None:
    """Click the first button at (x, y) on the screen (root coordinates: a widget's
    ``winfo_rootx()`` / ``winfo_rooty()`` plus an offset into it)."""
    await xdotool("mousemove", "--sync", str(x), str(y), "click", "1")


def screenshot(path: Path) -> Path:
    """The whole screen as a PNG at ``path`` (folders made); ``path``. Keep it under
    :data:`ARTIFACTS` for a person to look at after the run."""
    from PIL import ImageGrab

    path.parent.mkdir(parents=True, exist_ok=True)
    ImageGrab.grab(xdisplay=current_display()).save(path, "PNG")
    return path


async def pump(
    root: tkinter.Misc, until: Callable[[], bool], timeout: float = 20.0, what: str = ""
) -> None:
    """Let the Tk root and the asyncio loop both run until ``until()`` holds; fail naming
    ``what`` when it does not within ``timeout`` seconds. For a bare Tk root: the app
    under test pumps itself on the loop, and its tests only wait."""
    deadline = time.monotonic() + timeout
    while True:
        root.update()
        if until():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or until}")
        await asyncio.sleep(0.01)


async def focus(widget: tkinter.Misc, timeout: float = 10.0) -> None:
    """Give ``widget`` the X keyboard focus, as clicking into it would, once its window
    is on screen (X refuses the focus to a window not yet mapped)."""
    root = widget.winfo_toplevel()
    await pump(root, widget.winfo_viewable, timeout, f"{widget} on screen")
    widget.focus_force()
    await pump(root, lambda: widget.focus_get() is widget, timeout, f"focus in {widget}")
