"""A month of maintenance visits before the demo starts, so the plans, the visit records
and the 15-day rule have history behind them when a newcomer opens the demo.

:func:`play_visits` walks the site's calendar day by day, from ``days`` ago to
yesterday, under a clock set to each day's hours (in the site's zone), and does through
the service layer what the platform and the people would have done:

- 00:30, the scheduler opens the visits that are due within the visit's lead (as the
  maintenance worker does every hour; :func:`maintenance.services.plans.schedule_visits`);
- on a car's visit day: 08:30 the duty room (the manager) assigns the visit to the
  technician, who takes it; from 09:00 the technician and a colleague work through the
  checklist (every item done, each measured item with a reading within its limits) and
  record it; 16:00 the manager signs it as the elevator safety manager; 17:00 the
  supervisor verifies it and the manager closes it.

**Which day** *(our choice)*: a new plan's first visit is due the day it starts, so every
car has its first (yearly) visit on the first day. After that a car's crew comes ``k``
days after its visit opened (``k``: the car's place in the rota, 0 to 4; on the due day
at the latest), so the cars' visits drift apart to different days, no visit is late and
no overdue alarm is raised. The rota starts with ``first``: with 30 days and the default
lead (a visit opens 5 days before it is due) that car's next visit opens as the demo
starts, as the script's live visit needs.

The notification and webhook relays start at the newest audit entry when they first run,
so this history is not announced again when the worker starts.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from estatewatch.clock import Clock
from maintenance.db.read.plans import plan_rows, visit_record
from maintenance.db.read.sites import get_site
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain import commands as cmd
from maintenance.domain.actors import Actor
from maintenance.domain.checklists import Checklist, ChecklistItem
from maintenance.domain.errors import NotFound
from maintenance.domain.site_time import to_site_time
from maintenance.domain.sla import SlaPolicy
from maintenance.domain.visits import ItemResult
from maintenance.services import perform
from maintenance.services.plans import VisitReport, record_visit, schedule_visits, sign_visit

__all__ = ["ROTA_DAYS", "Crew", "RecordedVisit", "play_visits"]

ROTA_DAYS: Final = 5
"""Places in the rota: a crew comes 0 to 4 days after a visit opens."""
_MINUTES_PER_ITEM: Final = 4


@dataclass(frozen=True, slots=True)
class Crew:
    """Who does the visits: logins of the site's accounts, and the technicians' colleagues
    (names on the record; they need no account)."""

    technician: str
    colleagues: tuple[str, ...]
    manager: str
    supervisor: str


@dataclass(frozen=True, slots=True)
class RecordedVisit:
    order_id: str
    device_id: str
    on: date


def _fixed(moment: datetime) -> Clock:
    return lambda: moment


@dataclass(frozen=True, slots=True)
class _Day:
    """One day of the site's calendar; its hours as UTC moments and as clocks."""

    day: date
    zone: ZoneInfo

    def moment(self, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(self.day, time(hour, minute), self.zone).astimezone(UTC)

    def at(self, hour: int, minute: int = 0) -> Clock:
        return _fixed(self.moment(hour, minute))


def _rota(devices: Sequence[str], first: str | None) -> dict[str, int]:
    ordered = sorted(devices)
    start = ordered.index(first) if first in ordered else 0
    turned = ordered[start:] + ordered[:start]
    return {device: place % ROTA_DAYS for place, device in enumerate(turned)}


def _reading(item: ChecklistItem, rng: random.Random) -> float | None:
    """A plausible measured value within the item's limits (None: nothing to measure)."""
    limits = item.reading
    if limits is None:
        return None
    low, high = limits.min, limits.max
    if low is not None and high is not None:
        value = low + (high - low) * rng.uniform(0.3, 0.7)
    elif low is not None:
        value = low * rng.uniform(1.2, 1.6) if low > 0 else low + rng.uniform(1, 2)
    elif high is not None:
        value = high * rng.uniform(0.3, 0.7)
    else:
        value = rng.uniform(1, 10)  # a site's item with a unit but no limits
    return round(value, 1)


async def play_visits(
    sessions: async_sessionmaker[AsyncSession],
    site: str,
    now: datetime,
    *,
    days: int,
    crew: Crew,
    checklist: Checklist,
    policy: SlaPolicy,
    first: str | None = None,
) -> list[RecordedVisit]:
    """Play ``days`` of visits for the cars of ``site`` up to the day before ``now``."""
    async with sessions() as session:
        zone = ZoneInfo((await get_site(session, site)).timezone)
    today = to_site_time(now, zone.key).date()
    uow = SqlUnitOfWork(sessions, sla=policy)
    opened: dict[str, date] = {}
    rota: dict[str, int] | None = None
    done: list[RecordedVisit] = []
    for back in range(days, 0, -1):
        day = _Day(today - timedelta(days=back), zone)
        await schedule_visits(uow, day.at(0, 30), checklist, policy, sites=[site])
        async with sessions() as session:
            plans = await plan_rows(session, day.moment(0, 30), sites=[site])
        rota = rota or _rota([p.device_id for p in plans], first)
        for plan in plans:
            order_id = plan.pending_visit
            if order_id is None:
                continue
            opened_on = opened.setdefault(order_id, day.day)
            if day.day < min(opened_on + timedelta(days=rota[plan.device_id]), plan.next_due):
                continue
            colleague = crew.colleagues[rota[plan.device_id] % len(crew.colleagues)]
            await _visit(sessions, uow, order_id, day, crew, colleague, policy)
            done.append(RecordedVisit(order_id, plan.device_id, day.day))
    return done


async def _visit(
    sessions: async_sessionmaker[AsyncSession],
    uow: SqlUnitOfWork,
    order_id: str,
    on: _Day,
    crew: Crew,
    colleague: str,
    policy: SlaPolicy,
) -> None:
    manager = Actor(crew.manager, "manager")
    technician = Actor(crew.technician, "technician")
    supervisor = Actor(crew.supervisor, "supervisor")
    assign = cmd.Assign(order_id, crew.technician)
    await perform(uow, assign, manager, on.at(8, 30), policy)
    await perform(uow, cmd.Acknowledge(order_id), technician, on.at(8, 40), policy)
    async with sessions() as session:
        visit = await visit_record(session, order_id)
    if visit is None:  # plan_rows named it: only a concurrent delete could get here
        raise NotFound(f"no maintenance visit {order_id}")
    rng = random.Random(order_id)
    results = [ItemResult(i.name, "done", reading=_reading(i, rng)) for i in visit.items]
    started = on.moment(9)
    ended = started + timedelta(minutes=_MINUTES_PER_ITEM * len(visit.items))
    report = VisitReport([crew.technician, colleague], started, ended, results)
    await record_visit(
        uow,
        order_id,
        report,
        technician,
        _fixed(ended + timedelta(minutes=10)),
        policy,
        # Before the demo there was no telemetry: the statutory interval, and the plan says so.
        health=None,
    )
    await sign_visit(uow, order_id, manager, on.at(16))
    await perform(uow, cmd.Verify(order_id, "record complete"), supervisor, on.at(17), policy)
    await perform(uow, cmd.Close(order_id), manager, on.at(17, 30), policy)
