"""Slash commands of the full-screen client against a real server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatthy.server.app import Server
from chatthy.wire import api
from helpers import ClientMaker
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


async def test_edit_in_editor_regenerates(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_editor(tmp_path, monkeypatch, "edited text")
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "original words")
        await wait_on_screen(pilot, "echo: original words")
        await type_line(pilot, "/edit")
        await wait_on_screen(pilot, "echo: edited text")
        screen = screen_text(app)
        assert "▌ edited text" in screen
        assert "original words" not in screen


async def test_edit_with_a_failing_editor_changes_nothing(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", "false")
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "keep me")
        await wait_on_screen(pilot, "echo: keep me")
        await type_line(pilot, "/edit")
        await wait_for(pilot, lambda: "exited with status 1" in status_line(app))
        assert "echo: keep me" in screen_text(app)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("/provider nope", "error: "),
        ("/frobnicate", "error: unknown command /frobnicate (/help lists them)"),
        ("/chat", "error: a chat name needed: /chat NAME"),
        ("/undo", "error: "),
        ("/rename", "error: a new name needed: /rename NEW"),
        ('/search "unclosed', "error: cannot read that command"),
    ],
)
async def test_errors_are_one_line(server: Server, line: str, message: str) -> None:
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, line)
        await wait_for(pilot, lambda: message in status_line(app), what=message)
        status = status_line(app)
        assert status.startswith("connected · error: ")
        assert "Traceback" not in screen_text(app)
        assert app.is_running


async def test_server_unreachable_shows_in_the_status(server: Server) -> None:
    address = server.address
    app = make_app(address.rsplit(":", 1)[0] + ":1", connect_timeout=0.3)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "server unreachable" in status_line(app))
        assert "cannot reach the server" in status_line(app)
        await type_line(pilot, "anyone?")
        await pilot.pause(0.5)
        assert "Traceback" not in screen_text(app)
        assert app.is_running


async def test_rename_fork_undo(server: Server, connect: ClientMaker) -> None:
    app = make_app(server, chat="plans")
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "step one")
        await wait_on_screen(pilot, "echo: step one")
        await type_line(pilot, "step two")
        await wait_on_screen(pilot, "echo: step two")
        await type_line(pilot, "/rename schemes")
        await wait_for(pilot, lambda: title_line(app).startswith("alice — schemes ("))
        await type_line(pilot, "/fork copy")
        await wait_for(pilot, lambda: title_line(app).startswith("alice — copy (4 msgs"))
        assert "echo: step two" in screen_text(app)
        await type_line(pilot, "/undo")
        await wait_for(pilot, lambda: "echo: step two" not in screen_text(app))
        assert "echo: step one" in screen_text(app)
        assert "removed 2 message(s)" in status_line(app)
        await type_line(pilot, "/chats")
        await wait_on_screen(pilot, "schemes")
    names = {c.name for c in await connect(server).call("chats")}
    assert names == {"schemes", "copy"}


async def test_destroy_asks_for_the_name(server: Server, connect: ClientMaker) -> None:
    app = make_app(server, chat="doomed")
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "bye")
        await wait_on_screen(pilot, "echo: bye")
        await type_line(pilot, "/destroy")
        await wait_on_screen(pilot, "type /destroy doomed to confirm")
        await type_line(pilot, "/destroy doomed")
        await wait_for(pilot, lambda: title_line(app).startswith("alice — default (new chat)"))
        assert "chat 'doomed' deleted" in status_line(app)
    assert await connect(server).call("chats") == []


async def test_export_import_load(server: Server, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    note = tmp_path / "note.txt"
    note.write_text("text from a file")
    app = make_app(server, chat="source")
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "remember the alamo")
        await wait_on_screen(pilot, "echo: remember the alamo")
        await type_line(pilot, f"/export {out}")
        await wait_for(pilot, lambda: out.exists() and "exported" in status_line(app))
        assert "remember the alamo" in json.dumps(json.loads(out.read_text()))
        await type_line(pilot, f"/import {out}")
        await wait_on_screen(pilot, "imported 2 message(s) into chat")
        await type_line(pilot, f"/load {note}")
        await wait_for(pilot, lambda: app.prompt_input.value == "text from a file")
        await pilot.press("enter")
        await wait_on_screen(pilot, "echo: text from a file")


async def test_search_prompt_provider_model(server: Server) -> None:
    app = make_app(server, chat="zoo")
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "the giraffe is tall")
        await wait_on_screen(pilot, "echo: the giraffe is tall")
        await type_line(pilot, "/search giraffe")
        await wait_on_screen(pilot, "2 hits for 'giraffe'")
        await type_line(pilot, "/model tiny")
        await wait_for(pilot, lambda: title_line(app).endswith("[default@echo:tiny]"))
        await type_line(pilot, "/prompts")
        await wait_on_screen(pilot, "personalities:")
        await type_line(pilot, "/prompt_set name=terse text=Short.")
        await wait_on_screen(pilot, "name     terse")  # a result as text, not JSON
        await type_line(pilot, "/prompt terse")
        await wait_for(pilot, lambda: title_line(app).endswith("[terse@echo:tiny]"))
        await type_line(pilot, "/providers")
        await wait_on_screen(pilot, "echo (default): echo")
        await type_line(pilot, "/provider echo")
        await wait_for(pilot, lambda: "provider is now 'echo'" in status_line(app))


async def test_regenerate_and_ctrl_l_show_the_chat_once(server: Server) -> None:
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "say it again")
        await wait_on_screen(pilot, "echo: say it again")
        await type_line(pilot, "/regenerate")
        await wait_for(pilot, lambda: status_line(app) == "connected")
        await pilot.press("ctrl+l")
        await pilot.pause(0.3)
        await wait_on_screen(pilot, "echo: say it again")
        screen = screen_text(app)
        assert screen.count("echo: say it again") == 1
        assert screen.count("▌ say it again") == 1


async def test_prompt_edit_saves_the_personality(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, connect: ClientMaker
) -> None:
    use_editor(tmp_path, monkeypatch, "You are a pirate.")
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "/prompt edit pirate")
        await wait_for(pilot, lambda: "personality 'pirate' saved" in status_line(app))
        await type_line(pilot, "/prompt pirate")
        await wait_for(pilot, lambda: title_line(app).endswith("[pirate@echo:echo]"))
        await type_line(pilot, "/prompt")
        await wait_on_screen(pilot, "You are a pirate.")
    saved = await connect(server).call("prompt", name="pirate")
    assert saved.text == "You are a pirate."


async def test_commands_ws_restore_and_sources_in_the_tui(
    server: Server, connect: ClientMaker
) -> None:
    await connect(server).call("ws_add", name="notes.md", text="some notes")
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.session.booted, what="the chat open")
        await type_line(pilot, "/commands")
        await wait_on_screen(pilot, "/ws_bench name=…")
        await type_line(pilot, "/ws bench notes.md")
        await wait_for(pilot, lambda: "notes.md: benched" in status_line(app))
        await type_line(pilot, "/ws restore notes.md")
        await wait_for(pilot, lambda: "notes.md: sent with every turn again" in status_line(app))
        await type_line(pilot, "/ws sources")
        await wait_on_screen(pilot, "wikipedia")
    files = await connect(server).rpc(api.WsList())
    assert [(f.name, f.benched) for f in files] == [("notes.md", False)]
