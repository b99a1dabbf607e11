"""The harness the Tk window's tests stand on, on a bare Tk root: keys typed through the
X server reach a focused widget's bindings, and a screenshot holds the window."""

from __future__ import annotations

import asyncio
import os
import tkinter
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tkkit import (
    ARTIFACTS,
    SCREEN,
    XvfbError,
    click,
    focus,
    press,
    pump,
    screenshot,
    type_text,
    xvfb,
)


@pytest.fixture
def root() -> Iterator[tkinter.Tk]:
    """A window at the screen's corner (no window manager places it), destroyed after."""
    tk = tkinter.Tk()
    tk.geometry("400x200+0+0")
    yield tk
    tk.destroy()


async def test_typed_keys_reach_a_focused_entry(root: tkinter.Tk) -> None:
    entry = tkinter.Entry(root)
    entry.pack(fill="x")
    sent: list[str] = []
    entry.bind("<Return>", lambda _event: sent.append(entry.get()))
    await focus(entry)

    await type_text("hello world")
    await press("Return")

    await pump(root, lambda: sent == ["hello world"], what="Return's binding")


async def test_text_beyond_ascii_arrives_whole_while_tk_runs(root: tkinter.Tk) -> None:
    entry = tkinter.Entry(root)
    entry.pack(fill="x")
    await focus(entry)

    typing = asyncio.create_task(type_text("héllo ✓ λ → 日本"))
    await pump(root, typing.done, what="the typing")
    await typing

    await pump(root, lambda: entry.get() == "héllo ✓ λ → 日本", timeout=2, what=entry.get())


async def test_modified_keys_and_a_click_reach_a_text(root: tkinter.Tk) -> None:
    entry = tkinter.Entry(root)
    entry.pack(fill="x")
    text = tkinter.Text(root, height=5)
    text.pack(fill="both", expand=True)
    seen: list[str] = []
    text.bind("<Shift-Return>", lambda _event: seen.append("shift+Return"))
    text.bind("<Control-k>", lambda _event: seen.append("ctrl+k"))
    await focus(entry)

    await pump(root, lambda: text.winfo_height() > 1, what="the text laid out")
    await click(text.winfo_rootx() + 20, text.winfo_rooty() + 20)
    await pump(root, lambda: root.focus_get() is text, what="the click's focus in the text")
    await type_text("abc")
    await press("shift+Return", "ctrl+k")

    await pump(root, lambda: seen == ["shift+Return", "ctrl+k"], what="both bindings")
    assert text.get("1.0", "end-1c").startswith("abc")


async def test_a_screenshot_holds_the_window(root: tkinter.Tk) -> None:
    label = tkinter.Label(root, text="chatthy", bg="#204080", fg="white", font=("", 32))
    label.pack(fill="both", expand=True)
    await pump(root, lambda: label.winfo_viewable() and label.winfo_width() > 1, what="label")

    shot = screenshot(ARTIFACTS / "tk-harness.png")

    with Image.open(shot) as image:
        assert image.format == "PNG"
        assert image.size == SCREEN
        window = image.convert("RGB").crop((0, 0, 400, 200))
        colours = window.getcolors(maxcolors=400 * 200) or []
        assert len(colours) > 2  # the label's blue, its white letters and their edges
        assert (0x20, 0x40, 0x80) in {c for _, c in colours}


def test_another_xvfb_takes_a_display_of_its_own(display: str) -> None:
    """Two test runs on one machine (or a desktop's X server) do not share a screen."""
    with xvfb() as other:
        assert other != display
        assert Path(f"/tmp/.X11-unix/X{other.lstrip(':')}").exists()
    assert not Path(f"/tmp/.X11-unix/X{other.lstrip(':')}").exists()


def test_an_xvfb_that_fails_to_start_is_reported_with_its_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "bin" / "Xvfb"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "Fatal server error: no screens found" >&2\nexit 1\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")

    failure = "exited 1: Fatal server error: no screens found"
    with pytest.raises(XvfbError, match=failure), xvfb():
        pass
