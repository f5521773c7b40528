"""The maintenance services over the in-memory unit of work."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import get_args

import pytest
from maintenance_fakes import FakeClock, FakeUnitOfWork

from maintenance import services
from maintenance.domain import commands as cmd
from maintenance.domain.actors import Actor
from maintenance.domain.errors import (
    AlreadyAcknowledged,
    AlreadyOpen,
    AssetRefused,
    InvalidRequest,
    NotAssignable,
    NotFound,
    NotPermitted,
)
from maintenance.domain.signals import DeviceRef, Signal
from maintenance.domain.sla import SlaPolicy
from maintenance.domain.staff import Worker
from maintenance.domain.workorders import (
    Action,
    Resolution,
    Status,
    WorkOrder,
    allowed_actions,
)

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
ELEV = DeviceRef("north", "elevator", "elev-01")
POLICY = SlaPolicy()
MANAGER = Actor("mgr-1", "manager")
TECH = Actor("tech-1", "technician")
COMMITTEE = Actor("com-1", "committee")
SUPERVISOR = Actor("sup-1", "supervisor")
RESIDENT = Actor("res-1", "resident")
# The technician orders go to: an account at the site of every order here.
TECH_ACCOUNT = Worker(TECH.user_id, "technician", active=True, sites=frozenset({"north"}))

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
    uow = FakeUnitOfWork(TECH_ACCOUNT)
    uow.sites.devices.add(ELEV)
    return uow


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


async def test_a_coded_alarm_gives_its_code_to_the_uncoded_order_it_joins(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    new_id = ids()
    first = await services.handle_signal(uow, RAISED, clock, new_id)  # no code
    assert first.work_order is not None
    assert first.work_order.code is None
    coded = replace(RAISED, rule="level5_fault", code="02")
    joined = await services.handle_signal(uow, coded, clock, new_id)
    assert joined.work_order is first.work_order
    assert first.work_order.code == "02"


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


Steps = list[tuple[cmd.OrderCommand, Actor]]


async def run(uow: FakeUnitOfWork, clock: FakeClock, steps: Steps) -> WorkOrder:
    """Perform each (command, actor) five minutes apart."""
    for command, actor in steps:
        clock.advance(minutes=5)
        result = await services.perform(uow, command, actor, clock, POLICY)
        assert result.events[-1].action == command.action
    return result.order


async def walk_to_closed(uow: FakeUnitOfWork, clock: FakeClock, order_id: str) -> None:
    steps: Steps = [
        (cmd.Assign(order_id, assignee=TECH.user_id), MANAGER),
        (cmd.Acknowledge(order_id), TECH),
        (cmd.SetCost(order_id, estimate=Decimal(12000)), MANAGER),
        (cmd.RequestApproval(order_id), MANAGER),
        (cmd.Approve(order_id), COMMITTEE),
        (cmd.Start(order_id), TECH),
        (cmd.Resolve(order_id, note="door operator replaced"), TECH),
        (cmd.Verify(order_id), SUPERVISOR),
        (cmd.Close(order_id), MANAGER),
    ]
    order = await run(uow, clock, steps)
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
        (cmd.Assign(order_id, assignee=TECH.user_id), MANAGER),
        (cmd.Acknowledge(order_id), TECH),
        (cmd.SetCost(order_id, estimate=Decimal(6000)), MANAGER),
    ]
    await run(uow, clock, steps)
    with pytest.raises(NotPermitted, match="approval threshold 5000"):
        await services.perform(uow, cmd.Start(order_id), TECH, clock, POLICY)
    cheap = SlaPolicy(approval_threshold=Decimal(10000))
    result = await services.perform(uow, cmd.Start(order_id), TECH, clock, cheap)
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
        (cmd.Assign(order.id, assignee=TECH.user_id), MANAGER),
        (cmd.Acknowledge(order.id), TECH),
        (cmd.Resolve(order.id), TECH),
        (cmd.Verify(order.id, note="fine now"), RESIDENT),
        (cmd.Rate(order.id, stars=5), RESIDENT),
    ]
    await run(uow, clock, steps)
    assert order.rating is not None
    assert order.rating.stars == 5


async def new_order(
    uow: FakeUnitOfWork,
    clock: FakeClock,
    actor: Actor = MANAGER,
    *,
    asset: str = str(ELEV),
    site: str = "north",
    visible: Callable[[WorkOrder], bool] = lambda order: True,
) -> services.OrderResult:
    return await services.create_order(
        uow,
        actor,
        clock,
        title="Lift door slow",
        asset=asset,
        site=site,
        category="elevator",
        fault_kind="door",
        priority="P1",
        visible=visible,
    )


@pytest.mark.parametrize(
    ("site", "asset", "code", "says"),
    [
        ("north", "north/elevator/elev-99", "unknown", "no elevator 'elev-99' at site north"),
        ("north", "south/elevator/elev-01", "site-mismatch", "at site 'south', not"),
        ("south", "north/elevator/elev-01", "site-mismatch", "at site 'north', not"),
        ("north", "north/charger/elev-01", "unknown", "no charger 'elev-01'"),
        ("north", "elev-01", "malformed", "not of the form"),
        ("north", "north//elev-01", "malformed", "not of the form"),
        ("north", "north/building/B3", "malformed", "no place in it"),
        ("north", "north/elevator/elev-01/x", "malformed", "not of the form"),
    ],
)
async def test_an_order_for_an_unknown_or_misplaced_asset_is_refused_before_anything_is_written(
    uow: FakeUnitOfWork, clock: FakeClock, site: str, asset: str, code: str, says: str
) -> None:
    with pytest.raises(AssetRefused, match=says) as refused:
        await new_order(uow, clock, asset=asset, site=site)
    assert refused.value.code == code
    assert (uow.work_orders.items, uow.commits) == ({}, 0)
    # The register's device and a place (free text, only its site checked) are taken.
    assert (await new_order(uow, clock)).order.asset == str(ELEV)
    place = await new_order(uow, clock, asset="north/building/B3/B1 lift lobby")
    assert place.order.asset == "north/building/B3/B1 lift lobby"


async def test_a_caller_opens_only_an_order_they_would_see_and_learns_nothing_else(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    # A technician's sight (api.visibility): theirs, or unassigned at their site.
    def sees_north_unassigned(order: WorkOrder) -> bool:
        return order.assignee == TECH.user_id or (order.assignee is None and order.site == "north")

    theirs = await new_order(uow, clock, TECH, visible=sees_north_unassigned)
    # Another site's order: refused before the register is asked (no "unknown asset"
    # answer to probe another site's devices with) and nothing is stored.
    with pytest.raises(
        NotPermitted, match="tech-1 \\(technician\\) may not open an order at site south"
    ):
        await new_order(
            uow, clock, TECH, asset="south/elevator/ghost", site="south",
            visible=sees_north_unassigned,
        )  # fmt: skip
    assert list(uow.work_orders.items) == [theirs.order.id]
    commits = uow.commits
    # Already open: named to whom sees the open order, "an order" to whom does not.
    with pytest.raises(AlreadyOpen, match=f"^work order {theirs.order.id} is already open"):
        await new_order(uow, clock, TECH, visible=sees_north_unassigned)
    colleague = Worker("tech-2", "technician", active=True, sites=frozenset({"north"}))
    uow.accounts.people[colleague.username] = colleague
    await services.perform(uow, cmd.Assign(theirs.order.id, "tech-2"), MANAGER, clock, POLICY)
    with pytest.raises(AlreadyOpen, match=r"^an order is already open for door on") as hidden:
        await new_order(uow, clock, TECH, visible=sees_north_unassigned)
    assert hidden.value.order_id is None
    assert theirs.order.id not in str(hidden.value)
    assert uow.commits == commits + 1  # the assignment only
    assert list(uow.work_orders.items) == [theirs.order.id]


def test_every_command_has_one_handler_for_its_own_action() -> None:
    commands = get_args(cmd.OrderCommand)
    assert set(services.COMMAND_HANDLERS) == set(commands)
    assert sorted(c.action for c in commands) == sorted(Action)


async def test_perform_refuses_missing_orders_and_those_the_caller_cannot_see(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    outcome = await services.handle_signal(uow, RAISED, clock, ids())
    assert outcome.work_order is not None
    order = outcome.work_order
    with pytest.raises(NotFound, match=r"^no work order WO-2026-999999$"):
        await services.perform(uow, cmd.Close("WO-2026-999999"), MANAGER, clock, POLICY)
    # Seen through the caller's eyes on the loaded order: hidden is reported as missing,
    # and nothing is changed or committed.
    commits = uow.commits
    seen: list[WorkOrder] = []

    def nobody_sees(candidate: WorkOrder) -> bool:
        seen.append(candidate)
        return False

    with pytest.raises(NotFound, match=f"^no work order {order.id}$"):
        await services.perform(
            uow, cmd.Assign(order.id, TECH.user_id), MANAGER, clock, POLICY, visible=nobody_sees
        )
    assert seen == [order]
    assert (order.status, order.assignee, uow.commits) == (Status.NEW, None, commits)
    result = await services.perform(
        uow, cmd.Assign(order.id, TECH.user_id), MANAGER, clock, POLICY, visible=seen.__contains__
    )
    assert result.order.assignee == TECH.user_id


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


async def test_check_slas_escalates_only_the_sites_it_is_given(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    """Two workers splitting the sites each escalate their own orders, none twice."""
    south = replace(RAISED, device=DeviceRef("south", "elevator", "elev-01"))
    await services.handle_signal(uow, RAISED, clock, ids())
    await services.handle_signal(uow, south, clock, ids())
    clock.advance(minutes=11)  # both P1 orders past their 10-minute response

    def escalated(check: services.SlaCheck) -> list[str]:
        return sorted(uow.work_orders.items[e.order_id].site for e in check.escalations)

    assert escalated(await services.check_slas(uow, POLICY, clock, sites=["north"])) == ["north"]
    assert escalated(await services.check_slas(uow, POLICY, clock, sites=["north"])) == []
    assert escalated(await services.check_slas(uow, POLICY, clock, sites=["south"])) == ["south"]
    assert escalated(await services.check_slas(uow, POLICY, clock)) == []


async def test_acknowledge_alarm(uow: FakeUnitOfWork, clock: FakeClock) -> None:
    outcome = await services.handle_signal(uow, RAISED, clock, ids())
    assert outcome.alarm is not None
    clock.advance(minutes=2)
    alarm = await services.acknowledge_alarm(uow, outcome.alarm.id, MANAGER, clock)
    assert (alarm.acknowledged_by, alarm.acknowledged_at) == (MANAGER, T0 + timedelta(minutes=2))
    with pytest.raises(NotFound):
        await services.acknowledge_alarm(uow, "ALM-404", MANAGER, clock)
    other = await services.handle_signal(uow, replace(RAISED, rule="door_reversals"), clock)
    assert other.alarm is not None
    with pytest.raises(NotFound, match=f"^no alarm {other.alarm.id}$"):
        await services.acknowledge_alarm(
            uow, other.alarm.id, MANAGER, clock, visible=lambda alarm: False
        )
    assert other.alarm.acknowledged_by is None
    with pytest.raises(AlreadyAcknowledged, match=r"already acknowledged by mgr-1 \(manager\)"):
        await services.acknowledge_alarm(uow, outcome.alarm.id, MANAGER, clock)


P2_RAISED = replace(RAISED, priority="P2")  # a fault that may clear by itself


async def test_an_order_whose_only_alarm_cleared_unacknowledged_closes_self_cleared(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    opened = await services.handle_signal(uow, P2_RAISED, clock, ids())
    order = opened.work_order
    assert order is not None
    await services.perform(uow, cmd.Assign(order.id, TECH.user_id), MANAGER, clock, POLICY)
    clock.advance(minutes=3)
    cleared = await services.handle_signal(
        uow, replace(P2_RAISED, kind="cleared", at=T0 + timedelta(minutes=3)), clock, ids()
    )
    assert cleared.work_order is order
    assert (order.status, order.resolution) == (Status.CLOSED, Resolution.SELF_CLEARED)
    assert order.closed_at == T0 + timedelta(minutes=3)
    assert (order.resolved_at, order.acknowledged_at) == (None, None)  # no repair, no response
    assert [(e.subject, e.action, e.from_status, e.to_status) for e in cleared.events] == [
        ("alarm", "cleared", None, None),
        ("work_order", "self_cleared", "assigned", "closed"),
    ]
    assert order.allowed_actions == allowed_actions(Status.CLOSED)  # as any closed order
    # The fault returning opens a new order, linked to this one as a repeat fault.
    again = await services.handle_signal(uow, P2_RAISED, clock, ids())
    assert again.work_order is not None
    assert again.work_order.repeat_of == order.id


async def test_a_p1_order_never_self_clears(uow: FakeUnitOfWork, clock: FakeClock) -> None:
    opened = await services.handle_signal(uow, RAISED, clock, ids())  # P1
    cleared = await services.handle_signal(uow, replace(RAISED, kind="cleared"), clock, ids())
    assert cleared.work_order is None
    assert opened.work_order is not None
    assert (opened.work_order.status, opened.work_order.resolution) == (Status.NEW, None)


@pytest.mark.parametrize("acknowledged", ["order", "alarm"])
async def test_an_acknowledged_order_or_alarm_does_not_self_clear(
    uow: FakeUnitOfWork, clock: FakeClock, acknowledged: str
) -> None:
    opened = await services.handle_signal(uow, P2_RAISED, clock, ids())
    order, alarm = opened.work_order, opened.alarm
    assert order is not None
    assert alarm is not None
    if acknowledged == "order":
        await services.perform(uow, cmd.Assign(order.id, TECH.user_id), MANAGER, clock, POLICY)
        await services.perform(uow, cmd.Acknowledge(order.id), TECH, clock, POLICY)
    else:
        await services.acknowledge_alarm(uow, alarm.id, MANAGER, clock)
    cleared = await services.handle_signal(uow, replace(P2_RAISED, kind="cleared"), clock, ids())
    assert cleared.work_order is None
    assert order.resolution is None
    assert order.status is (Status.ACKNOWLEDGED if acknowledged == "order" else Status.NEW)
    if acknowledged == "order":
        with pytest.raises(InvalidRequest, match="cannot close as self-cleared"):
            order.close_self_cleared(T0)


@pytest.mark.parametrize(
    ("assignee", "reason"),
    [
        ("nobody", "unknown"),
        ("gone", "inactive"),
        ("res-1", "role"),
        ("elsewhere", "site"),
    ],
)
async def test_an_order_goes_only_to_someone_who_can_take_it(
    clock: FakeClock, assignee: str, reason: str
) -> None:
    uow = FakeUnitOfWork(
        TECH_ACCOUNT,
        Worker("gone", "technician", active=False, sites=frozenset({"north"})),
        Worker("res-1", "resident", active=True, sites=frozenset({"north"})),
        Worker("elsewhere", "technician", active=True, sites=frozenset({"south"})),
        Worker("boss", "manager", active=True, sites=frozenset()),
    )
    outcome = await services.handle_signal(uow, RAISED, clock, ids())
    assert outcome.work_order is not None
    order_id = outcome.work_order.id
    commits = uow.commits
    with pytest.raises(NotAssignable, match=assignee) as refused:
        await services.perform(uow, cmd.Assign(order_id, assignee), MANAGER, clock, POLICY)
    assert refused.value.reason == reason
    order = uow.work_orders.items[order_id]
    assert (order.status, order.assignee, uow.commits) == (Status.NEW, None, commits)
    # A manager sees every site and may take any order; a technician of its site too.
    for taker in ("boss", TECH.user_id):
        result = await services.perform(uow, cmd.Assign(order_id, taker), MANAGER, clock, POLICY)
        assert result.order.assignee == taker
