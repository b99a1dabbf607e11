"""Images in the full-screen client's log: drawn inline (textual-image's widget) with
their label under them, fetched when drawn for the ones the server keeps, the label and
why when they cannot be had; the log's window lets them go and draws them again."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import random
from pathlib import Path

import msgspec
import pytest
from PIL import Image

from chatthy.client.tui.images import FETCH_FAILED, ImageBlock, ImageSource, PictureWidget
from chatthy.client.tui.messages import ReplyView, entry_of
from chatthy.client.tui.output import ChatLog
from chatthy.config import McpServerConfig
from chatthy.server.app import Server
from chatthy.wire import api
from helpers import ClientMaker, ServerFactory, openai_provider
from mcp_kit import stdio_config
from tuikit import SIZE, make_app, screen_text, type_line, wait_for, wait_on_screen
from upstream import Reply, Upstream


def png(width: int, height: int) -> bytes:
    """A real PNG made by Pillow (seeded noise)."""
    noise = random.Random(f"{width}x{height}").randbytes(width * height * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), noise).save(out, format="PNG")
    return out.getvalue()


pytestmark = pytest.mark.filterwarnings(
    # textual-image's half-block and Unicode drawing read pixels with Image.getdata, which
    # Pillow 13 marks deprecated (gone in Pillow 14): its warning, not this client's
    "ignore:Image.Image.getdata is deprecated:DeprecationWarning"
)

CAT = png(160, 120)
KEPT = png(90, 200)
DIGEST = hashlib.sha256(KEPT).hexdigest()
GONE = "0" * 64


def data_url(data: bytes) -> str:
    return f"data:image/png;base64,{base64.b64encode(data).decode()}"


def cat_part() -> dict[str, object]:
    return {
        "type": "image_url",
        "image_url": {"url": data_url(CAT)},
        "name": "cat.png",
        "media_type": "image/png",
        "width": 160,
        "height": 120,
    }


def kept_part(digest: str, name: str) -> dict[str, object]:
    return {"type": "image_url", "image_url": {"url": f"chatthy-image:{digest}"}, "name": name}


class Fetcher:
    """The session's fetch as a front end gets it: digest → bytes; unknown digests fail
    as the server's answer would (not found)."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def __call__(self, digest: str) -> bytes:
        from chatthy.errors import NotFoundError

        self.asked.append(digest)
        if digest != DIGEST:
            raise NotFoundError(f"no image {digest[:12]}…")
        return KEPT


def blocks(log: ChatLog) -> dict[str, ImageBlock]:
    return {block.ref.name: block for block in log.query(ImageBlock)}


def drawn(log: ChatLog, name: str) -> bool:
    """Whether the image ``name`` is drawn (its picture made and mounted)."""
    block = blocks(log).get(name)
    return block is not None and block.picture is not None and bool(block.query(PictureWidget))


