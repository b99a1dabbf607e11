"""Message content at the edges: what clients send and the store keeps, as typed parts.

Content is a string (text only) or a list of part maps: ``{"type": "text", "text"}``,
``{"type": "image_url", "image_url": {"url"}}`` (OpenAI's shape, which clients and
exports already use; ``name``, ``media_type``, ``width`` and ``height`` beside it where
known, and ``url`` a ``data:`` URL or ``chatthy-image:SHA256``, bytes the store keeps),
``{"type": "tool_call", "id", "name", "arguments"}`` and
``{"type": "tool_result", "call_id", "content", "is_error"}``, with ``images`` (image
parts as above) when the tool returned pictures. Anything else is refused with a coded
error naming the part, never passed on.

:func:`image_maps` and :func:`rewrite_images` reach the image maps of stored content
wherever they sit (a message's own or a tool result's), for the code that works on
content as maps (exports, imports).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import msgspec

from chatthy.conversation.model import (
    IMAGE_REF,
    ImagePart,
    Message,
    Part,
    ReasoningPart,
    Role,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from chatthy.errors import ArgumentError
from chatthy.media.images import IMAGE_TYPES

__all__ = [
    "IMAGE_TYPES",
    "content_of",
    "image_maps",
    "message_of",
    "parts_of",
    "rewrite_images",
    "url_images_as_text",
    "user_parts",
]


_DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+)(?:;[^,]*)?;base64,", re.ASCII)
_KNOWN = "text, image_url, tool_call, tool_result"
_REF = re.compile(re.escape(IMAGE_REF) + "[0-9a-f]{64}", re.ASCII)


def parts_of(content: Any) -> tuple[Part, ...]:
    """The parts of stored or sent ``content``.

    Raises:
        ArgumentError: a part of unknown type, a part missing its fields, or an image
            that is not one (naming the part by its number).
    """
    if isinstance(content, str):
        return (TextPart(content),)
    if not isinstance(content, list):
        raise ArgumentError("a message is text or a list of parts")
    return tuple(_part(n, part) for n, part in enumerate(content, 1))


def _part(n: int, part: Any) -> Part:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text" and isinstance(part.get("text"), str):
        return TextPart(part["text"])
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if isinstance(url, str):
            found = _image(n, url)
            name, width, height = part.get("name"), part.get("width"), part.get("height")
            return msgspec.structs.replace(
                found,
                # a stored image's type is the store's to say; a URL's is never taken
                # on a client's word (it would pass for an image it holds itself)
                media_type=found.media_type
                or (_media_type(part.get("media_type")) if found.digest else ""),
                name=name[:200] if isinstance(name, str) else "",
                width=width if _pixels(width) else 0,
                height=height if _pixels(height) else 0,
            )
    if kind == "tool_call" and _strings(part, "id", "name"):
        arguments = part.get("arguments", "{}")
        if isinstance(arguments, str):
            return ToolCallPart(part["id"], part["name"], arguments)
    if kind == "tool_result" and _strings(part, "call_id", "content"):
        images = part.get("images") or []
        if not isinstance(images, list) or not all(
            isinstance(i, dict) and i.get("type") == "image_url" for i in images
        ):
            raise ArgumentError(f"part {n} of the message (tool_result) has images that are not")
        return ToolResultPart(
            part["call_id"],
            part["content"],
            bool(part.get("is_error")),
            tuple(_part(n, image) for image in images),  # type: ignore[misc]
        )
    if kind in ("text", "image_url", "tool_call", "tool_result"):
        raise ArgumentError(f"part {n} of the message ({kind}) is missing its fields")
    raise ArgumentError(f"part {n} of the message has an unknown type {kind!r} (known: {_KNOWN})")


def _strings(part: dict[str, Any], *keys: str) -> bool:
    return all(isinstance(part.get(key), str) for key in keys)


def _media_type(value: Any) -> str:
    return value if isinstance(value, str) and value in IMAGE_TYPES else ""


def _pixels(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 1_000_000


def _image(n: int, url: str) -> ImagePart:
    """An image part; a ``data:`` URL must hold an image of a known type."""
    found = _DATA_URL.match(url)
    if found is None:
        if url.startswith(("http://", "https://")):
            return ImagePart("", url)
        if _REF.fullmatch(url):
            return ImagePart("", url)
        raise ArgumentError(f"part {n} of the message is not an image (a data: URL of one)")
    media_type = found.group(1).lower()
    if media_type not in IMAGE_TYPES:
        known = ", ".join(sorted(IMAGE_TYPES))
        raise ArgumentError(f"part {n} of the message is {media_type}, not an image ({known})")
    try:
        head = base64.b64decode(url[found.end() : found.end() + 64], validate=False)
    except (binascii.Error, ValueError):
        head = b""
    if not head.startswith(IMAGE_TYPES[media_type]):
        short = media_type.removeprefix("image/").upper().replace("WEBP", "WebP")
        raise ArgumentError(f"part {n} of the message is not a {short} image")
    return ImagePart(media_type, url)


def content_of(parts: Sequence[Part]) -> Any:
    """What the store keeps and clients read: a string for text alone, else part maps.
    Reasoning is left out."""
    kept = [p for p in parts if not isinstance(p, ReasoningPart)]
    if len(kept) == 1 and isinstance(kept[0], TextPart):
        return kept[0].text
    return [_map(p) for p in kept]


def _map(part: Part) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ImagePart):
        shown: dict[str, Any] = {"type": "image_url", "image_url": {"url": part.url}}
        if part.name:
            shown["name"] = part.name
        if part.media_type:
            shown["media_type"] = part.media_type
        if part.width and part.height:
            shown.update(width=part.width, height=part.height)
        return shown
    if isinstance(part, ToolCallPart):
        return {"type": "tool_call", "id": part.id, "name": part.name, "arguments": part.arguments}
    assert isinstance(part, ToolResultPart)
    result: dict[str, Any] = {
        "type": "tool_result",
        "call_id": part.call_id,
        "content": part.content,
        "is_error": part.is_error,
    }
    if part.images:
        result["images"] = [_map(image) for image in part.images]
    return result


def image_maps(content: Any) -> Iterator[dict[str, Any]]:
    """The image part maps of stored ``content`` in order, those of tool results
    included."""
    if not isinstance(content, list):
        return
    for part in content:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "image_url":
            yield part
        elif part.get("type") == "tool_result" and isinstance(part.get("images"), list):
            yield from (i for i in part["images"] if isinstance(i, dict))


def rewrite_images(content: Any, change: Callable[[dict[str, Any]], dict[str, Any] | str]) -> Any:
    """``content`` with each image map (see :func:`image_maps`) as ``change`` makes it: a
    map, or a line that takes the image's place (a text part; inside a tool result, a
    line after its text)."""
    if not isinstance(content, list):
        return content
    out: list[Any] = []
    for part in content:
        if not isinstance(part, dict):
            out.append(part)
        elif part.get("type") == "image_url":
            changed = change(part)
            out.append({"type": "text", "text": changed} if isinstance(changed, str) else changed)
        elif part.get("type") == "tool_result" and isinstance(part.get("images"), list):
            images: list[Any] = []
            lines: list[str] = []
            for image in part["images"]:
                changed = change(image) if isinstance(image, dict) else image
                if isinstance(changed, str):
                    lines.append(changed)
                else:
                    images.append(changed)
            text = "\n".join([str(part.get("content", "")), *lines]) if lines else part["content"]
            rewritten = {**part, "content": text, "images": images}
            if not images:
                del rewritten["images"]
            out.append(rewritten)
        else:
            out.append(part)
    return out


def message_of(role: str, content: Any, tokens: int | None = None) -> Message:
    """A stored message (role and content) as a typed message."""
    return Message(_role(role), parts_of(content), tokens)


def _role(role: str) -> Role:
    if role in ("system", "user", "assistant", "tool"):
        return role  # type: ignore[return-value]
    raise ArgumentError(f"unknown message role {role!r}")


def url_images_as_text(parts: Sequence[Part]) -> tuple[Part, ...]:
    """The parts with each image at a URL (not a ``data:`` URL) made a text part naming
    it: an imported chat keeps its history, and no address a client gave reaches a
    model."""
    out: list[Part] = []
    for part in parts:
        if isinstance(part, ImagePart) and _at_url(part):
            out.append(TextPart(f"[image: {part.url}]"))
        elif isinstance(part, ToolResultPart) and any(_at_url(i) for i in part.images):
            lines = [f"[image: {i.url}]" for i in part.images if _at_url(i)]
            kept = tuple(i for i in part.images if not _at_url(i))
            out.append(part.with_images(kept, lines))
        else:
            out.append(part)
    return tuple(out)


def _at_url(part: ImagePart) -> bool:
    return not part.media_type and part.digest is None


def user_parts(content: Any) -> tuple[Part, ...]:
    """The parts of a message a person sends: text and images, not empty.

    Raises:
        ArgumentError: empty, or a part a person cannot send (a tool call or result is
            the model's and the tools' to make).
    """
    parts = parts_of(content)
    for n, part in enumerate(parts, 1):
        if isinstance(part, ToolResultPart):
            raise ArgumentError(
                f"part {n} of the message is a tool result for unknown call '{part.call_id}'"
            )
        if isinstance(part, ToolCallPart):
            raise ArgumentError(f"part {n} of the message is a tool call; only a model makes those")
        if isinstance(part, ImagePart) and not part.media_type and part.digest is None:
            raise ArgumentError(
                f"part {n} of the message is an image at a URL; send the image itself (a "
                "data: URL): the server passes no address on to the model"
            )
    if not any(
        isinstance(p, ImagePart) or (isinstance(p, TextPart) and p.text.strip()) for p in parts
    ):
        raise ArgumentError("the message is empty")
    return parts
