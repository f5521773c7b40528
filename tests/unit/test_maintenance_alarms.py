"""Alarms and the pure signal -> alarm / work-order policy."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from maintenance.domain.actors import Actor
from maintenance.domain.alarms import Alarm, AttachToOrder, Decision, OpenOrder, decide
from maintenance.domain.errors import DomainError
from maintenance.domain.signals import DeviceRef, Signal
from maintenance.domain.workorders import WorkOrder

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
ELEV = DeviceRef("north", "elevator", "elev-01")
OPERATOR = Actor("mgr-1", "manager")

RAISED = Signal(
    kind="raised",
    rule="door_stuck",
    device=ELEV,
    at=T0,
    severity="critical",
    priority="P1",
    fault_kind="door",
    message="door fails to close (E49)",
    building="B3",
)


def closed_order(closed_at: datetime) -> WorkOrder:
    order = WorkOrder.open(
        id="WO-2026-000004",
        title="old door fault",
        asset=str(ELEV),
        site="north",
        category="elevator",
        fault_kind="door",
        priority="P2",
        source="alarm",
        now=closed_at - timedelta(days=2),
    )
    order.closed_at = closed_at  # only closed_at matters to the policy
    return order


def test_a_raised_signal_opens_an_alarm_and_a_work_order() -> None:
    decision = decide(RAISED, None, None, None)
    assert decision == Decision(
        "open",
        OpenOrder(
            title="elev-01: door fails to close (E49)",
            asset="north/elevator/elev-01",
            site="north",
            location="B3",
            category="elevator",
            fault_kind="door",
            priority="P1",
        ),
    )
    assert isinstance(decision.work_order, OpenOrder)
    assert decision.work_order.source == "alarm"


def test_a_notice_opens_an_alarm_but_no_work_order() -> None:
    notice = replace(RAISED, rule="ebike_in_car", priority=None, severity="notice")
    assert decide(notice, None, None, closed_order(T0)) == Decision("open")


def test_a_repeat_bumps_the_active_alarm() -> None:
    active = Alarm.raise_from("ALM-1", RAISED)
    assert decide(replace(RAISED, kind="repeated"), active, None, None) == Decision("bump")
    # A second "raised" while active is a repeat too: at most one active alarm.
    assert decide(RAISED, active, None, None) == Decision("bump")


def test_a_repeat_with_no_active_alarm_opens_one() -> None:
    assert decide(replace(RAISED, kind="repeated"), None, None, None).alarm == "open"


def test_cleared_clears_the_active_alarm_or_is_ignored() -> None:
    cleared = replace(RAISED, kind="cleared")
    assert decide(cleared, Alarm.raise_from("ALM-1", RAISED), None, None) == Decision("clear")
    assert decide(cleared, None, None, None) == Decision("ignore")


def test_a_new_alarm_attaches_to_the_open_order_for_the_asset_and_fault() -> None:
    open_order = closed_order(T0)
    open_order.closed_at = None
    other_rule = replace(RAISED, rule="door_reversals", priority="P3")
    assert decide(other_rule, None, open_order, None) == Decision(
        "open", AttachToOrder("WO-2026-000004", "P3")
    )


@pytest.mark.parametrize(
    ("closed_days_ago", "repeat"),
    [(1, True), (30, True), (31, False)],
)
def test_a_fault_back_within_30_days_of_closing_is_a_repeat(
    closed_days_ago: int, repeat: bool
) -> None:
    last = closed_order(T0 - timedelta(days=closed_days_ago))
    step = decide(RAISED, None, None, last).work_order
    assert isinstance(step, OpenOrder)
    assert step.repeat_of == ("WO-2026-000004" if repeat else None)


@pytest.mark.parametrize(
    ("device_type", "fault_kind", "category"),
    [
        ("charger", "overload", "ebike_charging"),
        ("smoke_alarm", "battery", "fire_safety"),
        ("charger", "fire", "fire_safety"),
        ("elevator", "offline", "connectivity"),
        ("water_pump", "leak", "water_pump"),
    ],
)
def test_category_from_fault_kind_then_device_type(
    device_type: str, fault_kind: str, category: str
) -> None:
    signal = replace(RAISED, device=DeviceRef("north", device_type, "d1"), fault_kind=fault_kind)
    step = decide(signal, None, None, None).work_order
    assert isinstance(step, OpenOrder)
    assert step.category == category


def test_bump_counts_and_keeps_the_latest_time_and_message() -> None:
    alarm = Alarm.raise_from("ALM-1", RAISED)
    later = replace(RAISED, kind="repeated", at=T0 + timedelta(minutes=5), message="again")
    alarm.bump(later)
    alarm.bump(replace(later, at=T0 + timedelta(minutes=2)))  # late delivery
    assert (alarm.count, alarm.last_seen, alarm.raised_at) == (3, T0 + timedelta(minutes=5), T0)
    assert [e.action for e in alarm.pull_events()] == ["raised", "repeated", "repeated"]


def test_acknowledge_and_clear_are_independent() -> None:
    cleared_first = Alarm.raise_from("ALM-1", RAISED)
    cleared_first.clear(T0 + timedelta(minutes=1))
    cleared_first.acknowledge(OPERATOR, T0 + timedelta(minutes=2))
    assert not cleared_first.active
    assert cleared_first.acknowledged_by == OPERATOR

    acknowledged_first = Alarm.raise_from("ALM-2", RAISED)
    acknowledged_first.acknowledge(OPERATOR, T0 + timedelta(minutes=1))
    assert acknowledged_first.active
    with pytest.raises(DomainError, match="already acknowledged by mgr-1"):
        acknowledged_first.acknowledge(OPERATOR, T0 + timedelta(minutes=2))


def test_a_cleared_alarm_cannot_be_bumped_or_cleared_again() -> None:
    alarm = Alarm.raise_from("ALM-1", RAISED)
    alarm.clear(T0)
    with pytest.raises(DomainError, match="cannot bump"):
        alarm.bump(RAISED)
    with pytest.raises(DomainError, match="cannot clear"):
        alarm.clear(T0)


def test_a_coded_signal_gives_the_alarm_its_order_and_its_audit_entries_the_code() -> None:
    coded = replace(RAISED, code="02")
    step = decide(coded, None, None, None).work_order
    assert isinstance(step, OpenOrder)
    assert step.code == "02"
    alarm = Alarm.raise_from("ALM-1", coded)
    alarm.clear(T0 + timedelta(minutes=5))
    raised, cleared = alarm.pull_events()
    for event in (raised, cleared):
        assert event.detail == {"code": "02", "rule": "door_stuck", "device": str(ELEV)}
    plain = Alarm.raise_from("ALM-2", RAISED)
    assert (plain.code, plain.pull_events()[0].detail) == (
        None,
        {"rule": "door_stuck", "device": str(ELEV)},
    )
