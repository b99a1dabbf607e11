"""Chats of thousands of messages: the newest open at once, older ones come when the user
scrolls up to them, and every message is reachable."""

from __future__ import annotations

import json

from chatthy.client.tui.output import ChatLog
from chatthy.server.app import Server
from helpers import ClientMaker
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


async def seed(server: Server, connect: ClientMaker, chat: str, turns: int) -> None:
    """A chat of ``turns`` questions and answers, through the ``import`` RPC."""
    messages = []
    for i in range(turns):
        messages.append({"role": "user", "content": f"question {i}."})
        messages.append({"role": "assistant", "content": f"answer {i}, with *emphasis*."})
    result = await connect(server).call("import", data=json.dumps(messages), chat=chat)
    assert result.messages == 2 * turns


async def test_a_chat_of_5000_messages_opens_at_its_end(
    server: Server, connect: ClientMaker
) -> None:
    await seed(server, connect, "big", 2500)
    app = make_app(server, chat="big")
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "answer 2499, with emphasis.")
        title = "alice — big (5000 msgs + 0) [default@echo:echo]"
        await wait_for(pilot, lambda: title_line(app) == title, what=title)
        await pilot.press("x")
        assert app.prompt_input.value == "x"
        await pilot.press("backspace")
        await type_line(pilot, "and now?")
        await wait_on_screen(pilot, "echo: and now?")
        await pilot.press("shift+tab", "g")
        await wait_for(
            pilot,
            lambda: "question 2488." in screen_text(app) and "older" not in screen_text(app),
            what="older messages above, the view kept where it was",
        )
        await pilot.press("ctrl+u")
        await wait_on_screen(pilot, "question 2486.")
        assert "answer 2499" not in screen_text(app)
        above = 2488 - ChatLog.STEP // 2  # the next entries held are drawn above
        await pilot.press("g")
        await wait_for(pilot, lambda: f"question {above}." in screen_text(app))
        await pilot.press("ctrl+u")
        await wait_on_screen(pilot, f"question {above - 2}.")


async def test_every_message_is_reachable_by_scrolling_up(
    server: Server, connect: ClientMaker
) -> None:
    await seed(server, connect, "long", 200)  # 400 messages: the first page, then four more
    app = make_app(server, chat="long")
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "answer 199, with emphasis.")
        assert "question 0." not in screen_text(app)
        await pilot.press("shift+tab")
        for _ in range(40):
            await pilot.press("g")
            await pilot.pause(0.1)
            if "question 0." in screen_text(app):
                break
        await wait_on_screen(pilot, "question 0.")
        screen = screen_text(app)
        assert "older messages" not in screen
        assert screen.index("question 0.") < screen.index("answer 0,") < screen.index("question 1.")
        await pilot.press("G")
        await wait_on_screen(pilot, "answer 199, with emphasis.")


async def test_a_short_chat_shows_everything(server: Server, connect: ClientMaker) -> None:
    await seed(server, connect, "short", 3)
    app = make_app(server, chat="short")
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "answer 2, with emphasis.")
        screen = screen_text(app)
        assert "question 0." in screen
        assert "older messages" not in screen


async def test_home_jumps_to_the_first_message_and_end_back(
    server: Server, connect: ClientMaker
) -> None:
    await seed(server, connect, "big", 2500)
    app = make_app(server, chat="big")
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "answer 2499, with emphasis.")
        await pilot.press("shift+tab", "home")
        await wait_on_screen(pilot, "question 0.")
        screen = screen_text(app)
        assert screen.index("question 0.") < screen.index("answer 0,") < screen.index("question 1.")
        assert "older" not in screen
        assert app.output.below == 5000 - ChatLog.PAGE  # fetched when scrolled down to
        for _ in range(40):
            await pilot.press("ctrl+d")
        fetched = lambda: app.output.below < 5000 - ChatLog.PAGE  # noqa: E731
        await wait_for(pilot, fetched, what="a page of newer messages fetched")
        assert "question 99." not in screen_text(app)
        await pilot.press("end")
        await wait_on_screen(pilot, "answer 2499, with emphasis.")
        assert app.output.newer == 0
        await type_line(pilot, "still here?")
        await wait_on_screen(pilot, "echo: still here?")


async def test_drawn_messages_stay_few_however_far_one_scrolls(
    server: Server, connect: ClientMaker
) -> None:
    await seed(server, connect, "long", 400)
    app = make_app(server, chat="long")
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "answer 399, with emphasis.")
        await pilot.press("shift+tab")
        for _ in range(60):
            await pilot.press("g")
            await pilot.pause(0.05)
            if "question 0." in screen_text(app):
                break
        await wait_on_screen(pilot, "question 0.")
        assert len(app.output.entries) == 800
        drawn = [e for e in app.output.entries if e.widget is not None]
        assert len(drawn) <= ChatLog.WINDOW
        await pilot.press("end")
        await wait_on_screen(pilot, "answer 399, with emphasis.")


async def test_search_finds_a_message_not_drawn_and_draws_it(
    server: Server, connect: ClientMaker
) -> None:
    await seed(server, connect, "long", 400)
    app = make_app(server, chat="long")
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "answer 399, with emphasis.")
        await pilot.press("shift+tab")
        for _ in range(60):  # up to the first message: the log holds every one
            await pilot.press("g")
            await pilot.pause(0.05)
            if "question 0." in screen_text(app):
                break
        await wait_on_screen(pilot, "question 0.")
        assert app.output.entries[-1].widget is None  # the end is no longer drawn
        await pilot.press("slash", *"question 377.", "enter")
        await wait_for(pilot, lambda: "match 1 of 1 for 'question 377.'" in status_line(app))
        await wait_on_screen(pilot, "question 377.")
        await pilot.press("N")
        await wait_for(pilot, lambda: "match 1 of 1" in status_line(app))
        assert "question 377." in screen_text(app)
