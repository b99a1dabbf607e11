"""The one-shot client commands: ask, chats, export, import (scriptable, exit codes)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import IO, Any

from chatthy.client.core import Client, ReplyStream, error_of
from chatthy.client.settings import Settings
from chatthy.errors import ChatthyError
from chatthy.wire.signing import derive_key

__all__ = [
    "ask",
    "connect",
    "export",
    "format_chats",
    "import_file",
    "list_chats",
    "print_stream",
]


def connect(settings: Settings) -> Client:
    key = derive_key(settings.passphrase, settings.profile)
    return Client(
        settings.server,
        settings.profile,
        key,
        timeout=settings.timeout,
        server_key=settings.server_key,
    )


async def print_stream(stream: ReplyStream, out: IO[str], err: IO[str]) -> ChatthyError | None:
    """Write a reply as it arrives (reasoning dimmed on stderr when it is a terminal);
    return the error it ended with, if any."""
    dim = err.isatty()
    in_reasoning = False
    async for event in stream.events():
        if event.kind == "text":
            if in_reasoning:
                err.write("\x1b[0m\n" if dim else "\n")
                in_reasoning = False
            out.write(event.text)
            out.flush()
        elif event.kind == "reasoning":
            if not in_reasoning and dim:
                err.write("\x1b[2m")
            in_reasoning = True
            err.write(event.text)
            err.flush()
        elif event.kind == "info" and event.data and event.data.get("dropped"):
            err.write(f"[{event.data['dropped']} older message(s) left out to fit the context]\n")
        elif event.kind == "end":
            if in_reasoning and dim:
                err.write("\x1b[0m")
            out.write("\n")
            out.flush()
            data = event.data or {}
            if data.get("status") == "cancelled":
                err.write("[cancelled]\n")
            return error_of(event)
    return None


def default_chat_name() -> str:
    """A fresh chat per one-shot question, named by when it was asked."""
    return "ask " + time.strftime("%Y-%m-%d %H:%M:%S")


async def ask(
    settings: Settings,
    text: str,
    *,
    chat: str | None,
    provider: str | None,
    prompt: str | None,
    model: str | None,
) -> int:
    """One turn: send ``text``, stream the reply to stdout. Returns the exit status."""
    async with connect(settings) as client:
        stream, _ = await client.start(
            "chat",
            chat or default_chat_name(),
            text=text,
            provider=provider or settings.provider or None,
            prompt=prompt or settings.prompt or None,
            model=model,
        )
        try:
            error = await print_stream(stream, sys.stdout, sys.stderr)
        except (KeyboardInterrupt, Exception):
            await client.call("cancel", chat=stream.chat)
            raise
    if error is not None:
        raise error
    return 0


async def list_chats(settings: Settings, personality: str | None) -> list[dict[str, Any]]:
    async with connect(settings) as client:
        result: list[dict[str, Any]] = await client.call("chats", personality=personality)
        return result


def format_chats(chats: list[dict[str, Any]]) -> str:
    if not chats:
        return "no chats yet"
    width = max(len(c["name"]) for c in chats)
    lines = []
    for c in chats:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(c["updated"]))
        running = "  (replying)" if c.get("running") else ""
        lines.append(
            f"{c['name']:<{width}}  {c['messages']:>5} msgs  {when}  "
            f"{c['personality']}@{c['provider']}{running}"
        )
    return "\n".join(lines)


async def export(settings: Settings, chat: str, fmt: str, output: Path | None) -> None:
    async with connect(settings) as client:
        result = await client.call("export", chat=chat, format=fmt)
    data: str = result["data"]
    if output is None:
        sys.stdout.write(data)
    else:
        output.write_text(data, encoding="utf-8")


async def import_file(settings: Settings, path: Path, chat: str | None) -> dict[str, Any]:
    data = path.read_text(encoding="utf-8")
    async with connect(settings) as client:
        result: dict[str, Any] = await client.call("import", data=data, chat=chat)
        return result
