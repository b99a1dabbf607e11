"""Helpers for the full-screen client's tests: the app against a real server, the screen
as text, and waiting for what a user would see."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from textual._compositor import LayoutUpdate
from textual.app import App
from textual.pilot import Pilot

from chatthy.client.core import Client
from chatthy.client.tui import ChatthyApp
from chatthy.server.app import Server
from helpers import key_for

SIZE = (100, 36)


def make_app(
    srv: Server | str,
    chat: str = "default",
    profile: str = "alice",
    *,
    provider: str | None = None,
    prompt: str | None = None,
    connect_timeout: float = 5.0,
    theme: str = "textual-dark",
    keys: Mapping[str, object] | None = None,
    notify: str = "bell",
) -> ChatthyApp:
    """The app as ``chatthy tui`` makes it, with an unconnected client for ``srv``."""
    address = srv if isinstance(srv, str) else srv.address
    client = Client(
        address, profile, key_for(profile), timeout=10.0, connect_timeout=connect_timeout
    )
    return ChatthyApp(
        client, chat, provider=provider, prompt=prompt, theme=theme, keys=keys, notify=notify
    )


def _full_update(app: App[Any]) -> LayoutUpdate:
    """Everything on the (virtual) terminal now, row by row."""
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    assert isinstance(update, LayoutUpdate)  # what a full update is
    return update


def screen_text(app: App[Any]) -> str:
    """The characters on the (virtual) terminal now, one line per row."""
    update = _full_update(app)
    rows = []
    for line in update.strips:
        rows.append("".join(seg.text for strip in line for seg in strip).rstrip())
    return "\n".join(rows)


def status_line(app: ChatthyApp) -> str:
    return screen_text(app).splitlines()[-1].strip()


def title_line(app: ChatthyApp) -> str:
    return screen_text(app).splitlines()[0].strip()


async def wait_for(
    pilot: Pilot[int], check: Callable[[], bool], timeout: float = 20.0, what: str = ""
) -> None:
    """Let the app run until ``check()`` holds; fail with the screen if it never does."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out waiting for {what or check}; the screen:\n{screen_text(pilot.app)}"
            )
        await pilot.pause(0.05)


async def wait_on_screen(pilot: Pilot[int], text: str, timeout: float = 20.0) -> None:
    await wait_for(pilot, lambda: text in screen_text(pilot.app), timeout, repr(text))


async def type_line(pilot: Pilot[int], line: str) -> None:
    """Type ``line`` into the input and press Enter, as a user would."""
    app = pilot.app
    assert isinstance(app, ChatthyApp)
    app.prompt_input.focus()
    app.prompt_input.value = line
    await pilot.press("enter")
    await asyncio.sleep(0)


def highlighted(app: ChatthyApp, style: str) -> list[str]:
    """The runs of text on screen drawn with ``style``'s background, top to bottom."""
    from rich.style import Style

    wanted = Style.parse(style).bgcolor
    assert wanted is not None
    update = _full_update(app)
    runs: list[str] = []
    for line in update.strips:
        run = ""
        for strip in line:
            for seg in strip:
                bg = seg.style.bgcolor if seg.style else None
                if bg is not None and bg.get_truecolor() == wanted.get_truecolor():
                    run += seg.text
                elif run:
                    runs.append(run)
                    run = ""
        if run:
            runs.append(run)
    return runs


def marked(app: ChatthyApp, attribute: str) -> list[str]:
    """The runs of text on screen drawn ``attribute`` (``reverse``, ``underline``, …),
    what marks a highlight without colour."""
    update = _full_update(app)
    runs: list[str] = []
    for line in update.strips:
        run = ""
        for strip in line:
            for seg in strip:
                if seg.style is not None and getattr(seg.style, attribute):
                    run += seg.text
                elif run:
                    runs.append(run)
                    run = ""
        if run:
            runs.append(run)
    return runs


def use_editor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    """Make $EDITOR a script that replaces the edited file's text with ``text``."""
    editor = tmp_path / "editor.sh"
    editor.write_text(f'#!/bin/sh\nprintf "{text}\\n" > "$1"\n')
    editor.chmod(0o755)
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", str(editor))


def fake_xclip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exit_status: int = 0) -> Path:
    """Put an ``xclip`` on PATH that writes what it is given to a file (returned), and set
    DISPLAY so that the client uses it, as on an X11 desktop."""
    tools = tmp_path / "bin"
    tools.mkdir()
    copied = tmp_path / "xclip.txt"
    script = tools / "xclip"
    script.write_text(f'#!/bin/sh\ncat > "{copied}"\nexit {exit_status}\n')
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("DISPLAY", ":0")
    return copied


def terminal_output(app: ChatthyApp) -> list[str]:
    """What the app writes to its terminal from now on (a headless app's driver drops
    it): escape sequences such as OSC 52's."""
    written: list[str] = []
    driver = app._driver
    assert driver is not None

    def write(data: str) -> None:
        written.append(data)

    driver.write = write  # type: ignore[method-assign]  # on purpose: this driver only
    return written
