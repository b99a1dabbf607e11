"""``chatthy run``: a server of its own in a child process, and the client against it (the
full-screen one on a terminal, the line client otherwise)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

from chatthy.client.repl import repl
from chatthy.client.settings import resolve
from chatthy.config import data_dir
from chatthy.errors import ChatthyError
from chatthy.private import private_file

__all__ = ["run_embedded"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run_embedded(chat: str, *, provider: str | None = None, prompt: str | None = None) -> int:
    """Start ``chatthy serve`` on a free loopback port, run the client, stop the server.

    The full-screen client's first request waits for the server to come up (and retries
    while it is unreachable), so it need not wait here."""
    address = f"tcp://127.0.0.1:{_free_port()}"
    try:
        settings = resolve(server=address)
    except ChatthyError as exc:
        print(f"chatthy: {exc.message}", file=sys.stderr)
        return 1
    for notice in settings.notices:  # a client.toml with a passphrase others can read
        print(f"chatthy: {notice}", file=sys.stderr)
    log_path = data_dir() / "server.log"
    try:
        private_file(log_path)  # it may quote what was said
    except OSError as exc:
        print(f"chatthy: cannot write {log_path}: {exc.strerror}", file=sys.stderr)
        return 1
    with log_path.open("ab") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "chatthy", "serve", "--listen", address],
            stdin=subprocess.DEVNULL,
            stderr=log,
        )
    print(f"embedded server on {address} (log: {log_path})", file=sys.stderr)
    try:
        if sys.stdin.isatty() and sys.stdout.isatty():
            from chatthy.client.commands import confirm_new_profile
            from chatthy.client.tui import run_tui

            settings = asyncio.run(confirm_new_profile(settings))
            return run_tui(settings, chat, provider=provider, prompt=prompt)
        return asyncio.run(repl(settings, chat, provider=provider, prompt=prompt))
    except ChatthyError as exc:
        print(f"chatthy: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        server.terminate()
        server.wait(timeout=10)
