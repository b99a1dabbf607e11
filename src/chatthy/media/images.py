"""Images: what chatthy takes, how large they are, how to make them fit, what they cost.

Every part of chatthy that meets an image asks this module: a client before it sends one,
the server before it stores one and again before a provider gets it, the token counts
when a history is fitted. One answer everywhere, so that a client never sends what the
server refuses, and the refusal a person reads is the same one line wherever it comes
from.

Images are untrusted bytes. The size is read from the file's own header and checked
before Pillow decodes anything (a 100,000 × 100,000 PNG is a few hundred bytes on disk
and 40 GB in memory), and Pillow's own decompression-bomb check never fires (it warns
or raises in ways a person cannot read; ours comes first and is lower). Downscaling
decodes a JPEG at a reduced scale and resizes in bands, so that fitting a 20 MB photo
takes memory near its file size, not its full pixel count.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import io
import math
import re
import struct
from collections.abc import Iterator
from typing import TYPE_CHECKING, cast

import msgspec

if TYPE_CHECKING:
    from PIL import Image

from chatthy.errors import ArgumentError

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

IMAGE_TYPES: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}
"""The media types chatthy takes (those every vision API takes), with the bytes each
file starts with. A WebP file is also ``WEBP`` at offset 8 (RIFF holds WAV and AVI too)."""

MAX_PIXELS: int = 50_000_000
"""The most pixels (width × height) an image may have: more is refused from its header,
before anything is decoded. Well above any photo a phone takes (a 200 MP sensor's
pictures are 50 MP binned), well below what would take gigabytes to decode."""

_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}
_TAKEN = "PNG, JPEG, GIF and WebP"
_QUALITIES = (85, 75, 65, 50)
"""JPEG and WebP qualities tried in turn before the side is halved."""
_BAND = 32
"""Output rows resized at a time: the intermediate of a two-pass resize stays small."""
_SMALLEST_SIDE = 16
"""Below this a picture shows nothing: fit() gives up rather than halving further."""
_ANTHROPIC_PIXELS = int(1.15 * 1024 * 1024)
"""Anthropic's "about 1.15 megapixels" (binary mega): the 1092 × 1092 its table lists as
the largest square sent unscaled fits, and 1093 × 1093 does not."""

_Damaged = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error)
"""What Pillow raises on a cut or corrupt file. (Its DecompressionBombError is none of
these; it is caught by name where Pillow could raise it.)"""


class ImageInfo(msgspec.Struct, frozen=True):
    """What an image is: its type, its size as shown (EXIF orientation applied: a phone's
    portrait photo stored sideways is taller than wide) and its length in bytes."""

    media_type: str
    width: int
    height: int
    size: int


class Fitted(msgspec.Struct, frozen=True):
    """An image made to fit: the bytes to send (the very ones given when they fit), what
    they are, whether they were changed, and the one line that tells a person so."""

    data: bytes
    info: ImageInfo
    changed: bool
    notice: str


def inspect(data: bytes, name: str = "the image") -> ImageInfo:
    """What ``data`` is, from its header and a structural check, without decoding pixels.

    Raises:
        ArgumentError: one line naming ``name``: empty, not an image (text, or bytes of
            no image type), an image of a type chatthy does not take, more pixels than
            ``MAX_PIXELS``, or truncated or damaged.
    """
    from PIL import Image  # here: a client that sends no image never loads Pillow

    media_type = _sniff(data, name)
    size = _header_size(data, media_type)
    if size is None:
        raise ArgumentError(f"{name} is truncated or damaged")
    _refuse_bomb(size, name)
    try:
        with Image.open(io.BytesIO(data), formats=[_FORMATS[media_type]]) as image:
            _refuse_bomb(image.size, name)  # Pillow's reading, should it differ from ours
            orientation = _orientation(image)
            image.verify()
    except Image.DecompressionBombError as error:
        raise ArgumentError(f"{name} has more pixels than chatthy takes") from error
    except _Damaged as error:
        raise ArgumentError(f"{name} is truncated or damaged") from error
    if not _complete(data, media_type):
        raise ArgumentError(f"{name} is truncated or damaged")
    width, height = image.size
    if orientation in (5, 6, 7, 8):  # turned a quarter: shown with the sides swapped
        width, height = height, width
    return ImageInfo(media_type, width, height, len(data))


def fit(data: bytes, *, max_side: int, max_bytes: int, name: str = "the image") -> Fitted:
    """``data`` made to fit ``max_side`` pixels on its longer side and ``max_bytes``.

    An image that fits is returned as it is (the very bytes). One that does not is
    decoded (a JPEG at the smallest scale still at least the target's size), turned as
    its EXIF orientation says, downscaled keeping its aspect ratio and encoded again:
    PNG as PNG, or as JPEG when still too large; JPEG as JPEG, quality lowered from 85
    to 50; GIF's first frame as PNG (or JPEG); WebP as WebP. Still too large at quality
    50, the side is halved and tried again.

    Raises:
        ArgumentError: what ``inspect`` raises; an image that does not fit
            ``max_bytes`` even when tiny.
    """
    from PIL import Image  # here: a client that sends no image never loads Pillow

    if max_side < 1 or max_bytes < 1:
        raise ArgumentError("an image must be allowed at least one pixel and one byte")
    info = inspect(data, name)
    if max(info.width, info.height) <= max_side and info.size <= max_bytes:
        return Fitted(data, info, False, "")
    try:
        with Image.open(io.BytesIO(data), formats=[_FORMATS[info.media_type]]) as image:
            encoded, media_type, (width, height) = _refit(
                image, info.media_type, max_side, max_bytes, name
            )
    except Image.DecompressionBombError as error:
        raise ArgumentError(f"{name} has more pixels than chatthy takes") from error
    except _Damaged as error:
        raise ArgumentError(f"{name} is truncated or damaged") from error
    fitted = ImageInfo(media_type, width, height, len(encoded))
    verb = "downscaled" if (width, height) != (info.width, info.height) else "re-encoded"
    kind = "" if media_type == info.media_type else f" as {_FORMATS[media_type]}"
    notice = (
        f"{name} {verb} from {info.width}×{info.height} ({_amount(info.size)}) to "
        f"{width}×{height} ({_amount(len(encoded))}{kind}) to fit provider limits"
    )
    return Fitted(encoded, fitted, True, notice)


def openai_tokens(width: int, height: int, detail: str = "high") -> int:
    """What OpenAI counts for an image, as its vision guide documents it: 85 at ``low``
    detail; at ``high``, the image fitted within 2048 × 2048, then its shorter side
    brought down to 768, and 170 for each 512-pixel tile it covers, plus 85."""
    if detail == "low":
        return 85
    w, h = float(max(width, 1)), float(max(height, 1))
    if max(w, h) > 2048:
        w, h = _scaled_by(w, h, 2048 / max(w, h))
    if min(w, h) > 768:
        w, h = _scaled_by(w, h, 768 / min(w, h))
    tiles = math.ceil(w / 512) * math.ceil(h / 512)
    return 170 * tiles + 85


def anthropic_tokens(width: int, height: int) -> int:
    """Anthropic's documented estimate: the image scaled down (never up) until its long
    edge is at most 1568 pixels and it has at most about 1.15 megapixels, then one token
    per 750 pixels."""
    w, h = float(max(width, 1)), float(max(height, 1))
    factor = min(1.0, 1568 / max(w, h), math.sqrt(_ANTHROPIC_PIXELS / (w * h)))
    if factor < 1.0:
        w, h = math.floor(w * factor), math.floor(h * factor)
    return math.ceil(w * h / 750)


def to_data_url(data: bytes, media_type: str) -> str:
    """``data`` as the ``data:`` URL the ``chat`` content and the providers' APIs take."""
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


_DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+)((?:;[^;,]*)*);base64,", re.ASCII)


