"""The engine: chat, regenerate, edit, cancel and context planning, with no knowledge of
any transport (what it does to chats themselves — make, rename, fork, import, destroy,
undo, and the news of it — is :mod:`chatthy.conversation.chats`).

Each method acts for one authenticated profile and returns what happened; a method that
starts a reply returns its :class:`~chatthy.conversation.turns.Turn`, whose numbered
events the :class:`~chatthy.conversation.turns.Broadcaster` delivers to whoever watches
the chat (the ZeroMQ server, a test, later an HTTP router). A turn that cannot start
(the chat is busy, the provider unknown, the message does not fit) changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from chatthy.agent.chains import ChainError, load_chains, run_chain
from chatthy.agent.loop import Loop
from chatthy.agent.mcp import manager_for
from chatthy.agent.registry import offered, server_tools, takes_tools, with_mcp
from chatthy.agent.tools import Tool, ToolContext, ToolRegistry
from chatthy.config import ProviderConfig, ServerConfig, effective_providers
from chatthy.context import TokenCache
from chatthy.context.window import cut
from chatthy.context.workspace import WorkspaceFile, files_fit, workspace_message
from chatthy.conversation.chats import ChatBook
from chatthy.conversation.content import content_of, message_of, user_parts
from chatthy.conversation.events import (
    Notice,
    ToolApproval,
    ToolCall,
    TurnEnd,
    TurnEvent,
    TurnStarted,
)
from chatthy.conversation.images import (
    ImageBytes,
    Kept,
    Limits,
    keep_images,
    limits_for,
    takes_images,
)
from chatthy.conversation.model import Message, Part
from chatthy.conversation.ownership import ReplyOwner
from chatthy.conversation.prompts import ServerPrompts
from chatthy.conversation.reply import ReplyJob, run_reply
from chatthy.conversation.turns import Broadcaster, LocalBroadcaster, Turn, Turns
from chatthy.errors import ArgumentError, ChatthyError, ConflictError, NotFoundError
from chatthy.providers.base import Options, Provider
from chatthy.providers.registry import build_provider
from chatthy.rag.service import RagService
from chatthy.store.base import ChatRecord, ImageIn, Store

if TYPE_CHECKING:
    from chatthy.store.pg_broadcast import PgBroadcaster

__all__ = ["RESERVED_PARAMS", "Engine", "Planned"]

log = logging.getLogger("chatthy.server")

MAX_TOKENS_PARAMS = ("max_tokens", "max_completion_tokens", "max_output_tokens")
"""The names providers give the reply's token limit in ``params``."""

RESERVED_PARAMS = frozenset({"model", "messages", "stream", "stream_options", "n", "system"})
"""Generation parameters a client may not set: the server decides these."""

Row = tuple[int, str, int | None]


SHARED_SWEEP = 1.0
"""Seconds between rounds of the reply leases on a shared database: a stopped server's
replies are marked interrupted within about this much of its stop."""

NEWEST_ROWS = 256
"""How many of a chat's newest rows a turn reads first (more, as many as their sizes say
the provider's budget holds, while their counts still fit it)."""


class Older(NamedTuple):
    """The messages before those a turn read: how many, and their tokens."""

    messages: int
    tokens: int


NOTHING_OLDER = Older(0, 0)


class Planned(NamedTuple):
    """What a turn would send: the provider, the messages, and token figures."""

    provider: Provider
    messages: list[Message]
    tokens: int
    workspace_tokens: int
    dropped: int
    dropped_tokens: int
    new_tokens: int | None
    """Tokens of the new message planned with the history, if any (kept with it)."""


