"""Sending images from the clients: ``chatthy ask --image`` as a process, ``/image`` and a
pasted path in a real session, each against a real server whose model is the local
upstream (which records what reached it)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from chatthy.client.attachments import looks_like_image_path
from chatthy.client.command_table import run_line
from chatthy.client.repl import LineFront
from chatthy.client.session import Session
from chatthy.media import from_data_url, inspect, to_data_url
from chatthy.server.app import Server
from helpers import ClientMaker, ServerFactory, openai_provider
from tool_kit import cli
from upstream import Reply, Upstream


@pytest.fixture
async def served(servers: ServerFactory, upstream: Upstream) -> Server:
    return await servers.start({"up": openai_provider(upstream)})


def write_image(path: Path, size: tuple[int, int], format_id: str, **options: Any) -> bytes:
    ramp = Image.linear_gradient("L").resize(size)
    Image.merge("RGB", [ramp, ramp.transpose(Image.Transpose.ROTATE_180), ramp]).save(
        path, format_id, **options
    )
    return path.read_bytes()


def sent_parts(upstream: Upstream) -> list[dict[str, Any]]:
    content = upstream.requests[-1].body["messages"][-1]["content"]
    assert isinstance(content, list), content
    return content


async def test_ask_image_sends_the_exact_bytes(
    served: Server, upstream: Upstream, tmp_path: Path
) -> None:
    cat = tmp_path / "cat.png"
    data = write_image(cat, (640, 480), "PNG")
    upstream.push(Reply(chunks=["A gradient."]))
    code, out, err = await cli(served, tmp_path, "ask", "--image", str(cat), "what is this?")
    assert (code, out) == (0, "A gradient.\n"), err
    text, image = sent_parts(upstream)
    assert text == {"type": "text", "text": "what is this?"}
    assert image["image_url"]["url"] == to_data_url(data, "image/png")


async def test_ask_image_downscales_a_large_photo_and_says_so(
    served: Server, upstream: Upstream, tmp_path: Path
) -> None:
    photo = tmp_path / "photo.jpg"
    write_image(photo, (4000, 3000), "JPEG", quality=95)
    second = tmp_path / "small.webp"
    write_image(second, (300, 200), "WEBP")
    upstream.push(Reply(chunks=["Two."]))
    code, out, err = await cli(
        served, tmp_path, "ask", "--image", str(photo), "--image", str(second), "how many?"
    )
    assert (code, out) == (0, "Two.\n"), err
    _, first, other = sent_parts(upstream)
    media_type, data = from_data_url(first["image_url"]["url"])
    info = inspect(data)
    assert (media_type, info.width, info.height) == ("image/jpeg", 2048, 1536)
    assert from_data_url(other["image_url"]["url"])[1] == second.read_bytes()
    assert err.startswith("chatthy: photo.jpg downscaled from 4000×3000 (")
    assert "to 2048×1536 (" in err


async def test_ask_with_a_text_file_named_png_is_one_line_and_sends_nothing(
    served: Server, upstream: Upstream, tmp_path: Path
) -> None:
    fake = tmp_path / "cat.png"
    fake.write_text("not a cat at all\n")
    code, out, err = await cli(served, tmp_path, "ask", "--image", str(fake), "what is this?")
    assert (code, out) == (1, "")
    assert err == "chatthy: cat.png is not an image (it holds text)\n"
    assert upstream.requests == []


class Line:
    """A line client's front (text into buffers) and its session, started."""

    def __init__(self, session: Session, front: LineFront) -> None:
        self.session = session
        self.front = front

    def printed(self) -> str:
        out = self.front._out
        assert isinstance(out, io.StringIO)
        text = out.getvalue()
        out.seek(0)
        out.truncate()
        return text

    async def run(self, line: str) -> str:
        self.printed()
        self.front.in_command = True
        try:
            await run_line(self.session, self.front, line)
        finally:
            self.front.in_command = False
        return self.printed()


