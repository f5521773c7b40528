"""Checking and re-encoding an uploaded photo with Pillow: the only module that imports it.

:func:`prepare` trusts nothing the upload says about itself. The type is what Pillow
finds in the bytes (JPEG, PNG or WebP; HEIC too when a HEIF plugin such as pillow-heif is
registered, stored as JPEG), never the file name or the declared content type. The pixel
count is checked from the header before any pixel is decoded (a decompression bomb is
refused without being expanded). The image is then decoded, turned upright by its EXIF
orientation, and encoded afresh without any metadata, so GPS position, camera serials
and the rest of EXIF never reach the store. The thumbnail is a JPEG of at most
``thumb_px`` on its longer side.

Every refusal is a :class:`~maintenance.domain.errors.PhotoRejected` (or
:class:`~maintenance.domain.errors.PhotoTooLarge`) with a message fit for the person who
uploaded it; Pillow's own errors never leave this module.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Final

from PIL import Image, ImageOps, UnidentifiedImageError

from maintenance.domain.errors import PhotoRejected, PhotoTooLarge
from maintenance.domain.photos import ContentType

__all__ = ["MAX_BYTES", "MAX_PIXELS", "THUMB_PX", "Prepared", "prepare"]

MAX_BYTES: Final = 10 * 1024 * 1024
MAX_PIXELS: Final = 64_000_000  # a 50 MP phone photo passes; a 100k x 100k bomb does not
THUMB_PX: Final = 320

# Pillow's format name -> what we store it as (HEIF is re-encoded as JPEG: browsers
# other than Safari cannot show it).
_STORED_AS: Final[dict[str, ContentType]] = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",  # a JPEG with extra frames (some phones' photos)
    "PNG": "image/png",
    "WEBP": "image/webp",
    "HEIF": "image/jpeg",
}
_ENCODER: Final[dict[ContentType, str]] = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WEBP",
}


@dataclass(frozen=True, slots=True)
class Prepared:
    """The photo as it will be stored: ``data`` (``content_type``) and its thumbnail."""

    data: bytes
    content_type: ContentType
    width: int
    height: int
    thumbnail: bytes


def prepare(
    data: bytes,
    *,
    max_bytes: int = MAX_BYTES,
    max_pixels: int = MAX_PIXELS,
    thumb_px: int = THUMB_PX,
) -> Prepared:
    """Check ``data`` and re-encode it; raises PhotoRejected (PhotoTooLarge) on refusal."""
    if len(data) > max_bytes:
        raise PhotoTooLarge(f"the photo is larger than {_megabytes(max_bytes)}")
    if not data:
        raise PhotoRejected("the photo is empty")
    content_type = _check(data, max_pixels)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            upright = ImageOps.exif_transpose(opened)
            upright.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise PhotoRejected("the photo is damaged and cannot be read") from exc
    image = _storable(upright, content_type)
    return Prepared(
        data=_encode(image, content_type, quality=88),
        content_type=content_type,
        width=image.width,
        height=image.height,
        thumbnail=_thumbnail(image, thumb_px),
    )


def _check(data: bytes, max_pixels: int) -> ContentType:
    """The stored type, from the header alone; the whole file is verified, not decoded."""
    try:
        with warnings.catch_warnings():
            # Our own pixel limit below is the one that counts; Pillow's warning is not.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                kind = probe.format or ""
                width, height = probe.size
                if kind in _STORED_AS and width * height <= max_pixels:
                    probe.verify()
    except Image.DecompressionBombError as exc:
        raise PhotoRejected(_too_many_pixels(max_pixels)) from exc
    except UnidentifiedImageError as exc:
        raise PhotoRejected(_not_a_photo()) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise PhotoRejected("the photo is damaged and cannot be read") from exc
    if kind not in _STORED_AS:
        raise PhotoRejected(_not_a_photo())
    if width * height > max_pixels:
        raise PhotoRejected(_too_many_pixels(max_pixels))
    return _STORED_AS[kind]


def _storable(image: Image.Image, content_type: ContentType) -> Image.Image:
    """Pixels in a mode the target encoder writes (JPEG has no alpha and no palette)."""
    if content_type == "image/jpeg":
        return image if image.mode in ("RGB", "L") else _flatten(image)
    if image.mode in ("RGB", "RGBA", "L", "LA", "P") or content_type == "image/png":
        return image
    return image.convert("RGBA")


def _flatten(image: Image.Image) -> Image.Image:
    """Alpha composited onto white (how a transparent picture looks on a page)."""
    rgba = image.convert("RGBA")
    flat = Image.new("RGB", rgba.size, (255, 255, 255))
    flat.paste(rgba, mask=rgba.getchannel("A"))
    return flat


def _encode(image: Image.Image, content_type: ContentType, *, quality: int) -> bytes:
    # No exif=, pnginfo= or icc_profile= is passed, so no metadata is written.
    out = io.BytesIO()
    image.save(out, format=_ENCODER[content_type], quality=quality)
    return out.getvalue()


def _thumbnail(image: Image.Image, size: int) -> bytes:
    small = _flatten(image) if image.mode not in ("RGB", "L") else image.copy()
    small.thumbnail((size, size))
    return _encode(small, "image/jpeg", quality=80)


def _megabytes(count: int) -> str:
    return f"{count / (1024 * 1024):g} MB"


def _not_a_photo() -> str:
    return "the file is not a photo: send a JPEG, PNG or WebP image"


def _too_many_pixels(limit: int) -> str:
    return f"the photo has more than {limit // 1_000_000} million pixels"
