"""The regulator feed's reports from audit entries (pure): which entries, what shape."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from maintenance.db.tables import AuditRow
from maintenance.regulator_feed import regulator_report

AT = datetime(2026, 12, 7, 3, 41, tzinfo=UTC)
CAR = "demo/elevator/elev-01"
REGISTERED = {CAR: "31103301002008090001"}


def row(action: str = "alarm.raised", **detail: Any) -> AuditRow:
    return AuditRow(
        id=41,
        at=AT,
        actor="system",
        action=action,
        entity_type="alarm",
        entity_id="ALM-7",
        from_state=None,
        to_state=None,
        reason=None,
        detail={"rule": "fire_return", "device": CAR, "code": "44"} | detail,
    )


def test_an_event_is_reported_with_the_cars_registration_code() -> None:
    report = regulator_report(row("alarm.cleared"), REGISTERED)
    assert report is not None
    assert (report.id, report.type) == ("41", "regulator.report")
    assert report.data == {
        "registration_code": "31103301002008090001",
        "code": "44",
        "kind": "event",
        "name": "fire return",
        "state": "cleared",
        "at": "2026-12-07T03:41:00+00:00",
        "alarm": "ALM-7",
        "site": "demo",
        "device_id": "elev-01",
        "rule": "fire_return",
    }


@pytest.mark.parametrize(
    ("entry", "registered"),
    [
        (row("alarm.acknowledged"), REGISTERED),  # not a start or an end
        (row(code="99"), REGISTERED),  # not in the table
        (row(), {}),  # the car has no registration code
        (row(device="demo/elevator/elev-02"), REGISTERED),
    ],
    ids=["acknowledged", "unknown code", "unregistered", "another car"],
)
def test_what_is_not_reported(entry: AuditRow, registered: dict[str, str]) -> None:
    assert regulator_report(entry, registered) is None


def test_an_uncoded_alarm_is_not_reported() -> None:
    entry = row()
    del entry.detail["code"]
    assert regulator_report(entry, REGISTERED) is None
