"""Images as the terminal clients show them: the references a message's content holds,
their labels, which graphics protocol a terminal speaks, the escapes that draw an image
(read back to the bytes they carry), PNG conversion, and the line client's lines."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import os
import random
import re
import threading
import tty

import pytest
from PIL import Image

from chatthy.client.image_view import (
    ImageRef,
    as_png,
    cells,
    data_url_bytes,
    image_bytes,
    image_parts,
    iterm_escape,
    kitty_escape,
    label,
    terminal_graphics,
    thumbnail,
    without_images,
)
from chatthy.client.repl import LineFront
from chatthy.client.session import ChatState
from chatthy.client.tools import ToolCallInfo, result_of
from chatthy.errors import ArgumentError, NotFoundError
from chatthy.wire import api


def picture(width: int, height: int, kind: str = "PNG", mode: str = "RGB") -> bytes:
    """A real image made by Pillow, of noise (seeded): it compresses as a photo does,
    not to a few bytes."""
    noise = random.Random(f"{width}x{height}").randbytes(width * height * 3)
    image = Image.frombytes("RGB", (width, height), noise)
    if mode != "RGB":
        image = image.convert(mode)
    out = io.BytesIO()
    image.save(out, format=kind)
    return out.getvalue()


def data_url(data: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


PNG = picture(64, 48)
DIGEST = hashlib.sha256(PNG).hexdigest()


# ---- references and labels -------------------------------------------------------------


def test_image_parts_read_every_field_and_fill_what_is_missing() -> None:
    content = [
        {"type": "text", "text": "look"},
        {
            "type": "image_url",
            "image_url": {"url": data_url(PNG)},
            "name": "cat.png",
            "media_type": "image/png",
            "width": 640,
            "height": 480,
        },
        {"type": "image_url", "image_url": {"url": f"chatthy-image:{DIGEST.upper()}"}},
        {"type": "image_url", "image_url": {"url": data_url(PNG, "image/PNG")}, "width": True},
    ]
    cat, kept, bare = image_parts(content)
    assert (cat.name, cat.media_type, cat.width, cat.height) == ("cat.png", "image/png", 640, 480)
    assert cat.url.startswith("data:image/png;base64,") and not cat.digest
    assert kept == ImageRef(digest=DIGEST)  # named "image", size unknown, no URL
    assert kept.key == f"chatthy-image:{DIGEST}"
    assert (bare.name, bare.media_type, bare.width) == ("image", "image/png", None)
    assert image_parts("just text") == [] and image_parts(None) == []
    assert without_images(content) == [{"type": "text", "text": "look"}]
    assert without_images("text") == "text"


def test_images_a_tool_returned_are_found_in_its_result() -> None:
    content = [
        {"type": "tool_call", "id": "c1", "name": "screenshot", "arguments": "{}"},
        {
            "type": "tool_result",
            "call_id": "c1",
            "content": "taken",
            "images": [
                {
                    "type": "image_url",
                    "image_url": {"url": f"chatthy-image:{DIGEST}"},
                    "name": "s.png",
                },
            ],
        },
        {"type": "tool_result", "call_id": "c2", "content": "plain text"},
    ]
    assert image_parts(content) == [ImageRef(name="s.png", digest=DIGEST)]


def test_labels_say_name_and_size_when_known() -> None:
    assert label(ImageRef("cat.png", "image/png", 640, 480)) == "[image cat.png 640×480]"
    assert label(ImageRef("cat.png")) == "[image cat.png]"
    assert label(ImageRef(width=640)) == "[image image]"  # half a size is no size


# ---- which terminal draws --------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"TERM": "xterm-kitty"}, "kitty"),
        ({"TERM": "xterm-256color", "KITTY_WINDOW_ID": "3"}, "kitty"),
        ({"TERM": "xterm-256color", "TERM_PROGRAM": "WezTerm"}, "kitty"),
        ({"TERM": "xterm-ghostty"}, "kitty"),
        ({"TERM": "xterm-256color", "TERM_PROGRAM": "iTerm.app"}, "iterm"),
        ({"TERM": "xterm-256color", "LC_TERMINAL": "iTerm2"}, "iterm"),
        ({"TERM": "xterm-256color"}, None),
        ({}, None),
        ({"TERM": "xterm-kitty", "CHATTHY_IMAGES": "off"}, None),
        ({"TERM_PROGRAM": "iTerm.app", "CHATTHY_IMAGES": "OFF"}, None),
        ({"TERM": "tmux-256color", "KITTY_WINDOW_ID": "3", "TMUX": "/tmp/tmux-1/default"}, None),
    ],
)
def test_the_graphics_protocol_comes_from_the_environment(
    env: dict[str, str], expected: str | None
) -> None:
    assert terminal_graphics(env) == expected


# ---- escapes ---------------------------------------------------------------------------

_KITTY = re.compile(r"\x1b_G([^;]*);([A-Za-z0-9+/=]*)\x1b\\")


def kitty_images(text: str) -> list[bytes]:
    """The images Kitty's escapes in ``text`` carry: each its chunks up to ``m=0``."""
    images, chunks = [], []
    for keys, payload in _KITTY.findall(text):
        chunks.append(payload)
        if "m=0" in keys.split(","):
            images.append(base64.b64decode("".join(chunks)))
            chunks = []
    return images


