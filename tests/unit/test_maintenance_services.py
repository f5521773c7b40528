"""The maintenance services over the in-memory unit of work."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from maintenance_fakes import FakeClock, FakeUnitOfWork

from maintenance import services
from maintenance.domain.actors import Actor
from maintenance.domain.errors import AlreadyOpen, InvalidRequest, NotFound, NotPermitted
from maintenance.domain.signals import DeviceRef, Signal
from maintenance.domain.sla import SlaPolicy
from maintenance.domain.workorders import Status, WorkOrder

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
ELEV = DeviceRef("north", "elevator", "elev-01")
POLICY = SlaPolicy()
MANAGER = Actor("mgr-1", "manager")
TECH = Actor("tech-1", "technician")
COMMITTEE = Actor("com-1", "committee")
SUPERVISOR = Actor("sup-1", "supervisor")
RESIDENT = Actor("res-1", "resident")

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


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


def ids() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"ALM-{next(counter)}"


async def test_signals_drive_one_alarm_and_one_order(uow: FakeUnitOfWork, clock: FakeClock) -> None:
    new_id = ids()
    clock.advance(seconds=20)  # delivered 20 s after detection
    first = await services.handle_signal(uow, RAISED, clock, new_id)
    assert first.alarm is not None
    assert first.work_order is not None
    order = first.work_order
    assert (order.id, order.source, order.priority, order.created_at) == (
        "WO-2026-000001",
        "alarm",
        "P1",
        T0 + timedelta(seconds=20),
    )
    assert first.alarm.work_order_id == order.id
    assert [(e.subject, e.action) for e in first.events] == [
        ("alarm", "raised"),
        ("work_order", "created"),
    ]

    repeated = replace(RAISED, kind="repeated", at=T0 + timedelta(minutes=1))
    again = await services.handle_signal(uow, repeated, clock, new_id)
    assert again.alarm is first.alarm
    assert first.alarm.count == 2
    assert [e.action for e in again.events] == ["repeated"]

    # Another rule for the same fault on the same lift: a second alarm, the same order.
    other = replace(RAISED, rule="door_reversals", priority="P3")
    attached = await services.handle_signal(uow, other, clock, new_id)
    assert attached.alarm is not None
    assert attached.alarm.id == "ALM-2"
    assert attached.work_order is order
    assert order.alarm_ids == ["ALM-1", "ALM-2"]
    assert order.priority == "P1"  # a less urgent alarm does not lower it

    cleared = await services.handle_signal(uow, replace(RAISED, kind="cleared"), clock, new_id)
    assert cleared.alarm is first.alarm
    assert not first.alarm.active
    assert order.status is Status.NEW  # the condition going away is not a repair
    assert len(uow.work_orders.items) == 1
    assert uow.commits == 4


async def test_a_notice_is_an_alarm_without_an_order(uow: FakeUnitOfWork, clock: FakeClock) -> None:
    notice = replace(RAISED, rule="ebike_in_car", priority=None, severity="notice")
    outcome = await services.handle_signal(uow, notice, clock, ids())
    assert outcome.alarm is not None
    assert outcome.work_order is None
    assert uow.work_orders.items == {}


async def test_a_cleared_signal_with_no_alarm_changes_nothing(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    outcome = await services.handle_signal(uow, replace(RAISED, kind="cleared"), clock, ids())
    assert (outcome.alarm, outcome.events, uow.commits) == (None, [], 0)


Steps = list[tuple[str, Actor, dict[str, Any]]]


async def run(uow: FakeUnitOfWork, clock: FakeClock, order_id: str, steps: Steps) -> WorkOrder:
    """Perform each (action, actor, arguments) five minutes apart."""
    for action, actor, args in steps:
        clock.advance(minutes=5)
        result = await services.perform(uow, order_id, action, actor, clock, POLICY, **args)
        assert result.events[-1].action == action
    return result.order


async def walk_to_closed(uow: FakeUnitOfWork, clock: FakeClock, order_id: str) -> None:
    steps: Steps = [
        ("assign", MANAGER, {"assignee": TECH.user_id}),
        ("acknowledge", TECH, {}),
        ("set_cost", MANAGER, {"estimate": Decimal(12000)}),
        ("request_approval", MANAGER, {}),
        ("approve", COMMITTEE, {}),
        ("start", TECH, {}),
        ("resolve", TECH, {"note": "door operator replaced"}),
        ("verify", SUPERVISOR, {}),
        ("close", MANAGER, {}),
    ]
    order = await run(uow, clock, order_id, steps)
    assert order.status is Status.CLOSED


async def test_a_fault_back_within_30_days_opens_a_linked_repeat_order(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    first = await services.handle_signal(uow, RAISED, clock, ids())
    assert first.work_order is not None
    await walk_to_closed(uow, clock, first.work_order.id)
    await services.handle_signal(uow, replace(RAISED, kind="cleared"), clock)

    clock.advance(days=10)
    back = await services.handle_signal(uow, replace(RAISED, at=clock()), clock)
    assert back.work_order is not None
    assert back.work_order.id == "WO-2026-000002"
    assert back.work_order.repeat_of == first.work_order.id
    assert back.work_order.is_repeat_fault


async def test_perform_enforces_the_spending_threshold_from_the_policy(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    created = await services.create_order(
        uow,
        RESIDENT,
        clock,
        title="Stairwell light out",
        asset="north/building/B3/stairwell",
        site="north",
        category="lighting",
        fault_kind="light",
        priority="P4",
    )
    order_id = created.order.id
    steps: Steps = [
        ("assign", MANAGER, {"assignee": TECH.user_id}),
        ("acknowledge", TECH, {}),
        ("set_cost", MANAGER, {"estimate": Decimal(6000)}),
    ]
    await run(uow, clock, order_id, steps)
    with pytest.raises(NotPermitted, match="approval threshold 5000"):
        await services.perform(uow, order_id, "start", TECH, clock, POLICY)
    cheap = SlaPolicy(approval_threshold=Decimal(10000))
    result = await services.perform(uow, order_id, "start", TECH, clock, cheap)
    assert result.order.status is Status.IN_PROGRESS


async def test_a_resident_request_is_theirs_to_verify_and_rate(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    created = await services.create_order(
        uow,
        RESIDENT,
        clock,
        title="Lift door slow",
        asset=str(ELEV),
        site="north",
        category="elevator",
        fault_kind="door",
        priority="P3",
        location="B3",
    )
    order = created.order
    assert (order.source, order.requested_by, order.created_by) == ("resident", "res-1", RESIDENT)
    assert [e.action for e in created.events] == ["created"]

    with pytest.raises(AlreadyOpen, match=f"{order.id} is already open for door"):
        await services.create_order(
            uow,
            MANAGER,
            clock,
            title="duplicate",
            asset=str(ELEV),
            site="north",
            category="elevator",
            fault_kind="door",
            priority="P3",
        )
    # A P1 alarm for the same lift and fault joins the resident's P3 order and raises it.
    outcome = await services.handle_signal(uow, RAISED, clock, ids())
    assert outcome.work_order is order
    assert order.priority == "P1"
    assert [(e.action, e.detail.get("to")) for e in outcome.events] == [
        ("raised", None),
        ("alarm_attached", None),
        ("priority_raised", "P1"),
    ]

    steps: Steps = [
        ("assign", MANAGER, {"assignee": TECH.user_id}),
        ("acknowledge", TECH, {}),
        ("resolve", TECH, {}),
        ("verify", RESIDENT, {"note": "fine now"}),
        ("rate", RESIDENT, {"stars": 5}),
    ]
    await run(uow, clock, order.id, steps)
    assert order.rating is not None
    assert order.rating.stars == 5


async def test_perform_refuses_unknown_actions_arguments_and_orders(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    outcome = await services.handle_signal(uow, RAISED, clock, ids())
    assert outcome.work_order is not None
    order_id = outcome.work_order.id
    with pytest.raises(InvalidRequest, match="unknown action 'fix'"):
        await services.perform(uow, order_id, "fix", TECH, clock, POLICY)
    with pytest.raises(InvalidRequest, match=r"assign: missing argument 'assignee'"):
        await services.perform(uow, order_id, "assign", MANAGER, clock, POLICY)
    with pytest.raises(InvalidRequest, match=r"unexpected argument 'approval_threshold'"):
        await services.perform(
            uow, order_id, "acknowledge", TECH, clock, POLICY, approval_threshold=Decimal(1)
        )
    with pytest.raises(NotFound, match="no work order WO-2026-999999"):
        await services.perform(uow, "WO-2026-999999", "close", MANAGER, clock, POLICY)


async def test_check_slas_escalates_once_per_level(uow: FakeUnitOfWork, clock: FakeClock) -> None:
    await services.handle_signal(uow, RAISED, clock, ids())
    sent: list[tuple[str, int, str]] = []
    for _ in range(75):  # 10:01 ... 11:15, once a minute
        clock.advance(minutes=1)
        check = await services.check_slas(uow, POLICY, clock)
        sent += [(e.clock, e.level, e.notify) for e in check.escalations]
        assert [e.action for e in check.events] == ["escalated"] * len(check.escalations)
    assert sent == [
        ("response", 1, "manager"),
        ("feedback", 1, "manager"),
        ("response", 2, "committee"),
    ]


async def test_acknowledge_alarm(uow: FakeUnitOfWork, clock: FakeClock) -> None:
    outcome = await services.handle_signal(uow, RAISED, clock, ids())
    assert outcome.alarm is not None
    clock.advance(minutes=2)
    alarm = await services.acknowledge_alarm(uow, outcome.alarm.id, MANAGER, clock)
    assert (alarm.acknowledged_by, alarm.acknowledged_at) == (MANAGER, T0 + timedelta(minutes=2))
    with pytest.raises(NotFound):
        await services.acknowledge_alarm(uow, "ALM-404", MANAGER, clock)
