"""A plain line client: type to chat, `/command key=value …` for any server command.

``chatthy repl`` opens it, and so do ``chatthy`` and ``chatthy run`` when stdin or stdout
is not a terminal.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
from typing import Any

from chatthy.client.commands import connect, failure_of, format_chats, print_stream
from chatthy.client.core import Client, error_of
from chatthy.client.settings import Settings
from chatthy.errors import ChatthyError

__all__ = ["repl"]

HELP = """\
Type a message and press Enter to chat. Commands:
  /chat NAME          switch to (or create) chat NAME
  /help               this help; /commands lists every server command
  /quit               leave (Ctrl-D too); Ctrl-C cancels a running reply
  /NAME key=value …   run any server command, e.g. /chats  /rename new=other
"""


def _parse_args(words: list[str]) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for word in words:
        key, _, value = word.partition("=")
        try:
            args[key] = json.loads(value)
        except json.JSONDecodeError:
            args[key] = value
    return args


async def _command(client: Client, chat: str, line: str) -> str:
    words = shlex.split(line[1:])
    name, rest = words[0], words[1:]
    if name == "chat" and rest:
        await client.attach(rest[0])
        return rest[0]
    args = _parse_args(rest)
    if name not in (
        "chats",
        "commands",
        "status",
        "providers",
        "prompts",
        "account",
        "search",
        "prompt",
        "prompt_set",
        "prompt_rename",
        "prompt_copy",
        "prompt_delete",
        "import",
    ):
        args.setdefault("chat", chat)
    result = await client.call(name, **args)
    if name == "chats":
        print(format_chats(result))
    else:
        print(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    return chat


async def _turn(client: Client, chat: str, text: str) -> None:
    stream, _ = await client.start("chat", chat, text=text)
    task = asyncio.create_task(print_stream(stream, sys.stdout, sys.stderr))
    try:
        end = await asyncio.shield(task)
    except asyncio.CancelledError:
        await client.call("cancel", chat=chat)
        end = await task
    failure = failure_of(end)
    if failure is None:
        return
    if end is not None and error_of(end) is None:
        print(f"[{failure.message}]", file=sys.stderr)
    else:
        print(f"error: {failure.message}", file=sys.stderr)


async def repl(
    settings: Settings, chat: str, *, provider: str | None = None, prompt: str | None = None
) -> int:
    """Read lines until /quit or end of input; ``provider`` and ``prompt``, when given, are
    set on the chat first.

    Raises:
        ChatthyError: the server cannot be reached, or refused the provider or prompt.
    """
    loop = asyncio.get_running_loop()
    async with connect(settings) as client:
        if provider or prompt:
            await client.call("use", chat=chat, provider=provider, prompt=prompt)
        await client.attach(chat)
        print(
            f"chatthy — profile {settings.profile}, chat '{chat}' at {settings.server}. "
            "/help for help.",
            file=sys.stderr,
        )
        while True:
            try:
                line = await loop.run_in_executor(None, input, f"{chat}> ")
            except EOFError:
                return 0
            line = line.strip()
            if not line:
                continue
            if line in ("/quit", "/exit", "/q"):
                return 0
            if line in ("/help", "/?"):
                print(HELP, file=sys.stderr)
                continue
            try:
                if line.startswith("/"):
                    chat = await _command(client, chat, line)
                else:
                    await _turn(client, chat, line)
            except ChatthyError as exc:
                print(f"error: {exc.message}", file=sys.stderr)
