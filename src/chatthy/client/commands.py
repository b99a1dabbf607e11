"""The one-shot client commands: ask, template, chats, export, import (scriptable, exit
codes)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import getpass
import json
import re
import secrets
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

from chatthy.client.attachments import ImagePartIn, said
from chatthy.client.core import Client, ReplyStream, error_of
from chatthy.client.image_view import label
from chatthy.client.keycache import cache_path, forget_profile
from chatthy.client.settings import Settings, key_source, signing_key
from chatthy.client.templates import template_request
from chatthy.client.tools import call_text, result_line, result_of
from chatthy.errors import ArgumentError, AuthError, ChatthyError
from chatthy.media.images import inspect, to_data_url
from chatthy.wire import api
from chatthy.wire.messages import Event
from chatthy.wire.signing import SigningKey, derive_key, fingerprint

__all__ = [
    "ask",
    "change_passphrase",
    "confirm_new_profile",
    "connect",
    "export",
    "failure_of",
    "format_chats",
    "format_key",
    "import_file",
    "list_chats",
    "list_templates",
    "print_stream",
    "read_text_file",
    "run_template",
]


def connect(settings: Settings, *, connect_timeout: float = 5.0) -> Client:
    """A client for ``settings``; where the passphrase was typed at a prompt, a profile
    the server does not know yet has its passphrase asked again before the first request
    registers it (a typo would own the name for good)."""
    key = signing_key(settings)
    client = Client(
        settings.server,
        settings.profile,
        key,
        timeout=settings.timeout,
        connect_timeout=connect_timeout,
        server_key=settings.server_key,
        invite=settings.invite,
        legacy_key=functools.partial(
            derive_key, settings.passphrase, settings.profile, legacy=True
        ),
        addresses=settings.addresses,
        key_of=key_source(settings),
    )
    if settings.prompted:

        async def confirm() -> None:
            await asyncio.to_thread(_confirm_on_terminal, settings)

        client.on_new_profile = confirm
    return client


def _confirm_on_terminal(settings: Settings) -> None:
    print(
        f"profile '{settings.profile}' is new on {settings.server}: "
        "its first request registers it with this passphrase",
        file=sys.stderr,
    )
    again = getpass.getpass(f"passphrase for profile '{settings.profile}' again: ")
    if again != settings.passphrase:
        raise AuthError("the passphrases do not match: nothing was registered")


async def confirm_new_profile(settings: Settings) -> Settings:
    """Settings whose profile the server knows or that the user confirmed: asks the
    server (``hello``) and, for a new profile with a typed passphrase, the passphrase
    again, before a front end that owns the terminal (the full-screen one) starts.

    Raises:
        AuthError: the passphrases differ.
        ChatthyError: the server refused (unreachable, denied).
    """
    if not settings.prompted:
        return settings
    async with connect(settings, connect_timeout=10.0) as client:
        await client.hello()
    return dataclasses.replace(settings, prompted=False)


def format_key(profile: str, public_key: bytes) -> str:
    """A profile's key as a person compares it, and as server.toml lists it."""
    return (
        f"profile '{profile}': {fingerprint(public_key)}\n"
        f"public key (for [server.profiles] in server.toml): {public_key.hex()}"
    )


async def change_passphrase(settings: Settings, new: SigningKey) -> api.Rekeyed:
    """Make ``new`` the profile's key, by a request signed with the current one; the
    profile's keys kept in the key cache go (they are of the old passphrase).

    Raises:
        ChatthyError: the server refused (wrong current passphrase, listed profile).
    """
    async with connect(dataclasses.replace(settings, prompted=False)) as client:
        done = await client.rpc(api.Rekey(key=new.public_key))
    forget_profile(cache_path(), settings.profile)
    return done


async def print_stream(stream: ReplyStream, out: IO[str], err: IO[str]) -> Event | None:
    """Write the turn's notices on ``err``, then the reply as it arrives (reasoning dimmed
    on stderr when it is a terminal; tool calls and their results a line each on
    stderr); return its end event (None if the stream stopped without one)."""
    for notice in stream.notices:
        err.write(notice + "\n")
    printer = _Printer(out, err)
    async for event in stream.events():
        printer.take(event)
        if event.kind == "end":
            return event
    return None


