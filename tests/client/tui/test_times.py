"""Each message with its time: the hour today, the date too on another day; stored,
sent from here, and streamed live."""

from __future__ import annotations

import json
import time

from chatthy.client.tui.output import when_text
from helpers import ClientMaker, ServerFactory, openai_provider
from tuikit import SIZE, make_app, screen_text, type_line, wait_for, wait_on_screen
from upstream import Reply, Upstream


def test_the_hour_today_and_the_date_on_other_days() -> None:
    now = time.mktime((2026, 11, 24, 22, 0, 0, 0, 0, -1))
    assert when_text(time.mktime((2026, 11, 24, 9, 5, 0, 0, 0, -1)), now) == "09:05"
    assert when_text(time.mktime((2026, 11, 23, 23, 59, 0, 0, 0, -1)), now) == "2026-11-23 23:59"
    assert when_text(time.mktime((2025, 11, 24, 9, 5, 0, 0, 0, -1)), now) == "2025-11-24 09:05"


async def test_stored_and_new_messages_show_when_they_were_written(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    srv = await servers.start({"up": openai_provider(upstream)})
    asked = time.mktime((2024, 3, 5, 9, 15, 0, 0, 0, -1))
    old = [
        {"role": "user", "content": "an old question", "created": asked},
        {"role": "assistant", "content": "an old answer", "created": asked + 60},
    ]
    await connect(srv).call("import", data=json.dumps(old), chat="old")
    upstream.push(Reply(chunks=["a new ", "answer ", "slowly"] + [" more"] * 20, delay=0.2))
    app = make_app(srv, chat="old")
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "an old answer")
        screen = screen_text(app)
        assert "you · 2024-03-05 09:15" in screen
        assert "2024-03-05 09:16" in screen
        sent = time.time()
        await type_line(pilot, "a new question")
        await wait_on_screen(pilot, "a new answer")
        assert "… streaming" in screen_text(app)
        lines = screen_text(app).splitlines()
        today = {when_text(sent), when_text(sent + 60)}
        mine = [line.strip() for line in lines if line.strip().startswith("you · ")]
        assert mine[0] == "you · 2024-03-05 09:15" and mine[1].removeprefix("you · ") in today
        live = next(line for line in lines if "… streaming" in line)
        assert live.strip().split(" · ")[1] in today
        await wait_for(pilot, lambda: "… streaming" not in screen_text(app), timeout=30)
