"""Images in turns: what a user sends, checked, fitted to the provider and kept by
digest; what a provider is sent, the kept bytes read back.

A client sends an image as a ``data:`` URL (the parts of :mod:`.content`). Before a turn
starts, each is checked and measured (:func:`chatthy.media.images.fit`: not an image,
damaged, a decompression bomb are refused in one line), downscaled when larger than the
provider takes (a notice says so), and becomes a part naming its bytes by sha256
(``chatthy-image:…``), which the store keeps once per profile in the same write as the
message. A provider is never sent a reference: :class:`ImageBytes` reads the bytes back
into ``data:`` URLs for the request, and keeps the most recent ones in memory.

A provider takes images when its scheme declares vision and its ``[providers.NAME]``
does not say ``vision = false``; a message with an image for one that does not is
refused before anything is sent or stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple

import msgspec

from chatthy.config import ProviderConfig
from chatthy.conversation.content import image_maps, rewrite_images
from chatthy.conversation.model import (
    IMAGE_REF,
    ImagePart,
    Message,
    Part,
    TextPart,
    ToolResultPart,
    images_of,
)
from chatthy.errors import ArgumentError, NotFoundError
from chatthy.media.images import digest, fit, from_data_url, inspect, to_data_url
from chatthy.providers.base import Provider
from chatthy.store.base import ImageIn, MessageRecord, Store

__all__ = [
    "DEFAULT_LIMITS",
    "LIMITS",
    "MAX_REQUEST_IMAGES",
    "MAX_TOOL_IMAGES",
    "ImageBytes",
    "Kept",
    "Limits",
    "imported_images",
    "inline_images",
    "keep_images",
    "limits_for",
    "newest_images",
    "sendable_images",
    "stored_images",
    "takes_images",
    "tool_images",
]


class Limits(NamedTuple):
    """The largest image a provider takes: its longer side in pixels, and bytes."""

    side: int
    bytes: int


DEFAULT_LIMITS = Limits(2048, 20_000_000)
"""OpenAI's: images are scaled to fit 2048 × 2048 there anyway; 20 MB a file."""
LIMITS: dict[str, Limits] = {"anthropic": Limits(1568, 3_750_000)}
"""By scheme. Anthropic scales a longer side over 1,568 px down (and charges the time),
and takes 5 MB of base64 an image: 3.75 MB of bytes."""


def takes_images(provider: Provider, config: ProviderConfig | None) -> bool:
    """Whether ``provider``'s models take images: its scheme declares vision, unless its
    ``[providers.NAME]`` says ``vision`` itself."""
    if config is None or config.vision is None:
        return provider.capabilities.vision
    return config.vision


def limits_for(config: ProviderConfig | None) -> Limits:
    """The largest image the provider of ``config`` takes (by its scheme)."""
    return LIMITS.get(config.scheme if config else "", DEFAULT_LIMITS)


class Kept(NamedTuple):
    """A message's parts with its images named by digest, the images to keep with it,
    and a line for each image that was downscaled."""

    parts: tuple[Part, ...]
    images: list[ImageIn]
    notices: list[str]


async def keep_images(
    store: Store,
    profile: str,
    parts: Sequence[Part],
    *,
    provider: str,
    takes_images: bool,
    limits: Limits,
) -> Kept:
    """``parts`` as a message to store: each ``data:`` image checked and fitted to
    ``limits`` (in a worker thread), named by digest; an image already named by digest
    must be one the profile keeps.

    Raises:
        ArgumentError: an image for a provider that takes none, or one that is not an
            image (damaged, too many pixels, of another type), or a digest the profile
            does not keep.
    """
    if not any(isinstance(p, ImagePart) for p in parts):
        return Kept(tuple(parts), [], [])
    if not takes_images:
        raise ArgumentError(f"provider '{provider}' does not take images")
    out: list[Part] = []
    images: list[ImageIn] = []
    notices: list[str] = []
    for n, part in enumerate(parts, 1):
        if not isinstance(part, ImagePart):
            out.append(part)
            continue
        name = part.name or f"image {n}"
        known = part.digest
        if known is not None:
            try:
                record = await store.image(profile, known)
            except NotFoundError:
                raise ArgumentError(f"{name} names an image you do not have") from None
            out.append(
                msgspec.structs.replace(
                    part, media_type=record.media_type, width=record.width, height=record.height
                )
            )
            continue
        _, data = from_data_url(part.url)
        fitted = await asyncio.to_thread(
            fit, data, max_side=limits.side, max_bytes=limits.bytes, name=name
        )
        if fitted.notice:
            notices.append(fitted.notice)
        info = fitted.info
        key = digest(fitted.data)
        images.append(ImageIn(key, info.media_type, info.width, info.height, fitted.data))
        out.append(ImagePart(info.media_type, IMAGE_REF + key, part.name, info.width, info.height))
    return Kept(tuple(out), images, notices)