class _Printer:
    """One reply's events as ``chatthy ask`` prints them."""

    def __init__(self, out: IO[str], err: IO[str]) -> None:
        self.out, self.err = out, err
        self.dim = err.isatty()
        self.in_reasoning = False
        self.mid_line = False
        """The answer's last line on stdout is not finished (a tool's line on a terminal
        starts a line of its own)."""
        self.refused = 0

    def take(self, event: Event) -> None:
        out, err, data = self.out, self.err, event.data or {}
        if event.kind == "text":
            self._reasoned()
            out.write(event.text)
            out.flush()
            self.mid_line = bool(event.text) and not event.text.endswith("\n")
        elif event.kind == "reasoning":
            if not self.in_reasoning and self.dim:
                err.write("\x1b[2m")
            self.in_reasoning = True
            err.write(event.text)
            err.flush()
        elif event.kind in ("tool_call", "tool_result"):
            self._tool(event.kind, data)
        elif event.kind == "info" and data.get("dropped"):
            err.write(f"[{data['dropped']} older message(s) left out to fit the context]\n")
        elif event.kind == "info" and data.get("message"):
            err.write(f"[{data['message']}]\n")
        elif event.kind == "end":
            self._end(data)

    def _reasoned(self) -> None:
        if self.in_reasoning:
            self.err.write("\x1b[0m\n" if self.dim else "\n")
            self.in_reasoning = False

    def _tool(self, kind: str, data: dict[str, Any]) -> None:
        self._reasoned()
        if self.mid_line and self.err.isatty():
            self.out.flush()
            self.err.write("\n")
            self.mid_line = False
        name = str(data.get("name", ""))
        if kind == "tool_call":
            self.err.write(f"⚙ {call_text(name, _arguments(data))}\n")
        else:
            result = result_of(data)
            if result.is_error and result.content.startswith("not run:"):
                self.refused += 1
                line = f"refused: {result.content.removeprefix('not run:').strip()}"
            else:
                line = result_line(result)
            self.err.write(f"⚙ {name} → {line}\n")
            for image in result.images:  # a one-shot answer draws none: it names them
                self.err.write(f"  {label(image)}\n")
        self.err.flush()

    def _end(self, data: dict[str, Any]) -> None:
        if self.in_reasoning and self.dim:
            self.err.write("\x1b[0m")
        self.out.write("\n")
        self.out.flush()
        if data.get("status") == "truncated":
            self.err.write(f"[{TRUNCATED}]\n")
        if self.refused:
            self.err.write(
                f"[{self.refused} tool call(s) refused: "
                "`chatthy ask --yes` approves calls that change something]\n"
            )


def _arguments(data: dict[str, Any]) -> str:
    arguments = data.get("arguments", "{}")
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


TRUNCATED = "cut off at the token limit"
"""What a client says of a reply the model ended at its token limit (stored as it is)."""

_STOPPED = {
    "cancelled": "reply cancelled",
    "interrupted": "reply interrupted (the server stopped)",
}


def failure_of(end: Event | None) -> ChatthyError | None:
    """Why a reply did not complete (error, cancelled, interrupted), or None if it did."""
    if end is None:
        return ChatthyError("the reply stream ended early")
    if error := error_of(end):
        return error
    status = (end.data or {}).get("status", "complete")
    if status in ("complete", "truncated"):
        return None
    return ChatthyError(_STOPPED.get(status, f"reply ended {status}"))


def default_chat_name() -> str:
    """A fresh chat per one-shot question, named by when it was asked; the random suffix
    keeps questions asked in the same second apart."""
    return f"ask {time.strftime('%Y-%m-%d %H:%M:%S')} {secrets.token_hex(2)}"


