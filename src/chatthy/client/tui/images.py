"""Images in the full-screen client's log: each drawn inline by textual-image's widget
(Kitty graphics, sixel or Unicode half-blocks, whichever the terminal takes), at most
40 cells wide and 20 rows tall, its label under it.

An image's bytes come when its widget is first drawn, not when its message is held: a
chat of hundreds of images holds only their references, and the log's window draws (and
fetches) the few near the view. While they come, the label says so, in rows kept for the
picture when the part says its size, so that what is drawn below does not move when it
arrives. What was drawn is kept (small, at the size drawn) for the next time the window
reaches it.

textual-image asks the terminal what it can draw when it is imported, which only works
before Textual owns the terminal: this module imports it at once, and the TUI imports
this module before its app runs.
"""

from __future__ import annotations

import asyncio
import collections
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Static
from textual_image._terminal import get_cell_size  # the cell size textual-image draws with
from textual_image.widget import Image as PictureWidget

from chatthy.client.image_view import (
    MAX_COLUMNS,
    MAX_ROWS,
    Fetch,
    ImageRef,
    cells,
    image_bytes,
    label,
    thumbnail,
)
from chatthy.errors import ArgumentError

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

__all__ = [
    "FETCH_FAILED",
    "FetchFailed",
    "ImageBlock",
    "ImageSource",
    "Picture",
    "PictureWidget",
    "WithImages",
    "cell_size",
]

FETCH_FAILED = "(could not be fetched)"
"""What the label says when the bytes of an image could not be had."""

UNREADABLE = "(not an image that can be drawn)"
"""What the label says when the bytes came but are no image Pillow reads."""

LOADING = "…"
"""What the label says while the bytes come."""


def cell_size() -> tuple[int, int]:
    """The terminal's cell in pixels (width, height), as textual-image measured it."""
    size = get_cell_size()
    return size.width, size.height


class FetchFailed(Exception):
    """The bytes of an image could not be had; ``__cause__`` says why."""


@dataclass(frozen=True)
class Picture:
    """An image made ready to draw: scaled to the pixels of the ``columns`` × ``rows``
    cells it is drawn in."""

    image: PILImage
    columns: int
    rows: int


class ImageSource:
    """Where the log's images come from: ``fetch`` (the session's, digest → bytes; None
    until the app gives it) for ``chatthy-image:`` references, the part itself for data
    URLs. Keeps the last ``keep`` pictures made, and makes each once however many
    widgets ask for it at the same time (a widget let go of meanwhile does not stop it
    for the others)."""

    def __init__(self, fetch: Fetch | None = None, keep: int = 48) -> None:
        self.fetch = fetch
        self.keep = keep
        self._made: collections.OrderedDict[tuple[str, int, int], Picture] = (
            collections.OrderedDict()
        )
        self._making: dict[tuple[str, int, int], asyncio.Task[Picture]] = {}

    async def picture(
        self, ref: ImageRef, max_columns: int = MAX_COLUMNS, max_rows: int = MAX_ROWS
    ) -> Picture:
        """``ref`` ready to draw in at most ``max_columns`` × ``max_rows`` cells.

        Raises:
            FetchFailed: the bytes could not be had (the server cannot be reached, they
                are gone, no fetch was given, an image at a web address).
            ArgumentError: the bytes are no image that can be drawn (a data URL's
                included).
        """
        key = (ref.key, max_columns, max_rows)
        made = self._made.get(key)
        if made is not None:
            self._made.move_to_end(key)
            return made
        task = self._making.get(key)
        if task is None:
            task = asyncio.ensure_future(self._make(ref, max_columns, max_rows))
            self._making[key] = task
            task.add_done_callback(lambda done: self._done(key, done))
        return await asyncio.shield(task)

    def _done(self, key: tuple[str, int, int], task: asyncio.Task[Picture]) -> None:
        self._making.pop(key, None)
        if task.cancelled() or task.exception() is not None:
            return  # not kept: the next draw tries again (the server may be back)
        self._made[key] = task.result()
        while len(self._made) > self.keep:
            self._made.popitem(last=False)

    async def _make(self, ref: ImageRef, max_columns: int, max_rows: int) -> Picture:
        if ref.url.startswith("data:"):
            data = await image_bytes(ref, self.fetch)  # a broken one: ArgumentError
        else:
            try:
                data = await image_bytes(ref, self.fetch)
            except Exception as exc:  # the fetch's own failure, whatever its kind
                raise FetchFailed(str(exc)) from exc
        cell = cell_size()
        return await asyncio.to_thread(_picture, data, cell, max_columns, max_rows)


