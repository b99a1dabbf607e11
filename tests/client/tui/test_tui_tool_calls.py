"""Tool calls in the full-screen client: each call folded in its reply (title with the
tool, time and outcome; unfolded, arguments and result), the question before a call that
changes something (y / n), and a stored reply with calls drawn the same way."""

from __future__ import annotations

import re
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Collapsible

from chatthy.client.tui.tools import ApprovalScreen, ToolBox
from chatthy.server.app import Server
from chatthy.wire import api
from helpers import ClientMaker
from tool_kit import script_note
from tuikit import SIZE, make_app, screen_text, type_line, wait_for, wait_on_screen
from upstream import Reply, Upstream


async def _wait_title(pilot: Pilot[int], tool: str) -> None:
    """Until the call's folded title says it ran, in how long (the time varies)."""
    title = re.compile(rf"▶ ⚙ {tool} · \d+\.\d s · ok")
    await wait_for(pilot, lambda: bool(title.search(screen_text(pilot.app))), what=tool)


async def test_a_changing_call_is_asked_and_runs_on_y_and_is_refused_on_n(
    tooled: Server, upstream: Upstream, tmp_path: Path
) -> None:
    note = tmp_path / "notes" / "a.txt"
    upstream.push(
        Reply(chunks=["Checking."], tool_calls=[("c0", "current_time", '{"timezone": "UTC"}')])
    )
    script_note(upstream, "c1")
    script_note(upstream, "c2", after="Not saved.")
    app = make_app(tooled, chat="tools")
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "note this")
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen), what="the question")
        await wait_on_screen(pilot, 'run save_note(name="a.txt", text="hello from the model")?')
        assert not note.exists()
        await pilot.press("y")
        await _wait_title(pilot, "current_time")
        await wait_on_screen(pilot, "Done.")
        await _wait_title(pilot, "save_note")
        assert note.read_text() == "hello from the model"
        screen = screen_text(app)
        order = [screen.index(s) for s in ("Checking.", "⚙ current_time", "Saving it.", "Done.")]
        assert order == sorted(order)
        assert "saved a.txt" not in screen  # folded
        box = [b for b in app.query(ToolBox) if b.call.name == "save_note"][-1]
        box.collapsed = False
        await wait_on_screen(pilot, "saved a.txt (20 characters)")
        assert '"name": "a.txt"' in screen_text(app)

        note.unlink()
        await type_line(pilot, "again")
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen), what="the question")
        await pilot.press("n")
        await wait_on_screen(pilot, "Not saved.")
        await wait_on_screen(pilot, "⚙ save_note · refused")
        assert not note.exists()


async def test_a_stored_reply_shows_its_calls_folded_between_its_texts(
    tooled: Server, upstream: Upstream
) -> None:
    upstream.push(
        Reply(chunks=["Checking."], tool_calls=[("c0", "current_time", '{"timezone": "UTC"}')])
    )
    upstream.push(Reply(chunks=["It is today."]))
    app = make_app(tooled, chat="stored")
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "what time?")
        await wait_on_screen(pilot, "It is today.")
    again = make_app(tooled, chat="stored")
    async with again.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "It is today.")
        screen = screen_text(again)
        assert "⚙ current_time · ok" in screen
        assert screen.index("Checking.") < screen.index("⚙ current_time") < screen.index("It is")
        assert "[tool_call]" not in screen
        box = again.query_one(ToolBox)
        assert isinstance(box, Collapsible) and box.collapsed
        box.collapsed = False
        await wait_on_screen(pilot, '"timezone": "UTC"')
        await wait_on_screen(pilot, "UTC)")


async def test_the_question_goes_when_another_client_answers_and_always_stops_asking(
    tooled: Server, upstream: Upstream, tmp_path: Path, connect: ClientMaker
) -> None:
    script_note(upstream, "c1")
    script_note(upstream, "c2", after="Saved again.")
    app = make_app(tooled, chat="elsewhere")
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "note this")
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen), what="the question")
        other = connect(tooled, "alice")
        answered = await other.rpc(api.Approve(chat="elsewhere", call_id="c1", answer="always"))
        assert answered.pending
        await wait_on_screen(pilot, "Done.")
        gone = lambda: not isinstance(app.screen, ApprovalScreen)  # noqa: E731
        await wait_for(pilot, gone, what="the question gone")
        assert (tmp_path / "notes" / "a.txt").exists()
        (tmp_path / "notes" / "a.txt").unlink()
        await type_line(pilot, "and again")
        await wait_on_screen(pilot, "Saved again.")
        assert (tmp_path / "notes" / "a.txt").exists()  # always: not asked this time
        assert not isinstance(app.screen, ApprovalScreen)
