"""Checking and re-encoding uploaded photos (maintenance.images) on real image bytes."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from photo_samples import encoded, exif_of, gps_of, jpeg_with_gps, opened, picture
from PIL import Image

from maintenance.domain.errors import PhotoRejected, PhotoTooLarge
from maintenance.images import prepare


def test_a_phone_jpeg_loses_its_gps_and_exif_and_is_turned_upright() -> None:
    sent = jpeg_with_gps((640, 480))
    assert gps_of(sent)

    prepared = prepare(sent)

    assert prepared.content_type == "image/jpeg"
    assert gps_of(prepared.data) == {}
    assert exif_of(prepared.data) == {}
    # Orientation 6 applied: the stored photo is portrait, and says so in its pixels.
    assert opened(prepared.data) == ("JPEG", (480, 640))
    assert (prepared.width, prepared.height) == (480, 640)


def test_the_thumbnail_is_a_small_jpeg_of_the_upright_photo() -> None:
    prepared = prepare(jpeg_with_gps((1600, 1200)))
    kind, (width, height) = opened(prepared.thumbnail)
    assert kind == "JPEG"
    assert max(width, height) == 320
    assert height > width  # upright, like the photo
    assert gps_of(prepared.thumbnail) == {}


def test_png_and_webp_keep_their_type_and_transparency() -> None:
    clear = picture((100, 50), "RGBA")
    clear.putpixel((99, 49), (0, 0, 0, 0))
    png = prepare(encoded(clear, "PNG"))
    assert png.content_type == "image/png"
    with Image.open(io.BytesIO(png.data)) as image:
        assert image.mode == "RGBA"
        assert image.getpixel((99, 49)) == (0, 0, 0, 0)
    webp = prepare(encoded(picture((100, 50)), "WEBP"))
    assert webp.content_type == "image/webp"
    assert opened(webp.data) == ("WEBP", (100, 50))
    assert opened(png.thumbnail)[0] == "JPEG"


def test_a_text_file_named_like_a_photo_is_refused() -> None:
    with pytest.raises(PhotoRejected, match="not a photo"):
        prepare(b"just some text, saved as holiday.jpg\n" * 10)


def test_an_image_of_a_type_we_do_not_take_is_refused() -> None:
    with pytest.raises(PhotoRejected, match="JPEG, PNG or WebP"):
        prepare(encoded(picture((20, 20)), "GIF"))


def test_a_damaged_jpeg_is_refused_not_crashed_on() -> None:
    whole = encoded(picture((400, 300)), "JPEG")
    with pytest.raises(PhotoRejected, match="damaged"):
        prepare(whole[: len(whole) // 3])


def test_a_file_over_the_limit_is_refused_before_it_is_decoded() -> None:
    with pytest.raises(PhotoTooLarge, match="larger than 10 MB"):
        prepare(b"\xff\xd8\xff" + bytes(10 * 1024 * 1024))
    with pytest.raises(PhotoTooLarge):
        prepare(jpeg_with_gps(), max_bytes=100)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` (a decompression bomb's header)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def test_a_decompression_bomb_is_refused_from_its_header() -> None:
    with pytest.raises(PhotoRejected, match="million pixels"):
        prepare(_png_header_only(30_000, 30_000))  # 900 MP: Pillow's own limit is passed
    with pytest.raises(PhotoRejected, match="million pixels"):
        prepare(_png_header_only(9_000, 8_000))  # 72 MP: under Pillow's, over ours


def test_an_empty_upload_is_refused() -> None:
    with pytest.raises(PhotoRejected, match="empty"):
        prepare(b"")