def test_kitty_escapes_come_in_chunks_that_decode_back_to_the_png() -> None:
    big = picture(120, 80)  # a noisy PNG of some 30 kB: many chunks
    escape = kitty_escape(big, 40)
    chunks = _KITTY.findall(escape)
    assert "".join(f"\x1b_G{k};{p}\x1b\\" for k, p in chunks) == escape  # nothing else
    assert len(chunks) == -(-len(base64.b64encode(big)) // 4096) > 2
    first, *middle, last = chunks
    assert first[0] == "f=100,a=T,q=2,c=40,m=1"
    assert all(keys == "m=1" for keys, _ in middle) and last[0] == "m=0"
    assert all(len(payload) == 4096 for _, payload in chunks[:-1])
    assert base64.b64decode("".join(p for _, p in chunks)) == big

    tiny = picture(8, 8)
    (only,) = _KITTY.findall(kitty_escape(tiny, 12))
    assert only[0] == "f=100,a=T,q=2,c=12,m=0"
    assert base64.b64decode(only[1]) == tiny
    with pytest.raises(ArgumentError, match="at least 1 cell"):
        kitty_escape(PNG, 0)


def test_the_iterm_escape_names_the_file_and_carries_its_bytes() -> None:
    escape = iterm_escape(PNG, "cat ü.png", 30)
    found = re.fullmatch(r"\x1b\]1337;File=([^:]*):([A-Za-z0-9+/=]*)\x07", escape)
    assert found is not None
    keys = dict(item.split("=", 1) for item in found.group(1).split(";"))
    assert base64.b64decode(keys["name"]).decode() == "cat ü.png"
    assert keys["size"] == str(len(PNG)) and keys["inline"] == "1" and keys["width"] == "30"
    assert base64.b64decode(found.group(2)) == PNG
    assert "width" not in iterm_escape(PNG, "x")


# ---- bytes, PNG, sizes -----------------------------------------------------------------


def test_as_png_keeps_a_small_png_and_converts_and_shrinks_the_rest() -> None:
    assert as_png(PNG) is PNG  # already a PNG no wider than the limit: as it is
    jpeg = picture(200, 100, "JPEG")
    converted = Image.open(io.BytesIO(as_png(jpeg)))
    assert (converted.format, converted.size) == ("PNG", (200, 100))
    wide = Image.open(io.BytesIO(as_png(picture(2400, 600), max_width=1200)))
    assert (wide.format, wide.size) == ("PNG", (1200, 300))
    gif = Image.open(io.BytesIO(as_png(picture(30, 20, "GIF", mode="P"))))
    assert gif.format == "PNG" and gif.size == (30, 20)
    with pytest.raises(ArgumentError, match="not an image"):
        as_png(b"certainly not an image")


def test_data_urls_decode_and_bad_ones_are_one_error() -> None:
    assert data_url_bytes(data_url(PNG)) == PNG
    assert data_url_bytes("data:text/plain,a%20b") == b"a b"
    with pytest.raises(ArgumentError, match="not a data: URL"):
        data_url_bytes("https://example.org/cat.png")
    with pytest.raises(ArgumentError, match="base64"):
        data_url_bytes("data:image/png;base64,abc")


async def test_image_bytes_decode_a_data_url_or_fetch_by_digest() -> None:
    asked: list[str] = []

    async def fetch(digest: str) -> bytes:
        asked.append(digest)
        return PNG

    assert await image_bytes(ImageRef(url=data_url(PNG)), None) == PNG
    assert await image_bytes(ImageRef(digest=DIGEST), fetch) == PNG
    assert asked == [DIGEST]
    with pytest.raises(ArgumentError, match="cannot be fetched here"):
        await image_bytes(ImageRef(digest=DIGEST), None)
    with pytest.raises(ArgumentError, match="web address"):
        await image_bytes(ImageRef(url="https://example.org/cat.png"), fetch)


def test_cells_keep_the_aspect_and_fit_40_by_20() -> None:
    assert cells(100, 100, (10, 20)) == (10, 5)  # small: its own size
    assert cells(1600, 400, (10, 20)) == (40, 5)  # 160 × 20 cells: a quarter of that
    assert cells(800, 800, (10, 20)) == (40, 20)
    assert cells(400, 1600, (10, 20)) == (10, 20)
    assert cells(200, 4000, (10, 20)) == (2, 20)
    assert cells(20, 4000, (10, 20)) == (1, 20)  # never less than a cell
    assert cells(1, 1, (10, 20)) == (1, 1)


def test_thumbnail_scales_down_to_fit_keeping_the_aspect() -> None:
    small = thumbnail(picture(400, 200), 100, 100)
    assert small.size == (100, 50)
    assert thumbnail(PNG, 1000, 1000).size == (64, 48)  # never made larger


# ---- the line client ---------------------------------------------------------------------


class Pty:
    """A real pseudo-terminal (raw: bytes as written): what the client writes to its
    terminal end is read from the other end by a thread, as a terminal would."""

    def __init__(self) -> None:
        self.main, self.side = os.openpty()
        tty.setraw(self.side)
        self.out = open(self.side, "w", encoding="utf-8", closefd=True)  # noqa: SIM115
        self._read: list[bytes] = []
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self.main, 65536)
            except OSError:  # the terminal end closed
                return
            if not chunk:
                return
            self._read.append(chunk)

    def read(self) -> str:
        """Everything written, once the terminal end is closed."""
        self.out.close()
        self._reader.join(timeout=10)
        return b"".join(self._read).decode("utf-8")

    def close(self) -> None:
        if not self.out.closed:
            self.out.close()
        self._reader.join(timeout=10)
        os.close(self.main)


