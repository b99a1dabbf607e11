"""The ``/rag`` commands of the command table (the line client's and the TUI's), over a
real session and server; Ctrl-v and ``rag on`` in the full-screen client."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from chatthy.client.command_table import complete, run_line
from chatthy.client.repl import LineFront
from chatthy.client.session import Session
from chatthy.config import RagConfig
from chatthy.errors import ArgumentError
from chatthy.server.app import Server
from chatthy.wire import api
from helpers import ClientMaker, ServerFactory, openai_provider
from tuikit import SIZE, make_app, screen_text, status_line, type_line, wait_for, wait_on_screen
from upstream import Reply, Upstream

OKAPI = "# Okapi\n\nThe okapi is a shy forest giraffid of the Congo, with striped legs.\n"
TEA = "# Tea\n\nGreen tea is steeped at 80 degrees for two minutes.\n"
RUST = "# Rust\n\nThe borrow checker makes sure references never outlive their data.\n"


@pytest.fixture
async def served(servers: ServerFactory, upstream: Upstream) -> Server:
    config = servers.config({"up": openai_provider(upstream)})
    return await servers.start_with(msgspec.structs.replace(config, rag=RagConfig(top_k=2)))


class Line:
    """A line client's front (text into buffers) and its session, started."""

    def __init__(self, session: Session, front: LineFront) -> None:
        self.session = session
        self.front = front

    async def run(self, line: str) -> str:
        """Run ``line`` as typed; what it printed on stdout (:meth:`errors`: on stderr)."""
        for buffer in (self.front._out, self.front._err):
            assert isinstance(buffer, io.StringIO)
            buffer.seek(0)
            buffer.truncate()
        self.front.in_command = True
        try:
            await run_line(self.session, self.front, line)
        finally:
            self.front.in_command = False
        out = self.front._out
        assert isinstance(out, io.StringIO)
        return out.getvalue()

    def errors(self) -> str:
        err = self.front._err
        assert isinstance(err, io.StringIO)
        return err.getvalue()


@pytest.fixture
async def line(served: Server, connect: ClientMaker) -> AsyncIterator[Line]:
    front = LineFront(io.StringIO(), io.StringIO(), terminal=False)
    session = Session(connect(served), front, "notes")
    await session.start()
    yield Line(session, front)
    await session.close()