async def ask(
    settings: Settings,
    text: str,
    *,
    chat: str | None,
    provider: str | None,
    prompt: str | None,
    model: str | None,
    attach: Sequence[Path] = (),
    params: dict[str, Any] | None = None,
    approve: bool = False,
    rag: str | None = None,
    rag_provider: str | None = None,
    images: Sequence[ImagePartIn] = (),
) -> int:
    """One turn: send ``text`` (and ``images``, read and fitted by the caller: a bad one
    is refused before anything is sent) with the files and folders of ``attach`` (read now, never
    stored) and the generation parameters ``params`` (``-o``, for this turn only),
    stream the reply to stdout. Returns the exit status. With ``rag`` (``--rag``), what
    that query finds in the profile's documents goes into the turn's context, rescored
    by ``rag_provider``'s model when one is named.

    Tool calls that change something run only with ``approve`` (``--yes``): nobody is
    there to be asked, so without it they are refused (the model is told, stderr says
    so) and the turn still succeeds.

    client.toml's provider and prompt are defaults for new chats: they apply only without
    ``chat``, so that an existing chat keeps its own. On Ctrl-C the reply is cancelled on
    the server before the interruption goes on.

    Raises:
        ChatthyError: the server cannot be reached or refused, an attached path does not
            exist, or the reply did not complete (provider error, cancelled, interrupted).
    """
    if chat is None:
        provider = provider or settings.provider or None
        prompt = prompt or settings.prompt or None
    async with connect(settings) as client:
        for path in attach:
            for notice in client.transient.attach(path).notices:
                sys.stderr.write(notice + "\n")
        for notice in client.notices:  # a server's key learned reaching one that answers
            sys.stderr.write(notice + "\n")
        return await _stream_turn(
            client,
            "chat",
            chat or default_chat_name(),
            **said(text, list(images)),
            provider=provider,
            prompt=prompt,
            model=model,
            params=params or None,
            approve="yes" if approve else "no",
            rag=" ".join(rag.split())[:2000] if rag and rag.strip() else None,
            rag_provider=rag_provider if rag else None,
        )


async def run_template(
    settings: Settings,
    words: list[str],
    *,
    chat: str | None,
    provider: str | None = None,
    prompt: str | None = None,
    model: str | None = None,
    params: dict[str, Any] | None = None,
) -> int:
    """``chatthy template NAME [FILE] key=value…``: run an instruction template on FILE
    (a local file, sent for this turn only and never stored; else a workspace file) or,
    without one, on ``chat``; stream the reply to stdout. Returns the exit status.
    Provider, personality and model apply as for :func:`ask`.

    Raises:
        ChatthyError: no NAME, no FILE and no ``chat``, a local FILE that cannot be sent
            (binary, too large, a folder), or as :func:`ask`.
    """
    if not words or "=" in words[0]:
        raise ArgumentError("the template's NAME comes first (chatthy templates lists them)")
    request = template_request(words)
    local = Path(request["file"]).expanduser() if request["file"] is not None else None
    if local is not None and local.is_dir():
        raise ArgumentError(f"{local} is a folder: a template runs on one file")
    if request["file"] is None and chat is None:
        raise ArgumentError("give a FILE to run the template on, or --chat CHAT for a chat")
    if chat is None:
        provider = provider or settings.provider or None
        prompt = prompt or settings.prompt or None
    async with connect(settings) as client:
        if local is not None and local.exists():
            found = client.transient.attach(local)
            if not found.files:
                raise ArgumentError(f"{local} cannot be sent: {'; '.join(found.notices)}")
            request["file"] = found.files[0].name
        return await _stream_turn(
            client,
            "template",
            chat or default_chat_name(),
            provider=provider,
            prompt=prompt,
            model=model,
            params=params or None,
            **request,
        )


async def _stream_turn(client: Client, method: str, chat: str, **args: Any) -> int:
    """Start a reply (``chat``, ``template``) and print it as it comes; on Ctrl-C it is
    cancelled on the server before the interruption goes on. Returns 0.

    Raises:
        ChatthyError: the turn was refused, or the reply did not complete.
    """
    stream, _ = await client.start(method, chat, **args)
    try:
        end = await print_stream(stream, sys.stdout, sys.stderr)
    except (asyncio.CancelledError, KeyboardInterrupt, Exception):
        await _cancel(client, stream.chat)
        raise
    if error := failure_of(end):
        raise error
    return 0


