"""What the full-screen client does that the client session decides: leaving and coming
back to a streaming chat, pasting several lines, /load, forking at the cursor, a refused
passphrase."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from textual import events

from chatthy.client.core import Client
from chatthy.client.session import Session
from chatthy.client.tui import ChatthyApp
from chatthy.client.tui.output import UserMessage
from chatthy.server.app import Server
from chatthy.wire import api
from helpers import ClientMaker, ServerFactory, key_for, openai_provider, turn
from tuikit import SIZE, make_app, screen_text, status_line, type_line, wait_for, wait_on_screen
from upstream import Reply, Upstream


async def test_a_reply_keeps_streaming_after_leaving_its_chat_and_coming_back(
    servers: ServerFactory, upstream: Upstream
) -> None:
    upstream.push(Reply(chunks=[f"part{n} " for n in range(30)], delay=0.1))
    app = make_app(await servers.start({"up": openai_provider(upstream)}), chat="long")
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "go on")
        await wait_on_screen(pilot, "part2")
        await type_line(pilot, "/chat other")
        await wait_for(pilot, lambda: app.chat == "other" and not app.session.busy)
        await type_line(pilot, "/chat long")
        await wait_for(pilot, lambda: app.chat == "long" and not app.session.busy)
        await wait_on_screen(pilot, "part29", timeout=30)  # followed to its end: no Ctrl-l
        await wait_for(pilot, lambda: "… streaming" not in screen_text(app), what="the end")
        assert screen_text(app).count("part5 ") == 1


async def test_pasting_several_lines_opens_the_multi_line_input(server: Server) -> None:
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        app.prompt_input.value = "look: "
        app.prompt_input.post_message(events.Paste("first line\nsecond line"))
        await wait_for(pilot, lambda: app.multiline, what="the multi-line input")
        assert app.prompt_area.text == "look: first line\nsecond line"
        await pilot.press("escape", "enter")
        await wait_on_screen(pilot, "echo: look: first line")
        users = app.output.users()
        assert users[-1].text == "look: first line\nsecond line"


async def test_load_of_one_line_leaves_the_multi_line_input(server: Server, tmp_path: Path) -> None:
    (tmp_path / "two.txt").write_text("line one\nline two\n")
    (tmp_path / "one.txt").write_text("just one line\n")
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, f"/load {tmp_path / 'two.txt'}")
        await wait_for(pilot, lambda: app.multiline, what="the multi-line input")
        assert app.prompt_area.text == "line one\nline two"
        app.prompt_area.clear()
        app.set_multiline(False)
        await type_line(pilot, f"/load {tmp_path / 'one.txt'}")
        await wait_for(pilot, lambda: app.prompt_input.value == "just one line")
        assert not app.multiline


async def test_fork_copies_up_to_the_message_at_the_cursor(
    server: Server, connect: ClientMaker
) -> None:
    app = make_app(server, chat="base")
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        for word in ("alpha", "bravo", "charlie"):
            await type_line(pilot, word)
            await wait_on_screen(pilot, f"echo: {word}")
        await pilot.press("shift+tab")
        await wait_for(pilot, lambda: app.output.has_focus)
        await pilot.press("slash")
        await pilot.press(*"bravo", "enter")  # the search match is the cursor
        await wait_for(pilot, lambda: app.output.cursor_message_id() is not None)
        marked = app.output.cursor_message_id()
        await type_line(pilot, "/fork upto-bravo")
        await wait_for(pilot, lambda: app.chat == "upto-bravo" and not app.session.busy)
    page = await connect(server).rpc(api.Messages(chat="upto-bravo"))
    texts = [m.content for m in page.messages]
    assert marked is not None
    assert "bravo" in texts and "charlie" not in texts, texts


async def test_a_refused_passphrase_ends_the_app_with_the_reason(server: Server) -> None:
    owner = Client(server.address, "carol", key_for("carol"))
    async with owner:
        await owner.rpc(api.Status())  # carol is registered with her passphrase
    client = Client(server.address, "carol", key_for("carol", "not her passphrase"))
    app = ChatthyApp(client, "default")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: not app.is_running, what="the app to leave")
    assert app.return_code == 1
    assert "passphrase" in app.failure or "key" in app.failure, app.failure


async def test_a_reply_from_another_client_shows_its_question_once(
    server: Server, connect: ClientMaker
) -> None:
    app = make_app(server, chat="shared")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.session.booted and not app.session.busy)
        other = connect(server)
        await turn(other, "shared", "from elsewhere")
        await wait_on_screen(pilot, "echo: from elsewhere")
        await turn(other, "shared", "and again")
        await wait_on_screen(pilot, "echo: and again")
        texts = [w.text for w in app.output.query(UserMessage)]
        assert texts == ["from elsewhere", "and again"]
        assert status_line(app).startswith("connected")


async def test_a_rename_or_delete_by_another_client_is_followed(
    server: Server, connect: ClientMaker
) -> None:
    other = connect(server)
    await turn(other, "first name", "hello")
    app = make_app(server, chat="first name")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.session.booted and not app.session.busy)
        await other.rpc(api.Rename(chat="first name", new="second name"))
        await wait_for(pilot, lambda: app.chat == "second name", what="the rename followed")
        await wait_on_screen(pilot, "chat renamed to 'second name'")
        await type_line(pilot, "still here?")
        await wait_on_screen(pilot, "echo: still here?")
        chats = {c.name: c.messages for c in await other.rpc(api.Chats())}
        assert chats == {"second name": 4}  # no new chat under the old name
        await other.rpc(api.Use(chat="second name", prompt="default", model="other-model"))
        await wait_for(pilot, lambda: app.info.model == "other-model", what="the new model")
        await other.rpc(api.Destroy(chat="second name"))
        await wait_on_screen(pilot, "chat 'second name' was deleted")
        await wait_for(pilot, lambda: not app.output.users(), what="the chat emptied")


async def test_news_on_the_status_line_does_not_go_stale(
    servers: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await servers.start()
    monkeypatch.setattr(ChatthyApp, "NEWS_SHOWN", 0.3)
    monkeypatch.setattr(Session, "PING_INTERVAL", 0.2)
    monkeypatch.setattr(Session, "PING_TIMEOUT", 0.3)
    app = make_app(server, connect_timeout=0.3)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.session.booted and not app.session.busy)
        await type_line(pilot, "hello")
        await wait_on_screen(pilot, "echo: hello")
        await type_line(pilot, "/rename elsewhere")
        await wait_for(pilot, lambda: "chat renamed to 'elsewhere'" in status_line(app))
        await wait_for(pilot, lambda: status_line(app) == "connected", what="the news gone")
        await servers.stop(server)  # said within a ping and its timeout, not 15 s later
        await wait_for(pilot, lambda: "unreachable" in status_line(app), timeout=3)


async def test_a_pasted_line_is_pasted_once_and_cr_breaks_open_multi_line(server: Server) -> None:
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        app.prompt_input.value = "say "
        app.prompt_input.cursor_position = 4
        app.prompt_input.post_message(events.Paste("single"))
        await pilot.pause(0.2)
        assert app.prompt_input.value == "say single"
        assert not app.multiline
        app.prompt_input.post_message(events.Paste("one\rtwo"))  # as terminals send it
        await wait_for(pilot, lambda: app.multiline, what="the multi-line input")
        assert app.prompt_area.text == "say singleone\ntwo"


async def test_a_bad_home_folder_and_a_refused_provider_are_one_line(
    server: Server, connect: ClientMaker
) -> None:
    await turn(connect(server), "kept", "an old question")
    app = make_app(server, chat="kept", provider="nosuch")
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "echo: an old question")  # the chat is shown all the same
        await wait_for(pilot, lambda: "error:" in status_line(app) and "nosuch" in status_line(app))
        await type_line(pilot, "/load ~nosuchuser/notes.txt")
        await wait_for(pilot, lambda: "no such user's home folder" in status_line(app))
        assert app.is_running


async def test_a_message_the_server_never_got_goes_back_into_the_input(
    servers: ServerFactory,
) -> None:
    server = await servers.start()
    app = make_app(server, connect_timeout=0.3)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.session.booted and not app.session.busy)
        await servers.stop(server)
        await type_line(pilot, "are you there?")
        await wait_for(pilot, lambda: "not sent" in status_line(app), timeout=15)
        assert app.prompt_input.value == "are you there?"


async def test_a_quick_restart_is_noticed_and_replies_from_elsewhere_show_again(
    servers: ServerFactory, connect: ClientMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Session, "PING_INTERVAL", 0.3)
    server = await servers.start()
    config, address = server.config, server.address
    app = make_app(server, chat="r")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.session.booted and not app.session.busy)
        await pilot.pause(1.0)  # a ping has seen the server's uptime
        await servers.stop(server)
        again = await servers.start_with(
            msgspec.structs.replace(
                config, server=msgspec.structs.replace(config.server, listen=address)
            )
        )
        await wait_on_screen(pilot, "reconnected", timeout=10)
        await turn(connect(again), "r", "after the restart")
        await wait_on_screen(pilot, "echo: after the restart")
