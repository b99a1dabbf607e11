"""The images messages name: a message's image part says ``chatthy-image:SHA256`` (with
its name, media type and size in pixels), and its bytes are fetched once by digest."""

from __future__ import annotations

from typing import Annotated

import msgspec

from chatthy.wire.api._base import Call, Result

__all__ = ["ImageData", "ImageGet"]


class ImageData(Result):
    """An image of yours: its digest, media type, size in pixels and bytes."""

    digest: str
    media_type: str
    width: int
    height: int
    data: bytes


class ImageGet(Call[ImageData]):
    """The bytes of an image one of your messages names (``chatthy-image:DIGEST``)."""

    method = "image"
    digest: Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]