async def _cancel(client: Client, chat: str) -> None:
    """Ask the server to stop the reply in ``chat``, without waiting long or failing: the
    user is leaving anyway."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.rpc(api.Cancel(chat=chat)), 2.0)


T = TypeVar("T")


async def rpc(settings: Settings, call: api.Call[T]) -> T:
    """One RPC on a connection of its own (the one-shot commands)."""
    async with connect(settings) as client:
        return await client.rpc(call)


async def list_templates(settings: Settings) -> list[api.TemplateInfo]:
    async with connect(settings) as client:
        return await client.rpc(api.Templates())


async def list_chats(settings: Settings, personality: str | None) -> list[api.ChatInfo]:
    async with connect(settings) as client:
        return await client.rpc(api.Chats(personality=personality))


def format_chats(chats: list[api.ChatInfo]) -> str:
    if not chats:
        return "no chats yet"
    width = max(len(c.name) for c in chats)
    lines = []
    for c in chats:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(c.updated))
        running = "  (replying)" if c.running else ""
        lines.append(
            f"{c.name:<{width}}  {c.messages:>5} msgs  {when}  "
            f"{c.personality}@{c.provider}{running}"
        )
    return "\n".join(lines)


async def export(
    settings: Settings, chat: str, fmt: Literal["md", "json", "openai"], output: Path | None
) -> None:
    async with connect(settings) as client:
        result = await client.rpc(api.Export(chat=chat, format=fmt))
        if output is None:
            sys.stdout.write(result.data)
            if result.images:
                sys.stderr.write(
                    f"chatthy: {len(result.images)} image(s) not written: export to a file "
                    "(-o FILE.md) to have them beside it\n"
                )
            return
        await save_export(client, result, output)


async def save_export(client: Client, result: api.Exported, path: Path) -> int:
    """Write an export to ``path`` and, for Markdown, the images it links to beside it
    (``images/…``, fetched by digest; one already there is not fetched again); how many
    images were written.

    Raises:
        ChatthyError: a file cannot be written, or an image cannot be fetched.
    """
    for name, digest in result.images.items():  # before anything is written
        if not (EXPORTED_IMAGE.fullmatch(name) and DIGEST.fullmatch(digest)):
            raise ChatthyError(f"the server named an image file {name!r}: not written")
    try:
        await asyncio.to_thread(path.write_text, result.data, encoding="utf-8")
    except OSError as exc:
        raise ChatthyError(f"cannot write {path}: {exc.strerror or exc}") from None
    written = 0
    for name, digest in result.images.items():
        target = path.parent / name
        if target.is_file():
            continue  # the same digest, the same bytes
        image = await client.rpc(api.ImageGet(digest=digest))
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            await asyncio.to_thread(target.write_bytes, image.data)
        except OSError as exc:
            raise ChatthyError(f"cannot write {target}: {exc.strerror or exc}") from None
        written += 1
    return written


async def import_file(settings: Settings, path: Path, chat: str | None) -> api.Imported:
    """Create a chat from a JSON or Markdown file, or a chat per conversation from a
    ChatGPT or claude.ai export.

    Raises:
        ChatthyError: the file cannot be read as UTF-8 text, or the server refused it.
    """
    data = read_chat_file(path)
    async with connect(settings) as client:
        return await client.import_text(data, chat)


EXPORTED_IMAGE = re.compile(r"images/[0-9a-f]{16}\.(?:png|jpg|gif|webp)")
"""The only names an export's image files may have (a hostile server's ``../..`` or
absolute path would write elsewhere)."""
DIGEST = re.compile(r"[0-9a-f]{64}")
IMAGE_LINK = re.compile(r"!\[([^\]\n]*)\]\(([^)\s]+)\)")
"""An image a Markdown export links: ``![cat.png](images/….png)``."""
INLINED_MAX = 20_000_000
"""The largest image file an import of Markdown inlines; a larger one stays a link."""


def read_chat_file(path: Path) -> str:
    """The text of a chat file to import; for Markdown, the image files it links that
    lie beside it (as ``chatthy export -o FILE.md`` writes them) inlined as ``data:``
    URLs, so that the server keeps them again. A link to anything else stays as it is.

    Raises:
        ChatthyError: as :func:`read_text_file`.
    """
    text = read_text_file(path)
    if path.suffix.lower() not in (".md", ".markdown") or "![" not in text:
        return text
    folder = path.parent.resolve()

    def inlined(found: re.Match[str]) -> str:
        target = (folder / found[2]).resolve()
        if not target.is_relative_to(folder) or not target.is_file():
            return found[0]
        try:
            if target.stat().st_size > INLINED_MAX:
                return found[0]
            data = target.read_bytes()
        except OSError:
            return found[0]
        try:
            media_type = inspect(data, found[2]).media_type
        except ArgumentError:  # not an image of a kind the server takes: a link it stays
            return found[0]
        return f"![{found[1]}]({to_data_url(data, media_type)})"

    return IMAGE_LINK.sub(inlined, text)


def read_text_file(path: Path) -> str:
    """The UTF-8 text of ``path``.

    Raises:
        ChatthyError: it is missing, unreadable, or not UTF-8 text.
    """
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8 text (byte {exc.start})"
    except OSError as exc:
        reason = exc.strerror or str(exc)
    raise ChatthyError(f"cannot read {path}: {reason}")
