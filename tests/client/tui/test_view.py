"""How the output shows what it holds: your messages as typed, the end kept in view when
the reasoning folds, `/search` hits, and marks that NO_COLOR leaves visible."""

from __future__ import annotations

import json

import pytest
from textual.widgets import Collapsible

from chatthy.client.tui import ChatthyApp
from chatthy.client.tui.find import MATCH
from chatthy.client.tui.messages import HitLine, SearchHits
from chatthy.server.app import Server
from chatthy.wire import api
from helpers import ClientMaker, ServerFactory, openai_provider
from tuikit import (
    SIZE,
    highlighted,
    make_app,
    marked,
    screen_text,
    status_line,
    type_line,
    wait_for,
    wait_on_screen,
)
from upstream import Reply, Upstream


async def test_a_message_of_several_lines_shows_as_typed(server: Server) -> None:
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await pilot.press("alt+m")
        app.prompt_area.insert("first line\nsecond line\n\nnew paragraph")
        await pilot.press("alt+enter")
        await wait_on_screen(pilot, "echo: first line")
        lines = [line.strip() for line in screen_text(app).splitlines()]
        at = lines.index("▌ first line")
        assert lines[at + 1] == "▌ second line"
        assert "▌ new paragraph" in lines[at + 2 : at + 4]


async def test_the_view_ends_at_the_bottom_after_the_reasoning_folds(
    servers: ServerFactory, upstream: Upstream
) -> None:
    thinking = [f"step {i} of the thought.\n\n" for i in range(30)]
    answer = [f"Line {i} of the answer.\n\n" for i in range(30)] + ["The very end."]
    upstream.push(Reply(chunks=answer, reasoning=thinking, delay=0.01))
    app = make_app(await servers.start({"up": openai_provider(upstream)}))
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "think hard")
        await wait_on_screen(pilot, "The very end.")
        await wait_for(pilot, lambda: app.live is None, what="the reply ended")
        await wait_for(pilot, lambda: app.output.query(Collapsible).first().collapsed)
        await pilot.pause(0.2)
        output = app.output
        await wait_for(
            pilot,
            lambda: output.scroll_y == output.max_scroll_y,
            what="the view at the bottom",
        )
        assert "The very end." in screen_text(app)
        assert "up:test-model" in screen_text(app)  # the reply's footer, its last line


class OpeningApp(ChatthyApp):
    """The app, noting each search hit the user chose."""

    opened: list[tuple[str, int]]

    def on_search_hits_open(self, event: SearchHits.Open) -> None:
        self.opened.append((event.chat, event.message_id))


async def test_search_hits_are_highlighted_lines_that_open(
    server: Server, connect: ClientMaker
) -> None:
    messages = [{"role": "user", "content": "the giraffe is tall"}]
    messages += [  # the hit is three pages up in its chat
        {"role": ("assistant", "user")[n % 2], "content": f"filler {n}"} for n in range(300)
    ]
    await connect(server).rpc(api.Import(data=json.dumps(messages), chat="zoo"))
    plain = make_app(server)
    app = OpeningApp(plain.client, "elsewhere")
    app.opened = []
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "/search giraffe")
        await wait_on_screen(pilot, "hit for 'giraffe'")
        screen = screen_text(app)
        assert "**" not in screen
        assert "zoo #1 user" in screen
        assert "giraffe" in highlighted(app, MATCH)
        first = app.query(HitLine).first()
        first.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.opened != [], what="Enter opens a hit")
        assert app.opened[0] == (first.hit.chat, first.hit.message_id)
        await wait_for(pilot, lambda: app.chat == "zoo", what="its chat open")
        await wait_for(pilot, lambda: "message #1 of 'zoo'" in status_line(app))
        assert "the giraffe is tall" in screen_text(app)


async def test_with_no_color_the_match_and_selection_are_still_marked(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        assert app.no_color
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "zebras and cats")
        await wait_on_screen(pilot, "echo: zebras and cats")
        await pilot.press("shift+tab", "slash", *"cats", "enter")
        await wait_for(pilot, lambda: "match 1 of 2 for 'cats'" in status_line(app))
        await wait_for(pilot, lambda: marked(app, "underline") == ["cats"])
        await pilot.press("escape", "v")
        await wait_for(pilot, lambda: "-- VISUAL --" in status_line(app))
        assert any("zebras and cats" in run for run in marked(app, "reverse"))
