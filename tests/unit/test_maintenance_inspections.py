"""Inspection certificates (pure): status on a day, validity, reminders owed, signals."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from maintenance.domain.errors import InvalidRequest
from maintenance.domain.inspections import (
    Certificate,
    InspectionStatus,
    Step,
    default_valid_until,
    inspection_signal,
    inspection_status,
    inspection_valid,
    next_reminder,
)
from maintenance.domain.signals import DeviceRef

S = InspectionStatus
CERT = Certificate(date(2026, 5, 20), date(2027, 5, 19), "TSX-2026-0117")
CAR = DeviceRef("demo", "elevator", "elev-01")


@pytest.mark.parametrize(
    ("day", "status", "valid"),
    [
        (date(2026, 5, 20), S.VALID, True),
        (date(2027, 4, 18), S.VALID, True),  # 31 days left
        (date(2027, 4, 19), S.DUE_30, True),  # 30 days left
        (date(2027, 5, 11), S.DUE_30, True),  # 8 days left
        (date(2027, 5, 12), S.DUE_7, True),  # 7 days left
        (date(2027, 5, 19), S.DUE_7, True),  # the last valid day
        (date(2027, 5, 20), S.EXPIRED, False),
        (date(2029, 1, 1), S.EXPIRED, False),
    ],
)
def test_status_and_validity_on_a_day(day: date, status: InspectionStatus, valid: bool) -> None:
    assert inspection_status(CERT, day) is status
    assert inspection_valid(CERT, day) is valid


def test_no_certificate_on_record_is_not_valid_and_owes_nothing() -> None:
    assert inspection_status(None, date(2026, 12, 7)) is S.UNRECORDED
    assert not inspection_valid(None, date(2026, 12, 7))
    assert next_reminder(None, (), date(2026, 12, 7)) is None


def test_a_day_before_the_inspection_is_not_within_its_validity() -> None:
    assert not inspection_valid(CERT, date(2026, 5, 19))


def test_a_certificate_cannot_expire_before_its_inspection() -> None:
    with pytest.raises(InvalidRequest, match="valid_until 2026-05-19 is before inspected_on"):
        Certificate(date(2026, 5, 20), date(2026, 5, 19))


@pytest.mark.parametrize(
    ("inspected", "until"),
    [
        (date(2026, 5, 20), date(2027, 5, 19)),
        (date(2026, 1, 1), date(2026, 12, 31)),
        (date(2028, 2, 29), date(2029, 2, 28)),
    ],
)
def test_a_certificate_runs_a_year_by_default(inspected: date, until: date) -> None:
    assert default_valid_until(inspected) == until


def _daily_steps(certificate: Certificate, first: date, days: int) -> list[tuple[date, Step]]:
    """Run a daily check over ``days`` days, recording each step it sends."""
    sent: list[Step] = []
    log = []
    for n in range(days):
        day = first + timedelta(days=n)
        step = next_reminder(certificate, sent, day)
        if step is not None:
            sent.append(step)
            log.append((day, step))
    return log


def test_each_step_comes_once_on_its_day() -> None:
    log = _daily_steps(CERT, date(2027, 3, 1), 120)
    assert log == [
        (date(2027, 4, 19), S.DUE_30),
        (date(2027, 5, 12), S.DUE_7),
        (date(2027, 5, 20), S.EXPIRED),
    ]


def test_a_late_record_skips_the_reminders_it_is_past() -> None:
    # Recorded with 5 days left: the 7-day reminder at once, never the 30-day one.
    log = _daily_steps(CERT, date(2027, 5, 14), 30)
    assert log == [(date(2027, 5, 14), S.DUE_7), (date(2027, 5, 20), S.EXPIRED)]
    # Found already expired: only the expiry.
    assert _daily_steps(CERT, date(2027, 6, 1), 30) == [(date(2027, 6, 1), S.EXPIRED)]


def test_signals_reminders_are_notices_and_the_expiry_a_p2_alarm() -> None:
    at = datetime(2027, 4, 19, 1, tzinfo=UTC)
    reminder = inspection_signal("raised", S.DUE_30, CAR, CERT, at, "B1")
    assert (reminder.rule, reminder.severity, reminder.priority) == (
        "inspection_due_30",
        "notice",
        None,
    )
    assert reminder.message == "inspection certificate TSX-2026-0117 expires after 2027-05-19"
    assert reminder.detail == {"valid_until": "2027-05-19", "certificate": "TSX-2026-0117"}
    expired = inspection_signal("raised", S.EXPIRED, CAR, CERT, at)
    assert (expired.rule, expired.priority, expired.fault_kind) == (
        "inspection_expired",
        "P2",
        "inspection",
    )
    with pytest.raises(InvalidRequest, match="valid calls for no alarm"):
        inspection_signal("raised", S.VALID, CAR, CERT, at)
