"""Elevators' statutory periodic inspections: a car's certificate and what it calls for.

Every car is inspected by the special-equipment inspection body at least once a year
(``shared/domain.md``); the certificate (检验合格证, posted in the car) names its number
and the last day it is valid. :class:`Certificate` is that record: ``valid_until`` is
the last valid day, inclusive, in the site's calendar.

A car's status on a day (:func:`inspection_status`), counting the days left until
``valid_until``:

    unrecorded  no certificate on record (not valid; no reminders)
    valid       more than 30 days left
    due_30      30 days or fewer left (a reminder)
    due_7       7 days or fewer left (a second reminder)
    expired     past ``valid_until``: the car may not run; a P2 work order

:func:`inspection_valid` is the one question other rules ask (on-demand maintenance
intervals need a car "within its inspection validity"). :func:`next_reminder` says which
step a certificate still owes on a day, each at most once per certificate and only the
latest one reached (a certificate recorded with 5 days left gets the 7-day reminder,
never the 30-day one after it); :func:`inspection_signal` words that step as a rule's
signal for the alarm book (:mod:`.alarms`): the reminders are notices, the expiry a P2
alarm that opens a work order of fault kind ``inspection``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Final

from maintenance.domain.errors import InvalidRequest
from maintenance.domain.signals import DeviceRef, Signal, SignalKind
from maintenance.domain.site_time import to_site_time

__all__ = [
    "FAULT_KIND",
    "REMINDER_DAYS",
    "RULES",
    "CarInspection",
    "Certificate",
    "InspectionStatus",
    "Step",
    "default_valid_until",
    "inspection_signal",
    "inspection_status",
    "inspection_valid",
    "next_reminder",
]

FAULT_KIND: Final = "inspection"
"""The fault kind of the expiry's work order: one open order per car."""


class InspectionStatus(StrEnum):
    UNRECORDED = "unrecorded"
    VALID = "valid"
    DUE_30 = "due_30"
    DUE_7 = "due_7"
    EXPIRED = "expired"


Step = InspectionStatus
"""The steps a certificate owes are the statuses that call for one: due_30, due_7, expired."""

REMINDER_DAYS: Final = {InspectionStatus.DUE_30: 30, InspectionStatus.DUE_7: 7}
"""Days left at which each reminder becomes due (and the status begins)."""

_STEPS: Final = (InspectionStatus.DUE_30, InspectionStatus.DUE_7, InspectionStatus.EXPIRED)

RULES: Final = {step: f"inspection_{step.value}" for step in _STEPS}
"""The alarm rule of each step: a car has at most one active alarm per rule."""


@dataclass(frozen=True, slots=True)
class Certificate:
    """One inspection's result: when it was done, the certificate's number and expiry."""

    inspected_on: date
    valid_until: date
    number: str | None = None

    def __post_init__(self) -> None:
        if self.valid_until < self.inspected_on:
            raise InvalidRequest(
                f"valid_until {self.valid_until} is before inspected_on {self.inspected_on}"
            )

    def days_left(self, day: date) -> int:
        """Days from ``day`` to the last valid day: 0 on it, negative once expired."""
        return (self.valid_until - day).days


@dataclass(frozen=True, slots=True)
class CarInspection:
    """An elevator with its current certificate (from its latest inspection, by date) and
    the steps already sent for that certificate."""

    car: DeviceRef
    building: str
    location: str | None
    timezone: str
    """The site's zone: its calendar decides the day a certificate expires."""
    certificate: Certificate | None = None
    certificate_id: int | None = None
    sent: frozenset[Step] = frozenset()

    def day(self, now: datetime) -> date:
        """The site's calendar day at ``now``."""
        return to_site_time(now, self.timezone).date()

    def status(self, now: datetime) -> InspectionStatus:
        return inspection_status(self.certificate, self.day(now))


def default_valid_until(inspected_on: date) -> date:
    """A periodic inspection's certificate runs a year: to the day before the anniversary
    (inspected 2026-05-20, valid until 2027-05-19); 29 February counts from 1 March."""
    try:
        anniversary = inspected_on.replace(year=inspected_on.year + 1)
    except ValueError:  # 29 February, and next year is not a leap year
        anniversary = date(inspected_on.year + 1, 3, 1)
    return anniversary - timedelta(days=1)


def inspection_status(certificate: Certificate | None, day: date) -> InspectionStatus:
    """The car's status on ``day`` (the site's calendar day) under its current certificate."""
    if certificate is None:
        return InspectionStatus.UNRECORDED
    left = certificate.days_left(day)
    if left < 0:
        return InspectionStatus.EXPIRED
    if left <= REMINDER_DAYS[InspectionStatus.DUE_7]:
        return InspectionStatus.DUE_7
    if left <= REMINDER_DAYS[InspectionStatus.DUE_30]:
        return InspectionStatus.DUE_30
    return InspectionStatus.VALID


def inspection_valid(certificate: Certificate | None, day: date) -> bool:
    """Whether the car is within its inspection validity on ``day``: a certificate is on
    record, the day is not before the inspection and not after ``valid_until``."""
    return (
        certificate is not None
        and certificate.inspected_on <= day
        and inspection_status(certificate, day) is not InspectionStatus.EXPIRED
    )


def next_reminder(
    certificate: Certificate | None, sent: Collection[Step], day: date
) -> Step | None:
    """The step the certificate owes on ``day`` given the steps ``sent`` for it: the one
    its status calls for, unless that one or a later one was sent already."""
    status = inspection_status(certificate, day)
    if status not in _STEPS:
        return None
    reached = _STEPS.index(status)
    if any(_STEPS.index(step) >= reached for step in sent):
        return None
    return status


def inspection_signal(
    kind: SignalKind,
    step: Step,
    car: DeviceRef,
    certificate: Certificate,
    at: datetime,
    building: str | None = None,
) -> Signal:
    """``step``'s alarm for ``car`` under ``certificate``, raised or cleared at ``at``.
    Reminders are notices (no work order); the expiry is a major alarm that opens a P2
    order."""
    if step not in _STEPS:
        raise InvalidRequest(f"inspection status {step} calls for no alarm")
    expired = step is InspectionStatus.EXPIRED
    return Signal(
        kind=kind,
        rule=RULES[step],
        device=car,
        at=at,
        severity="major" if expired else "notice",
        priority="P2" if expired else None,
        fault_kind=FAULT_KIND,
        message=_message(step, certificate),
        building=building,
        detail={
            "valid_until": certificate.valid_until.isoformat(),
            "certificate": certificate.number or "",
        },
    )


def _message(step: Step, certificate: Certificate) -> str:
    number = f" {certificate.number}" if certificate.number else ""
    if step is InspectionStatus.EXPIRED:
        return f"inspection certificate{number} expired after {certificate.valid_until}"
    return f"inspection certificate{number} expires after {certificate.valid_until}"
