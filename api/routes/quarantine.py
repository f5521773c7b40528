"""The quarantine: devices and gateways the maintenance worker heard from but the asset
register does not have (their messages reach no rule, alarm or work order,
:mod:`maintenance.gatekeeper`). Managers and admins list the entries, and register or
block one.

Registering runs :func:`maintenance.services.quarantine.register`: a gateway joins its
site's gateways; a device is added to one of its site's buildings with the facts a site
file gives (the same audited path as an import), so its next messages are judged like
any other's. Blocking keeps the sender quarantined for good (still counted). An unknown
entry is a 404; a registered one, a device without its building or facts, facts of
another device or kind, or a building the site does not have, a 422 saying so.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Clock, CurrentUser, Page, ReadSession, Uow
from api.policy import allow
from api.routes.work_orders import release
from api.schemas.quarantine import QuarantineOut, QuarantineState, RegisterIn
from api.visibility import can_see_site
from estatewatch.wire import NAME_PATTERN
from maintenance.db.read.quarantine import quarantine_entries, quarantine_entry
from maintenance.services import quarantine

__all__ = ["router"]

router = APIRouter(prefix="/quarantine", tags=["quarantine"])

_DECIDERS = allow("admin", "manager")


@router.get("", dependencies=[_DECIDERS])
async def list_quarantine(
    me: CurrentUser,
    session: ReadSession,
    page: Page,
    site: Annotated[str | None, Query(pattern=NAME_PATTERN, max_length=64)] = None,
    state: Annotated[list[QuarantineState] | None, Query()] = None,
) -> list[QuarantineOut]:
    """Entries (of ``site``; ``state`` held and blocked unless given), the most recently
    heard first, a page at a time."""
    entries = await quarantine_entries(
        session,
        sites=None if site is None else (site,),
        states=state or ("held", "blocked"),
        limit=page.limit,
        offset=page.offset,
    )
    await release(session)
    return [QuarantineOut.of(e) for e in entries if can_see_site(me.user, e.site)]


@router.post("/{entry_id}/block", dependencies=[_DECIDERS])
async def block(
    entry_id: int, me: CurrentUser, uow: Uow, clock: Clock, session: ReadSession
) -> QuarantineOut:
    """Keep the sender quarantined for good; answers the entry as it now is."""
    await quarantine.block(uow, entry_id, by=me.actor.audit_name, clock=clock)
    return await _read_back(session, entry_id)


@router.post("/{entry_id}/register", dependencies=[_DECIDERS])
async def register(
    entry_id: int,
    body: RegisterIn,
    me: CurrentUser,
    uow: Uow,
    clock: Clock,
    session: ReadSession,
) -> QuarantineOut:
    """Put the sender in the register; answers the entry as it now is."""
    await quarantine.register(
        uow,
        entry_id,
        by=me.actor.audit_name,
        clock=clock,
        building=body.building,
        device=body.device(),
    )
    return await _read_back(session, entry_id)


async def _read_back(session: AsyncSession, entry_id: int) -> QuarantineOut:
    entry = QuarantineOut.of(await quarantine_entry(session, entry_id))
    await release(session)
    return entry
