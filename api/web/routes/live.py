"""The pages' live streams (:mod:`api.live`): ``/events`` for a logged-in person (the
changes they may see: ``sse-connect="/events"``), ``/events/public/{site}`` for a
compound's public notice board (only ``figures-changed``, no login)."""

from __future__ import annotations

from functools import partial

from fastapi import Request
from fastapi.responses import StreamingResponse

from api.deps import AppServices
from api.live import stream_response
from api.users import ROLES
from api.visibility import can_see_change
from api.web.deps import WebUser, page_allow, page_public, page_router

__all__ = ["router"]

router = page_router()


@router.get("/events", dependencies=[page_allow(*ROLES)])
async def events(request: Request, me: WebUser, services: AppServices) -> StreamingResponse:
    hub = services.live
    subscription = hub.subscribe(partial(can_see_change, me.user))
    return stream_response(request, hub, subscription, services.settings.live_keep_alive)


@router.get("/events/public/{site}", dependencies=[page_public()])
async def public_events(request: Request, site: str, services: AppServices) -> StreamingResponse:
    hub = services.live
    return stream_response(
        request, hub, hub.subscribe_public(site), services.settings.live_keep_alive
    )
