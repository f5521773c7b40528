"""The public notice board (公示) of one compound: figures anyone may read, no person in them.

:func:`public_board` gives, for the site's current month (up to now) and each of the 12
before it, months counted in the site's time zone (:mod:`maintenance.domain.site_time`):

- response- and feedback-SLA compliance of the orders created in the month (met, breached,
  share met; :func:`maintenance.domain.kpis.compute_kpis` decides what counts);
- satisfaction: the mean rating and how many ratings, of orders closed in the month;
- spending by category (work-order costs of orders closed in the month);
- faults per elevator car (every car of the site, by device id and building);
- rescues (passengers trapped) reported in the month: how many, and the mean minutes to
  a technician's arrival and to the passengers' release (false alarms left out);

each car's inspection certificate as of now (its last valid day and status: valid, due
within 30 or 7 days, expired, or none on record; :mod:`maintenance.domain.inspections`),
each car's maintenance plan (:mod:`maintenance.domain.plans`: days between visits and on
what basis, the statutory 15 days or longer or shorter on its monitored health, the
reasons the plan records, figures only, the last and next visit and whether it is
overdue), and the maintenance-fund decisions taken in those months on the site's assets, with their
vote results (shares and counts of owners; the committee members' share on the emergency
path).

**No personal data, by construction**: the models below hold only counts, shares, sums,
category codes, device ids, building codes and a decision's title and amount; no user id,
name, unit, phone number, order title, description, comment or justification is read into
them. A proposal that names no asset belongs to no site and is not shown *(our choice:
the board cannot tell which compound's fund it used)*. A certificate shows its expiry
and status, not its number or who recorded it.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from maintenance.db.read.committee import ProposalRecord, proposals_between
from maintenance.db.read.inspections import inspected_cars
from maintenance.db.read.kpi_frames import kpi_frames
from maintenance.db.read.plans import PlanView, plan_rows
from maintenance.db.read.sites import get_site, site_places
from maintenance.domain.inspections import InspectionStatus
from maintenance.domain.kpis import SlaCompliance, compute_kpis
from maintenance.domain.plan_reasons import PlanReason
from maintenance.domain.plans import STATUTORY_INTERVAL_DAYS
from maintenance.domain.proposals import DECIDED
from maintenance.domain.site_time import month_of, months_back, site_month_period
from maintenance.domain.sla import SlaPolicy

__all__ = [
    "MONTHS_BEFORE",
    "CarCertificate",
    "CarFaults",
    "CarPlan",
    "FundDecision",
    "MonthFigures",
    "PublicBoard",
    "public_board",
]

MONTHS_BEFORE: Final = 12
_FROZEN = ConfigDict(frozen=True, extra="forbid")


class CarFaults(BaseModel):
    model_config = _FROZEN

    device_id: str
    building: str
    faults: int


class CarCertificate(BaseModel):
    """A car's inspection certificate as of the board's time."""

    model_config = _FROZEN

    device_id: str
    building: str
    valid_until: date | None
    status: InspectionStatus


IntervalBasis = Literal["statutory", "longer", "shorter"]


class CarPlan(BaseModel):
    """A car's maintenance plan as the owners see it (published with on-demand plans)."""

    model_config = _FROZEN

    device_id: str
    interval_days: int
    basis: IntervalBasis
    """``longer`` only comes from the on-demand rule (a monitored, healthy car), ``shorter``
    from monitoring findings within a site minimum below 15 days."""
    reasons: tuple[str, ...]
    findings: tuple[PlanReason, ...]
    """The reasons as codes with their figures, for a page in the reader's language."""
    last_visit_on: date | None
    next_due: date
    overdue: bool


def _car_plan(view: PlanView) -> CarPlan:
    """The public part of a plan: no order id, no site (the board is the site's)."""
    days = view.interval_days
    basis: IntervalBasis = "statutory"
    if days != STATUTORY_INTERVAL_DAYS:
        basis = "longer" if days > STATUTORY_INTERVAL_DAYS else "shorter"
    shown = {name: getattr(view, name) for name in CarPlan.model_fields if name != "basis"}
    return CarPlan(basis=basis, **shown)


class MonthFigures(BaseModel):
    """One month; the current month's figures are as of now, the others as of month end."""

    model_config = _FROZEN

    month: str
    orders_created: int
    response_sla: SlaCompliance
    feedback_sla: SlaCompliance
    rating_average: float | None
    ratings: int
    spending_by_category: dict[str, float]
    spending_total: float
    faults_by_car: tuple[CarFaults, ...]
    rescues: int = 0
    rescue_arrival_minutes: float | None = None
    rescue_minutes: float | None = None


class FundDecision(BaseModel):
    """A decided maintenance-fund proposal and its vote; shares are 0-1 (None if unknown)."""

    model_config = _FROZEN

    month: str
    decided_at: AwareDatetime
    title: str
    amount: Decimal
    emergency: bool
    device_id: str | None
    path: str | None
    passed: bool | None
    owners_total: int | None
    owners_for: int | None
    owners_against: int | None
    owners_abstain: int | None
    participation_by_area: float | None
    participation_by_headcount: float | None
    approval_by_area: float | None
    approval_by_headcount: float | None
    approval_of_members: float | None


