"""Running one reply: stream from the provider, route reasoning, checkpoint, store.

The reply runs as the turn's task, whoever disconnects. Its row is already stored
``streaming``; it is checkpointed as it grows (the stream never waits for a checkpoint)
and completed in one write, ``<think>`` text and reasoning shown but never saved. How it
ends decides its status: ``complete``; ``truncated`` when the model stopped at its token
limit (the text is kept); ``cancelled``; ``interrupted`` when the server stops or the
upstream stream ends without its end mark; ``error`` when the provider fails, or at once
when a checkpoint finds the disk full (the store's reserve lets that mark be written).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from chatthy.agent.loop import Loop, run_agent
from chatthy.context import ThinkSplitter
from chatthy.context.tokens import message_tokens
from chatthy.conversation.content import content_of, message_of
from chatthy.conversation.events import (
    EndError,
    Finish,
    Notice,
    ReasoningDelta,
    Status,
    TextDelta,
    ToolCall,
    ToolResult,
    TurnEnd,
    TurnEvent,
    Usage,
)
from chatthy.conversation.images import stored_images
from chatthy.conversation.model import (
    ImagePart,
    Message,
    Part,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from chatthy.errors import (
    ChatthyError,
    DiskFullError,
    ProviderError,
    ProviderIncompleteError,
    StoreError,
)
from chatthy.providers.base import Options, Provider

if TYPE_CHECKING:
    from chatthy.conversation.turns import Turn
    from chatthy.store.base import ImageIn, Store

__all__ = ["ReplyJob", "run_reply", "streamed_content"]

log = logging.getLogger("chatthy.server")

THINK_NOTICE = (
    "the reply ended inside its reasoning (<think> never closed) with no answer: "
    "its reasoning is kept as the reply"
)


class ReplyJob:
    """What one reply needs: where it streams and is stored, and what it sends."""

    def __init__(
        self,
        turn: Turn,
        store: Store,
        provider: Provider,
        messages: list[Message],
        options: Options,
        message_id: int,
        checkpoint_interval: float,
        first: Sequence[TurnEvent],
        done: Callable[[], Awaitable[None]],
        loop: Callable[[], Awaitable[Loop | None]] | None = None,
    ) -> None:
        self.turn = turn
        self.store = store
        self.provider = provider
        self.messages = messages
        self.options = options
        self.message_id = message_id
        self.checkpoint_interval = checkpoint_interval
        self.first = first
        """Events sent before the provider's (the turn started, messages left out)."""
        self.done = done
        """Called once the reply is stored (gives back the chat's lease)."""
        self.loop = loop
        """Makes the tool loop's settings, in the reply's task (starting the MCP servers
        it needs); None from it or here: the provider alone, no tools offered."""


class _Reply:
    """What a reply has produced so far."""

    def __init__(self, turn: Turn) -> None:
        self.turn = turn
        self.splitter = ThinkSplitter()
        self.steps: list[Part] = []
        """What came before the text now streaming, when the model called tools: each
        step's text, its calls, their results."""
        self.usage: dict[str, int] | None = None
        self.finish = ""
        self.checkpoint_failed = False
        self.checkpoint: asyncio.Task[None] | None = None
        """The checkpoint being written: the stream does not wait for it."""
        self.full: DiskFullError | None = None
        """Set when a checkpoint found the disk full: the reply ends at once."""
        self.unsaved: list[ImageIn] = []
        """The images tools returned that no write has kept yet (the next keeps them)."""

    def text(self) -> str:
        """What is stored: the text less think blocks (exact once the splitter is
        flushed; meanwhile what a checkpoint keeps)."""
        return self.splitter.stored_text()

    def add(self, event: TextDelta) -> None:
        pieces = self.splitter.feed(event.text)
        if len(pieces) == 1 and pieces[0] == ("text", event.text):
            self.turn.emit(event)  # the common case: the piece as it came
            return
        self.route(pieces)

    def route(self, pieces: Sequence[tuple[str, str]]) -> None:
        for kind, text in pieces:
            if text:
                self.turn.emit(TextDelta(text) if kind == "text" else ReasoningDelta(text))

    def step(self, part: ToolCallPart | ToolResultPart) -> None:
        """A call or result: the text before it is a step's, done."""
        if not self.steps or type(self.steps[-1]) is not type(part):
            self.route(self.splitter.flush())
            text = self.splitter.stored_text()
            if text:
                self.steps.append(TextPart(text))
            self.splitter = ThinkSplitter()
        self.steps.append(part)

    def content(self) -> Any:
        """What is stored: the text alone, or with tools the steps and the text after."""
        return _content(self.steps, self.text())

    def add_usage(self, event: Usage) -> None:
        usage = self.usage or {"input_tokens": 0, "output_tokens": 0}
        usage["input_tokens"] += event.input_tokens
        usage["output_tokens"] += event.output_tokens
        self.usage = usage


