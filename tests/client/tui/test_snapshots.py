"""The main screens as text, compared with stored copies (``snapshots/*.txt``).

Text, not SVG: pytest-textual-snapshot would pin another pytest here. Clock times and
token counts are masked. ``CHATTHY_UPDATE_SNAPSHOTS=1`` rewrites the stored copies.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from chatthy.server.app import Server
from tuikit import SIZE, make_app, screen_text, status_line, type_line, wait_for, wait_on_screen

STORED = Path(__file__).with_name("snapshots")


def masked(text: str) -> str:
    """Without clock times, token counts and scrollbar thumbs (they move with the number
    of server commands)."""
    text = re.sub(r"\b\d\d:\d\d\b", "HH:MM", text)
    text = re.sub(r"[▁▂▃▄▅▆▇█]+(?= │$)", lambda m: " " * len(m.group()), text, flags=re.M)
    return re.sub(r"\(\d+ \+ 0 tokens\)", "(N + 0 tokens)", text)


def check(name: str, text: str) -> None:
    path = STORED / f"{name}.txt"
    text = masked(text) + "\n"
    if os.environ.get("CHATTHY_UPDATE_SNAPSHOTS"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no stored {name}; CHATTHY_UPDATE_SNAPSHOTS=1 writes it:\n{text}"
    assert text == path.read_text(encoding="utf-8"), f"{name} changed:\n{text}"


async def test_main_screen(server: Server) -> None:
    app = make_app(server, chat="snap")
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "Show me *code*:")
        await wait_on_screen(pilot, "echo: Show me code:")
        await wait_for(pilot, lambda: status_line(app) == "connected")
        check("main", screen_text(app))


async def test_help_screen(server: Server) -> None:
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await pilot.press("f1")
        await wait_on_screen(pilot, "/chat NAME")
        check("help", screen_text(app))


async def test_error_state(server: Server) -> None:
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "/provider nope")
        await wait_for(pilot, lambda: "error:" in status_line(app))
        check("error", screen_text(app))
