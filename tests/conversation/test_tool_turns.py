"""Turns with tools: the engine runs the calls a model asks for (the fake upstream scripts
them in both APIs), feeds the results back, stores every step, and carries on when a call
goes wrong."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from chatthy.agent.tools import Tool, ToolContext
from chatthy.config import ProviderConfig, ServerConfig, ServerSection, ToolsConfig
from chatthy.conversation.engine import Engine
from chatthy.conversation.events import (
    Notice,
    TextDelta,
    ToolApproval,
    ToolCall,
    ToolResult,
    TurnEnd,
    TurnEvent,
)
from chatthy.conversation.turns import Turn
from chatthy.errors import ChatthyError
from helpers import openai_provider
from upstream import Reply, Upstream

Events = Callable[[Turn], list[TurnEvent]]


def provider(upstream: Upstream, api: str, **overrides: Any) -> ProviderConfig:
    if api == "openai":
        return openai_provider(upstream, **overrides)
    fields: dict[str, Any] = {
        "scheme": "anthropic",
        "base_url": upstream.base_url,
        "api_key": "sk-ant-test",
        "model": "claude-test",
        "retries": 0,
        "timeout": 5.0,
    }
    return ProviderConfig(**{**fields, **overrides})


async def open_engine(
    tmp_path: Path,
    upstream: Upstream,
    api: str = "openai",
    settings: ToolsConfig | None = None,
    **overrides: Any,
) -> Engine:
    cfg = ServerConfig(
        server=ServerSection(),
        providers={"up": provider(upstream, api, **overrides)},
        tools=settings or ToolsConfig(),
        config_dir=str(tmp_path / "config"),
        data_dir=str(tmp_path / "data"),
    )
    return await Engine.open(cfg)


@pytest.fixture
async def engine(tmp_path: Path, upstream: Upstream) -> AsyncIterator[Engine]:
    made = await open_engine(tmp_path, upstream)
    yield made
    await made.aclose()


async def run(engine: Engine, text: str, chat: str = "c", **kwargs: Any) -> list[TurnEvent]:
    seen: list[TurnEvent] = []
    engine.broadcaster.listen(lambda turn, seq, event: seen.append(event))
    turn = await engine.chat(f"t{time.monotonic_ns()}", "alice", chat, text, **kwargs)
    assert turn.task is not None
    await asyncio.wait_for(turn.task, 20)
    return seen


def results(events: list[TurnEvent]) -> list[ToolResult]:
    return [e for e in events if isinstance(e, ToolResult)]


def text(events: list[TurnEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def end(events: list[TurnEvent]) -> TurnEnd:
    last = events[-1]
    assert isinstance(last, TurnEnd)
    return last


@pytest.mark.parametrize("api", ["openai", "anthropic"])
async def test_a_call_runs_and_the_model_answers_with_its_result(
    tmp_path: Path, upstream: Upstream, api: str
) -> None:
    engine = await open_engine(tmp_path, upstream, api)
    try:
        upstream.push(
            Reply(
                chunks=["Let me look. "], tool_calls=[("c1", "current_time", '{"timezone": "UTC"}')]
            )
        )
        upstream.push(Reply(chunks=["It is ", "late."]))
        events = await run(engine, "what time is it?")
        calls = [e for e in events if isinstance(e, ToolCall)]
        assert [(c.id, c.name) for c in calls] == [("c1", "current_time")]
        (result,) = results(events)
        assert not result.is_error and result.name == "current_time"
        assert str(time.gmtime().tm_year) in result.content
        assert text(events) == "Let me look. It is late."
        assert end(events).status == "complete"
        # the model was offered the tool, then sent its call and the result
        first, second = (r.body for r in upstream.requests[-2:])
        offered = [t.get("name") or t["function"]["name"] for t in first["tools"]]
        assert "current_time" in offered
        assert str(time.gmtime().tm_year) in msgspec.json.encode(second["messages"]).decode()
        # stored as steps: the text, the call, its result, the answer
        stored = (await engine.store.messages("alice", "c"))[-1].content
        assert [p["type"] for p in stored] == ["text", "tool_call", "tool_result", "text"]
        assert stored[-1]["text"] == "It is late."
        # and sent back in each API's shape on the next turn
        upstream.push(Reply(chunks=["ok"]))
        await run(engine, "thanks")
        sent = upstream.requests[-1].body["messages"]
        if api == "openai":
            roles = [m["role"] for m in sent]
            assert roles[-5:] == ["user", "assistant", "tool", "assistant", "user"]
            assert sent[-4]["tool_calls"][0]["id"] == "c1"
            assert sent[-3]["tool_call_id"] == "c1"
        else:
            blocks = [
                b["type"] for m in sent for b in m["content"] if isinstance(m["content"], list)
            ]
            assert blocks.index("tool_use") < blocks.index("tool_result")
    finally:
        await engine.aclose()


async def test_parallel_calls_all_run_and_keep_their_order(
    engine: Engine, upstream: Upstream
) -> None:
    started: list[str] = []

    async def slow(wait: float, label: str) -> str:
        """Wait, then say the label."""
        started.append(label)
        await asyncio.sleep(wait)
        return label

    engine.tools.add(Tool.from_function(slow))
    upstream.push(
        Reply(
            chunks=[],
            tool_calls=[
                ("a", "slow", '{"wait": 0.3, "label": "first"}'),
                ("b", "slow", '{"wait": 0.3, "label": "second"}'),
            ],
        )
    )
    upstream.push(Reply(chunks=["done"]))
    t0 = time.monotonic()
    events = await run(engine, "go")
    assert [(r.call_id, r.content) for r in results(events)] == [("a", "first"), ("b", "second")]
    assert time.monotonic() - t0 < 0.55  # together, not one after the other
    assert sorted(started) == ["first", "second"]


async def test_calls_that_go_wrong_are_told_to_the_model_and_the_turn_goes_on(
    tmp_path: Path, upstream: Upstream
) -> None:
    def boom(x: int) -> str:
        """Always fails."""
        raise RuntimeError("the disk is on fire")

    def hang(x: int) -> str:
        """Never ends in time."""
        time.sleep(2)
        return "late"

    def huge() -> str:
        """Far too much."""
        return "x" * 10_000_000

    engine = await open_engine(tmp_path, upstream, settings=ToolsConfig(max_result=5_000))
    try:
        engine.tools.add(Tool.from_function(boom))
        engine.tools.add(Tool.from_function(hang, timeout=0.3))
        engine.tools.add(Tool.from_function(huge))
        upstream.push(
            Reply(
                chunks=[],
                tool_calls=[
                    ("1", "nosuch", "{}"),
                    ("2", "boom", "{not json"),
                    ("3", "boom", '{"x": "seven"}'),
                    ("4", "boom", '{"x": 7}'),
                    ("5", "hang", '{"x": 1}'),
                    ("6", "huge", "{}"),
                ],
            )
        )
        upstream.push(Reply(chunks=["I see."]))
        events = await run(engine, "try")
        got = {r.call_id: r for r in results(events)}
        assert "no tool 'nosuch'" in got["1"].content and got["1"].is_error
        assert "not valid JSON" in got["2"].content
        assert "schema" in got["3"].content and "x" in got["3"].content
        assert "the disk is on fire" in got["4"].content and got["4"].is_error
        assert "took longer than 0.3 s" in got["5"].content
        assert not got["6"].is_error and len(got["6"].content) < 5_200
        assert "10,000,000 characters" in got["6"].content
        assert text(events) == "I see." and end(events).status == "complete"
    finally:
        await engine.aclose()


async def test_max_steps_ends_the_turn_with_a_notice(tmp_path: Path, upstream: Upstream) -> None:
    engine = await open_engine(tmp_path, upstream, settings=ToolsConfig(max_steps=2))
    try:
        for n in range(3):
            upstream.push(Reply(chunks=[], tool_calls=[(f"c{n}", "current_time", "{}")]))
        events = await run(engine, "loop forever")
        got = results(events)
        assert [r.is_error for r in got] == [False, False, True]
        assert "limit of 2 tool steps" in got[-1].content
        notices = [e for e in events if isinstance(e, Notice)]
        assert [n.kind for n in notices] == ["max_steps"]
        assert end(events).status == "complete"
        assert len(upstream.requests) == 3
    finally:
        await engine.aclose()


NOTES: list[tuple[str, str]] = []


def note(context: ToolContext, text: str) -> str:
    """Keep a note (changes something)."""
    NOTES.append((context.profile, text))
    return "noted"


async def test_a_changing_call_is_refused_unless_approved(
    engine: Engine, upstream: Upstream
) -> None:
    engine.tools.add(Tool.from_function(note, changes=True))
    NOTES.clear()

    def script() -> None:
        upstream.push(Reply(chunks=[], tool_calls=[("n1", "note", '{"text": "hi"}')]))
        upstream.push(Reply(chunks=["ok"]))

    script()
    refused = await run(engine, "note it", approve="no")
    (result,) = results(refused)
    assert result.is_error and "not run" in result.content and "--yes" in result.content
    assert not [e for e in refused if isinstance(e, ToolApproval)]

    assert NOTES == []
    # approve="yes" runs it, for the calling profile
    script()
    ran = await run(engine, "note it", approve="yes")
    assert results(ran)[0].content == "noted" and NOTES == [("alice", "hi")]


async def test_asking_waits_for_the_users_answer(engine: Engine, upstream: Upstream) -> None:
    engine.tools.add(Tool.from_function(note, changes=True))
    seen: list[TurnEvent] = []
    engine.broadcaster.listen(lambda turn, seq, event: seen.append(event))

    async def ask_and_answer(answer: str, call: str) -> list[TurnEvent]:
        seen.clear()
        upstream.push(Reply(chunks=[], tool_calls=[(call, "note", '{"text": "x"}')]))
        upstream.push(Reply(chunks=["ok"]))
        turn = await engine.chat(call, "alice", "c", "go", approve="ask")
        assert turn.task is not None
        for _ in range(500):
            if any(isinstance(e, ToolApproval) for e in seen) or turn.task.done():
                break
            await asyncio.sleep(0.01)
        asked = [e for e in seen if isinstance(e, ToolApproval)]
        if asked:
            assert (asked[0].call_id, asked[0].name) == (call, "note")
            assert engine.approve("alice", "c", call, answer)
            assert not engine.approve("alice", "c", call, answer)  # answered already
        await asyncio.wait_for(turn.task, 10)
        return list(seen)

    said_no = await ask_and_answer("no", "k1")
    assert "the user said no" in results(said_no)[0].content
    said_yes = await ask_and_answer("yes", "k2")
    assert results(said_yes)[0].content == "noted"
    always = await ask_and_answer("always", "k3")
    assert results(always)[0].content == "noted"
    after = await ask_and_answer("yes", "k4")  # not asked again in this chat
    assert not [e for e in after if isinstance(e, ToolApproval)]
    assert results(after)[0].content == "noted"


async def test_cancel_stops_a_running_tool_and_keeps_the_steps(
    engine: Engine, upstream: Upstream
) -> None:
    async def forever() -> str:
        """Never returns."""
        await asyncio.sleep(60)
        return "never"

    engine.tools.add(Tool.from_function(forever))
    upstream.push(Reply(chunks=["Working. "], tool_calls=[("f1", "forever", "{}")]))
    seen: list[TurnEvent] = []
    engine.broadcaster.listen(lambda turn, seq, event: seen.append(event))
    turn = await engine.chat("tc", "alice", "c", "go")
    for _ in range(500):
        if any(isinstance(e, ToolCall) for e in seen):
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    engine.cancel("alice", "c")
    assert turn.task is not None
    await asyncio.wait_for(turn.task, 5)
    assert end(seen).status == "cancelled"
    stored = (await engine.store.messages("alice", "c"))[-1]
    assert stored.status == "cancelled"
    kinds = [p["type"] for p in stored.content]
    assert kinds == ["text", "tool_call", "tool_result"]
    assert stored.content[-1]["is_error"]
    # the chat goes on: the call has its result when sent back
    upstream.push(Reply(chunks=["fine"]))
    events = await run(engine, "again")
    assert end(events).status == "complete"
    assert any(m["role"] == "tool" for m in upstream.requests[-1].body["messages"])


async def test_no_tools_are_offered_where_the_config_says_not(
    tmp_path: Path, upstream: Upstream
) -> None:
    for tools, flag in ((ToolsConfig(enabled=[]), True), (ToolsConfig(), False)):
        engine = await open_engine(tmp_path / str(flag), upstream, settings=tools, tools=flag)
        try:
            upstream.push(Reply(chunks=["plain"]))
            events = await run(engine, "hi")
            assert text(events) == "plain"
            assert "tools" not in upstream.requests[-1].body
        finally:
            await engine.aclose()


async def test_a_reply_with_tools_is_exported_whole(engine: Engine, upstream: Upstream) -> None:
    from chatthy.conversation.transfer import parse_chat, to_json, to_markdown, to_openai_json

    upstream.push(Reply(chunks=["Checking. "], tool_calls=[("c1", "current_time", "{}")]))
    upstream.push(Reply(chunks=["Noon."]))
    await run(engine, "time?")
    chat = await engine.store.get_chat("alice", "c")
    messages = await engine.store.messages("alice", "c")
    markdown = to_markdown(chat, messages)
    assert "⚙ `current_time({})`" in markdown and "↳ result:" in markdown
    assert markdown.index("Checking.") < markdown.index("current_time") < markdown.index("Noon.")
    openai = msgspec.json.decode(to_openai_json(messages))
    assert [m["role"] for m in openai] == ["user", "assistant", "tool", "assistant"]
    again = parse_chat(to_json(chat, messages))  # JSON keeps every part
    assert again.messages[-1]["content"] == messages[-1].content


async def test_an_agent_brings_its_prompt_tools_steps_and_model(
    tmp_path: Path, upstream: Upstream
) -> None:
    agents = tmp_path / "config" / "agents"
    agents.mkdir(parents=True)
    (agents / "clock.md").write_text(
        "---\n"
        "description: tells the time\n"
        "tools: [current_time]\n"
        "max_steps: 1\n"
        "model: other-model\n"
        "---\n"
        "You are a clock. Answer with the time only.\n"
    )
    (agents / "broken.md").write_text("---\ntools: [unclosed\n---\nbody\n")
    engine = await open_engine(tmp_path, upstream, models=["test-model", "other-model"])
    try:

        def sleeper() -> str:
            """Not for the clock."""
            return "zzz"

        engine.tools.add(Tool.from_function(sleeper))
        assert list(engine.prompts.agents()) == ["clock"]  # the broken one left out
        upstream.push(Reply(chunks=[], tool_calls=[("a", "current_time", "{}")]))
        upstream.push(Reply(chunks=[], tool_calls=[("b", "current_time", "{}")]))
        events = await run(engine, "time?", chat="t", prompt="clock")
        body = upstream.requests[-2].body
        assert [t["function"]["name"] for t in body["tools"]] == ["current_time"]
        assert body["model"] == "other-model"
        assert body["messages"][0] == {
            "role": "system",
            "content": "You are a clock. Answer with the time only.",
        }
        assert [n.kind for n in events if isinstance(n, Notice)] == ["max_steps"]
        chat = await engine.store.get_chat("alice", "t")
        assert (chat.personality, chat.model) == ("clock", "other-model")
    finally:
        await engine.aclose()


async def test_a_chain_feeds_each_step_the_one_before(tmp_path: Path, upstream: Upstream) -> None:
    chains = tmp_path / "config" / "chains"
    chains.mkdir(parents=True)
    (chains / "shout.toml").write_text(
        'description = "Summarise, then shout"\n'
        "[[steps]]\n"
        'template = "Summarise: {input}"\n'
        "[[steps]]\n"
        'tool = "shout"\n'
        'arguments = { text = "{input}" }\n'
    )
    (chains / "bad.toml").write_text("[[steps]]\ntemplate = 'x'\ntool = 'shout'\n")
    (chains / "fails.toml").write_text("[[steps]]\ntool = 'nosuch'\n")

    def shout(text: str) -> str:
        """Upper case."""
        return text.upper() + "!"

    engine = await open_engine(tmp_path, upstream)
    try:
        engine.tools.add(Tool.from_function(shout))
        assert any(
            "bad.toml" in p and "either a template or a tool" in p for p in engine.tools.problems
        )
        upstream.push(Reply(chunks=["short ", "version"]))
        assert await engine.run_chain("alice", "shout", "a long text") == "SHORT VERSION!"
        assert upstream.requests[-1].body["messages"] == [
            {"role": "user", "content": "Summarise: a long text"}
        ]
        with pytest.raises(ChatthyError, match=r"step 1 \(nosuch\): there is no such tool"):
            await engine.run_chain("alice", "fails", "x")
        with pytest.raises(ChatthyError, match=r"bad\.toml left out"):
            await engine.run_chain("alice", "bad", "x")
        # the model can call it as the tool chain_shout
        assert "chain_shout" in engine.tools
        upstream.push(Reply(chunks=[], tool_calls=[("k", "chain_shout", '{"input": "hey"}')]))
        upstream.push(Reply(chunks=["hey there"]))
        upstream.push(Reply(chunks=["Done."]))
        events = await run(engine, "shout hey", approve="yes")
        assert [r.content for r in results(events)] == ["HEY THERE!"]
    finally:
        await engine.aclose()


def test_a_functions_hints_and_docstring_make_the_schema_the_model_reads() -> None:
    def lookup(word: str, limit: int = 5, exact: bool = False) -> str:
        """Find a word in the dictionary.

        Args:
            word: the word to find
            limit: how many entries at most,
                the best first
        """
        return word

    spec = Tool.from_function(lookup).spec
    assert spec.description == "Find a word in the dictionary."
    props = spec.parameters["properties"]
    assert props["word"] == {"type": "string", "description": "the word to find"}
    assert props["limit"]["default"] == 5
    assert props["limit"]["description"] == "how many entries at most, the best first"
    assert "description" not in props["exact"]
    assert spec.parameters["required"] == ["word"]