async def test_an_imported_image_and_a_kept_one_are_drawn_with_their_labels(
    server: Server, connect: ClientMaker
) -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "what is this?"}, cat_part()]},
        {"role": "assistant", "content": "A cat, sitting."},
    ]
    await connect(server).rpc(api.Import(data=json.dumps(messages), chat="pets"))
    app = make_app(server, chat="pets")
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "A cat, sitting.")
        log = app.output
        await wait_for(pilot, lambda: bool(log.query(PictureWidget)), what="the picture")
        (stored,) = log.query(ImageBlock)  # as today's server keeps it: the URL alone
        assert stored.picture is not None and stored.label_text.startswith("[image ")
        assert "[image_url]" not in screen_text(app)

        # The parts as the contract has them (name and size): handed to the log as the
        # page the app would get from a server that keeps them.
        fetch = Fetcher()
        log.images.fetch = fetch
        page = await app.session.client.rpc(api.Messages(chat="pets"))
        question = msgspec.structs.replace(
            page.messages[0], content=[{"type": "text", "text": "what is this?"}, cat_part()]
        )
        await log.show([question, *page.messages[1:]], 0)
        await wait_for(pilot, lambda: drawn(log, "cat.png"), what="the cat drawn")
        cat = blocks(log)["cat.png"]
        assert cat.label_text == "[image cat.png 160×120]" and not cat.problem
        assert cat.picture is not None and cat.picture.columns <= 40 and cat.picture.rows <= 20
        await wait_on_screen(pilot, "[image cat.png 160×120]")
        screen = screen_text(app)
        assert "[image_url]" not in screen
        assert screen.index("[image cat.png") < screen.index("what is this?")  # above its text
        picture = cat.query_one(PictureWidget)
        assert (picture.size.width, picture.size.height) == (
            cat.picture.columns,
            cat.picture.rows,
        )

        # A reply holding an image the server keeps, and one whose bytes are gone.
        reply = api.MessageInfo(
            id=99,
            role="assistant",
            content=[
                {"type": "text", "text": "Here it is drawn."},
                kept_part(DIGEST, "drawn.png"),
                {"type": "text", "text": "And another, lost."},
                kept_part(GONE, "lost.png"),
            ],
            created=page.messages[-1].created,
        )
        await log.show([question, *page.messages[1:], reply], 0)
        await wait_for(pilot, lambda: drawn(log, "drawn.png"), what="the kept image drawn")
        await wait_on_screen(pilot, f"[image lost.png] {FETCH_FAILED}")
        shown, lost = blocks(log)["drawn.png"], blocks(log)["lost.png"]
        assert shown.label_text == "[image drawn.png]" and shown.query(PictureWidget)
        assert lost.problem == FETCH_FAILED and not lost.query(PictureWidget)
        assert sorted(fetch.asked) == sorted([DIGEST, GONE])
        view = next(r for r in log.replies() if r.message_id == 99)
        assert isinstance(view, ReplyView)  # a reply with images: its pieces in order
        screen = screen_text(app)
        order = [
            screen.index(s) for s in ("Here it is", "[image drawn", "And another", "[image lost")
        ]
        assert order == sorted(order)

        # Drawn again (the window let it go and came back): the picture is not fetched
        # again; the one that failed is tried again.
        await log.show([question, *page.messages[1:], reply], 0)
        await wait_on_screen(pilot, f"[image lost.png] {FETCH_FAILED}")
        await wait_for(pilot, lambda: drawn(log, "drawn.png"), what="drawn again")
        assert fetch.asked.count(DIGEST) == 1 and fetch.asked.count(GONE) == 2


async def test_an_image_that_is_not_one_and_no_fetch_say_why(
    server: Server,
) -> None:
    app = make_app(server, chat="broken")
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        log = app.output
        bogus = {
            "type": "image_url",
            "image_url": {"url": "data:image/png;base64," + base64.b64encode(b"no").decode()},
            "name": "bogus.png",
        }
        record = api.MessageInfo(
            id=1,
            role="user",
            content=[{"type": "text", "text": "look"}, bogus, kept_part(DIGEST, "kept.png")],
        )
        await log.show([record], 0)
        await wait_on_screen(pilot, "[image bogus.png] (not an image that can be drawn)")
        await wait_on_screen(pilot, f"[image kept.png] {FETCH_FAILED}")  # no fetch given
        assert not log.query(PictureWidget)


async def test_the_rows_of_a_picture_are_kept_while_it_comes() -> None:
    """A part that says its size keeps its picture's rows from the start: what is below
    it does not move when the bytes arrive (the log's window measures what it draws)."""
    record = api.MessageInfo(
        id=1, role="user", content=[{"type": "text", "text": "hi"}, cat_part()]
    )
    entry = entry_of(record)
    assert entry.text == "hi" and [r.name for r in entry.images] == ["cat.png"]
    source = ImageSource()
    picture = await source.picture(entry.images[0])
    assert (picture.columns, picture.rows) == (16, 6)  # 160 × 120 px in 10 × 20 px cells
    assert await source.picture(entry.images[0]) is picture  # kept, not made again


