"""The client session every front end stands on: one profile's connection, the open chat,
its replies, and what the other clients of the profile do.

A :class:`Session` decides; a front end (the full-screen TUI, the line client) renders
and reads keys. The session opens a chat and shows its newest page, pages older
messages, follows the reply running in it (started here or by another client), follows
the chat when another client renames or deletes it (the server's news), notices a server
that stopped answering and reopens the chat when it answers again — or, given several
servers on one database, moves to the next that answers and reopens the chat there —
and runs the command lines of :mod:`chatthy.client.command_table`. What it wants shown
goes through the :class:`View` the front end implements: nothing here draws.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, cast

import msgspec

from chatthy.client.attachments import (
    PendingImages,
    attached_notice,
    looks_like_image_path,
    said,
)
from chatthy.client.core import Client, ReplyStream, error_of
from chatthy.client.image_view import ImageRef, image_parts, label, without_images
from chatthy.client.tools import (
    ApprovalRequest,
    ToolCallInfo,
    ToolResultInfo,
    call_text,
    result_of,
)
from chatthy.errors import (
    ArgumentError,
    ChatthyError,
    NotFoundError,
    ServerKeyChangedError,
    ServerUnavailableError,
)
from chatthy.wire import api

__all__ = [
    "APPROVING",
    "FIRST_PAGE",
    "OLDER_PAGE",
    "ChatState",
    "ReplySink",
    "Session",
    "View",
    "replied_line",
    "text_of",
]

FIRST_PAGE = 24
"""How many of a chat's newest messages are shown when it is opened: a screenful or more,
so that a chat of thousands opens at once; older ones come when asked for."""

OLDER_PAGE = 100
"""How many older messages are fetched at a time."""

APPROVING = frozenset({"chat", "regenerate", "edit", "template"})
"""The RPCs that start a reply and say how its tool calls that change something are
approved (``approve``: ask, yes, no)."""


@dataclass
class ChatState:
    """The open chat as the title shows it; ``tokens`` is None until a turn reported
    them, ``new`` while the chat does not exist yet (its first message creates it)."""

    profile: str
    chat: str
    personality: str = "default"
    provider: str = "?"
    model: str = ""
    messages: int = 0
    tokens: int | None = None
    workspace_tokens: int = 0
    new: bool = False
    rag: bool = False
    """Each turn sent here searches the documents with its own text (``/rag on``)."""

    def render(self) -> str:
        if self.new:
            size = (
                f"new chat + {self.workspace_tokens} tokens"
                if self.workspace_tokens
                else "new chat"
            )
        elif self.tokens is None:
            size = f"{self.messages} msgs + {self.workspace_tokens}"
        else:
            size = f"{self.tokens} + {self.workspace_tokens} tokens"
        model = f":{self.model}" if self.model else ""
        return f"{self.profile} — {self.chat} ({size}) [{self.personality}@{self.provider}{model}]"


class ReplySink(Protocol):
    """Where a front end renders one reply as it streams."""

    async def text(self, text: str) -> None:
        """More of the answer."""

    async def reasoning(self, text: str) -> None:
        """More of the model's reasoning (shown apart, folded when it ends)."""

    async def tool_call(self, call: ToolCallInfo) -> None:
        """The model asked for a tool; its result follows (after an approval, maybe)."""

    async def tool_result(self, result: ToolResultInfo) -> None:
        """What a call gave (an error: it failed, was refused, or ran out of time)."""

    async def approval(self, request: ApprovalRequest) -> None:
        """A call that changes something waits for the user: ask, without waiting here
        for the answer (more events may come: another client may answer), and answer
        with :meth:`Session.approve`; ``request.settled`` says when to stop asking."""

    async def end(self, status: str, error: str, message_id: int | None) -> None:
        """The reply ended: ``complete``, ``truncated``, ``cancelled``, ``interrupted``
        or ``error`` (then ``error`` says why); ``message_id`` is its stored id."""


class View(Protocol):
    """What a front end shows for the session. Every method renders; none decides."""

    async def show_chat(
        self, state: ChatState, messages: list[api.MessageInfo], older: int
    ) -> None:
        """Show ``messages`` (the newest of the chat, oldest first) in place of what was
        shown; ``older`` more exist before them."""

    async def show_older(self, messages: list[api.MessageInfo], older: int) -> None:
        """Put ``messages`` above those shown; ``older`` more exist before them."""

    async def add_user(
        self,
        text: str,
        message_id: int | None,
        when: float | None,
        images: Sequence[ImageRef] = (),
    ) -> None:
        """A message of the user's, sent here or by another client, with the images it
        holds (``images``)."""

    async def add_reply(self, provider: str, model: str, when: float | None) -> ReplySink:
        """A reply that starts streaming now; its events go to the sink returned."""

    async def notice(self, text: str, *, markdown: bool = False, error: bool = False) -> None:
        """A block of text for the user: a command's result, a notice."""

    def status(self, text: str, kind: str = "") -> None:
        """One short line of what just happened (``kind``: ``error``, ``busy`` or
        empty); replaced by the next."""

    def show_title(self, state: ChatState) -> None:
        """The open chat's figures changed."""

    def connection(self, ok: bool, why: str = "") -> None:
        """Whether the server answers (``why``: what failed when it does not)."""


