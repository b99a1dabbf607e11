"""What a message may hold: text, or a list of parts in OpenAI shape."""

from __future__ import annotations

from typing import Any

from chatthy.errors import ArgumentError

__all__ = ["PART_TYPES", "check_content"]

PART_TYPES = frozenset({"text", "image_url"})


def check_content(content: Any) -> None:
    """Raises ArgumentError unless ``content`` is text or a list of well-formed parts."""
    if isinstance(content, str):
        if not content.strip():
            raise ArgumentError("the message is empty")
        return
    if not isinstance(content, list) or not content:
        raise ArgumentError("the message is empty")
    for n, part in enumerate(content, 1):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in PART_TYPES:
            raise ArgumentError(f"part {n} of the message has no known type (text, image_url)")
        if kind == "text" and not isinstance(part.get("text"), str):
            raise ArgumentError(f"part {n} of the message has no text")
        if kind == "image_url" and not isinstance((part.get("image_url") or {}).get("url"), str):
            raise ArgumentError(f"part {n} of the message has no image url")
