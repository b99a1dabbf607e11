"""``chatthy tui`` in a real terminal (tmux), and Textual kept away from everything else."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chatthy.server.app import Server
from helpers import ServerFactory, openai_provider
from termkit import CHATTHY, Tmux, terminal_env
from upstream import Reply, Upstream

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


async def test_chatthy_tui_in_a_terminal_copies_with_osc_52(server: Server, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = terminal_env(home)
    tmux = Tmux()
    try:
        tmux.start([CHATTHY, "--server", server.address, "--profile", "alice", "--chat", "t"], env)
        await tmux.wait("alice — t (new chat) [default@echo:echo]")
        await tmux.wait("connected")
        tmux.run("send-keys", "-t", "t", "hello terminal", "Enter")
        await tmux.wait("echo: hello terminal")
        tmux.run("set-option", "-s", "set-clipboard", "on")
        await tmux.in_output("y", "copied the reply")
        assert tmux.run("show-buffer") == "echo: hello terminal"
        tmux.run("send-keys", "-t", "t", "C-q")
        deadline = time.monotonic() + 10
        while tmux.alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert not tmux.alive()
    finally:
        tmux.close()


async def test_c_in_a_terminal_copies_a_code_block_by_osc_52_and_xclip(
    servers: ServerFactory, upstream: Upstream, tmp_path: Path
) -> None:
    upstream.push(Reply(chunks=["Try:\n\n```sh\nls -la\n```\n\nor\n\n```sh\ndu -sh .\n```\n"]))
    server = await servers.start({"up": openai_provider(upstream)})
    tools = tmp_path / "bin"
    tools.mkdir()
    copied = tmp_path / "xclip.txt"
    (tools / "xclip").write_text(f'#!/bin/sh\ncat > "{copied}"\n')
    (tools / "xclip").chmod(0o755)
    home = tmp_path / "home"
    env = terminal_env(home, DISPLAY=":0", PATH=f"{tools}{os.pathsep}{os.environ.get('PATH', '')}")
    tmux = Tmux()
    try:
        tmux.start([CHATTHY, "--server", server.address, "--profile", "alice", "--chat", "c"], env)
        await tmux.wait("connected")
        tmux.run("send-keys", "-t", "t", "two commands please", "Enter")
        await tmux.wait("du -sh .")
        tmux.run("set-option", "-s", "set-clipboard", "on")
        await tmux.in_output("c", "copied the code block 2 of 2 on screen")
        assert tmux.run("show-buffer") == "du -sh .\n"
        tmux.run("send-keys", "-t", "t", "c")
        await tmux.wait("copied the code block 1 of 2 on screen")
        assert tmux.run("show-buffer") == "ls -la\n"
        deadline = time.monotonic() + 10
        while not (copied.exists() and copied.read_text() == "ls -la\n"):
            assert time.monotonic() < deadline, "xclip never got the block"
            await asyncio.sleep(0.1)
    finally:
        tmux.close()


def test_ask_and_the_server_never_import_textual() -> None:
    code = (
        "import sys, chatthy.cli, chatthy.client.commands, chatthy.client.repl, "
        "chatthy.client.embedded, chatthy.server.app, chatthy.server.main\n"
        "assert not [m for m in sys.modules if m.startswith('textual')], 'textual imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


async def test_the_line_client_edits_in_editor_on_a_terminal(
    server: Server, tmp_path: Path
) -> None:
    """``/edit`` and ``/ws edit`` in ``chatthy repl``: $EDITOR takes the terminal."""
    home = tmp_path / "home"
    edits = tmp_path / "edits"
    edits.mkdir()
    (edits / "1").write_text("second question\n")
    (edits / "2").write_text("Notes typed in the editor.\n")
    editor = tmp_path / "editor.sh"  # each run writes the next prepared text into the file
    editor.write_text(
        f'#!/bin/sh\nnext=$(ls "{edits}" | sort | head -n 1)\n'
        f'cat "{edits}/$next" > "$1"\nrm "{edits}/$next"\n'
    )
    editor.chmod(0o755)
    env = terminal_env(home, EDITOR=str(editor))
    tmux = Tmux()
    try:
        tmux.start([CHATTHY, "repl", "--server", server.address, "--profile", "alice"], env)
        await tmux.wait("default>")
        tmux.run("send-keys", "-t", "t", "first question", "Enter")
        await tmux.wait("echo: first question")
        tmux.run("send-keys", "-t", "t", "/edit", "Enter")
        await tmux.wait("echo: second question")
        tmux.run("send-keys", "-t", "t", "/ws edit notes.md", "Enter")
        await tmux.wait("saved notes.md (")
        tmux.run("send-keys", "-t", "t", "/ws show notes.md", "Enter")
        await tmux.wait("Notes typed in the editor.")
    finally:
        tmux.close()
