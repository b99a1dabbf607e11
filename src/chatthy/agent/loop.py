"""The tool loop: messages and options in, the same events a provider yields out, with
the tool calls run in between.

:func:`run_agent` streams a step from the provider with the tools offered; when the model
asks for calls, it runs them — each approved first when it changes something, those that
only read at once together, those that change in the order asked — yields each result,
adds the step and its results to what the model is sent, and streams the next step, until
a step asks for nothing (its ``Finish`` ends the loop) or ``max_steps`` steps asked for
calls: the calls of the last step are then answered "not run", and a notice says so.

Past ``[tools] schema_budget``, :meth:`Loop.configured` holds some tools back
(:mod:`chatthy.agent.search`): the first step offers the rest and ``tool_search``; the
tools a search returns are offered from the next step on, to the turn's end. A held-back
tool the model calls without searching (it knows the name from an earlier turn) runs all
the same — it is one of the turn's tools, its arguments are checked as any — and is
offered from then on too. ``tool_search`` is a call like any other: a step that makes
one counts towards ``max_steps`` as any step with calls.

Images a tool returns are checked and fitted to the model (:attr:`Loop.images`) before it
is sent them, each one refused or left out a line of the result instead.

Whatever a call does wrong (an unknown tool, arguments that are not JSON or do not fit,
a tool that raises or hangs, a refusal) is the call's error result, sent back to the
model, and the turn carries on. Cancelling the task that iterates stops the loop, a
running tool included (a tool running in a thread is abandoned, its result dropped).

The caller (the chat server's reply task, ``chatthy router``) stores and shows what it
gets; the loop holds no transport or storage of its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from chatthy.agent.search import SEARCH_NAME, ToolSearch, split_tools
from chatthy.agent.tools import MAX_RESULT, Tool, ToolContext, ToolOutcome, named
from chatthy.config import ToolsConfig
from chatthy.conversation.events import (
    Finish,
    Notice,
    ProviderEvent,
    TextDelta,
    ToolCall,
    ToolResult,
)
from chatthy.conversation.images import Limits, newest_images, tool_images
from chatthy.conversation.model import (
    Message,
    Part,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    ToolSpec,
)
from chatthy.providers.base import Options, Provider

__all__ = ["AgentEvent", "Approve", "Loop", "run_agent"]

MAX_STEPS = 10

LISTED = 20
"""Tool names the error for an unknown tool lists at most."""

AgentEvent = ProviderEvent | ToolResult | Notice
"""What the loop yields: the provider's events (text, reasoning, calls, usage per step,
the last step's finish) and, between steps, each call's result and notices."""

Approve = Callable[[ToolCall, Tool], Awaitable[bool | str]]
"""Asked before a call of a tool that changes something: True runs it; False or a reason
(a string) refuses it, and the model is told."""


async def _always(call: ToolCall, tool: Tool) -> bool:
    return True


@dataclass
class Loop:
    """What one run of the loop may do."""

    tools: Sequence[Tool] = ()
    """The tools the first step offers the model (none: the provider streams as without
    the loop); ``tool_search`` among them when some are :attr:`deferred`."""
    deferred: Sequence[Tool] = ()
    """The turn's tools held back behind ``tool_search`` (the model may call them)."""
    context: ToolContext = field(default_factory=lambda: ToolContext(""))
    approve: Approve = _always
    auto_approve: frozenset[str] = frozenset()
    """Tools whose calls run without asking, even when they change something."""
    max_steps: int = MAX_STEPS
    max_result: int = MAX_RESULT
    images: Limits | None = None
    """The largest image the model takes, for the images tools return; None: it takes
    none (each is a line of the result saying it was left out)."""

    @classmethod
    def configured(
        cls,
        tools: Sequence[Tool],
        settings: ToolsConfig,
        context: ToolContext,
        approve: Approve,
        max_steps: int | None = None,
        images: Limits | None = None,
    ) -> Loop:
        """A loop as ``[tools]`` sets it: past ``schema_budget`` some of ``tools`` held
        back (:func:`~chatthy.agent.search.split_tools`); ``max_steps`` (a
        personality's or agent's) over the server's when given."""
        first, deferred = split_tools(tools, settings.schema_budget)
        return cls(
            tools=first,
            deferred=deferred,
            context=context,
            approve=approve,
            auto_approve=frozenset(settings.auto_approve),
            max_steps=max_steps or settings.max_steps,
            max_result=settings.max_result,
            images=images,
        )