def _picture(data: bytes, cell: tuple[int, int], max_columns: int, max_rows: int) -> Picture:
    """Decode and scale (in a thread: a photo takes tens of milliseconds)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as probe:  # the size, read before decoding
            width, height = probe.size
    except (OSError, ValueError, SyntaxError) as exc:
        raise ArgumentError("the bytes are not an image that can be drawn") from exc
    columns, rows = cells(width, height, cell, max_columns, max_rows)
    image = thumbnail(data, columns * cell[0], rows * cell[1])
    return Picture(image, columns, rows)


class ImageBlock(Vertical):
    """One image of a message: the picture, and its label under it. Drawn first as the
    label (rows kept for the picture when its size is known), the picture when its bytes
    came; the label says why when they did not."""

    DEFAULT_CSS = """
    ImageBlock { height: auto; margin: 1 0 0 0; padding: 0 1 0 2; }
    ImageBlock > .picture { width: auto; height: auto; }
    ImageBlock > .room { height: 0; }
    ImageBlock > .label { color: $text-muted; height: auto; }
    ImageBlock.-failed > .label { color: $warning; }
    """

    def __init__(self, ref: ImageRef, source: ImageSource | None) -> None:
        super().__init__()
        self.ref = ref
        self.source = source
        self.picture: Picture | None = None
        self.problem = ""
        """Why no picture is drawn (empty while it comes, and once drawn)."""
        self._label = Static(Content(f"{label(ref)} {LOADING}"), classes="label")
        self._room = Static(classes="room")

    def compose(self) -> ComposeResult:
        if self.ref.width and self.ref.height:
            _, rows = cells(self.ref.width, self.ref.height, cell_size())
            self._room.styles.height = rows
        yield self._room
        yield self._label

    @property
    def label_text(self) -> str:
        """The label as shown now."""
        return str(self._label.content)

    def on_mount(self) -> None:
        self.run_worker(self._load(), group="image", exclusive=True)

    async def _load(self) -> None:
        source = self.source or ImageSource()
        width = self.content_size.width  # 0 until laid out: then the most is asked for
        columns = max(1, min(MAX_COLUMNS, width)) if width else MAX_COLUMNS
        try:
            picture = await source.picture(self.ref, columns, MAX_ROWS)
        except FetchFailed:
            self._fail(FETCH_FAILED)
            return
        except ArgumentError:
            self._fail(UNREADABLE)
            return
        await self._show(picture)

    def _fail(self, why: str) -> None:
        self.problem = why
        self.add_class("-failed")
        self._room.styles.height = 0
        self._label.update(Content(f"{label(self.ref)} {why}"))

    async def _show(self, picture: Picture) -> None:
        widget = PictureWidget(picture.image, classes="picture")
        widget.styles.width = picture.columns
        widget.styles.height = picture.rows
        with self.app.batch_update():  # the room and the picture never both
            self._label.update(Content(label(self.ref)))
            await self.mount(widget, before=self._room)
            await self._room.remove()
        self.picture = picture  # drawn: the label already says so


class WithImages(Vertical):
    """A message drawn with its images above it (the user's message: what was attached,
    then what was written and when, as the message without images is drawn)."""

    DEFAULT_CSS = """
    WithImages { height: auto; }
    """

    def __init__(self, message: Widget, refs: list[ImageRef], source: ImageSource | None) -> None:
        super().__init__()
        self.message = message
        self.refs = refs
        self.source = source

    def compose(self) -> ComposeResult:
        for ref in self.refs:
            yield ImageBlock(ref, self.source)
        yield self.message