def from_data_url(url: str) -> tuple[str, bytes]:
    """The media type and bytes of a ``data:`` URL holding an image.

    Raises:
        ArgumentError: not a base64 ``data:`` URL, or not of an image type chatthy takes.
    """
    found = _DATA_URL.match(url)
    if found is None:
        raise ArgumentError("the image is not a base64 data: URL")
    media_type = found.group(1).lower()
    if media_type not in IMAGE_TYPES:
        raise ArgumentError(f"the data: URL holds {media_type}; chatthy takes {_TAKEN}")
    try:
        return media_type, base64.b64decode(url[found.end() :], validate=True)
    except (binascii.Error, ValueError) as error:
        raise ArgumentError("the image's data: URL is not valid base64") from error


def digest(data: bytes) -> str:
    """The SHA-256 of ``data`` in hex: the key the store keeps image bytes under, so
    that an image sent twice is stored once."""
    return hashlib.sha256(data).hexdigest()


# --- what a file is ---------------------------------------------------------------


def _sniff(data: bytes, name: str) -> str:
    """The media type ``data`` starts as, or the one-line reason it is none chatthy
    takes."""
    if not data:
        raise ArgumentError(f"{name} is empty")
    for media_type, prefixes in IMAGE_TYPES.items():
        if data.startswith(prefixes) and (media_type != "image/webp" or data[8:12] == b"WEBP"):
            return media_type
    if _is_text(data):
        if b"<svg" in data[:4096]:
            raise ArgumentError(f"{name} is image/svg+xml; chatthy takes {_TAKEN}")
        raise ArgumentError(f"{name} is not an image (it holds text)")
    other = _other_image_type(data)
    if other:
        raise ArgumentError(f"{name} is {other}; chatthy takes {_TAKEN}")
    raise ArgumentError(f"{name} is not an image")