class ImageBytes:
    """Kept images read back for a provider's request, fitted to it, the most recent
    ``budget`` bytes of them remembered (a chat about one picture sends it every turn).

    A stored image was fitted to the provider of its turn (or, imported, not at all):
    when the chat has moved to a provider that takes less, it is fitted again here, and
    for one that takes no images at all it is a line saying it was left out, so that the
    chat goes on there."""

    def __init__(self, store: Store, budget: int = 64 * 2**20) -> None:
        self.store = store
        self.budget = budget
        self._urls: OrderedDict[tuple[str, str, Limits], str] = OrderedDict()
        self._held = 0

    async def resolved(
        self,
        profile: str,
        messages: list[Message],
        pending: Sequence[ImageIn] = (),
        *,
        limits: Limits = DEFAULT_LIMITS,
        takes_images: bool = True,
    ) -> list[Message]:
        """``messages`` with every image named by digest as a ``data:`` URL that fits
        ``limits``: from ``pending`` (a new message's, not stored yet), else from the
        store. One the store no longer keeps (deleted meanwhile), or any when the
        provider takes none, becomes a line saying so."""
        new = {image.digest: image for image in pending}
        out: list[Message] = []
        for message in newest_images(messages):
            if not any(p.digest for p in images_of(message.parts)):
                out.append(message)
                continue
            parts = [await self._part(profile, p, new, limits, takes_images) for p in message.parts]
            out.append(msgspec.structs.replace(message, parts=tuple(parts)))
        return out

    async def _part(
        self,
        profile: str,
        part: Part,
        new: dict[str, ImageIn],
        limits: Limits,
        takes_images: bool,
    ) -> Part:
        if isinstance(part, ToolResultPart) and part.images:
            images: list[ImagePart] = []
            lines: list[str] = []
            for image in part.images:
                got = await self._part(profile, image, new, limits, takes_images)
                if isinstance(got, ImagePart):
                    images.append(got)
                elif isinstance(got, TextPart):
                    lines.append(got.text)
            return part.with_images(tuple(images), lines)
        if not isinstance(part, ImagePart) or part.digest is None:
            return part
        shown = f"image {part.name}" if part.name else "image"
        if not takes_images:
            return TextPart(f"[{shown} left out: this model takes no images]")
        if part.digest in new:
            pending = new[part.digest]
            return msgspec.structs.replace(part, url=to_data_url(pending.data, pending.media_type))
        key = (profile, part.digest, limits)
        url = self._urls.get(key)
        if url is None:
            try:
                record = await self.store.image(profile, part.digest)
            except NotFoundError:
                return TextPart(f"[{shown} no longer kept]")
            data, media_type = record.data, record.media_type
            if max(record.width, record.height) > limits.side or record.size > limits.bytes:
                fitted = await asyncio.to_thread(
                    fit, data, max_side=limits.side, max_bytes=limits.bytes, name=shown
                )
                data, media_type = fitted.data, fitted.info.media_type
            url = to_data_url(data, media_type)
            self._remember(key, url)
        else:
            self._urls.move_to_end(key)
        return msgspec.structs.replace(part, url=url)

    def _remember(self, key: tuple[str, str, Limits], url: str) -> None:
        self._urls[key] = url
        self._held += len(url)
        while self._held > self.budget and len(self._urls) > 1:
            _, dropped = self._urls.popitem(last=False)
            self._held -= len(dropped)


