"""Images in a message as the terminal clients show them, whatever the front end.

A message's content may hold image parts (``{"type": "image_url", "image_url": {"url":
U}, "name": …, "media_type": …, "width": …, "height": …}``), their bytes either in the
part (a ``data:`` URL) or kept by the server (``chatthy-image:<sha256>``, fetched through
the session when shown). Here they become :class:`ImageRef` records, a one-line label
(``[image cat.png 640×480]``: what a terminal that cannot draw shows, and what is read
under a drawn image), and, for the line client, the escapes of the two graphics protocols
terminals speak: Kitty's (Kitty, WezTerm, Ghostty) and iTerm2's.

Pillow is imported only when bytes are converted or measured: the line client starts
without it (its prompt is wanted in < 0.3 s).
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import os
import re
import warnings
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from chatthy.errors import ArgumentError

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

__all__ = [
    "MAX_COLUMNS",
    "MAX_PNG_WIDTH",
    "MAX_ROWS",
    "REFERENCE",
    "Fetch",
    "ImageRef",
    "as_png",
    "cells",
    "data_url_bytes",
    "image_bytes",
    "image_parts",
    "iterm_escape",
    "kitty_escape",
    "label",
    "terminal_graphics",
    "thumbnail",
    "without_images",
]

REFERENCE = "chatthy-image:"
"""The URL scheme of an image whose bytes the server keeps (``chatthy-image:<sha256>``)."""

MAX_COLUMNS = 40
"""Cells an image is drawn at most wide: a picture in a chat, not a wallpaper."""

MAX_ROWS = 20
"""Rows an image is drawn at most tall."""

MAX_PNG_WIDTH = 1200
"""Pixels at most wide of a PNG sent in an escape: more is not seen in 40 cells, and an
escape of megabytes makes the terminal (and a slow link) wait."""

KITTY_CHUNK = 4096
"""Base64 characters in one Kitty graphics escape (the protocol's limit per chunk)."""

Fetch = Callable[[str], Awaitable[bytes]]
"""The session's way to the bytes of a ``chatthy-image:`` reference: digest → bytes."""

_DATA_URL = re.compile(r"data:([^;,]*)((?:;[^;,]*)*),", re.IGNORECASE)


@dataclass(frozen=True)
class ImageRef:
    """One image of a message: what it is called and how large (None: not said), and
    where its bytes are: ``url`` (a ``data:`` URL, or an image at a web address, which
    is named, never fetched) or ``digest`` (bytes the server keeps)."""

    name: str = "image"
    media_type: str = ""
    width: int | None = None
    height: int | None = None
    url: str = ""
    digest: str = ""

    @property
    def key(self) -> str:
        """What tells this image's bytes apart (for caches): the digest, else the URL."""
        return f"{REFERENCE}{self.digest}" if self.digest else self.url


def _size(value: Any) -> int | None:
    """A width or height as the part gave it: a positive whole number, else unknown."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _ref(part: dict[str, Any]) -> ImageRef:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    url = url.strip() if isinstance(url, str) else ""
    name = part.get("name")
    media_type = part.get("media_type")
    media_type = media_type if isinstance(media_type, str) else ""
    digest = ""
    if url.startswith(REFERENCE):
        digest, url = url[len(REFERENCE) :].strip().lower(), ""
    elif (found := _DATA_URL.match(url)) is not None and not media_type:
        media_type = found.group(1).lower()
    return ImageRef(
        name=name.strip() if isinstance(name, str) and name.strip() else "image",
        media_type=media_type,
        width=_size(part.get("width")),
        height=_size(part.get("height")),
        url=url,
        digest=digest,
    )


def _is_image(part: Any) -> bool:
    return isinstance(part, dict) and part.get("type") == "image_url"


def image_parts(content: Any) -> list[ImageRef]:
    """The images of a message's content, in order: its image parts, and those the tool
    results it holds returned (their ``images``). Text content, or anything not a list
    of parts, holds none."""
    if not isinstance(content, list):
        return []
    found: list[ImageRef] = []
    for part in content:
        if _is_image(part):
            found.append(_ref(part))
        elif isinstance(part, dict) and part.get("type") == "tool_result":
            found.extend(image_parts(part.get("images")))
    return found


def without_images(content: Any) -> Any:
    """The content with its image parts left out (what is drawn as text beside the
    images drawn apart); text content as it is."""
    if not isinstance(content, list):
        return content
    return [part for part in content if not _is_image(part)]


def label(ref: ImageRef) -> str:
    """``[image cat.png 640×480]``, or ``[image cat.png]`` when its size is not known."""
    if ref.width and ref.height:
        return f"[image {ref.name} {ref.width}×{ref.height}]"
    return f"[image {ref.name}]"


def terminal_graphics(env: Mapping[str, str] = os.environ) -> Literal["kitty", "iterm", None]:
    """Which graphics protocol the terminal speaks, from its environment: ``kitty``
    (Kitty, and WezTerm and Ghostty, which speak Kitty's protocol), ``iterm`` (iTerm2),
    else None. ``CHATTHY_IMAGES=off`` says None whatever the terminal. Inside tmux it is
    None too: tmux swallows the escapes unless each is wrapped and passthrough is on, and
    an image that shows nothing is worse than its label."""
    if env.get("CHATTHY_IMAGES", "").strip().lower() == "off" or env.get("TMUX"):
        return None
    term, program = env.get("TERM", ""), env.get("TERM_PROGRAM", "")
    if term in ("xterm-kitty", "xterm-ghostty") or env.get("KITTY_WINDOW_ID"):
        return "kitty"
    if program in ("WezTerm", "ghostty"):
        return "kitty"
    if program == "iTerm.app" or env.get("LC_TERMINAL") == "iTerm2":
        return "iterm"
    return None


def kitty_escape(png: bytes, cols: int) -> str:
    """The Kitty graphics escapes that draw ``png`` at the cursor, ``cols`` cells wide
    (its height follows): transmit and show (``a=T``) a PNG (``f=100``), in chunks of
    4096 base64 characters, each but the last marked ``m=1``. ``q=2`` keeps the terminal
    from answering: an answer would land in the line being typed.

    Raises:
        ArgumentError: ``cols`` is not a positive number of cells, or there are no bytes.
    """
    if cols < 1:
        raise ArgumentError(f"an image is drawn at least 1 cell wide, not {cols}")
    if not png:
        raise ArgumentError("no image bytes to draw")
    encoded = base64.b64encode(png).decode("ascii")
    chunks = [encoded[i : i + KITTY_CHUNK] for i in range(0, len(encoded), KITTY_CHUNK)]
    out = []
    for index, chunk in enumerate(chunks):
        more = 1 if index < len(chunks) - 1 else 0
        keys = f"f=100,a=T,q=2,c={cols},m={more}" if index == 0 else f"m={more}"
        out.append(f"\x1b_G{keys};{chunk}\x1b\\")
    return "".join(out)


def iterm_escape(data: bytes, name: str, cols: int | None = None) -> str:
    """The iTerm2 escape (OSC 1337 ``File=``) that draws ``data`` (any format iTerm2
    reads) inline, named ``name``; ``cols`` cells wide when given, its aspect kept.

    Raises:
        ArgumentError: there are no bytes.
    """
    if not data:
        raise ArgumentError("no image bytes to draw")
    keys = [
        f"name={base64.b64encode(name.encode('utf-8')).decode('ascii')}",
        f"size={len(data)}",
        "inline=1",
        "preserveAspectRatio=1",
    ]
    if cols is not None:
        keys.append(f"width={max(1, cols)}")
    payload = base64.b64encode(data).decode("ascii")
    return f"\x1b]1337;File={';'.join(keys)}:{payload}\x07"


def data_url_bytes(url: str) -> bytes:
    """The bytes of a ``data:`` URL (base64, or percent-encoded text).

    Raises:
        ArgumentError: not a data URL, or its base64 is broken.
    """
    found = _DATA_URL.match(url)
    if found is None:
        raise ArgumentError("the image is not a data: URL")
    body = url[found.end() :]
    if ";base64" not in found.group(2).lower():
        from urllib.parse import unquote_to_bytes

        return unquote_to_bytes(body)
    try:
        return base64.b64decode(body, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise ArgumentError("the image's data: URL is not valid base64") from exc


async def image_bytes(ref: ImageRef, fetch: Fetch | None) -> bytes:
    """The bytes of an image: decoded from its data URL, or fetched by its digest.

    Raises:
        ArgumentError: a broken data URL, an image at a web address (never fetched), or
            a reference without a way to fetch it.
        Exception: whatever ``fetch`` raises (the server cannot be reached, the bytes
            are gone).
    """
    if ref.digest:
        if fetch is None:
            raise ArgumentError("images kept by the server cannot be fetched here")
        return await fetch(ref.digest)
    if ref.url.startswith(("http://", "https://")):
        raise ArgumentError("an image at a web address is not fetched")
    return data_url_bytes(ref.url)


def _open(data: bytes, size: tuple[int, int] | None = None) -> PILImage:
    """``data`` opened and decoded by Pillow (a JPEG decoded at a reduced scale when
    ``size`` says how small it will be drawn); the first frame of an animation.

    Raises:
        ArgumentError: Pillow cannot read it, or it is too large to decode safely.
    """
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if size is not None:
                image.draft(None, size)
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ArgumentError("the image is too large to draw") from exc
    except (OSError, ValueError, SyntaxError) as exc:  # UnidentifiedImageError is an OSError
        raise ArgumentError("the bytes are not an image that can be drawn") from exc
    return image


def _drawable(image: PILImage) -> PILImage:
    """The image in a mode PNG keeps (RGB or RGBA; a palette's transparency kept)."""
    if image.mode in ("RGB", "RGBA", "L", "LA"):
        return image
    transparent = image.mode in ("P", "PA") and "transparency" in image.info
    return image.convert("RGBA" if transparent or "A" in image.mode else "RGB")


def as_png(data: bytes, max_width: int = MAX_PNG_WIDTH) -> bytes:
    """``data`` as a PNG at most ``max_width`` pixels wide (its aspect kept): the bytes as
    they are when they already are such a PNG, else converted and scaled down by Pillow.

    Raises:
        ArgumentError: the bytes are not an image Pillow reads.
    """
    image = _open(data, (max_width, max_width * 4))
    if image.format == "PNG" and image.width <= max_width:
        return data
    from PIL.Image import Resampling

    image = _drawable(image)
    if image.width > max_width:
        height = max(1, round(image.height * max_width / image.width))
        image = image.resize((max_width, height), Resampling.BICUBIC)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def cells(
    width: int,
    height: int,
    cell: tuple[int, int] = (10, 20),
    max_columns: int = MAX_COLUMNS,
    max_rows: int = MAX_ROWS,
) -> tuple[int, int]:
    """The cells (columns, rows) an image of ``width`` × ``height`` pixels is drawn in on
    a terminal whose cells are ``cell`` pixels: its own size, made smaller (never
    larger) to fit ``max_columns`` × ``max_rows``, its aspect kept; at least one each."""
    cell_width, cell_height = max(1, cell[0]), max(1, cell[1])
    columns = width / cell_width
    rows = height / cell_height
    scale = min(1.0, max_columns / columns if columns else 1.0, max_rows / rows if rows else 1.0)
    return max(1, math.ceil(columns * scale - 1e-9)), max(1, math.ceil(rows * scale - 1e-9))


def thumbnail(data: bytes, width: int, height: int) -> PILImage:
    """``data`` decoded and scaled down to fit ``width`` × ``height`` pixels (what a
    terminal draws in the cells it is given: more pixels are never seen), aspect kept.

    Raises:
        ArgumentError: the bytes are not an image Pillow reads.
    """
    image = _drawable(_open(data, (width, height)))
    image.thumbnail((max(1, width), max(1, height)))
    return image
