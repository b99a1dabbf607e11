"""Media every part of chatthy handles the same way: images checked, measured,
downscaled and counted in tokens (images.py). Pure functions over bytes: no server, no
client, no store, so that the clients, the server and the providers agree on one answer."""

from __future__ import annotations

from chatthy.media.images import (
    IMAGE_TYPES,
    MAX_PIXELS,
    Fitted,
    ImageInfo,
    anthropic_tokens,
    digest,
    fit,
    from_data_url,
    inspect,
    openai_tokens,
    to_data_url,
)

__all__ = [
    "IMAGE_TYPES",
    "MAX_PIXELS",
    "Fitted",
    "ImageInfo",
    "anthropic_tokens",
    "digest",
    "fit",
    "from_data_url",
    "inspect",
    "openai_tokens",
    "to_data_url",
]