class Engine(ChatBook):
    """Chats and their replies for every profile; make it with :meth:`open`. What it
    does to chats themselves (make, rename, fork, destroy …) is :class:`ChatBook`'s."""

    def __init__(
        self,
        config: ServerConfig,
        store: Store,
        providers: dict[str, Provider],
        broadcaster: Broadcaster | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.providers = providers
        self.broadcaster: Broadcaster = broadcaster or LocalBroadcaster()
        self.prompts = ServerPrompts.load(Path(config.config_dir), config.prompts)
        self.token_counts = TokenCache()
        self.image_bytes = ImageBytes(store)
        """Kept images read back for providers' requests."""
        self.turns = Turns()
        self.owner = ReplyOwner(store)
        self.template_problems_logged: set[tuple[str, str]] = set()
        """Broken user templates already logged (name, why): they are read every call."""
        self.provider_configs = effective_providers(config)
        self.tools: ToolRegistry = server_tools(config, self._chain_provider)
        """Every tool of this server; ``[tools] enabled`` chooses those offered."""
        self.mcp = manager_for(config)
        """The MCP servers of ``[mcp_servers]`` (None without any): started on first use."""
        self.rag = RagService(config, store)
        """The profiles' document stores (RAG); its embedder is made on first use."""
        self.tool_services: dict[str, Any] = {"store": store, "config": config, "rag": self.rag}
        """What the tools may use (:class:`ToolContext` ``services``)."""
        self.always_approved: dict[tuple[str, str], set[str]] = {}
        """(profile, chat) → tools the user said run there without asking."""
        self._background: set[asyncio.Task[Any]] = set()
        """Work started on its own (:meth:`background`), held until it ends."""
        self.before_turn: Callable[[str, str], None] | None = None
        """Called with (profile, provider) before a reply starts; raises to refuse it
        (the server's tokens per day)."""

    @classmethod
    async def open(cls, config: ServerConfig, broadcaster: Broadcaster | None = None) -> Engine:
        """Open the store (marking replies cut off by a stop interrupted) and build the
        providers.

        Raises:
            StoreError: the database cannot be opened.
            ConfigError: a provider is misconfigured.
        """
        from chatthy.store.opening import open_store

        store = await open_store(config)
        try:
            providers = {
                name: build_provider(name, cfg) for name, cfg in effective_providers(config).items()
            }
            if broadcaster is None and config.store.url:  # a database servers share
                from chatthy.store.pg_broadcast import PgBroadcaster

                shared = PgBroadcaster(config.store.url, store)
                engine = cls(config, store, providers, shared)
                await engine._follow_others(shared)
            else:
                engine = cls(config, store, providers, broadcaster)
        except BaseException:
            await store.aclose()
            raise
        interrupted = await engine.owner.recover()
        if interrupted:
            log.info("%d reply(ies) cut off by the last stop marked interrupted", interrupted)
        engine.owner.start()
        return engine

    async def _follow_others(self, bus: PgBroadcaster) -> None:
        """On a shared database: follow the other servers' replies into :attr:`turns`,
        and see soon when one of them stops (its replies are interrupted within seconds,
        not when its lease runs out)."""
        await bus.start(self.turns, self.owner.id)
        self.owner.peers = bus
        self.owner.sweep = SHARED_SWEEP

    def background(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run ``work`` on its own (starting MCP servers while a client lists their
        prompts); a failure is logged."""
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("background work failed: %r", task.exception())

    async def aclose(self) -> None:
        """Stop running replies (stored as interrupted), close providers and the store."""
        running = self.turns.all_running()
        for turn in running:
            turn.stop("interrupted")
        pending = [t.task for t in running if t.task is not None and not t.task.done()]
        if pending:
            await asyncio.wait(pending, timeout=5)
        await self.owner.aclose()
        await self.broadcaster.aclose()
        for task in list(self._background):
            task.cancel()
        if self.mcp is not None:
            await self.mcp.aclose()
        for provider in self.providers.values():
            await provider.aclose()
        await self.store.aclose()

    # --- providers and prompts ------------------------------------------------------
    def provider_config(self, name: str) -> ProviderConfig | None:
        return self.provider_configs.get(name)

    def check_options(self, provider: Provider, params: dict[str, Any] | None) -> None:
        """Raises ArgumentError for a ``max_tokens`` (or its other names) above the
        provider's ceiling: refused, not clamped, so no reply is cut short unasked."""
        cfg = self.provider_configs.get(provider.name)
        ceiling = (cfg.max_tokens_ceiling if cfg else 0) or provider.context_length
        for name in MAX_TOKENS_PARAMS:
            value = (params or {}).get(name)
            if isinstance(value, int | float) and value > ceiling:
                raise ArgumentError(
                    f"params {name}={value} is over provider '{provider.name}''s ceiling "
                    f"of {ceiling}"
                )

    async def system_messages(self, profile: str, personality: str) -> list[Message]:
        """The system prompt of ``personality`` as messages (none if it is empty/gone)."""
        text = await self.prompts.text(self.store, profile, personality)
        return [Message.of_text("system", text)] if text else []

    # --- replies --------------------------------------------------------------------
    def cancel(self, profile: str, chat: str) -> Turn:
        """Stop the reply running in ``chat``; what it said is kept, marked cancelled."""
        turn = self.turns.running(profile, chat)
        if turn is None or not turn.stop("cancelled"):
            raise NotFoundError(f"no reply is running in chat '{chat}'")
        return turn

    # --- turns ----------------------------------------------------------------------
    @contextlib.contextmanager
    def _reserving(self, turn_id: str, profile: str, chat: str) -> Any:
        """Reserve ``chat`` for a new reply before anything changes; give it back if the
        reply never starts. Raises ConflictError if one is running there."""
        if self.turns.running(profile, chat) is not None:
            raise ConflictError(f"a reply is already running in chat '{chat}' (cancel it first)")
        turn = Turn(self.broadcaster, turn_id, profile, chat)
        self.turns.add(turn)
        try:
            yield turn
        except BaseException:
            if turn.task is None:
                self.turns.release(turn)
            raise

    async def chat(
        self,
        turn_id: str,
        profile: str,
        chat: str,
        content: Any,
        *,
        params: dict[str, Any] | None = None,
        transient: Sequence[WorkspaceFile] = (),
        prompt: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        approve: str = "no",
    ) -> Turn:
        """Ask ``content`` in ``chat`` (made if missing, and removed again if the turn
        does not start, unless another client used it meanwhile). News: the chat was
        ``created``, or ``updated`` when a personality, provider or model changed it.

        Raises:
            ArgumentError: bad content or parameters; the turn does not fit.
            NotFoundError: unknown provider or personality.
            ConflictError: a reply runs in the chat.
        """
        parts = user_parts(content)
        check_params(params)
        with self._reserving(turn_id, profile, chat) as turn:
            record, change = await self._ensure(profile, chat, prompt, provider, model)
            try:
                kept = await self._keep_images(profile, record.provider, parts)
                rows, older = await self._newest_rows(profile, record)
                question = Message("user", kept.parts)
                planned = await self.plan(
                    profile, record, rows, question, transient, older, kept.images
                )
                return await self._start(
                    turn, record, planned, question, params, approve, kept.images, kept.notices
                )
            except BaseException:
                if change == "created" and await self._remove_if_empty(profile, chat):
                    change = None
                raise
            finally:
                if change:
                    self.announce(profile, change, chat)

    def takes_images(self, provider: str) -> bool:
        """Whether ``provider``'s models take images: its scheme says so and its config
        does not say ``vision = false``."""
        return takes_images(self.provider(provider), self.provider_configs.get(provider))

    def _image_limits(self, provider: str) -> Limits:
        return limits_for(self.provider_configs.get(provider))

    async def _keep_images(self, profile: str, provider: str, parts: Sequence[Part]) -> Kept:
        """The images of a message about to be stored, fitted to ``provider`` (see
        :mod:`.images`). Raises ArgumentError, NotFoundError (no such provider)."""
        return await keep_images(
            self.store,
            profile,
            parts,
            provider=provider,
            takes_images=self.takes_images(provider),
            limits=self._image_limits(provider),
        )

    async def _remove_if_empty(self, profile: str, chat: str) -> bool:
        """Delete ``chat`` if it holds no message; whether it was."""
        with contextlib.suppress(ChatthyError):
            if not await self.store.messages(profile, chat, limit=1):
                await self.store.delete_chat(profile, chat)
                return True
        return False

    async def regenerate(
        self,
        turn_id: str,
        profile: str,
        chat: str,
        *,
        params: dict[str, Any] | None = None,
        transient: Sequence[WorkspaceFile] = (),
        approve: str = "no",
    ) -> Turn:
        """Replace the last reply with a new one (news: the chat is ``updated`` when a
        reply was removed)."""
        check_params(params)
        with self._reserving(turn_id, profile, chat) as turn:
            record = await self.store.get_chat(profile, chat)
            rows = await self.store.message_tokens(profile, chat)
            last_user = max((i for i, r in enumerate(rows) if r[1] == "user"), default=None)
            if last_user is None:
                raise NotFoundError(f"chat '{chat}' has no message to reply to")
            planned = await self.plan(profile, record, rows[: last_user + 1], None, transient)
            if last_user + 1 == len(rows):
                return await self._start(turn, record, planned, None, params, approve)
            await self.store.delete_messages_from(profile, chat, rows[last_user + 1][0])
            try:
                return await self._start(turn, record, planned, None, params, approve)
            finally:
                self.announce(profile, "updated", chat)

    async def edit(
        self,
        turn_id: str,
        profile: str,
        chat: str,
        text: str,
        message_id: int | None = None,
        *,
        params: dict[str, Any] | None = None,
        transient: Sequence[WorkspaceFile] = (),
        approve: str = "no",
    ) -> Turn:
        """Replace one of your messages (the last when no id) and reply from there (news:
        the chat is ``updated``)."""
        parts = user_parts(text)
        check_params(params)
        with self._reserving(turn_id, profile, chat) as turn:
            record = await self.store.get_chat(profile, chat)
            rows = await self.store.message_tokens(profile, chat)
            users = [i for i, r in enumerate(rows) if r[1] == "user"]
            if message_id is not None:
                users = [i for i in users if rows[i][0] == message_id]
            if not users:
                which = "message of yours with that id" if message_id else "message of yours"
                raise NotFoundError(f"chat '{chat}' has no {which} to edit")
            index = users[-1]
            kept = await self._keep_images(profile, record.provider, parts)
            edited = Message("user", kept.parts)
            planned = await self.plan(
                profile, record, rows[:index], edited, transient, images=kept.images
            )
            await self.store.update_message(
                profile,
                rows[index][0],
                content=content_of(kept.parts),
                tokens=planned.new_tokens,
                images=kept.images,
            )
            try:
                if index + 1 < len(rows):
                    await self.store.delete_messages_from(profile, chat, rows[index + 1][0])
                return await self._start(turn, record, planned, None, params, approve)
            finally:
                self.announce(profile, "updated", chat)

    async def _start(
        self,
        turn: Turn,
        chat: ChatRecord,
        planned: Planned,
        question: Message | None,
        params: dict[str, Any] | None,
        approve: str = "no",
        images: Sequence[ImageIn] = (),
        notices: Sequence[str] = (),
    ) -> Turn:
        """Take the chat's lease, store the ``question`` (if any; ``planned`` with it,
        ``images`` the images it names) and the reply's ``streaming`` row in one write,
        and start the reply's task; ``notices`` (images downscaled) go first to the
        turn's clients."""
        profile = turn.profile
        self.check_model(planned.provider.name, chat.model)
        self.check_options(planned.provider, params)
        if self.before_turn is not None:
            self.before_turn(profile, planned.provider.name)
        await self.owner.claim(profile, chat.name)
        try:
            to_add: list[dict[str, Any]] = []
            if question is not None:
                content = content_of(question.parts)
                to_add.append(
                    {
                        "role": "user",
                        "content": content,
                        "tokens": planned.new_tokens,
                        "images": list(images),
                    }
                )
            model = chat.model or planned.provider.model
            to_add.append(
                {
                    "role": "assistant",
                    "content": "",
                    "status": "streaming",
                    "provider": planned.provider.name,
                    "model": model,
                }
            )
            *asked, reply = await self.store.add_messages(profile, chat.name, to_add)
        except BaseException:
            await self.owner.release(profile, chat.name)
            raise
        started = TurnStarted(
            chat=chat.name,
            message_id=reply.id,
            provider=planned.provider.name,
            model=model,
            tokens=planned.tokens,
            workspace_tokens=planned.workspace_tokens,
            dropped=planned.dropped,
            user_message_id=asked[0].id if asked else None,
            user_content=to_add[0]["content"] if asked else None,
        )
        first: list[TurnEvent] = [started, *(Notice("image", line) for line in notices)]
        if planned.dropped:
            data = {
                "dropped": planned.dropped,
                "dropped_tokens": planned.dropped_tokens,
                "tokens": planned.tokens,
            }
            first.append(Notice("dropped", f"{planned.dropped} older message(s) left out", data))
        job = ReplyJob(
            turn,
            self.store,
            planned.provider,
            planned.messages,
            Options(model=chat.model or None, params=params or {}),
            reply.id,
            self.config.server.checkpoint_interval,
            first,
            lambda: self.owner.release(profile, chat.name),
            functools.partial(self._loop, turn, planned.provider, approve, chat.personality),
        )
        turn.started = started
        turn.task = asyncio.create_task(self._reply(job), name=f"reply {profile}/{chat.name}")
        return turn

    async def _loop(
        self, turn: Turn, provider: Provider, approve: str, personality: str = ""
    ) -> Loop | None:
        """The tool loop's settings for a turn, or None when no tool is offered (the
        provider cannot take tools, its config says not to, ``[tools] enabled`` is
        empty, the personality or agent allows none). Run by the reply's task: the MCP
        servers the turn may use start here on their first use (each that cannot is a
        notice to the turn's clients, and the turn goes on without it)."""
        chosen = self.prompts.settings(personality) if personality else None
        config = self.provider_configs.get(provider.name)
        allowed = chosen.tools if chosen is not None else None
        if not takes_tools(provider, config):
            return None
        for problem in await with_mcp(self.tools, self.mcp, self.config.tools, allowed):
            turn.emit(Notice("mcp", problem))
        tools = offered(self.tools, self.config.tools, provider, config, allowed)
        if not tools:
            return None
        return Loop.configured(
            tools,
            self.config.tools,
            ToolContext(turn.profile, turn.chat, self.tool_services),
            functools.partial(self._approve, turn, approve),
            chosen.max_steps if chosen is not None else None,
            limits_for(config) if takes_images(provider, config) else None,
        )

    async def _approve(self, turn: Turn, mode: str, call: ToolCall, tool: Tool) -> bool | str:
        """Whether call ``call`` of ``tool`` (which changes something) may run: asked of
        the user when the client said it can ask (``mode`` ``ask``), else as it said."""
        if tool.name in self.always_approved.get((turn.profile, turn.chat), ()):
            return True
        if mode == "yes":
            return True
        if mode != "ask":
            return (
                "the client cannot ask the user (it is not interactive); `chatthy ask --yes` "
                "or [tools] auto_approve in server.toml approves such calls"
            )
        timeout = self.config.tools.approval_timeout
        answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        turn.approvals[call.id] = answer
        turn.emit(ToolApproval(call.id, tool.name, call.arguments, timeout))
        try:
            said = await asyncio.wait_for(answer, timeout)
        except TimeoutError:
            return f"the user did not answer within {timeout:g} s"
        finally:
            turn.approvals.pop(call.id, None)
        if said == "always":
            self.always_approved.setdefault((turn.profile, turn.chat), set()).add(tool.name)
            return True
        return True if said == "yes" else "the user said no"

    def _chain_provider(self, name: str | None) -> Provider:
        return self.provider(name or self.default_provider())

    async def run_chain(self, profile: str, name: str, text: str) -> str:
        """Run the chain ``name`` (``chains/NAME.toml``, read now) on ``text`` for
        ``profile``: the user asked for it, so its steps run without asking.

        Raises:
            NotFoundError: no such chain.
            ArgumentError: the chain failed (the message names the step).
        """
        chains, problems = load_chains(Path(self.config.config_dir))
        chain = chains.get(name)
        if chain is None:
            known = ", ".join(sorted(chains)) or "none"
            left_out = next((p for p in problems if f" {name}.toml " in p), "")
            raise NotFoundError(left_out or f"no chain '{name}' (the chains: {known})")
        context = ToolContext(profile, "", self.tool_services)
        try:
            return await run_chain(chain, text, self._chain_provider, self.tools, context)
        except ChainError as exc:
            raise ArgumentError(str(exc)) from None

    async def catch_up(self, profile: str, chat: str) -> None:
        """Follow here a reply of ``chat`` that another server on the shared database
        runs (or just ended): a client opens the chat on this server."""
        await self.broadcaster.catch_up(profile, chat)

    def approve(self, profile: str, chat: str, call_id: str, answer: str) -> bool:
        """The user's answer to a call waiting in ``chat``; False when none of that id
        waits (answered already, run out, or the reply ended)."""
        turn = self.turns.latest(profile, chat)
        return turn is not None and turn.answer(call_id, answer)

    async def _reply(self, job: ReplyJob) -> None:
        """Run the reply, then tell the profile's clients that it ended (news
        ``replied``, with its status): one showing another chat can ring its bell."""
        await run_reply(job)
        turn = job.turn
        end = turn.events[-1] if turn.events else None
        status = end.status if isinstance(end, TurnEnd) else "complete"
        self.announce(turn.profile, "replied", turn.chat, status=status)

    async def _newest_rows(self, profile: str, chat: ChatRecord) -> tuple[list[Row], Older]:
        """The chat's newest rows (id, role, tokens): enough of them that their counts
        alone are over the provider's budget (so no cut can fall before them), or all;
        and how many messages, of how many tokens, come before them. A chat with an
        uncounted message before them is read whole (counted once, then kept)."""
        provider = self.provider(chat.provider)
        budget = provider.context_length - provider.max_tokens
        newest = NEWEST_ROWS
        while True:
            rows = await self.store.message_tokens(profile, chat.name, newest=newest)
            if len(rows) < newest:
                return rows, NOTHING_OLDER
            known = sum(row[2] or 0 for row in rows)
            if known > budget:
                break
            # as many more as these rows' mean size says fit, and a quarter to spare
            newest = max(2 * newest, newest * budget * 5 // (4 * max(known, 1)) + 1)
        count, tokens, uncounted = await self.store.tokens_before(profile, chat.name, rows[0][0])
        if uncounted:
            return await self.store.message_tokens(profile, chat.name), NOTHING_OLDER
        return rows, Older(count, tokens)

    async def plan(
        self,
        profile: str,
        chat: ChatRecord,
        rows: list[Row],
        new: Message | None = None,
        transient: Sequence[WorkspaceFile] = (),
        older: Older = NOTHING_OLDER,
        images: Sequence[ImageIn] = (),
    ) -> Planned:
        """What a turn would send for the stored messages ``rows`` (id, role, tokens)
        and a ``new`` message: the system prompt, the profile's active workspace files,
        the ``transient`` files attached to this turn, then as much history as fits.
        Only the kept messages' contents are read: a long chat costs its counts.
        ``older`` are the messages before ``rows`` that cannot fit (they count as
        dropped); ``images`` those ``new`` names, not stored yet.

        Raises:
            NotFoundError: the chat's provider does not exist.
            ArgumentError: the newest turn alone does not fit, or the workspace does not
                fit beside it (naming its files; none is dropped).
        """
        provider = self.provider(chat.provider)
        counts = await self._counts(profile, chat.name, rows)
        roles = [r[1] for r in rows]
        new_tokens = None
        if new is not None:
            new_tokens = self.token_counts([new])
            counts.append(new_tokens)
            roles.append(new.role)
        system = await self.system_messages(profile, chat.personality)
        stored = [f for f in await self.store.list_workspace(profile) if not f.benched]
        files: list[WorkspaceFile] = [*stored, *transient]
        budget = provider.context_length - provider.max_tokens
        users = [i for i, role in enumerate(roles) if role == "user"]
        newest = sum(counts[users[-1] :]) if users else sum(counts)
        system_tokens = self.token_counts(system)
        workspace = [workspace_message(f) for f in files]
        workspace_tokens = files_fit(
            system_tokens, files, workspace, newest, budget, self.token_counts
        )
        where = cut(
            system_tokens + workspace_tokens,
            roles,
            counts,
            provider.context_length,
            provider.max_tokens,
        )
        history = await self._history(profile, chat.name, rows, where.first)
        if new is not None:
            history.append(new)
        sent = await self.image_bytes.resolved(
            profile,
            [*system, *workspace, *history],
            images,
            limits=self._image_limits(provider.name),
            takes_images=self.takes_images(provider.name),
        )
        return Planned(
            provider,
            sent,
            where.tokens,
            workspace_tokens,
            older.messages + where.first,
            older.tokens + where.dropped_tokens,
            new_tokens,
        )

    async def _counts(self, profile: str, chat: str, rows: list[Row]) -> list[int]:
        """The token count of each row; those not counted yet are counted and kept."""
        missing = [i for i, row in enumerate(rows) if row[2] is None]
        if not missing:
            return [row[2] for row in rows]  # type: ignore[misc]
        loaded = await self.store.messages(
            profile, chat, before=rows[-1][0] + 1, limit=len(rows) - missing[0]
        )
        by_id = {m.id: m for m in loaded}
        counts: list[int] = []
        fresh: list[tuple[int, int]] = []
        for message_id, _role, tokens in rows:
            if tokens is None:
                record = by_id[message_id]
                tokens = self.token_counts([message_of(record.role, record.content)])
                fresh.append((message_id, tokens))
            counts.append(tokens)
        await self.store.set_message_tokens(profile, fresh)
        return counts

    async def _history(self, profile: str, chat: str, rows: list[Row], first: int) -> list[Message]:
        """The stored messages ``rows[first:]`` as a provider sees them (failed, empty
        replies left out)."""
        if first >= len(rows):
            return []
        loaded = await self.store.messages(
            profile, chat, before=rows[-1][0] + 1, limit=len(rows) - first
        )
        out: list[Message] = []
        for record in loaded:
            if record.role == "assistant" and not record.content:
                continue
            out.append(message_of(record.role, record.content, record.tokens))
        return out


def check_params(params: dict[str, Any] | None) -> None:
    """Raises ArgumentError for parameters only the server may set."""
    reserved = sorted(RESERVED_PARAMS.intersection(params or {}))
    if reserved:
        raise ArgumentError(f"params may not set {', '.join(reserved)}")
