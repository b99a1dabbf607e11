"""chatthy in a real terminal: a tmux server of the test's own, its screen as text."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

__all__ = ["CHATTHY", "Tmux", "terminal_env"]

CHATTHY = str(Path(sys.executable).with_name("chatthy"))


def terminal_env(home: Path, **more: str) -> dict[str, str]:
    """The environment of chatthy in the test terminal: a home of its own, alice's
    passphrase, an xterm; ``more`` on top."""
    return {
        "HOME": str(home),
        "CHATTHY_CONFIG_DIR": str(home / "config"),
        "CHATTHY_DATA_DIR": str(home / "data"),
        "CHATTHY_PASSPHRASE": "secret",
        "TERM": "xterm-256color",
        "PATH": os.environ.get("PATH", ""),
        **more,
    }


class Tmux:
    """One tmux server of our own (its own socket), running one command in a window."""

    def __init__(self) -> None:
        self.socket = f"chatthy-test-{uuid.uuid4().hex[:8]}"

    def run(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10
        )
        return result.stdout

    def start(self, command: list[str], env: dict[str, str]) -> None:
        wrapped = ["env", *(f"{k}={v}" for k, v in env.items()), *command]
        self.run("new-session", "-d", "-x", "100", "-y", "30", "-s", "t", *wrapped)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "t")

    def alive(self) -> bool:
        return "t" in self.run("list-sessions", "-F", "#{session_name}").split()

    async def wait(self, text: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared; the terminal:\n{screen}")
            await asyncio.sleep(0.1)

    async def in_output(self, key: str, said: str) -> str:
        """Shift-Tab to the output, then ``key``, until the screen shows ``said``. A
        loaded machine (two test suites at once) has twice in 30 runs left the focus in
        the input, where ``key`` was typed: it is taken back and Shift-Tab sent again,
        since this test is about what the key does; Pilot tests cover Shift-Tab."""
        for _ in range(3):
            self.run("send-keys", "-t", "t", "BTab")
            self.run("send-keys", "-t", "t", key)
            try:
                return await self.wait(said, timeout=5.0)
            except AssertionError:
                self.run("send-keys", "-t", "t", "BSpace")
        return await self.wait(said)

    def close(self) -> None:
        self.run("kill-server")