def _unanswered(steps: list[Part]) -> list[Part]:
    """Results for the calls that have none (the reply ended while they ran): the APIs
    refuse a call without its result when the chat goes on."""
    answered = {p.call_id for p in steps if isinstance(p, ToolResultPart)}
    return [
        ToolResultPart(p.id, "not run: the reply ended first", True)
        for p in steps
        if isinstance(p, ToolCallPart) and p.id not in answered
    ]


def _content(steps: list[Part], text: str) -> Any:
    """A reply as stored: ``text`` alone, or with tools its steps (each call answered)
    and ``text`` after them."""
    if not steps:
        return text
    tail: list[Part] = [TextPart(text)] if text else []
    return content_of([*steps, *_unanswered(steps), *tail])


def streamed_content(events: Sequence[TurnEvent]) -> Any:
    """What a reply's events say it held when they stop: its text, or with tools its
    steps and the text after, as :class:`_Reply` stores it (the events carry the text
    with ``<think>`` already routed away). Another server keeps this much of a reply
    whose server stopped mid-way. A tool's images are left to its result's text."""
    steps: list[Part] = []
    text: list[str] = []
    for event in events:
        if type(event) is TextDelta:
            text.append(event.text)
        elif isinstance(event, ToolCall | ToolResult):
            if text:
                steps.append(TextPart("".join(text)))
            text = []
            if isinstance(event, ToolCall):
                steps.append(ToolCallPart(event.id, event.name, event.arguments))
            else:
                steps.append(ToolResultPart(event.call_id, event.content, event.is_error))
    return _content(steps, "".join(text))


async def run_reply(job: ReplyJob) -> None:
    """Stream, store and end the reply; every way it can end is stored and announced."""
    turn = job.turn
    for event in job.first:
        turn.emit(event)
    reply = _Reply(turn)
    status: Status = "complete"
    error: ChatthyError | None = None
    try:
        if turn.stop_reason is not None:
            raise asyncio.CancelledError
        await _pump(job, reply)
        if reply.finish == "length":
            status = "truncated"
    except asyncio.CancelledError:
        status = "interrupted" if turn.stop_reason == "interrupted" else "cancelled"
    except ProviderIncompleteError as exc:
        status, error = "interrupted", exc
    except ChatthyError as exc:
        status, error = "error", exc
    except Exception as exc:
        log.exception("reply in %s/%s failed", turn.profile, turn.chat)
        status = "error"
        error = ProviderError(f"provider '{job.provider.name}' failed: {type(exc).__name__}")
    await _finish(job, reply, status, error)