async def run_agent(
    provider: Provider, messages: list[Message], options: Options, loop: Loop
) -> AsyncIterator[AgentEvent]:
    """Stream the reply to ``messages``, running the tools the model calls (see the
    module's docstring). Raises what the provider raises."""
    tools = {tool.name: tool for tool in (*loop.tools, *loop.deferred)}
    search: ToolSearch | None = None
    held: dict[str, Tool] = {}
    if loop.deferred:
        # this run's own search, which remembers what it returned
        search = ToolSearch(loop.deferred)
        tools[SEARCH_NAME] = search.tool()
        held = {tool.name: tool for tool in loop.deferred}
    if loop.tools:
        offered = [tool.spec for tool in loop.tools] if provider.capabilities.tools else []
        asked_for = options.tool_choice
        if offered and asked_for is not None and asked_for in held:  # a held-back tool is asked for
            offered.append(held.pop(asked_for).spec)
        options = Options(
            model=options.model,
            max_tokens=options.max_tokens,
            params=options.params,
            tools=offered,
            tool_choice=options.tool_choice if offered else None,
        )
    history = list(messages)
    step = 0
    while True:
        step += 1
        text: list[str] = []
        calls: list[ToolCall] = []
        finish: Finish | None = None
        async for event in provider.stream(newest_images(history), options):
            kind = type(event)
            if kind is TextDelta:
                text.append(event.text)  # type: ignore[union-attr]
                yield event
            elif kind is ToolCall:
                calls.append(event)  # type: ignore[arg-type]
                yield event
            elif kind is Finish:
                finish = event  # type: ignore[assignment]
            else:
                yield event
        if not calls:
            yield finish or Finish("stop")
            return
        if not tools:
            # the caller's own tools (the router passes a client's through): their calls
            # are the caller's to run; the reply ends with them
            yield finish or Finish("tool_calls")
            return
        if step > loop.max_steps:
            for call in calls:
                yield ToolResult(
                    call.id,
                    f"not run: the turn reached its limit of {loop.max_steps} tool steps",
                    True,
                    call.name,
                )
            yield Notice(
                "max_steps",
                f"stopped after {loop.max_steps} tool steps (max_steps): the model still "
                "asked for tools",
                {"max_steps": loop.max_steps},
            )
            yield Finish("stop")
            return
        outcomes = await _run_calls(calls, tools, loop)
        results = [
            ToolResult(call.id, o.content, o.is_error, call.name, seconds, o.images)
            for call, (o, seconds) in zip(calls, outcomes, strict=True)
        ]
        for result in results:
            yield result
        if search is not None and loop.tools and options.tools:
            wanted = [*search.found, *(tools[c.name] for c in calls if c.name in held)]
            # appended, so that the request starts as the last one did (prompt caches)
            options.tools = [*options.tools, *_taken(wanted, held)]
        history.append(_step_message(text, calls))
        answers = tuple(ToolResultPart(r.call_id, r.content, r.is_error, r.images) for r in results)
        history.append(Message("tool", answers))


def _taken(wanted: list[Tool], held: dict[str, Tool]) -> list[ToolSpec]:
    """The specs of the ``wanted`` tools still ``held``, which stop being held."""
    return [held.pop(tool.name).spec for tool in wanted if tool.name in held]


def _step_message(text: list[str], calls: list[ToolCall]) -> Message:
    parts: list[Part] = []
    joined = "".join(text)
    if joined:
        parts.append(TextPart(joined))
    parts.extend(ToolCallPart(c.id, c.name, c.arguments) for c in calls)
    return Message("assistant", tuple(parts))


async def _run_calls(
    calls: list[ToolCall], tools: dict[str, Tool], loop: Loop
) -> list[tuple[ToolOutcome, float]]:
    """Run a step's calls: the ones that only read at once together, the ones that
    change something one after the other in the order asked (each approved first).
    Each outcome comes with the seconds its tool ran."""
    outcomes: list[tuple[ToolOutcome, float] | None] = [None] * len(calls)

    async def one(index: int) -> None:
        outcomes[index] = await _run_one(calls[index], tools, loop)

    async def in_order(indexes: list[int]) -> None:
        for index in indexes:
            await one(index)

    reading = [i for i, c in enumerate(calls) if c.name not in tools or not tools[c.name].changes]
    changing = [i for i in range(len(calls)) if i not in reading]
    async with asyncio.TaskGroup() as group:
        for index in reading:
            group.create_task(one(index))
        if changing:
            group.create_task(in_order(changing))
    return [o if o is not None else (ToolOutcome("not run", True), 0.0) for o in outcomes]


async def _run_one(call: ToolCall, tools: dict[str, Tool], loop: Loop) -> tuple[ToolOutcome, float]:
    tool = tools.get(call.name)
    if tool is None:
        return ToolOutcome(_unknown(call.name, tools), True), 0.0
    if tool.changes and not named(tool.name, list(loop.auto_approve)):
        answer = await loop.approve(call, tool)
        if answer is not True:
            why = answer if isinstance(answer, str) and answer else "the user did not approve it"
            return ToolOutcome(f"not run: {why}", True), 0.0
    started = time.monotonic()
    outcome = await tool.call(loop.context, call.arguments, loop.max_result)
    if outcome.images:
        try:
            images, lines = await tool_images(outcome.images, loop.images)
        except Exception as exc:  # a bug of ours, not the tool's: its images left out
            images, lines = (), [f"[its images left out: {type(exc).__name__}]"]
        content = "\n".join([outcome.content, *lines]) if lines else outcome.content
        outcome = ToolOutcome(content, outcome.is_error, images)
    return outcome, round(time.monotonic() - started, 3)


def _unknown(name: str, tools: dict[str, Tool]) -> str:
    """The error for a call of no tool: the tools there are, at most :data:`LISTED` of
    them (a turn may have hundreds), pointing to ``tool_search`` when it is there."""
    known = sorted(tools)
    listed = ", ".join(known[:LISTED]) or "none"
    more = len(known) - LISTED
    if more > 0:
        hint = "; use tool_search to find the others" if SEARCH_NAME in tools else ""
        listed += f", … and {more} more{hint}"
    return f"there is no tool '{name}' (the tools: {listed})"