def _message(content: object, role: str = "user", id: int = 1) -> api.MessageInfo:
    return api.MessageInfo(id=id, role=role, content=content, created=1.0)


CAT = {
    "type": "image_url",
    "image_url": {"url": data_url(PNG)},
    "name": "cat.png",
    "media_type": "image/png",
    "width": 64,
    "height": 48,
}


async def test_the_line_client_prints_the_label_of_a_message_with_an_image(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TERM", "xterm-kitty")  # a terminal that draws, but stdout is no tty
    out, err = io.StringIO(), io.StringIO()
    front = LineFront(out, err, terminal=True)
    state = ChatState("alice", "pets", messages=2)
    kept = {"type": "image_url", "image_url": {"url": f"chatthy-image:{DIGEST}"}}
    messages = [
        _message([{"type": "text", "text": "what is this?"}, CAT, kept]),
        _message("A cat.", role="assistant", id=2),
    ]
    await front.show_chat(state, messages, 0)
    lines = err.getvalue().splitlines()
    assert lines[1:] == [
        "  you: what is this?",
        "    [image cat.png 64×48]",
        "    [image image]",
        "  assistant: A cat.",
    ]
    assert "[image_url]" not in err.getvalue() and out.getvalue() == ""


async def test_on_a_kitty_terminal_the_line_client_draws_the_image(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TERM", "xterm-kitty")
    monkeypatch.delenv("TMUX", raising=False)
    monkeypatch.delenv("CHATTHY_IMAGES", raising=False)
    pty = Pty()
    try:
        err = io.StringIO()
        front = LineFront(pty.out, err, terminal=True)
        fetched: list[str] = []

        async def fetch(digest: str) -> bytes:
            fetched.append(digest)
            if digest != DIGEST:
                raise NotFoundError(f"no image {digest}")
            return picture(100, 50, "JPEG")

        front.fetch_image = fetch
        kept = {"type": "image_url", "image_url": {"url": f"chatthy-image:{DIGEST}"}}
        gone = {"type": "image_url", "image_url": {"url": "chatthy-image:" + "0" * 64}}
        await front.show_chat(
            ChatState("alice", "pets", messages=1), [_message(["look", CAT, kept, gone])], 0
        )
        payloads = kitty_images(pty.read())
        assert len(payloads) == 2 and payloads[0] == PNG  # a PNG already: sent as it is
        assert Image.open(io.BytesIO(payloads[1])).format == "PNG"  # the JPEG, made a PNG
        assert fetched == [DIGEST, "0" * 64]
        assert err.getvalue().splitlines()[-1] == "    [image image] (could not be fetched)"
    finally:
        pty.close()


async def test_an_image_a_tool_returned_is_its_label_after_the_calls_line() -> None:
    from chatthy.client.repl import _Sink

    out, err = io.StringIO(), io.StringIO()
    front = LineFront(out, err, terminal=False)
    sink = _Sink(front)
    await sink.tool_call(ToolCallInfo("c1", "screenshot"))
    shot = {"type": "image_url", "image_url": {"url": data_url(PNG)}, "name": "s.png"}
    data = {"call_id": "c1", "content": "taken", "name": "screenshot", "images": [shot]}
    await sink.tool_result(result_of(data))
    await asyncio.sleep(0)
    assert err.getvalue().splitlines()[-1] == "  [image s.png]"
