"""Copying from the output: the code block at the cursor (``c``), by OSC 52 and through
the system clipboard's own command."""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path

import pytest

from chatthy.client.clipboard import copy_command, copy_to_system
from chatthy.client.tui.find import COPIED, MATCH
from chatthy.errors import ChatthyError
from helpers import ServerFactory, openai_provider
from tuikit import (
    SIZE,
    fake_xclip,
    highlighted,
    make_app,
    status_line,
    terminal_output,
    type_line,
    wait_for,
    wait_on_screen,
)
from upstream import Reply, Upstream

THREE_BLOCKS = (
    "First list the files:\n\n```sh\nls -la\n```\n\n"
    "Then count them:\n\n```sh\nls | wc -l\n```\n\n"
    "Or in Python:\n\n```python\nimport os\nprint(len(os.listdir()))\n```\n\nDone."
)


def osc52(written: list[str]) -> list[str]:
    """The texts the app sent to the terminal's clipboard, in order."""
    out = []
    for chunk in written:
        for part in chunk.split("\x1b]52;c;")[1:]:
            out.append(base64.b64decode(part.split("\a")[0]).decode())
    return out


async def test_c_copies_the_lowest_block_then_the_ones_above(
    servers: ServerFactory, upstream: Upstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    xclip = fake_xclip(tmp_path, monkeypatch)
    upstream.push(Reply(chunks=[THREE_BLOCKS]))
    app = make_app(await servers.start({"up": openai_provider(upstream)}))
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "how many files?")
        await wait_on_screen(pilot, "Done.")
        written = terminal_output(app)
        await pilot.press("shift+tab", "c")
        python = "import os\nprint(len(os.listdir()))\n"
        copied = f"copied the code block 3 of 3 on screen ({len(python)} characters)"
        await wait_on_screen(pilot, copied)
        assert osc52(written) == [python]
        await wait_for(pilot, lambda: xclip.exists() and xclip.read_text() == python)
        shown = " ".join(highlighted(app, COPIED))
        assert "import os" in shown and "print(len(os.listdir()))" in shown
        assert "ls" not in shown
        await pilot.press("c")
        await wait_on_screen(pilot, "copied the code block 2 of 3 on screen (11 characters)")
        assert osc52(written)[-1] == "ls | wc -l\n"
        await wait_for(pilot, lambda: xclip.read_text() == "ls | wc -l\n")
        await pilot.press("c", "c")
        await wait_on_screen(pilot, "copied the code block 3 of 3 on screen")
        assert osc52(written)[-2:] == ["ls -la\n", python]
        await pilot.press("escape")
        await wait_for(pilot, lambda: not highlighted(app, COPIED))


async def test_c_copies_the_block_at_the_search_match(
    servers: ServerFactory, upstream: Upstream
) -> None:
    upstream.push(Reply(chunks=[THREE_BLOCKS]))
    app = make_app(await servers.start({"up": openai_provider(upstream)}))
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "how many files?")
        await wait_on_screen(pilot, "Done.")
        await pilot.press("shift+tab", "slash", *"wc", "enter")
        await wait_for(pilot, lambda: "match 1 of 1" in status_line(app))
        await pilot.press("c")
        await wait_on_screen(pilot, "copied the code block 2 of 3 on screen")
        assert app.clipboard == "ls | wc -l\n"
        await pilot.press("c")
        await wait_for(pilot, lambda: app.clipboard == "ls -la\n", what="the block above")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not highlighted(app, MATCH) and not highlighted(app, COPIED))
        await pilot.press("n")
        await wait_for(pilot, lambda: highlighted(app, MATCH) == ["wc"])
        await pilot.press("v", "j", "j", "j", "j", "j", "c")
        python = "import os\nprint(len(os.listdir()))\n"
        await wait_for(pilot, lambda: app.clipboard == python, what="the block at v's end")
        assert app.output.visual


async def test_search_and_c_reach_a_reply_while_it_streams(
    servers: ServerFactory, upstream: Upstream
) -> None:
    first, rest = THREE_BLOCKS.split("Or in Python:")
    upstream.push(Reply(chunks=[first, "Or in Python:" + rest], stall_after=1))
    app = make_app(await servers.start({"up": openai_provider(upstream)}))
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "how many files?")
        await wait_on_screen(pilot, "ls | wc -l")
        assert app.live is not None  # the reply is still streaming
        written = terminal_output(app)
        await pilot.press("shift+tab", "slash", *"wc", "enter")
        await wait_for(pilot, lambda: "match 1 of 1 for 'wc'" in status_line(app))
        await wait_for(pilot, lambda: highlighted(app, MATCH) == ["wc"])
        await pilot.press("c")
        await wait_on_screen(pilot, "copied the code block 2 of 2 on screen (11 characters)")
        assert osc52(written) == ["ls | wc -l\n"]
        shown = " ".join(highlighted(app, COPIED))  # around the match drawn over it
        assert "ls |" in shown and "-l" in shown and "ls -la" not in shown
        assert app.live is not None


