"""``/ws`` in the full-screen client: adding files, the checklist, keyboard and mouse."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from textual.widgets import SelectionList

from chatthy.client.tui.workspace import WorkspaceScreen
from chatthy.context.tokens import count_tokens
from chatthy.server.app import Server
from helpers import ClientMaker, ServerFactory, openai_provider
from sources_upstream import Article, SourcesUpstream
from tuikit import (
    SIZE,
    make_app,
    screen_text,
    status_line,
    title_line,
    type_line,
    use_editor,
    wait_for,
    wait_on_screen,
)
from upstream import Reply, Upstream


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    root = tmp_path / "notes"
    root.mkdir()
    (root / "plan.md").write_text("Ship the workspace checklist on Friday.\n" * 20)
    (root / "ideas.md").write_text("A sloth named Gary.\n")
    (root / "scratch.tmp").write_text("ignored\n")
    (root / ".gitignore").write_text("*.tmp\n")
    return root


async def _tokens(client: ClientMaker, server: Server) -> dict[str, bool]:
    files = await client(server).call("ws_list")
    return {f.name: f.benched for f in files}


async def test_add_a_folder_then_bench_and_delete_in_the_checklist(
    server: Server, connect: ClientMaker, notes: Path
) -> None:
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await wait_for(pilot, lambda: "(new chat)" in title_line(app), what="the chat open")
        assert app.info.workspace_tokens == 0
        await type_line(pilot, f"/ws add {notes}")
        await wait_on_screen(pilot, "added notes/plan.md")
        assert "scratch.tmp" not in screen_text(app)
        await wait_for(pilot, lambda: app.info.workspace_tokens > 0, what="workspace count")
        before = app.info.workspace_tokens
        await wait_for(pilot, lambda: f"(new chat + {before} tokens)" in title_line(app))

        await type_line(pilot, "/ws")
        await wait_for(pilot, lambda: isinstance(app.screen, WorkspaceScreen))
        screen = screen_text(app)
        assert "workspace: 3 file(s)" in screen
        assert "notes/ideas.md" in screen and "notes/plan.md" in screen

        checklist = app.screen.query_one(SelectionList)
        await wait_for(pilot, lambda: checklist.has_focus and checklist.highlighted == 0)
        # Rows are by name: .gitignore, ideas.md, plan.md. Bench plan.md from the keyboard.
        await pilot.press("down", "down", "space")
        await wait_for(pilot, lambda: "plan.md: benched (kept, not sent)" in screen_text(app))
        assert (await _tokens(connect, server))["notes/plan.md"] is True
        assert "notes/plan.md" not in checklist.selected

        # Send it again with the mouse.
        await pilot.click(SelectionList, offset=(4, 3))
        await wait_for(pilot, lambda: "plan.md: sent with every turn" in screen_text(app))
        assert (await _tokens(connect, server))["notes/plan.md"] is False

        # Delete ideas.md: one d asks, a second one deletes.
        await pilot.press("up")
        await pilot.press("d")
        await wait_for(pilot, lambda: "delete notes/ideas.md?" in screen_text(app))
        assert "notes/ideas.md" in await _tokens(connect, server)
        await pilot.press("d")
        await wait_for(pilot, lambda: "deleted notes/ideas.md" in screen_text(app))
        assert sorted(await _tokens(connect, server)) == ["notes/.gitignore", "notes/plan.md"]

        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, WorkspaceScreen))
        await wait_for(pilot, lambda: app.info.workspace_tokens < before, what="count")
        after = app.info.workspace_tokens
        await wait_for(pilot, lambda: f"(new chat + {after} tokens)" in title_line(app))


async def test_the_delete_button_and_a_file_gone_elsewhere(
    server: Server, connect: ClientMaker
) -> None:
    other = connect(server)
    await other.call("ws_add", name="a.md", text="alpha")
    await other.call("ws_add", name="b.md", text="beta")
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "/ws")
        await wait_for(pilot, lambda: isinstance(app.screen, WorkspaceScreen))
        await other.call("ws_drop", name="a.md")
        await pilot.click("#ws-delete")
        await wait_for(pilot, lambda: "delete a.md?" in screen_text(app))
        await pilot.pause(0.3)  # a button ignores clicks while it shows the last one
        await pilot.click("#ws-delete")
        await wait_for(pilot, lambda: "a.md: no workspace file named 'a.md'" in screen_text(app))
        assert app.is_running and isinstance(app.screen, WorkspaceScreen)
        await pilot.click("#ws-close")
        await wait_for(pilot, lambda: not isinstance(app.screen, WorkspaceScreen))


async def test_ws_subcommands_list_show_edit_rename_drop(
    server: Server, connect: ClientMaker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_editor(tmp_path, monkeypatch, "typed in the editor")
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "/ws edit todo.md")
        await wait_for(pilot, lambda: "saved todo.md" in status_line(app))
        await type_line(pilot, "/ws show todo.md")
        await wait_on_screen(pilot, "typed in the editor")
        await type_line(pilot, "/ws rename todo.md done.md")
        await wait_for(pilot, lambda: "todo.md is now done.md" in status_line(app))
        await type_line(pilot, "/ws bench done.md")
        await wait_for(pilot, lambda: "done.md: benched" in status_line(app))
        await type_line(pilot, "/ws list")
        await wait_on_screen(pilot, "0 tokens sent with every turn")
        await type_line(pilot, "/ws drop done.md")
        await wait_for(pilot, lambda: "done.md: deleted" in status_line(app))
        assert await connect(server).call("ws_list") == []
        await type_line(pilot, "/ws frob")
        await wait_for(pilot, lambda: "error: unknown /ws frob: list, add" in status_line(app))
        await type_line(pilot, f"/ws add {tmp_path / 'missing.md'}")
        await wait_for(pilot, lambda: "error: no such file or folder" in status_line(app))


async def test_an_edit_the_server_refuses_is_kept_in_a_file(
    servers: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_editor(tmp_path, monkeypatch, "an hour of careful typing")
    kept = tmp_path / "kept"
    kept.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(kept))
    app = make_app(await servers.start(max_workspace_file=10))
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "/ws edit essay.md")
        await wait_for(pilot, lambda: "your text is kept in" in status_line(app))
        [saved] = kept.glob("chatthy-unsaved-*.md")
        assert saved.read_text() == "an hour of careful typing\n"
        # Too long for the status line: the whole error is in the output as well.
        told = "".join(f"error: your text is kept in {saved}: workspace file 'essay.md'".split())
        await wait_for(
            pilot,
            lambda: told in "".join(screen_text(app).split()),  # wrapped: compare unspaced
            what="the whole error in the output",
        )


async def test_tab_completes_ws_subcommands(server: Server) -> None:
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await pilot.press("slash", "w", "s", "space", "b")
        await pilot.pause(0.1)
        await pilot.press("tab")
        assert app.prompt_input.value == "/ws bench "


def _sent(upstream: Upstream) -> str:
    """Everything the provider was sent in the last request."""
    return "\n".join(str(m["content"]) for m in upstream.requests[-1].body["messages"])


async def test_attached_file_is_read_fresh_each_turn(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker, tmp_path: Path
) -> None:
    draft = tmp_path / "draft.md"
    draft.write_text("first draft: the cat sat")
    app = make_app(await servers.start({"up": openai_provider(upstream)}))
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, f"/ws attach {draft}")
        await wait_on_screen(pilot, f"attached {draft}: 1 file")
        attached = count_tokens("first draft: the cat sat")
        await wait_for(pilot, lambda: f"(new chat + {attached} tokens)" in title_line(app))
        await type_line(pilot, "read it")
        await wait_on_screen(pilot, "upstream: read it")
        assert "first draft: the cat sat" in _sent(upstream)
        draft.write_text("second draft: the dog ran")
        await type_line(pilot, "and now?")
        await wait_for(pilot, lambda: len(upstream.requests) == 2)
        assert "second draft: the dog ran" in _sent(upstream)
        assert "first draft" not in _sent(upstream)
        await type_line(pilot, "/ws attached")
        await wait_on_screen(pilot, f"{draft}  1 file(s)")
        await type_line(pilot, "/ws detach")
        await wait_for(pilot, lambda: f"detached {draft}" in status_line(app))
        await wait_for(pilot, lambda: " + 0 tokens)" in title_line(app))
        await wait_for(pilot, lambda: app.live is None)
        await type_line(pilot, "without it")
        await wait_for(pilot, lambda: len(upstream.requests) == 3)
        assert "dog ran" not in _sent(upstream)
    assert await connect(app.client.address).call("ws_list") == []


async def test_summarise_a_workspace_file_streams_into_the_chat(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    upstream.push(Reply(chunks=["- ", "Gary is a sloth."]))
    srv = await servers.start({"up": openai_provider(upstream)})
    await connect(srv).call("ws_add", name="gary.md", text="Gary the sloth sleeps all day.")
    app = make_app(srv)
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "/summarise gary.md bullets")
        await wait_on_screen(pilot, "Gary is a sloth.")
        sent = _sent(upstream)
        assert "Gary the sloth sleeps all day." in sent and "bullet" in sent.lower()
        await type_line(pilot, "/templates")
        await wait_on_screen(pilot, "translate")
        await type_line(pilot, "/template translate gary.md")
        await wait_for(
            pilot, lambda: "error: " in status_line(app) and "language" in status_line(app)
        )
        assert len(upstream.requests) == 1


async def test_ws_sources_fetch_into_the_workspace(
    servers: ServerFactory, sources: SourcesUpstream, connect: ClientMaker
) -> None:
    sources.page("/notes", "Plain notes about otters.\n", content_type="text/plain")
    sources.articles.append(Article("Otter", "Otters are semiaquatic mammals."))
    config = servers.config()
    config.sources = sources.config()
    srv = await servers.start_with(config)
    app = make_app(srv)
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, f"/ws url {sources.base_url}/notes")
        await wait_for(pilot, lambda: "added url-127.0.0.1-notes" in status_line(app))
        await type_line(pilot, "/ws wikipedia Otter name=otters.md")
        await wait_for(pilot, lambda: "added otters.md" in status_line(app))
        await type_line(pilot, "/ws wikipedia No Such Animal")
        await wait_for(pilot, lambda: "error: " in status_line(app), what="an error line")
        assert "No Such Animal" in status_line(app)
        await type_line(pilot, "/ws url")
        await wait_for(pilot, lambda: "error: what to fetch is needed" in status_line(app))
    names = [f.name for f in await connect(srv).call("ws_list")]
    assert names == ["otters.md", "url-127.0.0.1-notes"]
