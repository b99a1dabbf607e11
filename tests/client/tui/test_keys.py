"""Keys of the full-screen client: help, quit, focus, history, completion, scrolling."""

from __future__ import annotations

from pathlib import Path

from chatthy.client.tui.output import ChatLog
from chatthy.server.app import Server
from helpers import ServerFactory, openai_provider
from tuikit import SIZE, make_app, screen_text, type_line, wait_for, wait_on_screen
from upstream import Reply, Upstream


async def test_f1_shows_help_and_escape_closes_it(server: Server) -> None:
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await pilot.press("f1")
        await wait_on_screen(pilot, "/chat NAME")
        screen = screen_text(app)
        assert "cancel the running reply" in screen
        await pilot.press("escape")
        await wait_for(pilot, lambda: "/chat NAME" not in screen_text(app))
        await type_line(pilot, "/help")
        await wait_on_screen(pilot, "/chat NAME")


async def test_ctrl_q_and_quit_leave(server: Server) -> None:
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: not app.is_running)
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "/quit")
        await wait_for(pilot, lambda: not app.is_running)
    assert app.return_code == 0


async def test_history_on_up_and_down_kept_across_runs(server: Server) -> None:
    app = make_app(server, chat="one")
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "first")
        await type_line(pilot, "second")
        await wait_on_screen(pilot, "echo: second")
        await pilot.press("up")
        assert app.prompt_input.value == "second"
        await pilot.press("up", "up")
        assert app.prompt_input.value == "first"
        await pilot.press("down", "down")
        assert app.prompt_input.value == ""
        await type_line(pilot, "/chat two")
        await wait_for(pilot, lambda: app.chat == "two")
    again = make_app(server, chat="two")
    async with again.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await wait_for(pilot, lambda: len(again.prompt_input.history) == 3, what="the history")
        await pilot.press("up")
        assert again.prompt_input.value == "/chat two"
        await pilot.press("up")
        assert again.prompt_input.value == "second"


async def test_tab_completes_commands(server: Server) -> None:
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.session.booted, what="the chat open")
        await pilot.press("slash", "r", "e", "g")
        await pilot.press("tab")
        assert app.prompt_input.value == "/reg"  # /regenerate or /register: both listed
        await wait_on_screen(pilot, "regenerate  register")
        await pilot.press("e", "tab")
        assert app.prompt_input.value == "/regenerate "
        app.prompt_input.value = ""
        await pilot.press("slash", "p", "r", "o", "m", "p", "t", "_", "s")
        await pilot.pause(0.1)
        await pilot.press("tab")
        assert app.prompt_input.value == "/prompt_set "


async def test_shift_tab_and_vim_keys_in_the_output(server: Server) -> None:
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        for i in range(8):
            await type_line(pilot, f"message {i}")
            await wait_on_screen(pilot, f"echo: message {i}")
        log = app.query_one(ChatLog)
        await pilot.press("shift+tab")
        assert log.has_focus
        await pilot.press("g")
        await wait_on_screen(pilot, "message 0")
        assert "echo: message 7" not in screen_text(app)
        await pilot.press("j", "j", "j")
        await wait_for(pilot, lambda: log.scroll_y == 3)
        await pilot.press("k")
        await wait_for(pilot, lambda: log.scroll_y == 2)
        await pilot.press("G")
        await wait_on_screen(pilot, "echo: message 7")
        await pilot.press("shift+tab")
        assert app.prompt_input.has_focus


async def test_alt_m_multi_line_input(server: Server, tmp_path: Path) -> None:
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        app.prompt_input.value = "first line"
        await pilot.press("alt+m")
        assert app.prompt_area.has_focus
        await pilot.press("enter", *"second line")
        assert app.prompt_area.text == "first line\nsecond line"
        await pilot.press("escape", "enter")
        await wait_on_screen(pilot, "echo: first line")
        await wait_on_screen(pilot, "second line")
        assert app.prompt_area.text == ""
        await pilot.press(*"third", "alt+enter")
        await wait_on_screen(pilot, "echo: third")
        await pilot.press("alt+m")
        assert app.prompt_input.has_focus
        notes = tmp_path / "notes.md"
        notes.write_text("# Notes\n\n- eggs\n- milk\n")
        await type_line(pilot, f"/load {notes}")
        await wait_for(pilot, lambda: app.prompt_area.text == "# Notes\n\n- eggs\n- milk")
        assert app.prompt_area.has_focus


async def test_copy_a_reply_and_a_code_block(servers: ServerFactory, upstream: Upstream) -> None:
    upstream.push(Reply(chunks=["Use this:\n\n```sh\nls -la\n```\n\nDone."]))
    app = make_app(await servers.start({"up": openai_provider(upstream)}))
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "how do I list files?")
        await wait_on_screen(pilot, "Done.")
        await pilot.press("shift+tab", "c")
        await wait_on_screen(pilot, "copied the code block (7 characters)")
        assert app.clipboard == "ls -la\n"
        await pilot.press("y")
        await wait_for(pilot, lambda: app.clipboard.startswith("Use this:"))
        assert app.clipboard.endswith("Done.")


async def test_tab_lists_several_candidates_and_completes_chat_names_and_paths(
    server: Server, tmp_path: Path
) -> None:
    (tmp_path / "notes-one.md").write_text("x")
    (tmp_path / "notes-two.md").write_text("y")
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.session.booted, what="the chat open")
        await type_line(pilot, "/chat elsewhere")
        await type_line(pilot, "hello")
        await wait_on_screen(pilot, "echo: hello")
        await pilot.press(*"/chat")  # chain, chains, chat, chats: the last two fit
        await pilot.press("tab")
        assert app.prompt_input.value == "/chat"
        await wait_on_screen(pilot, "chat  chats")
        await pilot.press("space", *"els", "tab")
        assert app.prompt_input.value == "/chat elsewhere "
        app.prompt_input.value = ""
        await pilot.press(*f"/ws add {tmp_path}/no")
        await pilot.press("tab")
        assert app.prompt_input.value == f"/ws add {tmp_path}/notes-"
        await wait_on_screen(pilot, "notes-one.md")
        await pilot.press("t", "tab")
        assert app.prompt_input.value == f"/ws add {tmp_path}/notes-two.md "
        app.prompt_input.value = ""
        await pilot.press(*"plain words", "tab")
        assert app.prompt_input.value == "plain words"  # no command: nothing to complete
