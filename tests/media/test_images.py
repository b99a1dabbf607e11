"""Images as a person hands them to chatthy: real files made with Pillow, each refusal
the one line they would read, downscaling that keeps a photo upright and its memory near
its file's size, and the providers' documented token counts."""

from __future__ import annotations

import hashlib
import io
import os
import re
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from PIL import ExifTags, Image

from chatthy.errors import ArgumentError
from chatthy.media import (
    IMAGE_TYPES,
    MAX_PIXELS,
    ImageInfo,
    anthropic_tokens,
    digest,
    fit,
    from_data_url,
    inspect,
    openai_tokens,
    to_data_url,
)
from helpers import png_bomb

SRC = Path(__file__).resolve().parents[2] / "src"


def encoded(image: Image.Image, format_id: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format_id, **options)
    return buffer.getvalue()


def picture(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """Something like a photo: smooth gradients, which compress as photos do."""
    ramp = Image.linear_gradient("L").resize(size)
    other = Image.radial_gradient("L").resize(size)
    bands = [ramp, other, ramp.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    if mode == "RGBA":
        bands.append(other.transpose(Image.Transpose.FLIP_TOP_BOTTOM))
    return Image.merge(mode, bands)


def noise(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """What compresses worst: random pixels."""
    return Image.frombytes(mode, size, os.urandom(size[0] * size[1] * len(mode)))


def jpeg_claiming(width: int, height: int) -> bytes:
    """A real small JPEG whose start-of-frame says ``width`` × ``height``."""
    data = bytearray(encoded(picture((64, 48)), "JPEG"))
    at = data.index(b"\xff\xc0")
    data[at + 5 : at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def gif_claiming(width: int, height: int) -> bytes:
    data = bytearray(encoded(picture((64, 48)).convert("P"), "GIF"))
    data[6:10] = struct.pack("<HH", width, height)
    return bytes(data)


def webp_claiming(width: int, height: int) -> bytes:
    """A real small lossy WebP whose VP8 frame header says ``width`` × ``height``."""
    data = bytearray(encoded(picture((64, 48)), "WEBP", quality=80))
    assert data[12:16] == b"VP8 "
    data[26:30] = struct.pack("<HH", width, height)
    return bytes(data)


def shown(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# --- inspect ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("format_id", "mode", "media_type"),
    [
        ("PNG", "RGB", "image/png"),
        ("PNG", "RGBA", "image/png"),
        ("JPEG", "RGB", "image/jpeg"),
        ("GIF", "RGB", "image/gif"),
        ("WEBP", "RGB", "image/webp"),
        ("WEBP", "RGBA", "image/webp"),
    ],
)
def test_inspect_tells_type_size_and_length(format_id: str, mode: str, media_type: str) -> None:
    data = encoded(picture((640, 480), mode), format_id)
    assert inspect(data, "cat") == ImageInfo(media_type, 640, 480, len(data))
    assert data.startswith(IMAGE_TYPES[media_type])


def test_inspect_gives_the_size_as_shown_for_a_photo_stored_sideways() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # turn a quarter clockwise to show
    data = encoded(picture((400, 300)), "JPEG", exif=exif.tobytes())
    assert inspect(data) == ImageInfo("image/jpeg", 300, 400, len(data))


@pytest.mark.parametrize("format_id", ["PNG", "JPEG", "GIF", "WEBP"])
def test_a_file_cut_in_half_is_truncated_or_damaged(tmp_path: Path, format_id: str) -> None:
    path = tmp_path / f"cat.{format_id.lower()}"
    whole = encoded(picture((640, 480)), format_id)
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ArgumentError, match=rf"^{re.escape(path.name)} is truncated or damaged$"):
        inspect(path.read_bytes(), path.name)


def test_a_jpeg_cut_after_its_thumbnail_is_truncated() -> None:
    """A camera's JPEG holds a small JPEG (the thumbnail, with its own end marker) in its
    EXIF: that marker does not make the cut picture whole."""
    thumbnail = encoded(picture((160, 120)), "JPEG")
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 1
    whole = encoded(picture((1200, 900)), "JPEG", exif=exif.tobytes() + thumbnail)
    assert whole.count(b"\xff\xd9") == 2
    cut = whole[: len(whole) - 2000]
    with pytest.raises(ArgumentError, match=r"^photo\.jpg is truncated or damaged$"):
        inspect(cut, "photo.jpg")
    assert inspect(whole).width == 1200


def test_a_png_with_a_bad_checksum_is_truncated_or_damaged() -> None:
    data = bytearray(encoded(picture((64, 48)), "PNG"))
    at = data.index(b"IDAT") + 8
    data[at] ^= 0xFF
    with pytest.raises(ArgumentError, match=r"^cat\.png is truncated or damaged$"):
        inspect(bytes(data), "cat.png")


def test_a_text_file_named_png_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "cat.png"
    path.write_text("My cat: ginger, three years old, likes boxes. ☺\n" * 200, encoding="utf-8")
    with pytest.raises(ArgumentError, match=r"^cat\.png is not an image \(it holds text\)$"):
        inspect(path.read_bytes(), path.name)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "cat.png is empty"),
        (b"\x00\x01\x02\x03\xfe\xfd binary junk \x00" * 10, "cat.png is not an image"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "cat.png is not an image"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"/>',
            "cat.png is image/svg+xml; chatthy takes PNG, JPEG, GIF and WebP",
        ),
    ],
    ids=["empty", "junk", "wav", "svg"],
)
def test_bytes_of_no_image_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(ArgumentError, match=rf"^{re.escape(message)}$"):
        inspect(data, "cat.png")


