"""Alarms: list and filter (staff, committee, supervisors), acknowledge (staff).

Technicians see the alarms of their sites only (:mod:`api.visibility`); an alarm they may
not see is a 404, like a missing one, decided in the acknowledging transaction.
Acknowledging twice is a 409 naming who did first (``AlreadyAcknowledged``,
:mod:`api.errors`).
"""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import Clock, CurrentUser, ReadSession, Uow
from api.policy import allow
from api.routes.work_orders import release
from api.schemas.work_orders import ALARM_ID_PATTERN, AlarmOut, AlarmPageOut, AlarmQuery
from api.visibility import alarm_scope, can_see_alarm
from maintenance import services
from maintenance.db.read.alarms import list_alarms

__all__ = ["router"]

router = APIRouter(prefix="/alarms", tags=["alarms"])

AlarmId = Annotated[str, Path(pattern=ALARM_ID_PATTERN, description="ALM-<32 hex digits>")]


@router.get("", dependencies=[allow("admin", "manager", "technician", "committee", "supervisor")])
async def alarms(
    query: Annotated[AlarmQuery, Query()], me: CurrentUser, session: ReadSession
) -> AlarmPageOut:
    """Newest raised first; follow next_cursor for the next page."""
    page = await list_alarms(
        session, filters=query.filters(), page=query.page(), visible=alarm_scope(me.user)
    )
    await release(session)
    return AlarmPageOut.of(page)


@router.post("/{alarm_id}/acknowledge", dependencies=[allow("admin", "manager", "technician")])
async def acknowledge(alarm_id: AlarmId, me: CurrentUser, uow: Uow, clock: Clock) -> AlarmOut:
    alarm = await services.acknowledge_alarm(
        uow, alarm_id, me.actor, clock, visible=partial(can_see_alarm, me.user)
    )
    return AlarmOut.from_alarm(alarm)