class PublicBoard(BaseModel):
    model_config = _FROZEN

    site: str
    name: str
    timezone: str
    as_of: AwareDatetime
    months: tuple[MonthFigures, ...]
    """Oldest first; the last is the current month."""
    decisions: tuple[FundDecision, ...]
    """Newest first."""
    certificates: tuple[CarCertificate, ...]
    """Every elevator's, by building and device id."""
    plans: tuple[CarPlan, ...] = ()
    """By device id; cars the scheduler has not planned yet are left out."""


def _share(result: dict[str, Any], name: str) -> float | None:
    value = result.get(name)
    return None if value is None else float(Fraction(str(value)))


def _decision(record: ProposalRecord, decided_at: datetime, zone: str) -> FundDecision:
    vote = record.vote
    result = (vote.result if vote is not None else None) or {}
    tally = (vote.tally if vote is not None else None) or {}
    electorate = None if vote is None else vote.electorate
    owners = vote is not None and vote.path == "owners"

    def count(name: str) -> int | None:
        return int(tally[name]) if owners and name in tally else None

    return FundDecision(
        month=month_of(decided_at, zone),
        decided_at=decided_at,
        title=record.title,
        amount=record.amount,
        emergency=record.emergency,
        device_id=record.device_id,
        path=None if vote is None else vote.path,
        passed=None if vote is None else vote.passed,
        owners_total=None if electorate is None else electorate.owners_total,
        owners_for=count("for_owners"),
        owners_against=count("against_owners"),
        owners_abstain=count("abstain_owners"),
        participation_by_area=_share(result, "participation_by_area"),
        participation_by_headcount=_share(result, "participation_by_headcount"),
        approval_by_area=_share(result, "approval_by_area"),
        approval_by_headcount=_share(result, "approval_by_headcount"),
        approval_of_members=_share(result, "approval_of_members"),
    )


async def _month(
    session: AsyncSession,
    site: str,
    month: str,
    zone: str,
    cars: list[tuple[str, str]],
    *,
    now: datetime,
    policy: SlaPolicy,
) -> MonthFigures:
    start, end = site_month_period(month, zone)
    end = min(end, now)  # the current month so far: nothing not yet due counts as late
    frames = await kpi_frames(session, start, end, policy=policy, site=site)
    kpis = compute_kpis(frames, start, end)
    faults = {elevator.asset_id: elevator.faults for elevator in kpis.elevators}
    return MonthFigures(
        month=month,
        orders_created=kpis.orders_created,
        response_sla=kpis.response_sla,
        feedback_sla=kpis.feedback_sla,
        rating_average=kpis.satisfaction.average,
        ratings=kpis.satisfaction.rated,
        spending_by_category=kpis.spending_by_category,
        spending_total=kpis.spending_total,
        rescues=kpis.rescues.reported - kpis.rescues.false_alarms,
        rescue_arrival_minutes=kpis.rescues.arrival_minutes.mean,
        rescue_minutes=kpis.rescues.rescue_minutes.mean,
        faults_by_car=tuple(
            CarFaults(
                device_id=device_id,
                building=building,
                faults=faults.get(f"{site}/elevator/{device_id}", 0),
            )
            for building, device_id in cars
        ),
    )


async def public_board(
    session: AsyncSession, site: str, *, now: datetime, policy: SlaPolicy
) -> PublicBoard:
    """The board of ``site`` as of ``now``; NotFound for an unknown site."""
    info = await get_site(session, site)
    zone = info.timezone
    cars = [
        (b.code, car.device_id) for b in await site_places(session, site) for car in b.elevators
    ]
    months = months_back(now, zone, MONTHS_BEFORE)
    figures = [
        await _month(session, site, month, zone, cars, now=now, policy=policy) for month in months
    ]
    start = site_month_period(months[0], zone)[0]
    decided = [
        (record.decided_at, record)
        for record in await proposals_between(session, start, now)
        if record.site == site
        and record.status == DECIDED
        and record.decided_at is not None
        and start <= record.decided_at < now
    ]
    decided.sort(key=lambda pair: (pair[0], pair[1].id), reverse=True)
    return PublicBoard(
        site=info.code,
        name=info.name,
        timezone=zone,
        as_of=now,
        months=tuple(figures),
        decisions=tuple(_decision(record, when, zone) for when, record in decided),
        certificates=tuple(
            CarCertificate(
                device_id=car.car.device_id,
                building=car.building,
                valid_until=None if car.certificate is None else car.certificate.valid_until,
                status=car.status(now),
            )
            for car in await inspected_cars(session, sites=(site,))
        ),
        plans=tuple(_car_plan(view) for view in await plan_rows(session, now, sites=[site])),
    )