def _is_text(data: bytes) -> bool:
    """Whether ``data`` reads as UTF-8 text (its start: a character cut at the end of
    the sample does not count against it)."""
    head = data[:4096]
    if b"\x00" in head:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=len(data) <= 4096)
    except UnicodeDecodeError:
        return False
    return True


def _other_image_type(data: bytes) -> str:
    """The media type of an image chatthy does not take (BMP, TIFF, AVIF …), told from
    Pillow's own test of each format's first bytes, nothing decoded; "" for none."""
    from PIL import Image  # here: a client that sends no image never loads Pillow

    Image.init()
    head = data[:16]
    for format_id in Image.ID:
        _, accept = Image.OPEN[format_id]
        if accept is None:  # formats with no signature to test would claim anything
            continue
        try:
            claimed = accept(head)
        except _Damaged:
            continue
        if claimed is True or (claimed and not isinstance(claimed, str)):
            mime = Image.MIME.get(format_id, "")
            return mime if mime.startswith("image/") else f"a {format_id} image"
    return ""


def _header_size(data: bytes, media_type: str) -> tuple[int, int] | None:
    """Width and height as the file's header states them, read by hand before Pillow
    sees the file; None when the header is cut or makes no sense."""
    try:
        if media_type == "image/png":
            if data[12:16] != b"IHDR":
                return None
            width, height = struct.unpack(">II", data[16:24])
            return width, height
        if media_type == "image/gif":
            width, height = struct.unpack("<HH", data[6:10])
            return width, height
        if media_type == "image/jpeg":
            return _jpeg_size(data)
        return _webp_size(data)
    except struct.error:
        return None


_SOF = frozenset({*range(0xC0, 0xC4), *range(0xC5, 0xC8), *range(0xC9, 0xCC), *range(0xCD, 0xD0)})
"""The JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic …): each
carries the picture's height and width."""


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """A JPEG's size from its start-of-frame segment, walked to segment by segment."""
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte before a marker
            at += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            at += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no frame came first
            return None
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return width, height
        at += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    """A WebP's canvas size from its first chunk (VP8X extended, VP8L lossless or VP8
    lossy), as the WebP container specification lays them out."""
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return (width, height) if len(data) >= 30 else None
    if chunk == b"VP8L":
        if len(data) < 25 or data[20] != 0x2F:
            return None
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        if data[23:26] != b"\x9d\x01\x2a":
            return None
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None


def _refuse_bomb(size: tuple[int, int], name: str) -> None:
    width, height = size
    if width * height > MAX_PIXELS:
        raise ArgumentError(
            f"{name} is {width}×{height} pixels, more than chatthy takes "
            f"({MAX_PIXELS // 1_000_000} megapixels)"
        )


