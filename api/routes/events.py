"""``GET /api/v1/events``: the live changes a machine's token may see, as Server-Sent
Events (:mod:`api.live`). Pages listen to ``/events`` with their session instead
(:mod:`api.web.routes.live`). A client that does not accept ``text/event-stream`` gets 406.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from api.deps import AppServices, CurrentUser
from api.live import EVENT_STREAM, stream_response
from api.policy import authenticated
from api.visibility import can_see_change

__all__ = ["router"]

router = APIRouter(tags=["live"])

_STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {EVENT_STREAM: {}}, "description": "an endless event stream"},
    406: {"description": "the client does not accept text/event-stream"},
}


@router.get("/events", dependencies=[authenticated()], responses=_STREAM_RESPONSES)
async def events(request: Request, me: CurrentUser, services: AppServices) -> StreamingResponse:
    """Changes to the work orders and alarms the caller may see, as they are committed."""
    hub = services.live
    subscription = hub.subscribe(partial(can_see_change, me.user))
    return stream_response(request, hub, subscription, services.settings.live_keep_alive)