def imported_images(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An import's messages (dicts of role, content …) with each ``data:`` image kept by
    digest: its part names it and the message carries it (``images``), as a turn's
    message does. One that is not a usable image becomes a line saying why: the rest of
    the chat is imported all the same. CPU work (base64, headers): run in a thread."""
    out: list[dict[str, Any]] = []
    for message in messages:
        content = message.get("content")
        if not any(True for _ in image_maps(content)):
            out.append(message)
            continue
        images: list[ImageIn] = []
        kept = functools.partial(_kept_image, images)
        out.append({**message, "content": rewrite_images(content, kept), "images": images})
    return out


def _kept_image(images: list[ImageIn], part: dict[str, Any]) -> dict[str, Any] | str:
    """An imported image part named by digest, its bytes added to ``images``; one that
    is not a usable image is a line saying why."""
    url = _data_url_of(part)
    if url is None:
        return part
    name = part.get("name") if isinstance(part.get("name"), str) else ""
    try:
        _, data = from_data_url(url)
        info = inspect(data, name or "an image")
    except ArgumentError as exc:
        return f"[image left out: {exc.message}]"
    key = digest(data)
    images.append(ImageIn(key, info.media_type, info.width, info.height, data))
    named: dict[str, Any] = {"type": "image_url", "image_url": {"url": IMAGE_REF + key}}
    if name:
        named["name"] = name
    named.update(media_type=info.media_type, width=info.width, height=info.height)
    return named


def _data_url_of(part: dict[str, Any]) -> str | None:
    """The ``data:`` URL of an image part map, or None."""
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    return url if isinstance(url, str) and url.startswith("data:") else None


async def inline_images(
    store: Store, profile: str, records: list[MessageRecord], most: int
) -> list[MessageRecord]:
    """``records`` with each image named by digest as a ``data:`` URL (for an export
    that must stand alone: our JSON, the OpenAI messages list). One no longer kept stays
    a reference.

    Raises:
        ArgumentError: the images' data URLs would pass ``most`` bytes (an export that
            large could not be imported again): a Markdown export writes them as files.
    """
    urls: dict[str, str] = {}
    held = 0
    out: list[MessageRecord] = []
    for record in records:
        keys = [k for k in map(_ref_of, image_maps(record.content)) if k is not None]
        if not keys:
            out.append(record)
            continue
        for key in keys:
            if key in urls:
                continue
            kept = None
            with contextlib.suppress(NotFoundError, ArgumentError):
                kept = await store.image(profile, key)
            if kept is None:
                continue
            held += 4 * (kept.size + 2) // 3
            if held > most:
                raise ArgumentError(
                    f"this chat's images make its export over {most:,} bytes "
                    "(max_import): export it as Markdown, the images beside it"
                )
            urls[key] = await asyncio.to_thread(to_data_url, kept.data, kept.media_type)

        def inlined(part: dict[str, Any]) -> dict[str, Any]:
            key = _ref_of(part)
            return {**part, "image_url": {"url": urls[key]}} if key in urls else part

        out.append(msgspec.structs.replace(record, content=rewrite_images(record.content, inlined)))
    return out


def _ref_of(part: dict[str, Any]) -> str | None:
    """The digest an image part map names, or None for a ``data:`` or other URL."""
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else None
    return url[len(IMAGE_REF) :] if isinstance(url, str) and url.startswith(IMAGE_REF) else None


async def sendable_images(
    messages: list[Message],
    *,
    provider: str,
    takes_images: bool,
    limits: Limits,
    fetch: Callable[[str], Awaitable[bytes]],
) -> list[Message]:
    """``messages`` (as a client of the router sent them, nothing kept) with every image
    as bytes the provider takes: a ``data:`` one checked and fitted to ``limits``, one at
    an http(s) URL fetched with ``fetch`` (the sources' guard: no private address, a size
    cap) and then the same; never an address passed on.

    Raises:
        ArgumentError: an image for a provider that takes none, one that is not an image.
        SourceError: a URL that cannot be fetched (its reason).
    """
    if not any(isinstance(p, ImagePart) for m in messages for p in m.parts):
        return messages
    if not takes_images:
        raise ArgumentError(f"provider '{provider}' does not take images")
    out: list[Message] = []
    for message in messages:
        parts: list[Part] = []
        for n, part in enumerate(message.parts, 1):
            if not isinstance(part, ImagePart):
                parts.append(part)
                continue
            if part.digest is not None:  # the chat server's own name for kept bytes
                raise ArgumentError(f"part {n} names a kept image: send the image itself")
            name = part.name or (part.url if not part.media_type else f"image {n}")
            data = from_data_url(part.url)[1] if part.media_type else await fetch(part.url)
            parts.append(await asyncio.to_thread(_fitted, data, limits, name[:100], part.name))
        out.append(msgspec.structs.replace(message, parts=tuple(parts)))
    return out


MAX_TOOL_IMAGES = 8
"""Images one tool result passes on at most (the others: a line each)."""


async def tool_images(
    images: Sequence[ImagePart], limits: Limits | None
) -> tuple[tuple[ImagePart, ...], list[str]]:
    """The images a tool returned as the model is sent them: each checked and fitted to
    ``limits`` in a worker thread (``data:`` URLs, with their size), at most
    :data:`MAX_TOOL_IMAGES`; each left out is a line saying why — all of them when
    ``limits`` is None (the model takes no images)."""
    kept: list[ImagePart] = []
    lines: list[str] = []
    held = 0
    for n, part in enumerate(images, 1):
        name = part.name or f"image {n}"
        if limits is None:
            lines.append(f"[{name} left out: this model takes no images]")
            continue
        if len(kept) == MAX_TOOL_IMAGES:
            lines.append(f"[{name} left out: a result passes on {MAX_TOOL_IMAGES} images at most]")
            continue
        try:
            fitted = await asyncio.to_thread(_fitted_url, part, limits, name)
        except ArgumentError as exc:
            lines.append(f"[image left out: {exc.message}]")
            continue
        size = len(fitted.url) * 3 // 4
        if held + size > limits.bytes:  # the result's images together: what one may weigh
            lines.append(f"[{name} left out: the result's images pass {limits.bytes:,} bytes]")
            continue
        held += size
        kept.append(fitted)
    return tuple(kept), lines


def _fitted_url(part: ImagePart, limits: Limits, name: str) -> ImagePart:
    """A ``data:`` image part checked and fitted to ``limits`` (a worker thread's job:
    base64 and Pillow)."""
    return _fitted(from_data_url(part.url)[1], limits, name, part.name)


def _fitted(data: bytes, limits: Limits, name: str, keep_name: str) -> ImagePart:
    """Image bytes checked and fitted to ``limits``, as a ``data:`` image part named
    ``keep_name`` (``name`` is what an error calls it). A worker thread's job."""
    fitted = fit(data, max_side=limits.side, max_bytes=limits.bytes, name=name)
    info = fitted.info
    url = to_data_url(fitted.data, info.media_type)
    return ImagePart(info.media_type, url, keep_name, info.width, info.height)