@pytest.mark.parametrize(
    ("format_id", "media_type"), [("BMP", "image/bmp"), ("TIFF", "image/tiff")]
)
def test_an_image_of_another_type_names_it_and_the_types_taken(
    format_id: str, media_type: str
) -> None:
    data = encoded(picture((64, 48)), format_id)
    with pytest.raises(
        ArgumentError, match=rf"^cat\.png is {media_type}; chatthy takes PNG, JPEG, GIF and WebP$"
    ):
        inspect(data, "cat.png")


BOMB_MEASURE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import PIL.Image  # loaded before the measure: what counts is what refusing takes
    from chatthy.errors import ArgumentError
    from chatthy.media.images import fit, inspect

    def peak_kb():
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise SystemExit("no VmHWM")

    data = Path(sys.argv[1]).read_bytes()
    before = peak_kb()
    for call in (lambda: inspect(data), lambda: fit(data, max_side=2048, max_bytes=3_000_000)):
        try:
            call()
        except ArgumentError:
            continue
        raise SystemExit("not refused")
    print(peak_kb() - before)
    """
)


def test_a_decompression_bomb_is_refused_by_its_header_at_once(tmp_path: Path) -> None:
    data = png_bomb(100_000, 100_000)
    assert len(data) < 100
    started = time.perf_counter()
    message = r"^cat\.png is 100000×100000 pixels, more than chatthy takes \(50 megapixels\)$"
    with pytest.raises(ArgumentError, match=message):
        inspect(data, "cat.png")
    with pytest.raises(ArgumentError, match=message):
        fit(data, max_side=2048, max_bytes=3_000_000, name="cat.png")
    assert time.perf_counter() - started < 0.5
    if not Path("/proc/self/status").exists():
        return  # the memory is read from /proc (Linux)
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(data)
    run = subprocess.run(  # a fresh process: pytest's own peak would hide any growth
        [sys.executable, "-c", BOMB_MEASURE, str(bomb)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
        check=True,
        timeout=60,
    )
    grown_kb = int(run.stdout.strip())
    assert grown_kb < 20_000  # no pixel buffer: 100000² RGB would be 40 GB


@pytest.mark.parametrize(
    ("make", "size"),
    [
        (png_bomb, (20_000, 20_000)),  # above Pillow's error threshold (2 × 89 MP)
        (png_bomb, (10_000, 9_000)),  # between Pillow's warning and its error
        (png_bomb, (8_000, 7_000)),  # ours only: 56 MP
        (jpeg_claiming, (15_000, 15_000)),
        (gif_claiming, (65_535, 65_535)),
        (webp_claiming, (16_383, 16_383)),
    ],
    ids=["png-huge", "png-pillow-warns", "png-56mp", "jpeg", "gif", "webp"],
)
def test_pillows_own_bomb_check_never_speaks_first(make: object, size: tuple[int, int]) -> None:
    """The suite turns warnings into errors: a DecompressionBombWarning (or Error) from
    Pillow would fail this test instead of the one line expected."""
    assert callable(make)
    width, height = size
    assert width * height > MAX_PIXELS
    with pytest.raises(ArgumentError, match=rf"^cat is {width}×{height} pixels, more than"):
        inspect(make(width, height), "cat")


def test_an_image_at_the_limit_is_taken_from_its_header() -> None:
    data = png_bomb(10_000, 5_000)  # exactly MAX_PIXELS: the header is read, not pixels
    assert inspect(data).width == 10_000


# --- fit ----------------------------------------------------------------------------


def test_an_image_that_fits_comes_back_as_the_very_bytes() -> None:
    data = encoded(picture((1024, 768)), "JPEG")
    fitted = fit(data, max_side=2048, max_bytes=3_000_000, name="cat.jpg")
    assert fitted.data is data
    assert (fitted.changed, fitted.notice) == (False, "")
    assert fitted.info == inspect(data)


def test_a_large_photo_is_downscaled_to_the_longest_side_allowed() -> None:
    data = encoded(picture((4000, 3000)), "JPEG", quality=95)
    fitted = fit(data, max_side=2048, max_bytes=3_000_000, name="photo.jpg")
    assert fitted.changed
    assert fitted.info == ImageInfo("image/jpeg", 2048, 1536, len(fitted.data))
    assert shown(fitted.data).size == (2048, 1536)
    assert inspect(fitted.data) == fitted.info
    assert re.fullmatch(
        r"photo\.jpg downscaled from 4000×3000 \(\d+(\.\d)? (MB|KB)\) to 2048×1536 "
        r"\(\d+(\.\d)? (MB|KB)\) to fit provider limits",
        fitted.notice,
    ), fitted.notice


def test_a_photo_stored_sideways_is_turned_upright_when_downscaled() -> None:
    stored = Image.new("RGB", (800, 600), "red")
    stored.paste(Image.new("RGB", (400, 600), "blue"), (400, 0))  # red left, blue right
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    data = encoded(stored, "JPEG", exif=exif.tobytes())
    fitted = fit(data, max_side=400, max_bytes=3_000_000, name="phone.jpg")
    image = shown(fitted.data)
    assert image.size == (300, 400) == (fitted.info.width, fitted.info.height)
    top, bottom = image.getpixel((150, 50)), image.getpixel((150, 350))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 200 and top[2] < 60  # the left side, turned clockwise, is on top
    assert bottom[2] > 200 and bottom[0] < 60
    assert image.getexif().get(ExifTags.Base.Orientation, 1) == 1  # not turned twice
    assert "phone.jpg downscaled from 600×800" in fitted.notice


def test_a_png_stays_png_with_its_alpha() -> None:
    image = picture((3000, 1000), "RGBA")
    image.paste((0, 0, 0, 0), (0, 0, 300, 1000))  # a transparent left edge
    fitted = fit(encoded(image, "PNG"), max_side=1500, max_bytes=3_000_000, name="logo.png")
    assert fitted.info == ImageInfo("image/png", 1500, 500, len(fitted.data))
    result = shown(fitted.data)
    assert result.mode == "RGBA"
    assert result.getpixel((10, 250)) == (0, 0, 0, 0)
    pixel = result.getpixel((1000, 250))
    assert isinstance(pixel, tuple) and pixel[3] > 0


def test_a_png_too_large_as_png_becomes_a_jpeg_flattened_on_white() -> None:
    image = noise((1000, 1000), "RGBA")
    image.paste((0, 0, 0, 0), (0, 0, 500, 1000))  # left half transparent black
    data = encoded(image, "PNG")
    fitted = fit(data, max_side=2048, max_bytes=500_000, name="shot.png")
    assert fitted.info.media_type == "image/jpeg"
    assert len(fitted.data) <= 500_000
    result = shown(fitted.data)
    assert result.mode == "RGB"
    pixel = result.getpixel((100, 500))
    assert isinstance(pixel, tuple) and min(pixel) > 240  # white, not black
    assert fitted.notice.startswith("shot.png ")
    assert "as JPEG) to fit provider limits" in fitted.notice


def test_a_gif_becomes_its_first_frame_as_png() -> None:
    frames = [Image.new("RGB", (800, 600), colour) for colour in ("red", "blue")]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    fitted = fit(data, max_side=400, max_bytes=3_000_000, name="cat.gif")
    assert fitted.info == ImageInfo("image/png", 400, 300, len(fitted.data))
    assert shown(fitted.data).convert("RGB").getpixel((200, 150)) == (255, 0, 0)


def test_a_webp_stays_webp() -> None:
    data = encoded(picture((1000, 800)), "WEBP")
    fitted = fit(data, max_side=500, max_bytes=3_000_000, name="cat.webp")
    assert fitted.info == ImageInfo("image/webp", 500, 400, len(fitted.data))
    assert shown(fitted.data).format == "WEBP"


def test_a_jpeg_too_many_bytes_at_its_size_is_re_encoded_then_halved() -> None:
    data = encoded(noise((1000, 1000)), "JPEG", quality=95)
    fitted = fit(data, max_side=2048, max_bytes=100_000, name="grain.jpg")
    assert fitted.info.media_type == "image/jpeg"
    assert len(fitted.data) <= 100_000
    assert fitted.info.width == fitted.info.height < 1000
    assert fitted.info.width in (500, 250, 125)  # halved, the ratio kept


def test_an_image_no_size_can_fit_is_one_line() -> None:
    data = encoded(noise((400, 400)), "PNG")
    with pytest.raises(ArgumentError, match=r"^grain\.png does not fit in 10 bytes"):
        fit(data, max_side=2048, max_bytes=10, name="grain.png")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not an image at all\n", "cat.png is not an image (it holds text)"),
        (encoded(picture((64, 48)), "PNG")[:60], "cat.png is truncated or damaged"),
        (encoded(picture((64, 48)), "BMP"), "cat.png is image/bmp; chatthy takes"),
    ],
    ids=["text", "truncated", "bmp"],
)
def test_fit_refuses_as_inspect_does(data: bytes, message: str) -> None:
    with pytest.raises(ArgumentError, match=f"^{re.escape(message)}"):
        fit(data, max_side=16, max_bytes=100, name="cat.png")


MEASURE = textwrap.dedent(
    """
    import io, sys
    from pathlib import Path
    from PIL import Image
    from chatthy.media.images import fit, inspect

    def peak_kb():
        # VmHWM is this process image's own peak; ru_maxrss keeps the peak of the
        # process that forked it across exec (pytest's, far above this one's)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise SystemExit("no VmHWM")

    data = Path(sys.argv[1]).read_bytes()
    inspect(data)  # the plugins' first use, counted before
    before = peak_kb()
    if sys.argv[2] == "fit":
        fitted = fit(data, max_side=2048, max_bytes=3_000_000, name="photo.jpg")
        assert fitted.info.width == 2048, fitted.info
    else:
        Image.open(io.BytesIO(data)).load()
    print(peak_kb() - before)
    """
)


def rss_growth_kb(path: Path, how: str) -> int:
    """The growth of a fresh process's peak RSS while it does ``how`` to the file: the
    test's own process has held far larger things, and its peak would hide it."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    run = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path), how],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    return int(run.stdout.strip())