async def test_only_the_images_the_window_draws_are_fetched(server: Server) -> None:
    """A chat of 200 messages each holding an image the server keeps: opening it fetches
    the images of the entries drawn near its end, not the 200."""
    asked: list[str] = []

    async def fetch(digest: str) -> bytes:
        asked.append(digest)
        return KEPT

    records = [
        api.MessageInfo(
            id=n,
            role="user",
            content=[{"type": "text", "text": f"photo {n}"}, kept_part(f"{n:064x}", f"p{n}.png")],
        )
        for n in range(1, 201)
    ]
    app = make_app(server, chat="album")
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        log = app.output
        log.images.fetch = fetch
        await log.show(records, 0)
        await wait_on_screen(pilot, "photo 200")
        await wait_for(pilot, lambda: drawn(log, "p200.png"), what="the last photo drawn")
        shown = {block.ref.name for block in log.query(ImageBlock)}
        assert len(shown) == log.hi - log.lo <= ChatLog.WINDOW
        await wait_for(pilot, lambda: len(asked) == len(shown), what="each drawn one fetched")
        assert sorted(asked) == sorted(f"{int(name[1:-4]):064x}" for name in shown)


async def test_an_image_sent_to_the_server_is_fetched_by_digest_and_drawn(
    server: Server, connect: ClientMaker
) -> None:
    sender = connect(server)
    stream, _ = await sender.start(
        "chat",
        "sent",
        content=[{"type": "text", "text": "my drawing"}, {**cat_part(), "name": "mine.png"}],
    )
    async for _event in stream.events():
        pass
    stored = (await sender.rpc(api.Messages(chat="sent"))).messages[0].content[1]
    assert stored["image_url"]["url"] == f"chatthy-image:{hashlib.sha256(CAT).hexdigest()}"
    app = make_app(server, chat="sent")
    async with app.run_test(size=SIZE) as pilot:
        log = app.output
        await wait_for(pilot, lambda: drawn(log, "mine.png"), what="the image drawn")
        assert blocks(log)["mine.png"].label_text == "[image mine.png 160×120]"
        assert not blocks(log)["mine.png"].problem  # the session fetched it from the server


async def test_an_image_attached_in_the_full_screen_client_goes_with_the_message_and_shows(
    server: Server, tmp_path: Path
) -> None:
    picture = tmp_path / "mine.png"
    picture.write_bytes(CAT)
    app = make_app(server, chat="typed")
    async with app.run_test(size=SIZE) as pilot:
        await type_line(pilot, f"/image {picture}")
        await wait_for(pilot, lambda: app.session.images.images != [], what="attached")
        await type_line(pilot, "my drawing")
        await wait_on_screen(pilot, "my drawing")
        log = app.output
        await wait_for(pilot, lambda: drawn(log, "mine.png"), what="the image drawn")
        await wait_on_screen(pilot, "echo: my drawing [image]")  # the reply came too
        sent = (await app.session.client.rpc(api.Messages(chat="typed"))).messages[0].content
    assert sent[1]["image_url"]["url"] == f"chatthy-image:{hashlib.sha256(CAT).hexdigest()}"


async def test_an_image_a_tool_returned_is_drawn_under_its_call_live_and_stored(
    servers: ServerFactory, upstream: Upstream
) -> None:
    config = servers.config({"up": openai_provider(upstream)})
    mcp: dict[str, McpServerConfig] = {"up": stdio_config()}
    srv = await servers.start_with(msgspec.structs.replace(config, mcp_servers=mcp))
    upstream.push(Reply(chunks=["Looking."], tool_calls=[("c1", "up__photo", "{}")]))
    upstream.push(Reply(chunks=["A calm sea."]))
    app = make_app(srv, chat="sea")
    async with app.run_test(size=SIZE) as pilot:
        await type_line(pilot, "show me the sea")
        await wait_on_screen(pilot, "A calm sea.")
        log = app.output
        await wait_for(pilot, lambda: drawn(log, "image 1"), what="the tool's image drawn")
        assert blocks(log)["image 1"].label_text == "[image image 1 64×48]"
        screen = screen_text(app)
        assert screen.index("up__photo") < screen.index("[image image 1") < screen.index("calm")
        # drawn again from the store (by digest) when the chat is opened anew
        await type_line(pilot, "/chat other")
        await wait_for(pilot, lambda: not blocks(log), what="the other chat")
        await type_line(pilot, "/chat sea")
        await wait_on_screen(pilot, "A calm sea.")
        await wait_for(pilot, lambda: drawn(log, "image 1"), what="the stored image drawn")
        assert not blocks(log)["image 1"].problem and blocks(log)["image 1"].ref.digest
        screen = screen_text(app)
        assert screen.index("up__photo") < screen.index("[image image 1") < screen.index("calm")