MAX_REQUEST_IMAGES = 20
"""Images one request carries at most: the newest (a chat of screenshots would grow past
what the APIs take, Anthropic's 100 images and 32 MB, and cost as much every turn)."""


def newest_images(messages: list[Message], most: int = MAX_REQUEST_IMAGES) -> list[Message]:
    """``messages`` with their newest ``most`` images; each older one is a line saying
    it was left out (in its message's place, or under its tool result's text)."""
    total = sum(1 for m in messages for _ in images_of(m.parts))
    if total <= most:
        return messages
    drop = total - most
    said = f"left out: a request carries the newest {most} images"
    out: list[Message] = []
    for message in messages:
        if not drop or not any(True for _ in images_of(message.parts)):
            out.append(message)
            continue
        parts: list[Part] = []
        for part in message.parts:
            if isinstance(part, ImagePart) and drop:
                parts.append(TextPart(f"[{part.name or 'image'} {said}]"))
                drop -= 1
            elif isinstance(part, ToolResultPart) and part.images and drop:
                gone = part.images[:drop]
                drop -= len(gone)
                lines = [f"[{i.name or 'image'} {said}]" for i in gone]
                parts.append(part.with_images(part.images[len(gone) :], lines))
            else:
                parts.append(part)
        out.append(msgspec.structs.replace(message, parts=tuple(parts)))
    return out


def stored_images(images: Sequence[ImagePart]) -> tuple[tuple[ImagePart, ...], list[ImageIn]]:
    """Checked ``data:`` images (:func:`tool_images`) as a stored message names them (by
    digest), and the bytes to keep with it. CPU work (base64, sha256): run in a thread."""
    parts: list[ImagePart] = []
    keep: list[ImageIn] = []
    for part in images:
        if part.digest is not None:
            parts.append(part)
            continue
        media_type, data = from_data_url(part.url)
        key = digest(data)
        keep.append(ImageIn(key, part.media_type or media_type, part.width, part.height, data))
        parts.append(msgspec.structs.replace(part, url=IMAGE_REF + key))
    return tuple(parts), keep
