"""The photos of a work order, for whoever may see the order.

Both functions take the caller's visibility clause on ``work_order`` (the API's
``order_scope``): an order the caller may not see is reported exactly as a missing one
(None), like :func:`~maintenance.db.read.work_orders.order_detail`.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from maintenance.db.mapping import WORK_ORDER
from maintenance.db.photos import PhotoRow, photo_from_row
from maintenance.db.read.pages import visible_clauses
from maintenance.domain.photos import Photo

__all__ = ["order_photo", "order_photos"]

PHOTO = PhotoRow.__table__


def _visible(visible: ColumnElement[bool] | None) -> Select[tuple[PhotoRow]]:
    return (
        select(PHOTO)
        .join(WORK_ORDER, WORK_ORDER.c.id == PHOTO.c.order_id)
        .where(*visible_clauses(visible))
    )


async def order_photos(
    session: AsyncSession, order_id: str, *, visible: ColumnElement[bool] | None = None
) -> list[Photo] | None:
    """The order's photos, oldest first; None when the order is missing or not visible."""
    seen = select(WORK_ORDER.c.id).where(WORK_ORDER.c.id == order_id, *visible_clauses(visible))
    if await session.scalar(seen) is None:
        return None
    query = _visible(visible).where(PHOTO.c.order_id == order_id).order_by(PHOTO.c.at, PHOTO.c.id)
    return [photo_from_row(row) for row in (await session.execute(query)).mappings()]


async def order_photo(
    session: AsyncSession,
    order_id: str,
    photo_id: str,
    *,
    visible: ColumnElement[bool] | None = None,
) -> Photo | None:
    query = _visible(visible).where(PHOTO.c.order_id == order_id, PHOTO.c.id == photo_id)
    row = (await session.execute(query)).mappings().one_or_none()
    return None if row is None else photo_from_row(row)
