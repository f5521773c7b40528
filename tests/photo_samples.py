"""Photos made for the tests with Pillow: what a phone sends, and what it must not send.

``jpeg_with_gps()`` is a landscape JPEG whose EXIF holds a GPS position and orientation
6 (the camera was turned: upright, it is portrait), like a phone photo.
"""

from __future__ import annotations

import io

from PIL import ExifTags, Image

GPS_IFD = ExifTags.IFD.GPSInfo
ORIENTATION = ExifTags.Base.Orientation
SHANGHAI_GPS = {
    ExifTags.GPS.GPSLatitudeRef: "N",
    ExifTags.GPS.GPSLatitude: (31.0, 14.0, 5.0),
    ExifTags.GPS.GPSLongitudeRef: "E",
    ExifTags.GPS.GPSLongitude: (121.0, 28.0, 30.0),
}


def picture(size: tuple[int, int] = (640, 480), mode: str = "RGB") -> Image.Image:
    """Not one flat colour, so a re-encoded copy is an honest image."""
    image = Image.new(mode, size)
    width, height = size
    image.paste((200, 30, 30) if mode == "RGB" else (200, 30, 30, 255), (0, 0, width // 2, height))
    return image


def encoded(image: Image.Image, kind: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=kind, **options)
    return out.getvalue()


def jpeg_with_gps(size: tuple[int, int] = (640, 480)) -> bytes:
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif.get_ifd(GPS_IFD).update(SHANGHAI_GPS)
    data = encoded(picture(size), "JPEG", exif=exif.tobytes(), quality=90)
    assert gps_of(data), "the sample must carry a GPS position to test its removal"
    return data


def gps_of(data: bytes) -> dict[int, object]:
    with Image.open(io.BytesIO(data)) as image:
        return dict(image.getexif().get_ifd(GPS_IFD))


def exif_of(data: bytes) -> dict[int, object]:
    with Image.open(io.BytesIO(data)) as image:
        return dict(image.getexif())


def opened(data: bytes) -> tuple[str, tuple[int, int]]:
    with Image.open(io.BytesIO(data)) as image:
        return image.format or "", image.size