def text_of(content: Any) -> str:
    """A message's content as text: its text parts, other parts named."""
    if isinstance(content, str):
        return content
    parts = []
    for part in content or []:
        if isinstance(part, dict) and part.get("type") == "text":
            parts.append(str(part.get("text", "")))
        elif isinstance(part, dict) and part.get("type") == "tool_call":
            arguments = part.get("arguments", "{}")
            parts.append(f"⚙ {call_text(str(part.get('name', '')), str(arguments), 30)}")
        elif isinstance(part, dict) and part.get("type") == "tool_result":
            continue
        elif isinstance(part, dict) and part.get("type") == "image_url":
            parts.extend(label(ref) for ref in image_parts([part]))
        elif isinstance(part, dict):
            parts.append(f"[{part.get('type', 'part')}]")
    return "\n".join(parts)


def _args(data: dict[str, Any]) -> str:
    """A call's arguments as the JSON text the model gave (a map if a server sent one)."""
    arguments = data.get("arguments", "{}")
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def replied_line(chat: str, status: str) -> str:
    """What a front end says when a reply ends in a chat not on screen."""
    how = "finished" if status in ("complete", "") else f"ended ({status})"
    return f"reply {how} in '{chat}'"


@dataclass
class _Reply:
    """The reply the session follows in the open chat."""

    stream: ReplyStream
    task: asyncio.Task[None] | None = None


@dataclass
class _Caches:
    """Names the completions offer, asked for when first needed and dropped when the
    server's news says they changed."""

    chats: list[str] | None = None
    prompts: list[str] | None = None
    templates: list[str] | None = None
    workspace: list[str] | None = None
    providers: list[api.ProviderInfo] | None = None


@dataclass
class _Boot:
    use: dict[str, str] = field(default_factory=dict)
    done: bool = False


