"""SLA clocks and escalations, under a clock stepped minute by minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from estatewatch.errors import ConfigError
from maintenance.config_files import load_sla_policy
from maintenance.domain.actors import Actor
from maintenance.domain.signals import Priority
from maintenance.domain.sla import (
    SlaClocks,
    SlaPolicy,
    due_escalations,
    order_due_at,
    time_on_hold,
)
from maintenance.domain.workorders import WorkOrder

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
POLICY = SlaPolicy()
THRESHOLD = POLICY.approval_threshold
TECH = Actor("tech-1", "technician")
MANAGER = Actor("mgr-1", "manager")


def at(hh: int, mm: int) -> datetime:
    return T0.replace(hour=hh, minute=mm)


def order(priority: Priority = "P1") -> WorkOrder:
    return WorkOrder.open(
        id="WO-2026-000001",
        title="elev-01: passenger trapped",
        asset="north/elevator/elev-01",
        site="north",
        category="elevator",
        fault_kind="entrapment",
        priority=priority,
        source="alarm",
        now=T0,
    )


def acknowledged(at_: datetime) -> WorkOrder:
    o = order()
    o.assign(MANAGER, T0, assignee=TECH.user_id)
    o.acknowledge(TECH, at_)
    return o


def run_scheduler(
    o: WorkOrder, until: datetime, start: datetime = T0
) -> list[tuple[str, str, int]]:
    """Check every minute like the scheduler; record what fires as (HH:MM, clock, level)."""
    fired: list[tuple[str, str, int]] = []
    now = start
    while now <= until:
        for e in due_escalations(o, POLICY, now):
            o.record_escalation(e.clock, e.level, e.notify, now)
            fired.append((f"{now:%H:%M}", e.clock, e.level))
        now += timedelta(minutes=1)
    return fired


def test_clock_figures_with_a_hold() -> None:
    o = acknowledged(at(10, 4))
    o.start(TECH, at(10, 8), approval_threshold=THRESHOLD)
    o.hold(TECH, at(10, 30), reason="waiting for a door motor")

    during = SlaClocks.of(o, POLICY, at(11, 0))
    assert during.resolution.paused
    assert during.resolution.elapsed_minutes == 30
    assert during.resolution.due_at is None
    assert not during.response.paused  # stopped before the hold

    o.resume(TECH, at(11, 30), approval_threshold=THRESHOLD)
    assert time_on_hold(o, at(11, 0)) == timedelta(minutes=30)
    assert time_on_hold(o, at(12, 0)) == timedelta(minutes=60)
    clocks = SlaClocks.of(o, POLICY, at(12, 0))
    assert (clocks.response.elapsed_minutes, clocks.response.remaining_minutes) == (4, 6)
    assert clocks.response.due_at == at(10, 10)
    assert not clocks.response.running
    assert clocks.feedback.elapsed_minutes == 8
    # 10:00-12:00 less the 60-minute hold; due 4 h after creation plus the hold.
    assert clocks.resolution.elapsed_minutes == 60
    assert clocks.resolution.remaining_minutes == 180
    assert clocks.resolution.due_at == at(15, 0)
    assert not any(c.breached for c in clocks)


def test_the_order_is_due_when_its_earliest_running_clock_is() -> None:
    o = acknowledged(at(10, 4))  # response stopped; feedback (60 min) and resolution run
    assert order_due_at(o, POLICY) == at(11, 0)
    o.start(TECH, at(10, 8), approval_threshold=THRESHOLD)  # feedback given
    assert order_due_at(o, POLICY) == at(14, 0)
    o.hold(TECH, at(11, 0), reason="parts")  # paused before due: due depends on the resume
    assert order_due_at(o, POLICY) is None
    assert SlaClocks.of(o, POLICY, at(12, 0)).resolution.due_at is None
    o.resume(TECH, at(12, 0), approval_threshold=THRESHOLD)
    assert order_due_at(o, POLICY) == at(15, 0)
    # A hold that begins after the clock was late does not move the due time, paused or
    # not, and the order stays overdue: the detail's clock and the order agree.
    o.hold(TECH, at(15, 30), reason="parts again")
    assert order_due_at(o, POLICY) == at(15, 0)
    held = SlaClocks.of(o, POLICY, at(16, 0)).resolution
    assert (held.paused, held.breached, held.due_at) == (True, True, at(15, 0))
    o.resume(TECH, at(16, 30), approval_threshold=THRESHOLD)
    assert order_due_at(o, POLICY) == SlaClocks.of(o, POLICY, at(17, 0)).resolution.due_at
    assert order_due_at(o, POLICY) == at(15, 0)
    # A 5-hour target is not yet reached when the second hold begins: both holds count.
    five_hours = SlaPolicy.model_validate(
        {
            "targets": {
                "P1": {"acknowledge_within": 10, "feedback_within": 60, "resolve_within": 300}
            }
        }
    )
    assert order_due_at(o, five_hours) == at(17, 0)
    o.cancel(MANAGER, at(17, 0), reason="replaced by a new order")
    assert order_due_at(o, POLICY) is None  # closed and cancelled orders are never due


def test_breaches_escalate_exactly_once_per_level() -> None:
    o = order("P1")
    fired = run_scheduler(o, until=at(17, 0))
    assert fired == [
        ("10:11", "response", 1),  # 10 min target passed: manager
        ("11:01", "feedback", 1),  # 60 min
        ("11:11", "response", 2),  # 60 min after the response breach: committee
        ("12:01", "feedback", 2),
        ("14:01", "resolution", 1),  # 4 h
        ("15:01", "resolution", 2),
    ]
    assert [e.notify for e in o.escalations] == [
        "manager",
        "manager",
        "committee",
        "committee",
        "manager",
        "committee",
    ]


def test_on_hold_pauses_the_resolution_clock() -> None:
    o = acknowledged(at(10, 5))
    o.start(TECH, at(10, 6), approval_threshold=THRESHOLD)
    o.hold(TECH, at(10, 30), reason="parts on order")
    assert run_scheduler(o, until=at(18, 0)) == []
    o.resume(TECH, at(18, 0), approval_threshold=THRESHOLD)
    # 30 active minutes before the hold; 210 more reach the 240 target at 21:30.
    assert run_scheduler(o, start=at(18, 0), until=at(21, 45)) == [("21:31", "resolution", 1)]


def test_a_late_acknowledgement_escalates_once_and_stops_there() -> None:
    o = acknowledged(at(10, 15))
    fired = run_scheduler(o, start=at(10, 20), until=at(12, 30))
    assert ("10:20", "response", 1) in fired
    assert not any(clock == "response" and level == 2 for _, clock, level in fired)
    [late] = [e for e in o.escalations if e.clock == "response"]
    assert late.at == at(10, 20)


def test_overdue_is_reported_in_minutes() -> None:
    [e] = due_escalations(order("P2"), POLICY, at(10, 45))
    assert (e.clock, e.level, e.notify, e.priority, e.overdue_minutes) == (
        "response",
        1,
        "manager",
        "P2",
        15,
    )


def test_closed_or_cancelled_orders_are_not_escalated() -> None:
    o = order()
    o.cancel(MANAGER, at(10, 1), reason="false alarm")
    assert due_escalations(o, POLICY, at(20, 0)) == []


def test_policy_from_yaml_overrides_some_priorities(tmp_path: Path) -> None:
    path = tmp_path / "sla.yaml"
    path.write_text(
        "targets:\n"
        "  P1: {acknowledge_within: 5, feedback_within: 30m, resolve_within: 2h}\n"
        "escalation:\n"
        "  - {level: 1, notify: manager}\n"
        "  - {level: 2, notify: committee, after: 30}\n"
        "approval_threshold: 2000.50\n",
        encoding="utf-8",
    )
    policy = load_sla_policy(path)
    p1 = policy.for_priority("P1")
    assert (p1.acknowledge_within, p1.feedback_within, p1.resolve_within) == (
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
    )
    assert policy.for_priority("P2").resolve_within == timedelta(days=1)
    assert policy.escalation[1].after == timedelta(minutes=30)
    assert policy.approval_threshold == Decimal("2000.50")


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        (
            "targets: {P1: {acknowledge_within: 0, feedback_within: 1, resolve_within: 1}}",
            r"targets\.P1: .*acknowledge_within must be at least one minute",
        ),
        (
            "targets: {P1: {acknowledge_within: 1.5, feedback_within: 1, resolve_within: 1}}",
            r"targets\.P1\.acknowledge_within: .*not a whole number of minutes",
        ),
        (
            "targets: {P5: {acknowledge_within: 1, feedback_within: 1, resolve_within: 1}}",
            r"targets\.P5: Extra inputs are not permitted",
        ),
        (
            "escalation: [{level: 2, notify: a}, {level: 1, notify: b}]",
            r"escalation: .*levels must rise",
        ),
    ],
)
def test_bad_policy_files_name_the_file_and_field(
    tmp_path: Path, text: str, complaint: str
) -> None:
    path = tmp_path / "sla.yaml"
    path.write_text(text + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=f"sla.yaml: {complaint}"):
        load_sla_policy(path)


def test_a_category_has_its_own_targets_whatever_the_priority(tmp_path: Path) -> None:
    visit = WorkOrder.open(
        id="WO-2026-000002",
        title="elev-01: half-monthly maintenance visit",
        asset="north/elevator/elev-01",
        site="north",
        category="maintenance_visit",
        fault_kind="maintenance_visit",
        priority="P3",
        source="staff",
        now=T0,
    )
    # The default policy: a visit is acknowledged within a day, done within five.
    assert order_due_at(visit, POLICY) == T0 + timedelta(days=1)
    visit.assign(MANAGER, T0, assignee=TECH.user_id)
    visit.acknowledge(TECH, T0)
    visit.start(TECH, T0, approval_threshold=THRESHOLD)
    assert order_due_at(visit, POLICY) == T0 + timedelta(days=5)
    path = tmp_path / "sla.yaml"
    path.write_text(
        "categories:\n"
        "  maintenance_visit: {acknowledge_within: 4h, feedback_within: 1d, resolve_within: 3d}\n",
        encoding="utf-8",
    )
    policy = load_sla_policy(path)
    assert order_due_at(visit, policy) == T0 + timedelta(days=3)
    assert policy.due_fingerprint != POLICY.due_fingerprint
    # Other categories keep their priority's targets.
    assert order_due_at(order("P1"), policy) == T0 + timedelta(minutes=10)
