"""Photos of a work order: ``/work-orders/{order_id}/photos`` (upload, list, file, thumbnail).

Every role reaches these routes, and :mod:`api.visibility` decides which orders: a
resident the requests they raised, a technician the orders they may work on. Anything
else, a missing order or photo included, is the same 404. Uploading is for those who
work on or asked for the order (not the committee). An upload is one multipart field
``photo`` (and an optional ``caption``); the file is read up to ``photo_max_bytes`` + 1
bytes at most and checked by its content (:mod:`maintenance.images`): a photo too large
is a 413, one that is not a JPEG, PNG or WebP image a 422, each saying so. The stored
file has no EXIF (no GPS position) and its type is the one the server wrote.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated

from fastapi import APIRouter, File, Form, Path, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile as AnyUpload

from api.deps import Clock, CurrentUser, Photos, Principal, ReadSession, Settings, Uow
from api.policy import allow, authenticated
from api.routes.work_orders import OrderId, release
from api.visibility import can_see_order, order_scope
from maintenance import services
from maintenance.db.read.photos import order_photo, order_photos
from maintenance.domain.errors import NotFound
from maintenance.domain.photos import CAPTION_MAX, PHOTO_ID_PATTERN, Photo
from maintenance.photo_store import PhotoStore

__all__ = ["PhotoId", "PhotoOut", "photo_file", "read_upload", "router"]

router = APIRouter(prefix="/work-orders/{order_id}/photos", tags=["photos"])

PhotoId = Annotated[str, Path(pattern=PHOTO_ID_PATTERN, description="32 hex digits")]

_UPLOADERS = allow("admin", "manager", "technician", "supervisor", "resident")


class PhotoOut(BaseModel):
    id: str
    order_id: str
    uploaded_by: str
    at: datetime
    content_type: str
    size: int
    width: int
    height: int
    caption: str | None
    url: str
    thumbnail_url: str

    @classmethod
    def of(cls, photo: Photo) -> PhotoOut:
        url = f"/api/v1/work-orders/{photo.order_id}/photos/{photo.id}"
        return cls(
            id=photo.id,
            order_id=photo.order_id,
            uploaded_by=photo.uploaded_by,
            at=photo.at,
            content_type=photo.content_type,
            size=photo.size,
            width=photo.width,
            height=photo.height,
            caption=photo.caption,
            url=url,
            thumbnail_url=f"{url}/thumbnail",
        )


async def read_upload(upload: AnyUpload, limit: int) -> bytes:
    """The uploaded file, read up to ``limit`` + 1 bytes: enough to tell it is too large
    (the photo check refuses it) without holding more than that in memory."""
    try:
        return await upload.read(limit + 1)
    finally:
        await upload.close()


async def photo_file(
    session: AsyncSession,
    store: PhotoStore,
    me: Principal,
    order_id: str,
    photo_id: str,
    *,
    thumbnail: bool,
) -> FileResponse:
    """A photo's file (or thumbnail) for ``me``; NotFound (404) when they may not see it."""
    photo = await order_photo(session, order_id, photo_id, visible=order_scope(me.user))
    await release(session)
    if photo is None:
        raise NotFound(f"no photo {photo_id} of work order {order_id}")
    path = store.thumbnail(photo) if thumbnail else store.original(photo)
    if not path.is_file():  # the row without its file (a restored backup): still a 404
        raise NotFound(f"no photo {photo_id} of work order {order_id}")
    return FileResponse(
        path,
        media_type="image/jpeg" if thumbnail else photo.content_type,
        # Private: a shared cache must not hand one resident's photo to another.
        headers={"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


@router.post("", status_code=201, dependencies=[_UPLOADERS])
async def upload_photo(
    order_id: OrderId,
    photo: Annotated[UploadFile, File(description="a JPEG, PNG or WebP photo")],
    me: CurrentUser,
    uow: Uow,
    clock: Clock,
    store: Photos,
    settings: Settings,
    caption: Annotated[str | None, Form(max_length=CAPTION_MAX)] = None,
) -> PhotoOut:
    data = await read_upload(photo, settings.photo_max_bytes)
    stored = await services.add_photo(
        uow,
        store,
        order_id,
        data,
        me.actor,
        clock,
        caption=caption,
        max_bytes=settings.photo_max_bytes,
        visible=partial(can_see_order, me.user),
    )
    return PhotoOut.of(stored)


@router.get("", dependencies=[authenticated()])
async def list_photos(order_id: OrderId, me: CurrentUser, session: ReadSession) -> list[PhotoOut]:
    """The order's photos, oldest first."""
    photos = await order_photos(session, order_id, visible=order_scope(me.user))
    await release(session)
    if photos is None:
        raise NotFound(f"no work order {order_id}")
    return [PhotoOut.of(photo) for photo in photos]


@router.get("/{photo_id}", dependencies=[authenticated()], response_class=FileResponse)
async def get_photo(
    order_id: OrderId, photo_id: PhotoId, me: CurrentUser, session: ReadSession, store: Photos
) -> FileResponse:
    return await photo_file(session, store, me, order_id, photo_id, thumbnail=False)


@router.get("/{photo_id}/thumbnail", dependencies=[authenticated()], response_class=FileResponse)
async def get_thumbnail(
    order_id: OrderId, photo_id: PhotoId, me: CurrentUser, session: ReadSession, store: Photos
) -> FileResponse:
    return await photo_file(session, store, me, order_id, photo_id, thumbnail=True)
