"""The duty board's elevator tile state: what needs people first, then the telemetry."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from api.routes.assets import STALE_AFTER, online_state
from api.web.routes.board import car_state, is_machine_fault, live_state
from maintenance.db.read.alarms import AlarmSummary
from maintenance.domain.inspections import FAULT_KIND as INSPECTION_FAULT_KIND
from maintenance.services.plans import visit_fault_kind


def test_offline_fault_and_maintenance_outrank_what_the_telemetry_says() -> None:
    assert car_state(offline=True, fault=True, maintenance=True, speed=1.0) == "offline"
    assert car_state(offline=False, fault=True, maintenance=True, speed=1.0) == "fault"
    assert car_state(offline=False, fault=False, maintenance=True, speed=1.0) == "maintenance"


def test_a_moving_car_runs_a_standing_one_idles_and_no_telemetry_is_unknown() -> None:
    assert car_state(offline=False, fault=False, maintenance=False, speed=1.6) == "running"
    assert car_state(offline=False, fault=False, maintenance=False, speed=0.0) == "idle"
    assert car_state(offline=False, fault=False, maintenance=False, speed=None) == "unknown"


# live_state: the one rule behind the board's tile and the asset page.
NOW = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)


def _alarm(fault_kind: str) -> AlarmSummary:
    return AlarmSummary(
        id="ALM-1",
        rule=fault_kind,
        site="demo",
        device_type="elevator",
        device_id="elev-01",
        building="3",
        severity="major",
        priority="P2",
        fault_kind=fault_kind,
        message=fault_kind,
        raised_at=NOW,
        last_seen=NOW,
        count=1,
        acknowledged_by=None,
        acknowledged_at=None,
        cleared_at=None,
        work_order_id=None,
    )


def _row(age: timedelta, speed: float) -> dict[str, Any]:
    return {"time": NOW - age, "speed": speed, "floor": 3.0}


def test_an_administrative_alarm_leaves_the_car_running_or_idle() -> None:
    expired = _alarm(INSPECTION_FAULT_KIND)
    overdue = _alarm(visit_fault_kind(date(2026, 12, 1)))
    fresh = timedelta(seconds=30)
    running = live_state("elevator", [expired, overdue], _row(fresh, 1.5), worked_on=False, now=NOW)
    idle = live_state("elevator", [expired], _row(fresh, 0.0), worked_on=False, now=NOW)
    assert (running, idle) == (("running", True), ("idle", True))
    # ... while a fault about the machine is a fault.
    door = live_state(
        "elevator", [expired, _alarm("door")], _row(fresh, 0), worked_on=False, now=NOW
    )
    assert door == ("fault", True)
    assert not is_machine_fault(expired)
    assert not is_machine_fault(overdue)


def test_a_stale_reading_is_offline_as_the_json_api_says() -> None:
    limit = STALE_AFTER["elevator"]
    stale = live_state(
        "elevator", [], _row(limit + timedelta(seconds=1), 1.5), worked_on=False, now=NOW
    )
    recent = live_state("elevator", [], _row(limit, 1.5), worked_on=False, now=NOW)
    assert stale == ("offline", False)
    assert recent == ("running", True)
    assert online_state("elevator", False, NOW - limit - timedelta(seconds=1), NOW)[0] is False
    assert (
        live_state(
            "elevator", [_alarm("offline")], _row(timedelta(0), 1), worked_on=False, now=NOW
        )[0]
        == "offline"
    )
