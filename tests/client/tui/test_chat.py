"""The full-screen client chatting against a real server: streamed replies, switching
chats, cancelling, and replies from other clients."""

from __future__ import annotations

import msgspec
import pytest

from chatthy.client.session import Session
from chatthy.config import ProviderConfig
from chatthy.server.app import Server
from helpers import ClientMaker, ServerFactory, openai_provider, turn
from tuikit import (
    SIZE,
    make_app,
    screen_text,
    status_line,
    title_line,
    type_line,
    wait_for,
    wait_on_screen,
)
from upstream import Reply, Upstream


async def slow_server(servers: ServerFactory, upstream: Upstream) -> Server:
    return await servers.start({"up": openai_provider(upstream)})


async def test_a_message_and_its_streamed_reply(servers: ServerFactory, upstream: Upstream) -> None:
    upstream.push(Reply(chunks=["Here is ", "**bold**", " news.", "\n\n- one\n- two"], delay=0.3))
    app = make_app(await slow_server(servers, upstream))
    async with app.run_test(size=SIZE) as pilot:
        title = "alice — default (new chat) [default@up:test-model]"
        await wait_for(pilot, lambda: title_line(app) == title, what="the chat's title")
        await type_line(pilot, "what is new?")
        await wait_on_screen(pilot, "▌ what is new?")
        await wait_on_screen(pilot, "Here is")
        assert "… streaming" in screen_text(app)
        assert "streaming…" in status_line(app)
        await wait_on_screen(pilot, "• two")
        await wait_for(pilot, lambda: "… streaming" not in screen_text(app), what="the end")
        await wait_on_screen(pilot, "up:test-model ·")
        screen = screen_text(app)
        assert "Here is bold news." in screen
        assert "**" not in screen
        await wait_for(pilot, lambda: status_line(app) == "connected", what="status idle")
        assert title_line(app).startswith("alice — default (")
        assert title_line(app).endswith("+ 0 tokens) [default@up:test-model]")


async def test_reasoning_is_shown_and_folded_away(
    servers: ServerFactory, upstream: Upstream
) -> None:
    upstream.push(Reply(chunks=["The answer."], reasoning=["Let me think hard."]))
    app = make_app(await slow_server(servers, upstream))
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "why?")
        await wait_on_screen(pilot, "The answer.")
        await wait_on_screen(pilot, "▶ reasoning")
        assert "Let me think hard." not in screen_text(app)
        await pilot.click("CollapsibleTitle")
        await wait_on_screen(pilot, "Let me think hard.")


async def test_code_blocks_are_rendered(servers: ServerFactory, upstream: Upstream) -> None:
    upstream.push(
        Reply(chunks=["Try:\n\n```python\n", "def twice(x):\n", "    return 2 * x\n```\n"])
    )
    app = make_app(await slow_server(servers, upstream))
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "code please")
        await wait_on_screen(pilot, "return 2 * x")
        screen = screen_text(app)
        assert "def twice(x):" in screen
        assert "```" not in screen


async def test_switching_chats(server: Server) -> None:
    app = make_app(server, chat="first")
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "apples")
        await wait_on_screen(pilot, "echo: apples")
        await type_line(pilot, "/chat second")
        await wait_for(pilot, lambda: title_line(app).startswith("alice — second (new chat)"))
        assert "apples" not in screen_text(app)
        await type_line(pilot, "pears")
        await wait_on_screen(pilot, "echo: pears")
        await type_line(pilot, "/chat first")
        await wait_on_screen(pilot, "echo: apples")
        title = "alice — first (2 msgs + 0) [default@echo:echo]"
        await wait_for(pilot, lambda: title_line(app) == title, what=title)
        assert "pears" not in screen_text(app)


async def test_ctrl_c_cancels_and_marks_the_partial_reply(
    servers: ServerFactory, upstream: Upstream
) -> None:
    upstream.push(Reply(chunks=["tick "] * 400, delay=0.05))
    app = make_app(await slow_server(servers, upstream))
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "count")
        await wait_on_screen(pilot, "tick tick")
        await pilot.press("ctrl+c")
        await wait_on_screen(pilot, "⊘ cancelled")
        assert "reply cancelled" in status_line(app)
        await pilot.press("ctrl+c")
        await wait_for(pilot, lambda: "nothing to cancel" in status_line(app))
        assert app.is_running
        await type_line(pilot, "/chat other")
        await type_line(pilot, "/chat default")
        await wait_on_screen(pilot, "⊘ cancelled")
        assert "tick tick" in screen_text(app)


async def test_another_clients_reply_appears_live(server: Server, connect: ClientMaker) -> None:
    app = make_app(server, chat="shared")
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await wait_for(pilot, lambda: app.chat == "shared" and not app.session.busy)
        await pilot.pause(0.2)
        other = connect(server)
        seen = await turn(other, "shared", "hello from the laptop")
        assert seen.status == "complete"
        await wait_on_screen(pilot, "▌ hello from the laptop")
        await wait_on_screen(pilot, "echo: hello from the laptop")
        assert screen_text(app).count("echo: hello from the laptop") == 1


async def test_opening_a_chat_with_a_reply_in_flight_follows_it(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    srv = await slow_server(servers, upstream)
    upstream.push(Reply(chunks=[f"w{i} " for i in range(30)], delay=0.1))
    other = connect(srv)
    await other.start("chat", "busy", text="long one")
    app = make_app(srv)
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "/chat busy")
        await wait_on_screen(pilot, "▌ long one")
        await wait_on_screen(pilot, "… streaming")
        await wait_on_screen(pilot, "w29", timeout=15)
        await wait_for(pilot, lambda: "… streaming" not in screen_text(app), what="the end")
        assert screen_text(app).count("w0 w1 w2") == 1


async def test_reconnects_after_a_server_restart(
    servers: ServerFactory, connect: ClientMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = await servers.start({"echo": ProviderConfig(scheme="echo", model="echo")})
    config, address = srv.config, srv.address
    monkeypatch.setattr(Session, "PING_INTERVAL", 0.2)
    app = make_app(srv, chat="r", connect_timeout=0.3)
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "before")
        await wait_on_screen(pilot, "echo: before")
        await servers.stop(srv)
        await wait_for(pilot, lambda: "server unreachable" in status_line(app))
        listen = msgspec.structs.replace(config.server, listen=address)
        again = await servers.start_with(msgspec.structs.replace(config, server=listen))
        await wait_for(pilot, lambda: status_line(app).startswith("connected"))
        seen = await turn(connect(again), "r", "after")
        assert seen.status == "complete"
        await wait_on_screen(pilot, "echo: after")
        assert screen_text(app).count("echo: before") == 1


async def test_title_counts_workspace_tokens_apart(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    srv = await slow_server(servers, upstream)
    await connect(srv).call("ws_add", name="notes.txt", text="remember the milk " * 40)
    app = make_app(srv)
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "what should I buy?")
        await wait_on_screen(pilot, "upstream:")
        await wait_for(pilot, lambda: "tokens)" in title_line(app), what="token figures")
        history, workspace = title_line(app).split("(")[1].split(" tokens)")[0].split(" + ")
        assert int(workspace) > 100
        assert 0 < int(history) < int(workspace)
