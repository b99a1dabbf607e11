"""The agent tests' harness: a real engine (real SQLite file) whose provider is the
official OpenAI SDK talking to the local upstream, which plays a model that calls tools;
a turn's events and what the model was sent back are kept for the test to read."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from chatthy.conversation.engine import Engine
from chatthy.conversation.events import ToolResult, TurnEnd, TurnEvent
from chatthy.conversation.turns import Turn
from upstream import Reply, Upstream

__all__ = ["Harness", "MakeHarness", "Ran"]


@dataclass
class Ran:
    """One turn as it went: its events, in order."""

    events: list[TurnEvent] = field(default_factory=list)

    @property
    def results(self) -> list[ToolResult]:
        return [e for e in self.events if isinstance(e, ToolResult)]

    @property
    def end(self) -> TurnEnd:
        last = self.events[-1]
        assert isinstance(last, TurnEnd)
        return last


class Harness:
    """The engine, the upstream it asks, and helpers to script and run turns."""

    def __init__(self, engine: Engine, upstream: Upstream) -> None:
        self.engine = engine
        self.upstream = upstream
        self._seen: dict[str, list[TurnEvent]] = {}
        self._count = 0
        engine.broadcaster.listen(self._listen)

    def _listen(self, turn: Turn, seq: int, event: TurnEvent) -> None:
        self._seen.setdefault(turn.id, []).append(event)

    async def turn(
        self,
        calls: list[tuple[str, str, dict[str, Any] | str]],
        *,
        profile: str = "alice",
        approve: str = "yes",
        chat: str = "work",
        answer: str = "Done.",
    ) -> Ran:
        """One turn in which the model first calls ``calls`` (id, tool, arguments), then
        answers ``answer`` once it has the results."""
        scripted = [
            (cid, name, args if isinstance(args, str) else msgspec.json.encode(args).decode())
            for cid, name, args in calls
        ]
        self.upstream.push(Reply(chunks=[], tool_calls=scripted))
        self.upstream.push(Reply(chunks=[answer]))
        self._count += 1
        turn_id = f"t{self._count}"
        turn = await self.engine.chat(turn_id, profile, chat, "please", approve=approve)
        assert turn.task is not None
        await turn.task
        return Ran(list(self._seen[turn_id]))

    def sent_back(self) -> list[dict[str, Any]]:
        """The tool messages the model was sent in the last request (OpenAI shape)."""
        body = self.upstream.requests[-1].body
        return [m for m in body["messages"] if m["role"] == "tool"]

    async def files(self, profile: str = "alice") -> dict[str, str]:
        store = self.engine.store
        return {f.name: f.text for f in await store.list_workspace(profile)}


MakeHarness = Callable[..., Awaitable[Harness]]