def _complete(data: bytes, media_type: str) -> bool:
    """Whether the file runs to its end. Pillow's verify() checks a PNG's every chunk,
    but nothing of the others: a JPEG must end its last scan with the end-of-image
    marker (an EXIF thumbnail's own comes before), a GIF must end with its trailer, a
    WebP must be as long as its RIFF header states."""
    if media_type == "image/jpeg":
        return data.rfind(b"\xff\xd9") > data.rfind(b"\xff\xda")
    if media_type == "image/gif":
        return data.rstrip(b"\x00").endswith(b"\x3b")
    if media_type == "image/webp":
        (stated,) = struct.unpack("<I", data[4:8])
        return len(data) >= stated + 8
    return True


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1 to 8; 1 upright) an image states, 1 when it states none
    or its EXIF cannot be read (a picture shown unturned beats one refused). Only EXIF
    read with the header counts: a PNG would be decoded whole to look for a late one."""
    from PIL import ExifTags  # here: a client that sends no image never loads Pillow

    if "exif" not in image.info:
        return 1
    try:
        value = image.getexif().get(ExifTags.Base.Orientation, 1)
    except _Damaged:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


# --- making an image fit --------------------------------------------------------


def _refit(
    image: Image.Image, media_type: str, max_side: int, max_bytes: int, name: str
) -> tuple[bytes, str, tuple[int, int]]:
    """The encoded bytes, their media type and size, for an opened image that does not
    fit."""
    from PIL import ExifTags, ImageOps  # here: a client that sends no image never loads Pillow

    stored = image.size
    side = min(max_side, max(stored))
    if media_type == "image/jpeg":
        # Decoded at 1/2, 1/4 or 1/8 scale, the least still at least the target: the
        # memory a large photo takes stays near its file's size.
        image.draft(image.mode, _target(stored, side))
    image.load()
    orientation = _orientation(image)
    icc = image.info.get("icc_profile")
    output = "image/png" if media_type == "image/gif" else media_type
    small = _scaled(_workable(image), _target(stored, side))
    if small is not image:
        image.close()  # the decoded source, the largest thing held: gone before encoding
    if orientation != 1:
        small.getexif()[ExifTags.Base.Orientation] = orientation
        ImageOps.exif_transpose(small, in_place=True)
    while True:
        for encoded, encoded_type in _encodings(small, output, icc):
            if len(encoded) <= max_bytes:
                return encoded, encoded_type, small.size
        if side // 2 < _SMALLEST_SIDE:
            raise ArgumentError(f"{name} does not fit in {_amount(max_bytes)} even when tiny")
        side //= 2
        small = _scaled(small, _target(small.size, side))  # from the last: near as sharp


def _target(size: tuple[int, int], side: int) -> tuple[int, int]:
    """``size`` scaled so its longer side is ``side`` (never up), the ratio kept."""
    width, height = size
    factor = min(1.0, side / max(width, height))
    return max(1, round(width * factor)), max(1, round(height * factor))


def _workable(image: Image.Image) -> Image.Image:
    """The image in a mode that resizes smoothly and encodes as PNG, JPEG and WebP:
    RGB or L, or with alpha RGBA or LA (palette, CMYK, 16-bit and the rest converted)."""
    if image.mode in ("RGB", "RGBA", "L", "LA"):
        return image
    if image.mode in ("PA", "RGBa", "La") or "transparency" in image.info:
        return image.convert("RGBA")
    if image.mode.startswith("I") or image.mode == "F":
        # 16- and 32-bit grey: brought to 8 bits by its range, not clipped to white
        low, high = cast("tuple[float, float]", image.getextrema())
        span = (high - low) or 1
        return image.point(lambda v: (v - low) * 255 / span).convert("L")
    return image.convert("RGB")


def _scaled(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image`` resized to ``size`` (LANCZOS), a band of rows at a time: a two-pass
    resize of the whole would hold an intermediate nearly as large as the source."""
    from PIL import Image  # here: a client that sends no image never loads Pillow

    if image.size == size:
        return image
    alpha = {"RGBA": "RGBa", "LA": "La"}.get(image.mode)
    source = image.convert(alpha) if alpha else image  # premultiplied once, not per band
    width, height = size
    step = source.height / height
    out = Image.new(source.mode, size)
    for top in range(0, height, _BAND):
        bottom = min(height, top + _BAND)
        box = (0.0, top * step, float(source.width), bottom * step)
        out.paste(source.resize((width, bottom - top), Image.Resampling.LANCZOS, box=box), (0, top))
    return out.convert(image.mode) if alpha else out


def _encodings(
    image: Image.Image, media_type: str, icc: bytes | None
) -> Iterator[tuple[bytes, str]]:
    """The encodings of ``image`` to try in turn, smallest loss first; the source's
    colour profile kept (the colours as the camera meant them)."""
    if media_type == "image/png":
        yield _saved(image, "PNG", icc, optimize=True), "image/png"
        media_type = "image/jpeg"
    if media_type == "image/jpeg":
        flat = _flattened(image)
        for quality in _QUALITIES:
            yield _saved(flat, "JPEG", icc, quality=quality), "image/jpeg"
        return
    for quality in _QUALITIES:
        yield _saved(image, "WEBP", icc, quality=quality), "image/webp"


def _flattened(image: Image.Image) -> Image.Image:
    """``image`` without alpha, laid on white (JPEG has no alpha; black, Pillow's
    default, turns a transparent logo into a dark square)."""
    from PIL import Image  # here: a client that sends no image never loads Pillow

    if image.mode not in ("RGBA", "LA"):
        return image
    white = Image.new("RGBA", image.size, "white")
    return Image.alpha_composite(white, image.convert("RGBA")).convert("RGB")


def _saved(image: Image.Image, format_id: str, icc: bytes | None, **options: object) -> bytes:
    if icc:
        options["icc_profile"] = icc
    buffer = io.BytesIO()
    image.save(buffer, format_id, **options)
    return buffer.getvalue()


def _scaled_by(width: float, height: float, factor: float) -> tuple[float, float]:
    return round(width * factor, 6), round(height * factor, 6)


def _amount(count: int) -> str:
    """``412 bytes``, ``412 KB``, ``6.1 MB`` (decimal units, as file managers show)."""
    if count < 1000:
        return f"{count} bytes"
    if count < 1_000_000:
        return f"{count / 1000:.0f} KB"
    return f"{count / 1_000_000:.1f} MB"