@pytest.fixture
async def line(served: Server, connect: ClientMaker) -> AsyncIterator[Line]:
    front = LineFront(io.StringIO(), io.StringIO(), terminal=False)
    session = Session(connect(served), front, "pics")
    await session.start()
    yield Line(session, front)
    await session.close()


async def test_image_then_a_message_sends_both(
    line: Line, upstream: Upstream, tmp_path: Path
) -> None:
    cat = tmp_path / "cat.png"
    data = write_image(cat, (640, 480), "PNG")
    dog = tmp_path / "dog.gif"
    write_image(dog, (320, 240), "GIF")
    out = await line.run(f"/image {cat} {dog}")
    assert "attached cat.png (640×480)" in out and "attached dog.gif (320×240)" in out
    assert line.session.images.status() == "2 images attached"
    listed = await line.run("/image")
    assert "2 images attached" in listed and "cat.png (640×480)" in listed
    upstream.push(Reply(chunks=["Two pets."]))
    await line.session.send("which pets?")
    await line.session.wait_reply()
    text, first, second = sent_parts(upstream)
    assert text == {"type": "text", "text": "which pets?"}
    assert first["image_url"]["url"] == to_data_url(data, "image/png")
    assert second["image_url"]["url"].startswith("data:image/gif;base64,")
    assert line.session.images.images == []  # gone with the message
    upstream.push(Reply(chunks=["Just text."]))
    await line.session.send("and now?")
    await line.session.wait_reply()
    assert upstream.requests[-1].body["messages"][-1]["content"] == "and now?"


async def test_image_clear_drops_them_and_a_bad_one_is_one_line(
    line: Line, upstream: Upstream, tmp_path: Path
) -> None:
    cat = tmp_path / "cat.png"
    write_image(cat, (64, 48), "PNG")
    await line.run(f"/image {cat}")
    assert line.session.images.status() == "1 image attached"
    await line.run("/image clear")
    assert line.session.images.images == []
    broken = tmp_path / "broken.png"
    broken.write_bytes(cat.read_bytes()[:40])
    with pytest.raises(Exception, match=r"^broken\.png is truncated or damaged$"):
        await line.run(f"/image {broken}")
    assert line.session.images.images == []


async def test_a_pasted_image_path_is_attached_not_sent(
    line: Line, upstream: Upstream, tmp_path: Path
) -> None:
    folder = tmp_path / "my pics"
    folder.mkdir()
    cat = folder / "cat.png"
    write_image(cat, (640, 480), "PNG")
    await line.session.send(f"'{cat}'")
    assert "attached cat.png (640×480); send a message to go with it" in line.printed()
    assert upstream.requests == []
    upstream.push(Reply(chunks=["A cat."]))
    await line.session.send("what is it?")
    await line.session.wait_reply()
    assert len(sent_parts(upstream)) == 2


def test_a_pasted_line_is_an_image_path_as_terminals_paste_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "my pics"
    folder.mkdir()
    cat = folder / "cat.JPG"
    cat.write_bytes(b"whatever: checked when read")
    monkeypatch.setenv("HOME", str(tmp_path))
    for pasted in (
        str(cat),
        f"  {cat}  ",
        f"'{cat}'",
        f'"{cat}"',
        str(cat).replace(" ", "\\ "),
        "file://" + str(cat).replace(" ", "%20"),
        "~/my\\ pics/cat.JPG",
    ):
        assert looks_like_image_path(pasted) == cat.expanduser(), pasted
    for text in (
        "look at this",
        str(folder / "dog.png"),  # no such file
        str(tmp_path),
        f"{cat} is my cat",
        f"{cat}\nand more",
        "file://elsewhere/cat.png",
    ):
        assert looks_like_image_path(text) is None, text
    notes = folder / "notes.txt"
    notes.write_text("hi")
    assert looks_like_image_path(str(notes)) is None
