"""Images a person sends from a client: read from disk, checked and made to fit before
anything goes on the wire, kept until the message they go with is sent.

The client fits an image to ``MAX_SIDE`` and ``MAX_BYTES`` (the server refuses a body
over 4 MiB; base64 makes 3 MB into 4); the server fits it again to its provider's own
limits. A bad image is refused here, in one line, and nothing is sent.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any, Literal, TypedDict
from urllib.parse import unquote, urlparse

from chatthy.errors import ArgumentError
from chatthy.media import fit, to_data_url

__all__ = [
    "MAX_BYTES",
    "MAX_SIDE",
    "ImagePartIn",
    "PendingImages",
    "attached_notice",
    "looks_like_image_path",
    "message_content",
    "read_image",
    "said",
    "size_of",
]

MAX_SIDE = 2048
"""The longest side a client sends: what the vision APIs look at, at most."""
MAX_BYTES = 3_000_000
"""The most bytes of image a client sends: 4 MB as base64, under the server's 4 MiB."""

_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp"})


class ImageUrl(TypedDict):
    url: str


class ImagePartIn(TypedDict):
    """An image part as the ``chat`` RPC takes it (OpenAI's shape) with the file's name;
    ``notice`` says it was downscaled ("" when sent as it is) and ``size`` is the size it
    is sent at (``640×480``): neither is sent."""

    type: Literal["image_url"]
    image_url: ImageUrl
    name: str
    notice: str
    size: str


async def read_image(path: Path) -> ImagePartIn:
    """The image at ``path`` as a part of a message: read in a thread (a large photo is
    not read on the event loop), made to fit ``MAX_SIDE`` and ``MAX_BYTES``.

    Raises:
        ArgumentError: one line naming the file: missing, a folder, unreadable, or what
            :func:`chatthy.media.inspect` refuses (not an image, truncated …).
    """
    return await asyncio.to_thread(_read, path)


def _read(path: Path) -> ImagePartIn:
    name = path.name or str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ArgumentError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ArgumentError(f"{path} is a folder, not an image") from None
    except OSError as exc:
        raise ArgumentError(f"{path}: {exc.strerror or exc}") from None
    fitted = fit(data, max_side=MAX_SIDE, max_bytes=MAX_BYTES, name=name)
    return {
        "type": "image_url",
        "image_url": {"url": to_data_url(fitted.data, fitted.info.media_type)},
        "name": name,
        "notice": fitted.notice,
        "size": f"{fitted.info.width}×{fitted.info.height}",
    }


def message_content(text: str, images: list[ImagePartIn]) -> list[dict[str, Any]]:
    """The ``content`` of a message of ``text`` and ``images``: the text first (left out
    when empty), then each image as the server takes it (its notice stays here)."""
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}] if text.strip() else []
    parts += [
        {"type": "image_url", "image_url": {"url": i["image_url"]["url"]}, "name": i["name"]}
        for i in images
    ]
    return parts


def said(text: str, images: list[ImagePartIn]) -> dict[str, Any]:
    """The ``chat`` call's arguments for a message of ``text`` and ``images``: ``text``
    alone, or ``content`` holding both (:func:`message_content`)."""
    if not images:
        return {"text": text}
    return {"text": "", "content": message_content(text, images)}


def size_of(image: ImagePartIn) -> str:
    """``640×480``: the size an image part is sent at (measured when it was read)."""
    return image["size"]


def looks_like_image_path(text: str) -> Path | None:
    """The image file a pasted line names, or None: the line as terminals paste a
    dropped file (quoted, ``file://…``, ``~/…``, spaces escaped with backslashes), of an
    existing file named as a PNG, JPEG, GIF or WebP. Only one line: a message that merely
    mentions a path is sent as text."""
    line = text.strip()
    if not line or "\n" in line or len(line) > 4096:
        return None
    if len(line) >= 2 and line[0] == line[-1] and line[0] in "'\"":
        line = line[1:-1]
    if line.startswith("file://"):
        parsed = urlparse(line)
        if parsed.netloc not in ("", "localhost"):
            return None
        line = unquote(parsed.path)
    else:
        line = re.sub(r"\\(.)", r"\1", line)  # "my\ cat.png" as a shell escapes it
    path = Path(line).expanduser()
    if path.suffix.lower() not in _SUFFIXES:
        return None
    try:
        return path if path.is_file() else None
    except OSError:
        return None


def attached_notice(image: ImagePartIn, *, pasted: bool = False) -> str:
    """The line that says an image waits for the next message (and, when it was made
    smaller, how)."""
    line = f"attached {image['name']} ({size_of(image)})"
    if pasted:
        line += "; send a message to go with it"
    return "\n".join(filter(None, [line, image["notice"]]))


class PendingImages:
    """The images attached to the next message sent (``/image PATH…``, or a pasted
    path): the session holds them, sends them with that message, then forgets them."""

    def __init__(self) -> None:
        self.images: list[ImagePartIn] = []

    async def add(self, path: Path) -> ImagePartIn:
        """Read, check and fit the image at ``path`` and keep it for the next message.

        Raises:
            ArgumentError: as :func:`read_image`; nothing is kept then.
        """
        image = await read_image(path)
        self.images.append(image)
        return image

    def clear(self) -> int:
        """Drop them all; how many there were."""
        count, self.images = len(self.images), []
        return count

    def status(self) -> str:
        """``2 images attached`` (``""`` for none): the line a front end shows."""
        count = len(self.images)
        if not count:
            return ""
        return f"{count} image{'s' if count > 1 else ''} attached"

    def listing(self) -> str:
        """Each image waiting, with the size it will be sent at."""
        if not self.images:
            return "no images attached (/image PATH… attaches them to the next message)"
        lines = [f"{self.status()} to the next message:"]
        lines += [f"  {image['name']} ({size_of(image)})" for image in self.images]
        return "\n".join(lines)