@pytest.fixture(scope="module")
def large_photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 6000 × 4500 JPEG of noise (about 20 MB), made in its own process."""
    path = tmp_path_factory.mktemp("photo") / "photo.jpg"
    make = (
        "import os, sys\nfrom PIL import Image\n"
        "Image.frombytes('RGB', (6000, 4500), os.urandom(6000 * 4500 * 3))"
        ".save(sys.argv[1], 'JPEG', quality=85)"
    )
    subprocess.run([sys.executable, "-c", make, str(path)], check=True, timeout=60)
    return path


@pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="a process's own peak RSS is read from /proc"
)
def test_fitting_a_large_photo_takes_memory_near_its_file_size(large_photo: Path) -> None:
    size_kb = large_photo.stat().st_size / 1000
    assert 15_000 < size_kb < 30_000
    # Decoded at half scale (3000 × 2250, 4 bytes a pixel: 27 MB) and resized into
    # 2048 × 1536 (12.6 MB): about twice the file. Decoded whole it would be 108 MB.
    fitting = rss_growth_kb(large_photo, "fit")
    assert fitting < 2.2 * size_kb, f"{fitting} KB for a {size_kb:.0f} KB file"
    whole = rss_growth_kb(large_photo, "decode whole")
    assert whole > 4 * size_kb, f"{whole} KB"  # the measure sees a whole decode


# --- token counts -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "detail", "tokens"),
    [
        (1024, 1024, "high", 765),
        (2048, 4096, "high", 1105),
        (4096, 8192, "high", 1105),
        (4096, 8192, "low", 85),
        (512, 512, "high", 255),
        (100, 100, "high", 255),
    ],
)
def test_openai_tokens_as_documented(width: int, height: int, detail: str, tokens: int) -> None:
    assert openai_tokens(width, height, detail) == tokens


@pytest.mark.parametrize(
    ("width", "height", "tokens"),
    [(1000, 1000, 1334), (1092, 1092, 1590), (200, 200, 54)],
)
def test_anthropic_tokens_as_documented(width: int, height: int, tokens: int) -> None:
    assert anthropic_tokens(width, height) == tokens


def test_anthropic_tokens_stop_growing_where_it_scales_down() -> None:
    largest = anthropic_tokens(1092, 1092)
    assert largest <= anthropic_tokens(4000, 4000) <= 1610
    assert anthropic_tokens(8000, 1000) == anthropic_tokens(1568, 196)  # the long edge


# --- data URLs and digests ----------------------------------------------------------


def test_a_data_url_round_trips() -> None:
    data = encoded(picture((64, 48)), "PNG")
    url = to_data_url(data, "image/png")
    assert url.startswith("data:image/png;base64,iVBORw0KGgo")
    assert from_data_url(url) == ("image/png", data)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://example.org/cat.png", "not a base64 data: URL"),
        ("data:image/png,rawbytes", "not a base64 data: URL"),
        ("data:text/plain;base64,aGk=", "holds text/plain; chatthy takes PNG"),
        ("data:image/png;base64,***", "not valid base64"),
    ],
)
def test_a_bad_data_url_is_one_line(url: str, message: str) -> None:
    with pytest.raises(ArgumentError, match=re.escape(message)):
        from_data_url(url)


def test_digest_is_the_sha256_the_store_keys_by() -> None:
    data = encoded(picture((64, 48)), "PNG")
    assert digest(data) == hashlib.sha256(data).hexdigest()
    assert len(digest(b"")) == 64
