"""Work-order photos in the database: the ``work_order_photo`` table and the unit of
work's ``photos`` repository (:class:`SqlPhotos`).

A row describes one stored photo (its files are in a
:class:`~maintenance.photo_store.PhotoStore`); it is written once and never changed.
Migration ``0009`` creates the table; reads for pages and the API are in
:mod:`maintenance.db.read.photos`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import cast

from sqlalchemy import ForeignKey, Index, Integer, String, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from maintenance.db.mapping import RowData
from maintenance.db.tables import Base, UtcDateTime
from maintenance.domain.photos import ContentType, Photo

__all__ = ["PhotoRow", "SqlPhotos", "photo_from_row"]


class PhotoRow(Base):
    """One photo of a work order; ``content_type``, ``size`` and pixels are the stored
    file's."""

    __tablename__ = "work_order_photo"
    __table_args__ = (Index(None, "order_id", "at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("work_order.id"))
    uploaded_by: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    caption: Mapped[str | None] = mapped_column(String(200))


def photo_from_row(row: RowData) -> Photo:
    return Photo(
        id=row["id"],
        order_id=row["order_id"],
        uploaded_by=row["uploaded_by"],
        at=row["at"],
        content_type=cast(ContentType, row["content_type"]),
        size=row["size"],
        width=row["width"],
        height=row["height"],
        caption=row["caption"],
    )


class SqlPhotos:
    def __init__(self, session: Callable[[], AsyncSession]) -> None:
        self._session = session

    async def add(self, photo: Photo) -> None:
        """Insert in the unit's transaction (the order's row must exist by then)."""
        await self._session().execute(
            insert(PhotoRow).values(
                id=photo.id,
                order_id=photo.order_id,
                uploaded_by=photo.uploaded_by,
                at=photo.at,
                content_type=photo.content_type,
                size=photo.size,
                width=photo.width,
                height=photo.height,
                caption=photo.caption,
            )
        )
