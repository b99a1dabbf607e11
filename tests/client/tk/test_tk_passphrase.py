"""A passphrase the server refuses is asked again in a dialog (typed with xdotool into
the window's own dialog), and the window goes on with the new one; giving none closes
the window with the reason."""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any

import pytest

from chatthy.client.core import Client
from chatthy.client.tk.app import TkApp, ask_passphrase
from chatthy.config import ProviderConfig
from helpers import ServerFactory, key_for
from tkkit import current_display

pytestmark = pytest.mark.usefixtures("display")


async def until(check: Any, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, f"timed out waiting for {check}"
        await asyncio.sleep(0.02)


def typed_later(text: str) -> subprocess.Popen[bytes]:
    """xdotool, a second from now, types ``text`` and Enter into whatever has the focus
    (the dialog, which holds the window's loop while it is open)."""
    script = f"sleep 1; xdotool type --delay 20 -- '{text}'; xdotool key Return"
    env = {"DISPLAY": current_display(), "PATH": "/usr/bin:/bin:/usr/local/bin"}
    return subprocess.Popen(["sh", "-c", script], env=env)


async def test_a_refused_passphrase_is_asked_again_in_a_dialog(servers: ServerFactory) -> None:
    srv = await servers.start(
        {"echo": ProviderConfig(scheme="echo", model="echo")},
        registration="closed",
        profiles={"alice": key_for("alice").public_key.hex()},
    )
    asked: list[str] = []

    async def reconnect(why: str) -> Client | None:
        typist = typed_later("the right one")
        said = ask_passphrase("alice", f"refused: {why}", window.root)
        typist.wait(10)
        asked.append(said or "")
        client = Client(srv.address, "alice", key_for("alice"), timeout=10.0)
        client.connect()
        return client

    wrong = Client(srv.address, "alice", key_for("mallory"), timeout=10.0, connect_timeout=5.0)
    window = TkApp(wrong, "default", theme="light", reconnect=reconnect)
    running = asyncio.ensure_future(window.mainloop())
    try:
        await until(lambda: window.session.booted and not window.session.busy)
        assert asked == ["the right one"]  # the dialog's answer, as typed
        assert "alice — default" in window.title.cget("text")
        assert not window.failure
    finally:
        window.quit()
        await asyncio.wait_for(running, 10)


async def test_giving_no_passphrase_closes_the_window_with_the_reason(
    servers: ServerFactory,
) -> None:
    srv = await servers.start(
        {"echo": ProviderConfig(scheme="echo", model="echo")},
        registration="closed",
        profiles={"alice": key_for("alice").public_key.hex()},
    )

    async def reconnect(why: str) -> Client | None:
        return None  # the dialog cancelled

    wrong = Client(srv.address, "alice", key_for("mallory"), timeout=10.0, connect_timeout=5.0)
    window = TkApp(wrong, "default", theme="light", reconnect=reconnect)
    code = await asyncio.wait_for(window.mainloop(), 20)
    assert code == 1 and window.failure