class Session:
    """One profile's connection as a front end uses it; see the module docs.

    ``start`` learns the server (providers, commands) and opens the chat; ``close`` stops
    the background work and the connection. All methods raise :class:`ChatthyError`
    subclasses for what the user should read as one line.
    """

    PING_INTERVAL = 3.0
    """Seconds between connection checks while nothing else is heard from the server."""

    PING_TIMEOUT = 3.0

    DOWN_INTERVAL = 1.0
    """Seconds between connection checks while none of several servers answers."""

    PROBE_TIMEOUT = 0.75
    """Seconds a server is given to answer right after the connection dropped (or a
    request found it gone), and each other address then tried: a failover is quick. Once
    none answered, every address is given ``PING_TIMEOUT``."""

    def __init__(
        self,
        client: Client,
        view: View,
        chat: str = "default",
        *,
        provider: str | None = None,
        prompt: str | None = None,
        approve: str = "no",
    ) -> None:
        self.client = client
        self.approve_mode = approve
        """What replies started here say of tool calls that change something: ``ask``
        (a front end that can ask its user), ``yes`` or ``no`` (one that cannot)."""
        self.approvals: dict[str, ApprovalRequest] = {}
        """Calls waiting for the user's answer, by id."""
        self.view = view
        self.chat = chat
        self.state = ChatState(profile=client.profile, chat=chat)
        self.server_commands: dict[str, api.CommandInfo] = {}
        self.models: dict[str, str] = {}
        """Each provider's default model."""
        self.default_provider = "?"
        self.live: ReplyStream | None = None
        """The reply streaming in the open chat, if any."""
        self.up: bool | None = None
        """Whether the server answered the last time it was asked (None: not asked)."""
        self.on_ended: Callable[[str, str], None] | None = None
        """Called with (chat, status) when a reply the session followed ends."""
        self.on_replied: Callable[[str, str], None] | None = None
        """Called with (chat, status) when a reply ends in a chat that is not the open
        one (started here or by another client): the front end's bell."""
        self.on_chats_changed: Callable[[], None] | None = None
        """Called after any news of the profile's chats (a list shown is stale)."""
        self._boot = _Boot(use={k: v for k, v in (("provider", provider), ("prompt", prompt)) if v})
        self._wake = asyncio.Event()
        """Set when, with other addresses to move to, the connection dropped or a request
        found the server gone: the connection is checked at once."""
        client.on_drop = self._dropped
        self._reply: _Reply | None = None
        self._claimed: set[str] = set()
        self._lock = asyncio.Lock()
        self._oldest: int | None = None
        self._older = 0
        self._caches = _Caches()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.local_names: dict[str, Callable[[], list[str]]] = {}
        """Completion sources only the front end knows (the TUI's ``themes``)."""
        self.rag_chats: set[str] = set()
        """The chats where ``/rag on`` is on (for this session only)."""
        self.rag_provider: str | None = None
        """The RAG provider (``/rag provider NAME``): rescores what searches find."""
        self.images = PendingImages()
        """Images (``/image``, a pasted path) waiting for the next message sent."""
        self.rag_hits: list[api.RagHit] = []
        """What the last ``/rag search`` found, in the order shown (``/rag ws N``)."""

    async def fetch_image(self, digest: str) -> bytes:
        """The bytes of an image a message of this profile names (``chatthy-image:``),
        for a front end to draw. Raises ChatthyError."""
        image = await self.client.rpc(api.ImageGet(digest=digest))
        return image.data

    # ---- life -----------------------------------------------------------------------

    async def start(self) -> None:
        """Learn the providers and commands, apply the provider and personality asked
        for, open the chat; then watch for replies from elsewhere, news and the
        connection in the background.

        Raises:
            ChatthyError: the server cannot be reached, or refused (wrong passphrase …).
        """
        self._background(self._incoming_loop())
        self._background(self._news_loop())
        self._background(self._ping_loop())
        if len(self.client.addresses) > 1:
            first = self.client.address
            await self.client.reach()
            if self.client.address != first:
                self.view.status(f"moved to {self.client.address} ({first} does not answer)")
        await self._start()
        await self._tell_notices()

    async def _start(self) -> None:
        providers = await self.client.rpc(api.Providers(models=False))
        self._connected(True)
        self.models = {p.name: p.model for p in providers}
        default = next((p.name for p in providers if p.default), None)
        self.default_provider = default or self.state.provider
        self.state.provider = self.default_provider
        commands = await self.client.rpc(api.Commands())
        self.server_commands = {c.name: c for c in commands}
        refused: ChatthyError | None = None
        if self._boot.use:
            use, self._boot.use = self._boot.use, {}
            try:
                await self.client.rpc(api.Use(chat=self.chat, **use))
            except ServerUnavailableError:
                self._boot.use = use
                raise
            except ChatthyError as exc:
                refused = exc  # said once the chat is shown: a wrong --provider hides nothing
        await self.open(self.chat)
        with contextlib.suppress(ChatthyError):
            await self.refresh_workspace()
        self._boot.done = True
        if refused is not None:
            raise refused

    async def close(self) -> None:
        """Stop following, stop the background work, close the connection."""
        tasks = list(self._tasks)
        if self._reply is not None and self._reply.task is not None:
            tasks.append(self._reply.task)
        pending = {task for task in tasks if not task.done()}
        while pending:
            # cancelled again until they end: Python 3.11's wait_for drops a cancel that
            # comes as its awaited answer does (the news loop then waited for ever)
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=0.5)
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.client.aclose()

    async def use_client(self, client: Client) -> None:
        """Talk through ``client`` (another profile's) from now on: the old connection is
        closed, then the session starts afresh on the same chat name."""
        await self.close()
        self.client = client
        client.on_drop = self._dropped
        self.state = ChatState(profile=client.profile, chat=self.chat)
        self._claimed.clear()
        self._caches = _Caches()
        self._boot.done = False
        self.view.show_title(self.state)
        await self.start()

    def _background(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- the open chat --------------------------------------------------------------

    async def open(self, name: str) -> None:
        """Show chat ``name`` (it need not exist yet: its first message creates it) and
        follow a reply running in it."""
        async with self._lock:
            self._unfollow()
            stream = await self.client.attach(name)
            if stream is not None:
                self._claimed.add(stream.id)
            page = await self._page(name)
            running = page.running if page is not None else None
            live = running is not None and stream is not None and running.stream == stream.id
            if stream is not None and not live:
                self.client.forget_stream(stream.id)
            self.chat = name
            sink = await self._show(name, page, streaming=live)
            if live and stream is not None and sink is not None:
                self._follow(stream, sink)

    async def reload(self) -> None:
        """Show the open chat again from the server."""
        await self.open(self.chat)

    async def older(self) -> bool:
        """Put the next page of older messages above those shown; False when there are
        none (the first message is shown)."""
        async with self._lock:
            if self._oldest is None:
                return False
            page = await self.client.rpc(
                api.Messages(chat=self.chat, before=self._oldest, limit=OLDER_PAGE)
            )
            records = page.messages
            full = len(records) == OLDER_PAGE
            self._oldest = records[0].id if records and full else None
            self._older = max(0, self._older - len(records)) if full else 0
            await self.view.show_older(records, self._older)
            return True

    async def paged(
        self,
        take: Callable[[api.MessagesPage], Awaitable[None]],
        *,
        before: int | None = None,
        after: int | None = None,
        limit: int = OLDER_PAGE,
    ) -> None:
        """Fetch a page of the open chat (``before`` an id: the newest below it; ``after``
        an id: the oldest above it, ``after=0`` the first page) and hand it to ``take``,
        with nothing else changing what is shown meanwhile."""
        async with self._lock:
            call = api.Messages(chat=self.chat, before=before, after=after, limit=limit)
            await take(await self.client.rpc(call))

    @property
    def busy(self) -> bool:
        """A chat is being opened or changed (what is shown is about to change)."""
        return self._lock.locked()

    @property
    def booted(self) -> bool:
        """The session has started: the server answered and the chat was opened."""
        return self._boot.done

    @property
    def has_older(self) -> bool:
        return self._oldest is not None

    async def _page(self, chat: str, limit: int = FIRST_PAGE) -> api.MessagesPage | None:
        try:
            return await self.client.rpc(api.Messages(chat=chat, limit=limit))
        except NotFoundError:
            return None

    async def _show(
        self, name: str, page: api.MessagesPage | None, *, streaming: bool
    ) -> ReplySink | None:
        """Show the page; with ``streaming``, the reply in progress (stored as
        ``streaming``) is left out and a sink for it returned, to be filled from its
        stream."""
        records = page.messages if page is not None else []
        live = next((r for r in reversed(records) if r.status == "streaming"), None)
        shown = [r for r in records if r is not live] if streaming else records
        self._older = page.chat.messages - len(records) if page and records else 0
        self._oldest = records[0].id if self._older else None
        self._take_chat(name, page)
        self._last_user = max((r.id for r in records if r.role == "user"), default=0)
        self._newest = records[-1].id if records else None
        await self.view.show_chat(self.state, shown, self._older)
        if not streaming:
            return None
        return await self.view.add_reply(
            live.provider if live else self.state.provider,
            live.model if live else self.state.model,
            live.created if live else None,
        )

    def _take_chat(self, name: str, page: api.MessagesPage | None) -> None:
        state = self.state
        state.chat, state.tokens = name, None
        state.rag = name in self.rag_chats
        if page is None:
            state.new = True
            state.personality = self._boot.use.get("prompt") or "default"
            state.provider = self.default_provider
            state.model = self.models.get(state.provider, "")
            state.messages = 0
        else:
            self._take_info(page.chat)
        self.view.show_title(state)

    def _take_info(self, chat: api.ChatInfo) -> None:
        state = self.state
        state.new = False
        state.personality = chat.personality
        state.provider = chat.provider or self.default_provider
        state.model = chat.model or self.models.get(state.provider, "")
        state.messages = chat.messages

    async def refresh_title(self) -> None:
        """Read the open chat's record again (after /use, a first message)."""
        page = await self._page(self.chat, limit=1)
        tokens = self.state.tokens
        if page is None:
            self._take_chat(self.chat, None)
        else:
            self._take_info(page.chat)
        self.state.tokens = tokens
        self.view.show_title(self.state)

    async def refresh_workspace(self) -> None:
        """Count the workspace's active files and the attached ones again for the title."""
        files = await self.client.rpc(api.WsList())
        self._caches.workspace = [f.name for f in files]
        stored = sum(f.tokens for f in files if not f.benched)
        attached = await asyncio.to_thread(self.client.transient.tokens)
        self.state.workspace_tokens = stored + attached
        self.view.show_title(self.state)

    async def recount_attached(self, before: int) -> None:
        """Move the title's workspace figure by what the attached files hold now less
        ``before`` (what they held before an attach or detach): no server needed."""
        after = await asyncio.to_thread(self.client.transient.tokens)
        self.state.workspace_tokens = max(0, self.state.workspace_tokens + after - before)
        self.view.show_title(self.state)

    # ---- chats ----------------------------------------------------------------------

    async def use(self, **change: str) -> None:
        """Set the open chat's provider, personality (``prompt``) or model."""
        await self.client.rpc(api.Use(chat=self.chat, **change))
        await self.refresh_title()

    async def rename(self, new: str, chat: str | None = None) -> None:
        """Rename chat ``chat`` (the open one when None) to ``new``."""
        async with self._lock:  # the server's news of it waits: it finds the new name
            old = chat if chat is not None else self.chat
            await self.client.rpc(api.Rename(chat=old, new=new))
            self._renamed(old, new)

    async def chats(self) -> list[api.ChatInfo]:
        """The profile's chats, the most recently changed first (the names completion
        offers are read again with them)."""
        chats = await self.client.rpc(api.Chats())
        self._caches.chats = [c.name for c in chats]
        return chats

    async def providers(self, *, fresh: bool = False) -> list[api.ProviderInfo]:
        """The server's providers with their models (or why those could not be listed);
        asked for again with ``fresh``."""
        if fresh or self._caches.providers is None:
            self._caches.providers = await self.client.rpc(api.Providers())
        return self._caches.providers

    def _renamed(self, old: str, new: str) -> None:
        self._caches.chats = None
        if old in self.rag_chats:
            self.rag_chats.discard(old)
            self.rag_chats.add(new)
        if old != self.chat:
            return
        self.chat = self.state.chat = new
        if self.live is not None:
            self.live.chat = new
        self.view.show_title(self.state)

    async def destroy(self, name: str) -> None:
        """Delete chat ``name``; if it is the open one, open ``default`` instead."""
        await self.client.rpc(api.Destroy(chat=name))
        self._caches.chats = None
        if name == self.chat:
            await self.open("default")

    # ---- documents (RAG) ------------------------------------------------------------

    def use_rag(self, on: bool) -> None:
        """Whether each turn sent in the open chat searches the documents with its text."""
        if on:
            self.rag_chats.add(self.chat)
        else:
            self.rag_chats.discard(self.chat)
        self.state.rag = on
        self.view.show_title(self.state)

    async def rag_search(self, call: api.RagSearch) -> list[api.RagHit]:
        """Search the documents (with the RAG provider, unless ``call`` names one); the
        hits are remembered for :attr:`rag_hits`."""
        if call.provider is None and self.rag_provider:
            call = msgspec.structs.replace(call, provider=self.rag_provider)
        self.rag_hits = await self.client.rpc(call)
        return self.rag_hits

    # ---- replies --------------------------------------------------------------------

    async def send(self, text: str) -> None:
        """Send ``text`` as a message in the open chat, with the images attached
        meanwhile, and follow the reply. A line that is only the path of an image file
        (a file dropped on the terminal) attaches it instead: it waits for a message."""
        if (pasted := looks_like_image_path(text)) is not None:
            image = await self.images.add(pasted)
            await self.view.notice(attached_notice(image, pasted=True))
            self.view.status(self.images.status())
            return
        async with self._lock:
            was_new = self.state.new
            rag = " ".join(text.split())[:2000] if self.chat in self.rag_chats else ""
            images = list(self.images.images)
            message = said(text, images)
            stream, result = await self.client.start(
                "chat",
                self.chat,
                **message,
                approve=self.approve_mode,
                rag=rag or None,
                rag_provider=self.rag_provider if rag else None,
            )
            self.started = stream
            self._claimed.add(stream.id)
            if images:  # sent: they went with this message
                self.images.clear()
                self.view.status("")
            sent = image_parts(message.get("content"))
            await self.view.add_user(text, result.user_message_id, None, sent)
            self._last_user = max(self._last_user, result.user_message_id or 0)
            self._newest = result.user_message_id
            for notice in stream.notices:
                await self.view.notice(notice)
            sink = await self.view.add_reply(self.state.provider, self.state.model, None)
            self._follow(stream, sink)
            self._take_tokens(result)
            self.state.messages += 2
        if was_new:
            self._caches.chats = None
            await self.refresh_title()
        self.view.show_title(self.state)

    async def restart(self, method: str, **args: Any) -> None:
        """Run ``edit``, ``regenerate`` or ``template``: the history changes, so it is
        shown again, then the new reply as it streams."""
        async with self._lock:
            self._unfollow()
            if method in APPROVING:
                args.setdefault("approve", self.approve_mode)
            stream, result = await self.client.start(method, self.chat, **args)
            self.started = stream
            self._claimed.add(stream.id)
            page = await self._page(self.chat)
            sink = await self._show(self.chat, page, streaming=True)
            for notice in stream.notices:
                await self.view.notice(notice)
            self._take_tokens(result)
            self.view.show_title(self.state)
            if sink is not None:
                self._follow(stream, sink)

    async def cancel(self) -> bool:
        """Ask the server to stop the reply streaming in the open chat; False when none
        is."""
        live = self.live
        if live is None:
            return False
        with contextlib.suppress(NotFoundError):
            await self.client.rpc(api.Cancel(chat=live.chat))
        return True

    async def wait_reply(self, stream: ReplyStream | None = None) -> None:
        """Wait until the reply being followed (only if it is ``stream``, when given) has
        ended and been rendered."""
        reply = self._reply
        if reply is None or reply.task is None:
            return
        if stream is not None and reply.stream is not stream:
            return
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(reply.task)

    started: ReplyStream | None = None
    """The last reply this session started (a front end waits for the one its line
    started, not for a reply another client started meanwhile)."""

    def _take_tokens(self, result: api.Started) -> None:
        self.state.workspace_tokens = result.workspace_tokens
        self.state.tokens = result.tokens - result.workspace_tokens

    def _follow(self, stream: ReplyStream, sink: ReplySink) -> None:
        self.live = stream
        reply = _Reply(stream)
        reply.task = asyncio.ensure_future(self._render(reply, sink))
        self._reply = reply

    def _unfollow(self) -> None:
        """Stop rendering the reply followed (its chat is being left or shown again);
        it may run on, and opening its chat again resumes it."""
        reply, self._reply = self._reply, None
        if reply is None:
            return
        self.live = None
        if reply.stream.end is None:
            self.client.drop_stream(reply.stream.id)
            self._claimed.discard(reply.stream.id)
            self.view.status("")  # "streaming…" no more (it is said again if it goes on)
        if reply.task is not None:
            reply.task.cancel()

    async def _render(self, reply: _Reply, sink: ReplySink) -> None:
        stream = reply.stream
        self.view.status("streaming…", "busy")
        try:
            async for event in stream.events():
                if event.kind == "text":
                    await sink.text(event.text)
                elif event.kind == "reasoning":
                    await sink.reasoning(event.text)
                elif event.kind in ("tool_call", "tool_result", "approve"):
                    await self._tool_event(stream, sink, event.kind, event.data or {})
                elif event.kind == "info" and (dropped := (event.data or {}).get("dropped")):
                    self.view.status(f"{dropped} older message(s) left out to fit the context")
                elif event.kind == "info" and (message := (event.data or {}).get("message")):
                    self.view.status(str(message))
                elif event.kind == "end":
                    await self._ended(stream, sink, event.data or {}, error_of(event))
        finally:
            self._settle_all(stream.chat)
            if self.live is stream:
                self.live = None
            if self._reply is reply:
                self._reply = None

    async def _tool_event(
        self, stream: ReplyStream, sink: ReplySink, kind: str, data: dict[str, Any]
    ) -> None:
        """A call, its result, or a call waiting for approval (its result settles it)."""
        if kind == "tool_call":
            call = ToolCallInfo(str(data.get("id", "")), str(data.get("name", "")))
            await sink.tool_call(dataclasses.replace(call, arguments=_args(data)))
        elif kind == "tool_result":
            call_id = str(data.get("call_id", ""))
            waiting = self.approvals.pop(call_id, None)
            if waiting is not None:
                waiting.settle()
            await sink.tool_result(result_of(data))
        else:
            timeout = data.get("timeout")
            request = ApprovalRequest(
                str(data.get("call_id", "")),
                str(data.get("name", "")),
                _args(data),
                float(timeout) if isinstance(timeout, int | float) else 300.0,
                stream.chat,
            )
            self.approvals[request.call_id] = request
            await sink.approval(request)

    def _settle_all(self, chat: str) -> None:
        """The reply ended (or is no longer followed): nothing of it waits any more."""
        for call_id, request in list(self.approvals.items()):
            if request.chat == chat:
                request.settle()
                del self.approvals[call_id]

    async def approve(self, call_id: str, answer: str) -> bool:
        """Answer call ``call_id`` waiting for approval: ``yes``, ``no`` or ``always``
        (this tool's calls in this chat run without asking). False when it no longer
        waits (answered elsewhere, run out, the reply ended).

        Raises:
            ArgumentError: ``answer`` is none of those.
            ChatthyError: the server refused or cannot be reached.
        """
        if answer not in ("yes", "no", "always"):
            raise ArgumentError(f"answer yes, no or always, not '{answer}'")
        request = self.approvals.get(call_id)
        chat = request.chat if request is not None else self.chat
        if request is not None:
            request.settle(answer)
        said = cast(Literal["yes", "no", "always"], answer)
        done = await self.client.rpc(api.Approve(chat=chat, call_id=call_id, answer=said))
        return done.pending

    async def _ended(
        self, stream: ReplyStream, sink: ReplySink, data: dict[str, Any], error: Any
    ) -> None:
        status = str(data.get("status", "complete"))
        message_id = data.get("message_id")
        if stream.chat == self.chat and isinstance(message_id, int):
            self._newest = message_id
        await sink.end(status, error.message if error else "", message_id)
        if error is not None:
            self.view.status(f"error: {error.message}", "error")
        elif status == "cancelled":
            self.view.status("reply cancelled", "busy")
        elif status == "truncated":
            self.view.status("reply cut off at the token limit", "busy")
        elif status != "complete":
            self.view.status(f"reply {status}", "busy")
        else:
            self.view.status("")
        if self.on_ended is not None:
            self.on_ended(stream.chat, status)

    # ---- what other clients do ------------------------------------------------------

    async def _incoming_loop(self) -> None:
        """Show replies that other clients start in the open chat, with their message."""
        while True:
            stream = await self.client.incoming.get()
            try:
                await self._incoming(stream)
            except ChatthyError as exc:
                self.view.status(f"error: {exc.message}", "error")

    async def _incoming(self, stream: ReplyStream) -> None:
        async with self._lock:
            if stream.id in self._claimed:
                return
            if stream.chat != self.chat:
                self.client.drop_stream(stream.id)
                return
            self._claimed.add(stream.id)
            self._unfollow()
            page = await self.client.rpc(api.Messages(chat=self.chat, limit=4))
            live: api.MessageInfo | None = None
            for record in page.messages:
                if record.role == "user" and record.id > self._last_user:
                    await self.view.add_user(
                        text_of(without_images(record.content)),
                        record.id,
                        record.created,
                        image_parts(record.content),
                    )
                    self._last_user = record.id
                elif record.status == "streaming":
                    live = record
            sink = await self.view.add_reply(
                live.provider if live else self.state.provider,
                live.model if live else self.state.model,
                live.created if live else None,
            )
            self._take_info(page.chat)
            self.view.show_title(self.state)
            self._follow(stream, sink)

    _newest: int | None = None
    """The id of the newest message shown when the chat was last opened or changed."""

    _last_user = 0
    """The id of the newest message of the user's shown (so a reply from elsewhere shows
    its question once)."""

    async def _news_loop(self) -> None:
        news: asyncio.Queue[Any] | None = getattr(self.client, "news", None)
        if news is None:  # a client core without the server's news
            return
        while True:
            item = await news.get()
            try:
                new, status = getattr(item, "new", ""), getattr(item, "status", "")
                await self.on_news(item.kind, item.chat, new, status)
            except ChatthyError as exc:
                self.view.status(f"error: {exc.message}", "error")

    async def on_news(self, kind: str, chat: str, new: str = "", status: str = "") -> None:
        """What the server says another client (or this one) did to a chat."""
        self._caches.chats = None
        if kind == "replied":
            if chat != self.chat and self.on_replied is not None:
                self.on_replied(chat, status)
        elif kind == "renamed":
            async with self._lock:
                if chat == self.chat:
                    self._renamed(chat, new)
                    self.view.status(f"chat renamed to '{new}'")
        elif kind == "destroyed" and chat == self.chat:
            self.view.status(f"chat '{chat}' was deleted")
            async with self._lock:
                if chat == self.chat:  # not left meanwhile (a destroy here opens another)
                    self._unfollow()
                    self._take_chat(chat, None)
                    await self.view.show_chat(self.state, [], 0)
        elif kind == "updated" and chat == self.chat and self._reply is None:
            await self._updated()
        elif kind == "created" and chat == self.chat and self.state.new:
            await self.refresh_title()
        if self.on_chats_changed is not None:
            self.on_chats_changed()

    async def _updated(self) -> None:
        """The open chat changed (by this client or another): shown again only if its
        messages are not what is shown (an undo, an edit elsewhere), else its title is
        read again (a new personality, provider or model)."""
        async with self._lock:  # after any change this client is making to the chat
            if self._reply is not None:
                return  # a reply is being followed: what it shows is current
            page = await self._page(self.chat, limit=1)
        if page is None:
            return
        state = self.state
        newest = page.messages[-1].id if page.messages else None
        if page.chat.messages != state.messages or newest != self._newest:
            if self._reply is None:
                await self.reload()
            return
        tokens = state.tokens
        self._take_info(page.chat)
        state.tokens = tokens
        self.view.show_title(state)

    # ---- the connection -------------------------------------------------------------

    def _connected(self, ok: bool, why: str = "") -> bool:
        """Record the connection's state; True when it just came back."""
        back = ok and self.up is False
        self.up = ok
        self.view.connection(ok, why)
        return back

    def _dropped(self) -> None:
        """The connection dropped: with other addresses to move to, check it at once (a
        lone server is left to the next ping, as it reconnects by itself)."""
        if len(self.client.addresses) > 1:
            self._wake.set()

    async def _ping_loop(self) -> None:
        while True:
            several = len(self.client.addresses) > 1
            interval = self.PING_INTERVAL
            if several and self.up is False:  # none answers: checked more often
                interval = min(self.DOWN_INTERVAL, interval)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._wake.wait()
            dropped = self._wake.is_set()
            self._wake.clear()
            await self.ping(dropped=dropped)

    async def ping(self, *, dropped: bool = False) -> None:
        """Check the connection (``dropped``: it just dropped, or a request found the
        server gone — the server gets ``PROBE_TIMEOUT`` to answer); the first answer after
        a failed start starts the session, the first after a loss reopens the chat (a
        restarted server knows nothing of what this client watched). With several
        addresses, one that does not answer is left for the next that does, and the chat
        reopened there."""
        wait = self.PROBE_TIMEOUT if dropped and not self._tried else self.PING_TIMEOUT
        moved = ""
        try:
            status = await asyncio.wait_for(self.client.rpc(api.Status()), wait)
        except (ChatthyError, TimeoutError) as exc:
            why = getattr(exc, "message", "no answer")
            found = None
            if isinstance(exc, ServerUnavailableError | TimeoutError):
                found = await self._move_on()
            if found is None:
                self._tried = True
                self._connected(False, why)
                return
            status, moved = found, self.client.address
            self._uptime = None  # another server's uptime
        self._tried = False
        restarted = self._restarted(status.uptime)
        back = self._connected(True)
        try:
            if not self._boot.done:
                await self._start()
            elif moved or back or restarted:  # a quick restart fails no ping: its uptime tells
                await self.reload()
                if not moved:
                    self.view.status("reconnected")
            if moved:
                self.view.status(f"moved to {moved}")
            await self._tell_notices()
        except ChatthyError as exc:
            self.view.status(f"error: {exc.message}", "error")

    async def _move_on(self) -> api.ServerStatus | None:
        """Move to each other address in turn until one answers; its status, or None
        when none does (the client then talks to the last one tried). While the server
        was up, each gets ``PROBE_TIMEOUT``; once none answered, ``PING_TIMEOUT``."""
        wait = self.PING_TIMEOUT if self._tried else self.PROBE_TIMEOUT
        for address in self.client.others():
            try:
                await self.client.move_to(address)
                return await asyncio.wait_for(self.client.rpc(api.Status()), wait)
            except ServerKeyChangedError as exc:
                self.view.status(f"error: {exc.message}", "error")
            except (ChatthyError, TimeoutError):
                continue
        return None

    async def _tell_notices(self) -> None:
        """Say what the client learned while moving (a server's key on first contact)."""
        notices, self.client.notices = self.client.notices, []
        for line in notices:
            await self.view.notice(line)

    def _restarted(self, uptime: float) -> bool:
        """Whether the server started again since the last ping (its uptime is less
        than the last one's plus the time since)."""
        now = time.monotonic()
        last, self._uptime = self._uptime, (uptime, now)
        return last is not None and uptime + 0.25 < last[0] + (now - last[1])

    _uptime: tuple[float, float] | None = None
    """The server's uptime at the last ping, and when that was (monotonic)."""

    _tried = False
    """Every address was tried and none answered (from then on each gets
    ``PING_TIMEOUT``: a far server is not given up for a short wait)."""

    def lost(self, error: ServerUnavailableError) -> None:
        """A request found the server gone: say so until it answers again (or another
        address does: it is checked at once)."""
        self._connected(False, error.message)
        self._dropped()

    # ---- completion sources ---------------------------------------------------------

    async def names(self, source: str) -> list[str]:
        """The names a completion source offers: ``chats``, ``prompts``, ``agents``,
        ``chains``, ``documents`` (the document store's), ``providers``,
        ``models`` (the open chat's provider's), ``templates``, ``workspace``,
        ``commands`` (the server's RPCs). Empty when the server cannot say now."""
        caches = self._caches
        try:
            if source == "chats":
                if caches.chats is None:
                    caches.chats = [c.name for c in await self.client.rpc(api.Chats())]
                return caches.chats
            if source == "prompts":
                if caches.prompts is None:
                    caches.prompts = [p.name for p in await self.client.rpc(api.Prompts())]
                return caches.prompts
            if source == "agents":
                return [a.name for a in await self.client.rpc(api.Agents())]
            if source == "chains":
                return [c.name for c in await self.client.rpc(api.Chains())]
            if source == "documents":
                return [d.name for d in await self.client.rpc(api.RagList())]
            if source == "templates":
                if caches.templates is None:
                    caches.templates = [t.name for t in await self.client.rpc(api.Templates())]
                return caches.templates
            if source == "workspace":
                if caches.workspace is None:
                    caches.workspace = [f.name for f in await self.client.rpc(api.WsList())]
                return caches.workspace
            if source in ("providers", "models"):
                providers = await self.providers()
                if source == "providers":
                    return [p.name for p in providers]
                mine = [p for p in providers if p.name == self.state.provider]
                return sorted({m for p in mine for m in (p.model, *(p.models or ())) if m})
            if source == "commands":
                return sorted(self.server_commands)
            if source in self.local_names:
                return self.local_names[source]()
        except ChatthyError:
            return []
        return []

    def forget_names(self, *sources: str) -> None:
        """Ask the server again for these sources' names next time."""
        for source in sources:
            if source == "models":
                source = "providers"
            if hasattr(self._caches, source):
                setattr(self._caches, source, None)

    def clone_state(self) -> ChatState:
        return dataclasses.replace(self.state)
