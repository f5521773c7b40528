"""Adding a photo to a work order (a resident's request, a technician's proof of repair).

:func:`add_photo` checks and re-encodes the upload (:func:`maintenance.images.prepare`)
in a worker thread *before* opening the unit of work, so decoding a large photo never
holds the database (on SQLite a unit holds the write lock). Then, in one unit: the order
is loaded and the caller's visibility predicate checked on it (one they may not see is
:class:`NotFound`, like a missing one), the files are written, the row is added, and the
unit commits; if the commit fails, the files are removed again.

A closed or cancelled order takes no more photos (:class:`InvalidRequest`). Reading
photos is a read model: :mod:`maintenance.db.read.photos`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from estatewatch.clock import Clock
from maintenance.domain.actors import Actor
from maintenance.domain.errors import InvalidRequest, NotFound
from maintenance.domain.photos import CAPTION_MAX, Photo, new_photo_id
from maintenance.domain.ports import UnitOfWork
from maintenance.domain.workorders import WorkOrder
from maintenance.images import MAX_BYTES, prepare
from maintenance.photo_store import PhotoStore

__all__ = ["add_photo"]


async def add_photo(
    uow: UnitOfWork,
    store: PhotoStore,
    order_id: str,
    upload: bytes,
    actor: Actor,
    clock: Clock,
    *,
    caption: str | None = None,
    max_bytes: int = MAX_BYTES,
    visible: Callable[[WorkOrder], bool] = lambda order: True,
) -> Photo:
    """Store ``upload`` as a photo of the order; raises PhotoRejected (PhotoTooLarge),
    NotFound or InvalidRequest, and then stores nothing."""
    caption = (caption or "").strip() or None
    if caption is not None and len(caption) > CAPTION_MAX:
        raise InvalidRequest(f"a photo's caption is at most {CAPTION_MAX} characters")
    prepared = await asyncio.to_thread(prepare, upload, max_bytes=max_bytes)
    async with uow:
        order = await uow.work_orders.get(order_id)
        if order is None or not visible(order):
            raise NotFound(f"no work order {order_id}")
        if not order.is_open:
            raise InvalidRequest(
                f"work order {order_id} is {order.status.value}: it takes no more photos"
            )
        photo = Photo(
            id=new_photo_id(),
            order_id=order.id,
            uploaded_by=actor.user_id,
            at=clock(),
            content_type=prepared.content_type,
            size=len(prepared.data),
            width=prepared.width,
            height=prepared.height,
            caption=caption,
        )
        await uow.photos.add(photo)
        await asyncio.to_thread(store.save, photo, prepared.data, prepared.thumbnail)
        try:
            await uow.commit()
        except BaseException:
            store.remove(photo)
            raise
    return photo
