"""Search (/, n, N) and the visual selection (v, j/k, y) in the output."""

from __future__ import annotations

from textual.pilot import Pilot

from chatthy.client.tui.find import MATCH, SELECTED
from chatthy.server.app import Server
from helpers import ServerFactory, openai_provider
from tuikit import (
    SIZE,
    highlighted,
    make_app,
    screen_text,
    status_line,
    type_line,
    wait_for,
    wait_on_screen,
)
from upstream import Reply, Upstream


async def _chat_of(pilot: Pilot[int], count: int) -> None:
    """Twelve or so short turns; notes 1 and 9 are about zebras."""
    for i in range(count):
        await type_line(pilot, f"note {i} about {'zebras' if i in (1, 9) else 'cats'}")
        await wait_on_screen(pilot, f"echo: note {i} ")


async def test_slash_searches_and_n_and_shift_n_move(server: Server) -> None:
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await _chat_of(pilot, 12)
        await pilot.press("shift+tab", "g")
        await wait_on_screen(pilot, "note 0 about cats")
        await pilot.press("slash")
        await pilot.press(*"zebras", "enter")
        await wait_for(pilot, lambda: "match 1 of 4 for 'zebras'" in status_line(app))
        await wait_for(pilot, lambda: highlighted(app, MATCH) == ["zebras"])
        assert app.output.has_focus
        await pilot.press("n")
        await wait_for(pilot, lambda: "match 2 of 4" in status_line(app))
        await pilot.press("n")
        await wait_for(pilot, lambda: "match 3 of 4" in status_line(app))
        assert "echo: note 9 about zebras" in screen_text(app)
        await wait_for(pilot, lambda: highlighted(app, MATCH) == ["zebras"])
        await pilot.press("n", "n")
        await wait_for(pilot, lambda: "match 1 of 4" in status_line(app))
        assert "(search wrapped)" in status_line(app)
        assert "note 1 about zebras" in screen_text(app)
        await pilot.press("N")
        await wait_for(pilot, lambda: "match 4 of 4" in status_line(app))
        assert "echo: note 9 about zebras" in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: highlighted(app, MATCH) == [])


async def test_search_from_the_view_down_no_match_and_escape(server: Server) -> None:
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await _chat_of(pilot, 12)
        await pilot.press("shift+tab", "slash", *"ZEBRAS", "enter")
        await wait_for(pilot, lambda: status_line(app) == "connected · no match for 'ZEBRAS'")
        await pilot.press("slash", *"zebras", "enter")
        await wait_for(pilot, lambda: "for 'zebras'" in status_line(app))
        assert "echo: note 9 about zebras" in screen_text(app)
        await pilot.press("slash", *"gone")
        await wait_on_screen(pilot, "gone")
        await pilot.press("escape")
        await wait_for(pilot, lambda: "gone" not in screen_text(app))
        assert app.output.has_focus
        assert "for 'zebras'" in status_line(app)


async def test_visual_selection_copies_lines(server: Server) -> None:
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await _chat_of(pilot, 3)
        await pilot.press("shift+tab", "g", "v")
        await wait_for(pilot, lambda: "-- VISUAL --" in status_line(app))
        await wait_for(pilot, lambda: highlighted(app, SELECTED) == ["▌ note 0 about cats"])
        await pilot.press("j")
        await wait_for(pilot, lambda: len(highlighted(app, SELECTED)) == 2)
        assert highlighted(app, SELECTED)[1] == "echo: note 0 about cats"
        await pilot.press("y")
        await wait_for(pilot, lambda: "copied the 2 selected lines" in status_line(app))
        assert app.clipboard == "▌ note 0 about cats\n\necho: note 0 about cats"
        await wait_for(pilot, lambda: highlighted(app, SELECTED) == [])
        await pilot.press("v", "j", "j", "escape")
        await wait_for(pilot, lambda: "selection cancelled" in status_line(app))
        await wait_for(pilot, lambda: highlighted(app, SELECTED) == [])
        assert not app.output.visual


async def test_folded_reasoning_is_not_searched(servers: ServerFactory, upstream: Upstream) -> None:
    upstream.push(Reply(chunks=["The answer is four."], reasoning=["Count the zebras."]))
    app = make_app(await servers.start({"up": openai_provider(upstream)}))
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "two and two?")
        await wait_on_screen(pilot, "▶ reasoning")
        await pilot.press("shift+tab", "slash", *"zebras", "enter")
        await wait_for(pilot, lambda: "no match for 'zebras'" in status_line(app))
        await pilot.press("slash", *"four", "enter")
        await wait_for(pilot, lambda: "match 1 of 1 for 'four'" in status_line(app))


async def test_a_match_the_growing_reply_moves_is_let_go_and_n_finds_it_again(
    servers: ServerFactory, upstream: Upstream
) -> None:
    upstream.push(Reply(chunks=["Alpha **bravo", "** charlie", "\n\nThe end."], delay=3.0))
    app = make_app(await servers.start({"up": openai_provider(upstream)}))
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "go")
        await wait_on_screen(pilot, "Alpha **bravo")
        await pilot.press("shift+tab", "slash", *"bravo", "enter")
        await wait_for(pilot, lambda: highlighted(app, MATCH) == ["bravo"])
        await wait_on_screen(pilot, "Alpha bravo charlie")  # the bold closed: text moved
        await wait_for(pilot, lambda: highlighted(app, MATCH) == [], what="the mark let go")
        assert app.live is not None  # still streaming: the live reply let it go
        await pilot.press("n")
        await wait_for(pilot, lambda: highlighted(app, MATCH) == ["bravo"])
