"""The Tk window under Xvfb, against a real server: a message typed with xdotool is
sent and its reply seen streaming and then whole, a reply is cancelled with Escape,
chats are switched (a command, and a double click in the list), a command completes
with Tab. The window runs in the test's process and loop (its widgets are read as a
user would see them); a screenshot is kept in test-artifacts/."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
from collections.abc import AsyncIterator, Callable

import pytest

from chatthy.client.core import Client
from chatthy.client.tk.app import TkApp
from chatthy.config import ProviderConfig
from chatthy.server.app import Server
from chatthy.wire import api
from helpers import ClientMaker, ServerFactory, key_for, openai_provider
from tkkit import ARTIFACTS, focus, press, screenshot, type_text, xdotool
from upstream import Reply, Upstream

pytestmark = pytest.mark.usefixtures("display")


def shown(app: TkApp) -> str:
    """The conversation as it reads on screen (folded parts left out)."""
    text = app.output
    ranges = [str(r) for r in text.tag_ranges("folded")]
    out, index = [], "1.0"
    for start, end in zip(ranges[::2], ranges[1::2], strict=True):
        out.append(text.get(index, start))
        index = end
    out.append(text.get(index, "end-1c"))
    return "".join(out)


SHOWN: list[TkApp] = []
"""The window of the test running (what a failure shows)."""


async def until(check: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    """Let the window and the server run until ``check()`` holds; fail with what the
    window shows if it never does."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            seen = ""
            if SHOWN:
                app = SHOWN[-1]
                status = app.status_bar.cget("text")
                seen = f"; the window:\n{shown(app)}\n[status: {status}]"
            raise AssertionError(f"timed out waiting for {what or check}{seen}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def window(srv: Server, chat: str = "default") -> AsyncIterator[TkApp]:
    client = Client(srv.address, "alice", key_for("alice"), timeout=10.0, connect_timeout=5.0)
    app = TkApp(client, chat, theme="light")
    running = asyncio.ensure_future(app.mainloop())
    SHOWN.append(app)
    try:
        await until(lambda: app.session.booted and not app.session.busy, what="the session")
        await focus(app.input)
        yield app
    finally:
        app.quit()
        await asyncio.wait_for(running, 10)
        SHOWN.remove(app)


async def test_a_typed_message_streams_its_reply_and_a_screenshot_is_kept(
    servers: ServerFactory, upstream: Upstream
) -> None:
    srv = await servers.start({"up": openai_provider(upstream)})
    words = [f"w{i} " for i in range(60)]
    upstream.push(Reply(chunks=["# Sea\n\nThe **calm** sea.\n\n", *words], delay=0.05))
    async with window(srv) as app:
        await type_text("tell me about the sea")
        await press("Return")
        await until(lambda: "w10" in shown(app), what="the reply streaming")
        assert app.conversation.live is not None  # seen while it streams, not at its end
        assert "tell me about the sea" in shown(app)
        assert "The calm sea." in shown(app)  # its first block rendered: no ** left
        assert "**" not in shown(app)
        await until(lambda: app.conversation.live is None, what="the reply's end")
        text = shown(app)
        assert "w59" in text and "up:test-model" in text
        assert app.input.get("1.0", "end-1c") == ""  # sent: the input is empty again
        await asyncio.sleep(0.3)  # the last frame drawn on the X server
        ARTIFACTS.mkdir(exist_ok=True)
        picture = screenshot(ARTIFACTS / "tk-window.png")
        assert picture.stat().st_size > 10_000


async def test_escape_cancels_the_reply_streaming(
    servers: ServerFactory, upstream: Upstream
) -> None:
    srv = await servers.start({"up": openai_provider(upstream)})
    upstream.push(Reply(chunks=[f"slow{i} " for i in range(200)], delay=0.1))
    async with window(srv) as app:
        await type_text("a long one")
        await press("Return")
        await until(lambda: "slow3" in shown(app), what="the reply streaming")
        await press("Escape")
        await until(lambda: "cancelled" in shown(app), what="the reply marked cancelled")
        assert "slow199" not in shown(app)
        assert app.session.live is None


async def test_chats_switch_by_command_and_by_the_list(
    servers: ServerFactory, connect: ClientMaker
) -> None:
    srv = await servers.start({"echo": ProviderConfig(scheme="echo", model="echo")})
    other = connect(srv)
    for chat, text in (("zoo", "giraffes"), ("farm", "cows")):
        stream, _ = await other.start("chat", chat, text=text)
        async for _event in stream.events():
            pass
    async with window(srv, "farm") as app:
        await until(lambda: "echo: cows" in shown(app), what="chat farm shown")
        await type_text("/chat zoo")
        await press("Return")
        await until(lambda: "echo: giraffes" in shown(app), what="chat zoo shown")
        assert "zoo" in app.title.cget("text") and "echo: cows" not in shown(app)
        await type_text("hello in the zoo")
        await press("Return")
        await until(lambda: "echo: hello in the zoo" in shown(app), what="the zoo's reply")
        # back to the farm with a double click on its name in the list
        # (the list, most recent first, is read again when the zoo's turn is news: the
        # click waits for that order, so that the row clicked is still farm's)
        await until(
            lambda: list(app.chat_list.get(0, "end"))[:2] == ["zoo", "farm"], what="the list"
        )
        at = list(app.chat_list.get(0, "end")).index("farm")
        box = app.chat_list.bbox(at)
        assert box is not None
        x, y, _width, height = box
        left, top = app.chat_list.winfo_rootx(), app.chat_list.winfo_rooty()
        where = (str(left + x + 5), str(top + y + height // 2))
        await xdotool("mousemove", "--sync", *where, "click", "--repeat", "2", "--delay", "80", "1")
        await until(lambda: "echo: cows" in shown(app), what="chat farm shown again")
        assert "farm" in app.title.cget("text")


async def test_tab_completes_a_command(servers: ServerFactory) -> None:
    srv = await servers.start({"echo": ProviderConfig(scheme="echo", model="echo")})
    async with window(srv) as app:
        await type_text("/regen")
        await press("Tab")
        await until(lambda: app.input.get("1.0", "end-1c").startswith("/regenerate"))


def png(width: int, height: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), "teal").save(out, "PNG")
    return out.getvalue()


async def test_a_stored_chat_shows_its_image_code_and_folded_tool_call(
    servers: ServerFactory, connect: ClientMaker
) -> None:
    srv = await servers.start({"echo": ProviderConfig(scheme="echo", model="echo")})
    picture = "data:image/png;base64," + base64.b64encode(png(120, 80)).decode()
    reply = [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_call", "id": "c1", "name": "lookup", "arguments": '{"q": "tide"}'},
        {"type": "tool_result", "call_id": "c1", "content": "high at noon"},
        {"type": "text", "text": "Here:\n\n```python\nprint('tide')\n```\n\nDone $x^2$."},
    ]
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "what is this?"},
                                     {"type": "image_url", "image_url": {"url": picture},
                                      "name": "sea.png"}]},
        {"role": "assistant", "content": reply},
    ]  # fmt: skip
    await connect(srv).rpc(api.Import(data=json.dumps(messages), chat="shore"))
    async with window(srv, "shore") as app:
        text = app.output
        await until(lambda: bool(text.image_names()), what="the image drawn")
        seen = shown(app)
        assert "[image sea.png 120×80]" in seen and "what is this?" in seen
        # drawn in its message, above its label and the words, not at the chat's end
        [image] = text.image_names()
        at = text.index(image)
        assert text.compare(at, "<", text.search("what is this?", "1.0"))
        assert text.compare(at, "<", text.search("Let me look.", "1.0"))
        assert '⚙ lookup(q="tide")' in seen and "high at noon" in seen
        assert '"q": "tide"' not in seen  # the call's arguments folded away
        assert "print('tide')" in seen and "```" not in seen and "x²" in seen
        # a click on the call's line opens it
        fold = next(t for t in text.tag_names() if t.startswith("fold_"))
        first = text.tag_ranges(fold)[0]
        text.see(first)
        await asyncio.sleep(0.1)
        box = text.bbox(first)
        assert box is not None
        await xdotool(
            "mousemove", "--sync", str(text.winfo_rootx() + box[0] + 4),
            str(text.winfo_rooty() + box[1] + box[3] // 2), "click", "1",
        )  # fmt: skip
        await until(lambda: '"q": "tide"' in shown(app), what="the call opened")
        # the code block's copy button copies the code
        [button] = [text.nametowidget(w) for w in text.window_names()]
        button.invoke()
        assert app.root.clipboard_get() == "print('tide')"
        # dark, and back: the same text, other colours
        light = text.cget("background")
        await press("ctrl+t")
        await until(lambda: text.cget("background") != light, what="the dark theme")
        assert "print('tide')" in shown(app) and "what is this?" in shown(app)
        await asyncio.sleep(0.2)
        screenshot(ARTIFACTS / "tk-window-dark.png")


async def test_reasoning_streams_dim_then_folds_and_tool_calls_fold(
    servers: ServerFactory, upstream: Upstream
) -> None:
    srv = await servers.start({"up": openai_provider(upstream)})
    upstream.push(
        Reply(
            reasoning=["Thinking ", "about ", "tides."],
            chunks=["- one\n", "- two\n\n", "Done ", "then."],
            delay=0.05,
        )
    )
    async with window(srv) as app:
        await type_text("why tides?")
        await press("Return")
        await until(lambda: app.conversation.live is None, what="the reply's end")
        seen = shown(app)
        assert "▸ reasoning" in seen and "Thinking about tides." not in seen  # folded
        assert "one" in seen and "two" in seen and "Done then." in seen
        assert seen.index("▸ reasoning") < seen.index("one") < seen.index("Done then.")
        assert seen.count("Done then.") == 1 and "- one" not in seen  # a list, drawn once
        fold = next(t for t in app.output.tag_names() if t.startswith("fold_"))
        hidden = next(t for t in app.output.tag_names() if t.startswith("body_"))
        app.conversation.toggle(fold, hidden)
        assert "Thinking about tides." in shown(app)


async def test_window_keys_leave_the_typed_text_alone(servers: ServerFactory) -> None:
    srv = await servers.start({"echo": ProviderConfig(scheme="echo", model="echo")})
    async with window(srv) as app:
        await type_text("half a thought")
        await press("Home", "ctrl+k")  # the chat filter, not Tk's delete-to-line-end
        await until(lambda: app.root.focus_get() is app.filter, what="the filter focused")
        assert app.input.get("1.0", "end-1c") == "half a thought"
        await press("ctrl+t")
        await until(lambda: app.theme_name == "dark", what="the dark theme")
        assert app.input.get("1.0", "end-1c") == "half a thought"


async def test_escape_in_a_dialog_closes_it_and_leaves_the_reply_streaming(
    servers: ServerFactory, upstream: Upstream
) -> None:
    srv = await servers.start({"up": openai_provider(upstream)})
    upstream.push(Reply(chunks=[f"on{i} " for i in range(60)], delay=0.05))
    async with window(srv) as app:
        await type_text("go on")
        await press("Return")
        await until(lambda: "on3" in shown(app), what="the reply streaming")
        await press("ctrl+n")  # the new-chat dialog: the reply goes on streaming meanwhile
        await until(lambda: len(app.root.winfo_children()) > 0 and _dialog_open(app))
        seen = shown(app)
        await until(lambda: shown(app) != seen, what="more of the reply while the dialog is open")
        await press("Escape")
        await until(lambda: not _dialog_open(app), what="the dialog closed")
        await until(lambda: app.conversation.live is None, what="the reply's end")
        assert "on59" in shown(app) and "cancelled" not in shown(app)


def _dialog_open(app: TkApp) -> bool:
    return any(w.winfo_class() == "Toplevel" for w in app.root.winfo_children())


async def test_older_messages_come_above_with_a_click(
    servers: ServerFactory, connect: ClientMaker
) -> None:
    srv = await servers.start({"echo": ProviderConfig(scheme="echo", model="echo")})
    messages = [
        {"role": ("user", "assistant")[n % 2], "content": f"line {n:03d}"} for n in range(60)
    ]
    await connect(srv).rpc(api.Import(data=json.dumps(messages), chat="long"))
    async with window(srv, "long") as app:
        await until(lambda: "line 059" in shown(app), what="the newest page")
        assert "line 000" not in shown(app) and "older message(s)" in shown(app)
        text = app.output
        first = text.tag_ranges("older")[0]
        text.see(first)
        await asyncio.sleep(0.1)
        box = text.bbox(first)
        assert box is not None
        where = (str(text.winfo_rootx() + box[0] + 4), str(text.winfo_rooty() + box[1] + 2))
        await xdotool("mousemove", "--sync", *where, "click", "1")
        await until(lambda: "line 000" in shown(app), what="the older messages")
        seen = shown(app)
        assert "older message(s)" not in seen
        order = [seen.index(f"line {n:03d}") for n in (0, 1, 35, 36, 59)]
        assert order == sorted(order) and seen.count("line 036") == 1
