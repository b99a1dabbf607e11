"""The engine runs turns with no transport: a test listens to its broadcaster."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chatthy.config import ProviderConfig, ServerConfig, ServerSection
from chatthy.conversation import engine as engine_module
from chatthy.conversation.content import message_of
from chatthy.conversation.engine import Engine
from chatthy.conversation.events import Notice, TextDelta, TurnEnd, TurnEvent, TurnStarted
from chatthy.conversation.model import Message, TextPart
from chatthy.conversation.turns import Turn
from chatthy.errors import ArgumentError, ChatthyError
from helpers import PNG_URL, openai_provider, png_bytes
from upstream import Reply, Upstream

PNG = PNG_URL


def config(tmp_path: Path, providers: dict[str, ProviderConfig]) -> ServerConfig:
    return ServerConfig(
        server=ServerSection(),
        providers=providers,
        config_dir=str(tmp_path / "config"),
        data_dir=str(tmp_path / "data"),
    )


def echo(**params: float) -> dict[str, ProviderConfig]:
    return {"echo": ProviderConfig(scheme="echo", params={"delay": 0.0, **params})}


class Seen:
    """Every event the engine broadcast, by turn."""

    def __init__(self) -> None:
        self.events: dict[str, list[tuple[int, TurnEvent]]] = {}

    def __call__(self, turn: Turn, seq: int, event: TurnEvent) -> None:
        self.events.setdefault(turn.id, []).append((seq, event))

    def of(self, turn: Turn) -> list[TurnEvent]:
        numbered = self.events[turn.id]
        assert [seq for seq, _ in numbered] == list(range(len(numbered)))
        return [event for _, event in numbered]


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    made = await Engine.open(config(tmp_path, echo()))
    yield made
    await made.aclose()


async def test_a_turn_runs_with_no_socket(engine: Engine) -> None:
    seen = Seen()
    engine.broadcaster.listen(seen)
    turn = await engine.chat("t1", "alice", "notes", "hello there")
    assert turn.task is not None
    await turn.task
    events = seen.of(turn)
    started, end = events[0], events[-1]
    assert isinstance(started, TurnStarted) and started.user_content == "hello there"
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == "echo: hello there"
    assert isinstance(end, TurnEnd) and (end.status, end.finish_reason) == ("complete", "stop")
    stored = await engine.store.messages("alice", "notes")
    assert [(m.role, m.content, m.status) for m in stored] == [
        ("user", "hello there", "complete"),
        ("assistant", "echo: hello there", "complete"),
    ]
    assert stored[-1].id == end.message_id == started.message_id


async def test_a_reply_cut_at_the_token_limit_is_stored_truncated(tmp_path: Path) -> None:
    providers = {"echo": ProviderConfig(scheme="echo", max_tokens=3, params={"delay": 0.0})}
    engine = await Engine.open(config(tmp_path, providers))
    try:
        seen = Seen()
        engine.broadcaster.listen(seen)
        turn = await engine.chat("t1", "alice", "c", "one two three four five")
        assert turn.task is not None
        await turn.task
        end = seen.of(turn)[-1]
        assert isinstance(end, TurnEnd)
        assert (end.status, end.finish_reason) == ("truncated", "length")
        reply = (await engine.store.messages("alice", "c"))[-1]
        assert (reply.status, reply.content) == ("truncated", "echo: one two ")
    finally:
        await engine.aclose()


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ([{"type": "audio", "data": "x"}], "unknown type 'audio'"),
        (
            [{"type": "tool_result", "call_id": "nope", "content": "42"}],
            "tool result for unknown call 'nope'",
        ),
        (
            [{"type": "image_url", "image_url": {"url": "data:image/png;base64,aGVsbG8="}}],
            "not a PNG image",
        ),
        (
            [{"type": "image_url", "image_url": {"url": "data:text/plain;base64,aGk="}}],
            "text/plain, not an image",
        ),
        ([{"type": "text"}], "missing its fields"),
        ("   ", "empty"),
    ],
)
async def test_bad_input_is_a_coded_error_and_changes_nothing(
    engine: Engine, content: object, says: str
) -> None:
    with pytest.raises(ArgumentError, match=says) as raised:
        await engine.chat("t1", "alice", "c", content)
    assert raised.value.code == "bad_args"
    assert [c.name for c in await engine.store.list_chats("alice")] == []
    assert engine.running("alice", "c") is None


async def test_an_image_reaches_the_provider_and_is_stored_by_digest(engine: Engine) -> None:
    content = [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": PNG}}]
    turn = await engine.chat("t1", "alice", "c", content)
    assert turn.task is not None
    await turn.task
    question, reply = await engine.store.messages("alice", "c")
    digest = hashlib.sha256(png_bytes()).hexdigest()
    assert question.content[1] == {
        "type": "image_url",
        "image_url": {"url": f"chatthy-image:{digest}"},
        "media_type": "image/png",
        "width": 4,
        "height": 3,
    }
    assert (await engine.store.image("alice", digest)).data == png_bytes()
    assert reply.content == "echo: look [image]"


async def test_counts_are_kept_with_the_messages(engine: Engine) -> None:
    for n in range(3):
        turn = await engine.chat(f"t{n}", "alice", "c", f"message {n}")
        assert turn.task is not None
        await turn.task
    counted = await engine.store.message_tokens("alice", "c")
    assert len(counted) == 6
    # counted when a later turn is planned: all but the newest turn's two
    assert all(tokens is not None and tokens > 0 for _, _, tokens in counted[:-2])


async def test_an_upstream_stream_without_its_end_mark_is_interrupted(
    tmp_path: Path, upstream: Upstream
) -> None:
    engine = await Engine.open(config(tmp_path, {"up": openai_provider(upstream)}))
    try:
        seen = Seen()
        engine.broadcaster.listen(seen)
        upstream.push(Reply(chunks=["half ", "a reply"], end_mark=False))
        turn = await engine.chat("t1", "alice", "c", "hi")
        assert turn.task is not None
        await turn.task
        end = seen.of(turn)[-1]
        assert isinstance(end, TurnEnd) and end.status == "interrupted"
        assert end.error is not None and end.error.code == "provider_incomplete"
        reply = (await engine.store.messages("alice", "c"))[-1]
        assert (reply.status, reply.content) == ("interrupted", "half a reply")
    finally:
        await engine.aclose()


async def test_a_reply_all_inside_an_unclosed_think_is_kept_with_a_notice(
    tmp_path: Path, upstream: Upstream
) -> None:
    engine = await Engine.open(config(tmp_path, {"up": openai_provider(upstream)}))
    try:
        seen = Seen()
        engine.broadcaster.listen(seen)
        upstream.push(Reply(chunks=["<think>", "weighing the options", " at length"]))
        turn = await engine.chat("t1", "alice", "c", "hi")
        assert turn.task is not None
        await turn.task
        notices = [e for e in seen.of(turn) if isinstance(e, Notice)]
        assert [n.kind for n in notices] == ["think"]
        reply = (await engine.store.messages("alice", "c"))[-1]
        assert reply.content == "weighing the options at length"
        assert reply.status == "complete"
    finally:
        await engine.aclose()


async def test_a_second_engine_on_the_same_file_leaves_the_live_reply_alone(
    tmp_path: Path,
) -> None:
    first = await Engine.open(config(tmp_path, echo(delay=0.02)))
    second: Engine | None = None
    try:
        turn = await first.chat("t1", "alice", "c", " ".join(f"w{i}" for i in range(60)))
        await asyncio.sleep(0.2)
        second = await Engine.open(config(tmp_path, echo()))
        assert (await first.store.messages("alice", "c"))[-1].status == "streaming"
        with pytest.raises(ChatthyError, match="another server") as raised:
            await second.chat("t2", "alice", "c", "me too")
        assert raised.value.code == "conflict"
        assert turn.task is not None
        await turn.task
        reply = (await second.store.messages("alice", "c"))[-1]
        assert reply.status == "complete" and reply.content.endswith("w59")
    finally:
        await first.aclose()
        if second is not None:
            await second.aclose()


async def test_a_turn_keeps_the_counts_of_what_it_wrote(engine: Engine) -> None:
    turn = await engine.chat("t1", "alice", "c", "count me")
    assert turn.task is not None
    await turn.task
    question, reply = await engine.store.messages("alice", "c")
    assert question.tokens is not None and question.tokens > 4
    assert reply.tokens is not None and reply.tokens > question.tokens


@pytest.mark.parametrize(
    ("counted", "first_read"),
    [("all", 256), ("all", 8), ("none", 256), ("older half", 8)],
)
async def test_a_long_chat_is_cut_as_if_every_count_were_read(
    tmp_path: Path, counted: str, first_read: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A turn reads only a long chat's newest counts (more, while they still fit), yet
    leaves out exactly what a plan over every message would, and says how many
    messages and tokens that is; uncounted older messages are counted first."""
    monkeypatch.setattr(engine_module, "NEWEST_ROWS", first_read)
    providers = {
        "echo": ProviderConfig(
            scheme="echo", context_length=900, max_tokens=100, params={"delay": 0.0}
        )
    }
    engine = await Engine.open(config(tmp_path, providers))
    try:
        await engine.new_chat("alice", "long", None, "echo", None)
        rows: list[dict[str, Any]] = [
            {"role": "user" if n % 2 == 0 else "assistant", "content": f"message {n} " * 3}
            for n in range(3000)
        ]
        for n, row in enumerate(rows):
            if counted == "all" or (counted == "older half" and n >= 1500):
                row["tokens"] = engine.token_counts([message_of(row["role"], row["content"])])
        await engine.store.add_messages("alice", "long", rows)
        seen = Seen()
        engine.broadcaster.listen(seen)
        turn = await engine.chat("t1", "alice", "long", "and now?")
        assert turn.task is not None
        await turn.task
        # what a plan over every message before the turn says (all counted by now)
        record = await engine.store.get_chat("alice", "long")
        question = Message("user", (TextPart("and now?"),))
        everything = (await engine.store.message_tokens("alice", "long"))[:-2]
        assert len(everything) == 3000 and all(r[2] is not None for r in everything)
        expected = await engine.plan("alice", record, everything, question)
        assert 0 < expected.dropped < 2990
        started, notice = seen.of(turn)[:2]
        assert isinstance(started, TurnStarted) and isinstance(notice, Notice)
        assert (started.dropped, started.tokens) == (expected.dropped, expected.tokens)
        assert notice.data["dropped_tokens"] == expected.dropped_tokens
        assert started.dropped == 3000 - (len(expected.messages) - 2)  # less system, question
    finally:
        await engine.aclose()
