"""Where photo files live: ``<root>/<id>.<jpg|png|webp>`` and ``<root>/<id>.thumb.jpg``.

The API's composition root makes one on ``<data_dir>/photos``. Files are written under
a temporary name and renamed into place, so a reader never sees half a photo; the row
that points at them is committed after they are written, and :meth:`PhotoStore.remove`
takes them away again when that commit fails. Ids are checked against
:data:`~maintenance.domain.photos.PHOTO_ID_PATTERN` before they become a path.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from maintenance.domain.photos import PHOTO_ID_PATTERN, Photo

__all__ = ["PhotoStore"]

_ID = re.compile(PHOTO_ID_PATTERN)


class PhotoStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def original(self, photo: Photo) -> Path:
        return self._path(photo.id, photo.extension)

    def thumbnail(self, photo: Photo) -> Path:
        return self._path(photo.id, "thumb.jpg")

    def save(self, photo: Photo, data: bytes, thumbnail: bytes) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._write(self.original(photo), data)
        self._write(self.thumbnail(photo), thumbnail)

    def remove(self, photo: Photo) -> None:
        for path in (self.original(photo), self.thumbnail(photo)):
            path.unlink(missing_ok=True)

    def _path(self, photo_id: str, suffix: str) -> Path:
        if not _ID.match(photo_id):
            raise ValueError(f"not a photo id: {photo_id!r}")
        return self.root / f"{photo_id}.{suffix}"

    def _write(self, path: Path, data: bytes) -> None:
        fd, temporary = tempfile.mkstemp(dir=self.root, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