async def stock(line: Line, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in (("okapi.md", OKAPI), ("tea.md", TEA), ("rust.md", RUST)):
        (folder / name).write_text(text)
    said = await line.run(f"/rag add {folder}")
    assert said.startswith("added 3 documents (3 chunks), 0 unchanged"), line.errors()


async def test_add_list_show_search_and_a_hit_into_the_workspace(
    line: Line, tmp_path: Path
) -> None:
    await stock(line, tmp_path)
    listed = await line.run("/rag list")
    assert [row.split()[0] for row in listed.splitlines()[:3]] == [
        "docs/okapi.md",
        "docs/rust.md",
        "docs/tea.md",
    ]
    shown = await line.run("/rag show docs/rust.md")
    assert "1. Rust" in shown and str(tmp_path / "docs" / "rust.md") in shown
    found = await line.run("/rag search borrow checker")
    rows = found.splitlines()
    assert rows[0] == "3 hit(s) for 'borrow checker':"
    assert rows[1].startswith("  1. docs/rust.md — Rust")
    said = await line.run("/rag ws 1")
    assert "added to the workspace as rag-docs-rust.md-1" in said
    file = await line.session.client.rpc(api.WsShow(name="rag-docs-rust.md-1"))
    assert "borrow checker" in (file.text or "")
    assert line.session.state.workspace_tokens > 0  # the title counts it at once
    with pytest.raises(ArgumentError, match="1 to 3, not '4'"):
        await line.run("/rag ws 4")
    assert "document docs/tea.md deleted" in await line.run("/rag drop docs/tea.md")
    again = await line.run("/rag add " + str(tmp_path / "docs"))
    assert again.startswith("added 1 document (1 chunks), 2 unchanged")


async def test_a_bad_document_is_one_line_and_the_rest_are_added(
    line: Line, tmp_path: Path
) -> None:
    (tmp_path / "empty.md").write_text("   \n")
    (tmp_path / "tea.md").write_text(TEA)
    said = await line.run(f"/rag add {tmp_path / 'empty.md'} {tmp_path / 'tea.md'}")
    assert said.startswith("added 1 document")
    assert line.errors().count("\n") == 1 and "empty.md" in line.errors()


async def test_rag_on_sends_each_message_as_the_query_until_off(
    line: Line, tmp_path: Path, upstream: Upstream
) -> None:
    await stock(line, tmp_path)
    await line.run("/rag on")
    assert line.session.state.rag
    upstream.push(Reply(chunks=["Shy, per [1]."]))
    await line.session.send("tell me about the okapi giraffid")
    await line.session.wait_reply()
    sent = str(upstream.requests[-1].body["messages"])
    assert "okapi.md — Okapi" in sent and "striped legs" in sent
    stored = await line.session.client.rpc(api.Messages(chat="notes"))
    assert stored.messages[0].content == "tell me about the okapi giraffid"

    await line.session.open("other")  # on is per chat
    assert not line.session.state.rag
    upstream.push(Reply(chunks=["No."]))
    await line.session.send("the okapi giraffid again")
    await line.session.wait_reply()
    assert "striped legs" not in str(upstream.requests[-1].body["messages"])

    await line.session.open("notes")
    assert line.session.state.rag
    await line.run("/rag off")
    upstream.push(Reply(chunks=["No."]))
    await line.session.send("the okapi giraffid once more")
    await line.session.wait_reply()
    assert "striped legs" not in str(upstream.requests[-1].body["messages"])


async def test_the_rag_provider_rescores_searches_and_alone_is_cleared(
    line: Line, tmp_path: Path, upstream: Upstream
) -> None:
    await stock(line, tmp_path)
    with pytest.raises(ArgumentError, match="no provider 'nope'"):
        await line.run("/rag provider nope")
    fused = (await line.run("/rag search okapi tea")).splitlines()
    await line.run("/rag provider up")
    upstream.push(Reply(chunks=['{"1": 2, "2": 9, "3": 0}']))  # the second best, the last none
    found = (await line.run("/rag search okapi tea")).splitlines()
    assert fused[0] == "3 hit(s) for 'okapi tea':" and "rerank" not in "".join(fused)
    assert found[1].split()[1] == fused[3].split()[1] and "rerank" in found[1]
    assert "Question: okapi tea" in upstream.requests[-1].body["messages"][-1]["content"]
    asked = len(upstream.requests)
    await line.run("/rag provider")
    assert line.session.rag_provider is None
    await line.run("/rag search okapi tea")
    assert len(upstream.requests) == asked  # no model asked any more


async def test_completion_offers_the_subcommands_and_the_documents(
    line: Line, tmp_path: Path
) -> None:
    await stock(line, tmp_path)
    _, subs = await complete(line.session, "line", "/rag ")
    assert {"add", "list", "show", "drop", "search", "ws", "on", "off", "provider"} <= set(subs)
    _, names = await complete(line.session, "line", "/rag show docs/r")
    assert names == ["docs/rust.md"]
    _, providers = await complete(line.session, "line", "/rag provider u")
    assert providers == ["up"]


async def test_ctrl_v_searches_the_input_and_leaves_it_and_rag_on_shows(
    served: Server, connect: ClientMaker
) -> None:
    client = connect(served, "alice")
    await client.rpc(api.RagAdd(name="okapi.md", text=OKAPI))
    await client.rpc(api.RagAdd(name="tea.md", text=TEA))
    app = make_app(served)
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        app.prompt_input.focus()
        app.prompt_input.value = "a shy giraffid"
        await pilot.press("ctrl+v")
        await wait_on_screen(pilot, "hit(s) for 'a shy giraffid'")
        assert "1. okapi.md — Okapi" in screen_text(app)
        assert app.prompt_input.value == "a shy giraffid"  # left as it was
        await type_line(pilot, "/rag ws 1")
        await wait_for(pilot, lambda: "rag-okapi.md-1" in status_line(app), what="ws")
        assert "rag on" not in status_line(app)
        await type_line(pilot, "/rag on")
        await wait_for(pilot, lambda: "rag on" in status_line(app), what="rag on")
        app.status("")
        assert status_line(app) == "connected · rag on"  # kept once the news goes
        app.prompt_input.value = ""
        await pilot.press("ctrl+v")
        await wait_for(pilot, lambda: "type what to search" in status_line(app))