async def _pump(job: ReplyJob, reply: _Reply) -> None:
    """Relay the provider's events; checkpoint every interval, the first one sooner by a
    random part, so that replies started together do not all write at the same moment
    (aligned checkpoints were most of the p99 latency of ten paced replies)."""
    interval = job.checkpoint_interval
    next_checkpoint = time.monotonic() + interval * random.uniform(0.5, 1.0)
    turn = job.turn
    loop = await job.loop() if job.loop is not None else None
    if loop is not None and loop.tools:
        events = run_agent(job.provider, job.messages, job.options, loop)
    else:
        events = job.provider.stream(job.messages, job.options)
    async for event in events:
        kind = type(event)
        if kind is TextDelta:
            reply.add(event)  # type: ignore[arg-type]
        elif kind is ReasoningDelta or kind is Notice:
            turn.emit(event)  # type: ignore[arg-type]
        elif kind is ToolCall:
            assert isinstance(event, ToolCall)
            reply.step(ToolCallPart(event.id, event.name, event.arguments))
            turn.emit(event)
        elif kind is ToolResult:
            assert isinstance(event, ToolResult)
            images: tuple[ImagePart, ...] = ()
            if event.images:  # kept by digest with the reply; shown as they came
                images, keep = await asyncio.to_thread(stored_images, event.images)
                reply.unsaved.extend(keep)
            reply.step(ToolResultPart(event.call_id, event.content, event.is_error, images))
            turn.emit(event)
        elif kind is Usage:
            assert isinstance(event, Usage)
            reply.add_usage(event)
            turn.emit(event)
        elif kind is Finish:
            assert isinstance(event, Finish)
            reply.finish = event.reason
        if reply.full is not None:
            raise reply.full
        if time.monotonic() >= next_checkpoint:
            if reply.checkpoint is None or reply.checkpoint.done():
                reply.checkpoint = asyncio.create_task(_checkpoint(job, reply))
            next_checkpoint = time.monotonic() + interval


async def _checkpoint(job: ReplyJob, reply: _Reply) -> None:
    """Save the reply so far; a failed checkpoint is logged, not fatal."""
    images = list(reply.unsaved)
    try:
        await job.store.update_message(
            job.turn.profile, job.message_id, content=reply.content(), images=images
        )
        del reply.unsaved[: len(images)]
    except DiskFullError as exc:
        reply.full = exc  # nothing more of it can be kept: end it now, marked error
    except ChatthyError as exc:
        if not reply.checkpoint_failed:
            log.warning("checkpoint of %s/%s failed: %s", job.turn.profile, job.turn.chat, exc)
        reply.checkpoint_failed = True


def _stored(reply: _Reply) -> tuple[Any, Notice | None]:
    """The content to store, and a notice when a reply that was all unclosed reasoning
    is kept as it came rather than stored empty. Routes what the splitter held back:
    this runs once, whichever way the reply ended."""
    reply.route(reply.splitter.flush())
    splitter = reply.splitter
    reasoning = splitter.reasoning_text()
    if reply.steps or not (splitter.unclosed and splitter.answer_is_blank and reasoning.strip()):
        return reply.content(), None
    return reasoning.strip(), Notice("think", THINK_NOTICE)


async def _finish(job: ReplyJob, reply: _Reply, status: Status, error: ChatthyError | None) -> None:
    turn = job.turn
    if reply.checkpoint is not None:  # the last write comes after it
        with contextlib.suppress(Exception):
            await asyncio.shield(reply.checkpoint)
    content, notice = _stored(reply)
    try:
        await job.store.update_message(
            turn.profile,
            job.message_id,
            content=content,
            status=status,
            usage=reply.usage,
            error=error.message if error else "",
            tokens=message_tokens(message_of("assistant", content)),
            images=reply.unsaved,
        )
    except ChatthyError as exc:
        kind = DiskFullError if isinstance(exc, DiskFullError) else StoreError
        error = kind(f"could not save the reply: {exc.message}")
        status = "error"
        with contextlib.suppress(ChatthyError):
            await job.store.update_message(
                turn.profile, job.message_id, status="error", error=error.message
            )
    await job.done()
    if notice is not None:
        turn.emit(notice)
    end_error = EndError(error.code, error.message) if error is not None else None
    turn.emit(TurnEnd(status, job.message_id, reply.finish, end_error))
