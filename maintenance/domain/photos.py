"""Photos of a work order (a resident's request is one too): what is known of each.

A photo belongs to one order and is immutable once stored. Its file is re-encoded from
the upload (:mod:`maintenance.images`), so ``content_type``, ``size`` and the pixel size
describe the stored file, not what the phone sent; the files live in a
:class:`maintenance.photo_store.PhotoStore`, the rows in the unit of work's ``photos``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

__all__ = ["CAPTION_MAX", "PHOTO_ID_PATTERN", "ContentType", "Photo", "new_photo_id"]

ContentType = Literal["image/jpeg", "image/png", "image/webp"]

PHOTO_ID_PATTERN: Final = "^[0-9a-f]{32}$"
CAPTION_MAX: Final = 200


def new_photo_id() -> str:
    """Random, so a photo's address cannot be guessed from another's."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Photo:
    id: str
    order_id: str
    uploaded_by: str
    at: datetime
    content_type: ContentType
    size: int
    width: int
    height: int
    caption: str | None = None

    @property
    def extension(self) -> str:
        return self.content_type.removeprefix("image/").replace("jpeg", "jpg")