async def test_a_selection_in_a_streaming_reply_outlives_its_end(
    servers: ServerFactory, upstream: Upstream
) -> None:
    first, rest = THREE_BLOCKS.split("Or in Python:")
    upstream.push(Reply(chunks=[first, "Or in Python:" + rest], stall_after=1, stall=3.0))
    app = make_app(await servers.start({"up": openai_provider(upstream)}))
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "how many files?")
        await wait_on_screen(pilot, "ls | wc -l")
        written = terminal_output(app)
        await pilot.press("shift+tab", "slash", *"wc", "enter")
        await wait_for(pilot, lambda: "match 1 of 1 for 'wc'" in status_line(app))
        await pilot.press("v")
        await wait_for(pilot, lambda: "VISUAL" in status_line(app))
        await wait_for(pilot, lambda: app.live is None, what="the reply's end")
        await wait_on_screen(pilot, "Done.")
        await pilot.press("y")
        await wait_on_screen(pilot, "copied the 1 selected line")
        assert [text.strip() for text in osc52(written)] == ["ls | wc -l"]


async def test_c_with_no_code_block_on_screen_says_so(
    servers: ServerFactory, upstream: Upstream
) -> None:
    upstream.push(Reply(chunks=["No code here."]))
    app = make_app(await servers.start({"up": openai_provider(upstream)}))
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "say something")
        await wait_on_screen(pilot, "No code here.")
        await pilot.press("shift+tab", "c")
        await wait_for(pilot, lambda: "no code block on screen to copy" in status_line(app))
        assert app.clipboard == ""


async def test_a_failing_system_clipboard_is_one_line_and_osc_52_still_copies(
    servers: ServerFactory, upstream: Upstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    xclip = fake_xclip(tmp_path, monkeypatch, exit_status=1)
    upstream.push(Reply(chunks=["```\nmake test\n```"]))
    app = make_app(await servers.start({"up": openai_provider(upstream)}))
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "how do I test?")
        await wait_on_screen(pilot, "make test")
        written = terminal_output(app)
        await pilot.press("shift+tab", "c")
        await wait_on_screen(pilot, "copied by OSC 52 only: xclip failed (exit status 1)")
        assert osc52(written) == ["make test\n"]
        assert xclip.read_text() == "make test\n"
        assert app.is_running


def tools(tmp_path: Path, *names: str) -> str:
    """A directory holding do-nothing programs named ``names``; returned as a PATH."""
    folder = tmp_path / "tools"
    folder.mkdir(exist_ok=True)
    for name in names:
        program = folder / name
        program.write_text("#!/bin/sh\ncat > /dev/null\n")
        program.chmod(0o755)
    return str(folder)


@pytest.mark.skipif(sys.platform == "win32", reason="shell scripts as tools")
def test_the_copy_command_follows_the_desktop(tmp_path: Path) -> None:
    path = tools(tmp_path, "wl-copy", "xclip", "xsel", "pbcopy", "clip.exe")
    folder = Path(path)
    both = {"PATH": path, "WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}
    assert copy_command(both, "linux") == [str(folder / "wl-copy")]
    x11 = {"PATH": path, "DISPLAY": ":0"}
    assert copy_command(x11, "linux") == [str(folder / "xclip"), "-selection", "clipboard"]
    (folder / "xclip").unlink()
    assert copy_command(x11, "linux") == [str(folder / "xsel"), "--clipboard", "--input"]
    assert copy_command({"PATH": path}, "linux") is None
    assert copy_command({"PATH": path, "WSL_DISTRO_NAME": "Ubuntu"}, "linux") == [
        str(folder / "clip.exe")
    ]
    assert copy_command({"PATH": path}, "darwin") == [str(folder / "pbcopy")]
    assert copy_command({"PATH": str(tmp_path)}, "darwin") is None


@pytest.mark.skipif(sys.platform == "win32", reason="shell scripts as tools")
async def test_a_hanging_copy_command_is_given_up_and_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    script = tmp_path / "hang"
    script.write_text(f'#!/bin/sh\necho $$ > "{pid_file}"\nexec sleep 30\n')
    script.chmod(0o755)
    with pytest.raises(ChatthyError, match=r"hang gave no answer in 0\.5 s"):
        await copy_to_system("text", [str(script)], timeout=0.5)
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)
