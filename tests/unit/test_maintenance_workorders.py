"""The work-order state machine: every (state, action) pair, and the rules on who may act."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from maintenance.domain.actors import Actor
from maintenance.domain.errors import IllegalTransition, InvalidRequest, NotPermitted
from maintenance.domain.workorders import (
    RESCUE_STEPS,
    TRANSITIONS,
    Action,
    Status,
    WorkOrder,
    format_order_id,
    repeat_of,
)

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
THRESHOLD = Decimal(5000)
TECH = Actor("tech-1", "technician")
TECH2 = Actor("tech-2", "technician")
MANAGER = Actor("mgr-1", "manager")
COMMITTEE = Actor("com-1", "committee")
SUPERVISOR = Actor("sup-1", "supervisor")
RESIDENT = Actor("res-1", "resident")
NEIGHBOUR = Actor("res-2", "resident")

S, A = Status, Action
BEFORE_RESOLVED = [s for s in Status if s not in (S.RESOLVED, S.VERIFIED, S.CLOSED, S.CANCELLED)]
# Written out from the issue and the module docstring, independently of TRANSITIONS.
# Absent pairs must raise IllegalTransition.
EXPECTED: dict[tuple[Status, Action], Status] = {
    (S.NEW, A.ASSIGN): S.ASSIGNED,
    (S.ASSIGNED, A.ASSIGN): S.ASSIGNED,
    (S.ACKNOWLEDGED, A.ASSIGN): S.ASSIGNED,
    (S.IN_PROGRESS, A.ASSIGN): S.ASSIGNED,
    (S.REOPENED, A.ASSIGN): S.ASSIGNED,
    (S.ASSIGNED, A.ACKNOWLEDGE): S.ACKNOWLEDGED,
    (S.ACKNOWLEDGED, A.START): S.IN_PROGRESS,
    (S.APPROVED, A.START): S.IN_PROGRESS,
    (S.REJECTED, A.START): S.IN_PROGRESS,
    (S.REOPENED, A.START): S.IN_PROGRESS,
    (S.ACKNOWLEDGED, A.HOLD): S.ON_HOLD,
    (S.IN_PROGRESS, A.HOLD): S.ON_HOLD,
    (S.APPROVED, A.HOLD): S.ON_HOLD,
    (S.ON_HOLD, A.RESUME): S.IN_PROGRESS,
    (S.ACKNOWLEDGED, A.REQUEST_APPROVAL): S.AWAITING_APPROVAL,
    (S.IN_PROGRESS, A.REQUEST_APPROVAL): S.AWAITING_APPROVAL,
    (S.REJECTED, A.REQUEST_APPROVAL): S.AWAITING_APPROVAL,
    (S.AWAITING_APPROVAL, A.APPROVE): S.APPROVED,
    (S.AWAITING_APPROVAL, A.REJECT): S.REJECTED,
    (S.ACKNOWLEDGED, A.RESOLVE): S.RESOLVED,
    (S.IN_PROGRESS, A.RESOLVE): S.RESOLVED,
    (S.RESOLVED, A.VERIFY): S.VERIFIED,
    (S.RESOLVED, A.FAIL_VERIFICATION): S.REOPENED,
    (S.VERIFIED, A.CLOSE): S.CLOSED,
    **{
        (state, A.CANCEL): S.CANCELLED
        for state in Status
        if state not in (S.RESOLVED, S.VERIFIED, S.CLOSED, S.CANCELLED)
    },
    **{(state, A.RATE): state for state in (S.RESOLVED, S.VERIFIED, S.CLOSED)},
    **{(state, A.COMMENT): state for state in Status},
    **{(state, A.SET_COST): state for state in Status if state is not S.CANCELLED},
    # Arrival on site: any order before resolved, except on hold.
    **{(state, A.ARRIVE): state for state in BEFORE_RESOLVED if state is not S.ON_HOLD},
    # Rescue orders only (tests/unit/test_maintenance_rescue.py walks their timeline).
    **{(state, A.RELEASE): state for state in BEFORE_RESOLVED},
    (S.ACKNOWLEDGED, A.RETURN_TO_SERVICE): S.RESOLVED,
    (S.IN_PROGRESS, A.RETURN_TO_SERVICE): S.RESOLVED,
    **{(state, A.FALSE_ALARM): S.CANCELLED for state in BEFORE_RESOLVED},
}

# Who performs each action, and with what, in the table-driven test.
CALLS: dict[Action, tuple[Actor, dict[str, Any]]] = {
    A.ASSIGN: (MANAGER, {"assignee": "tech-2"}),
    A.ACKNOWLEDGE: (TECH, {}),
    A.START: (TECH, {"approval_threshold": THRESHOLD}),
    A.HOLD: (TECH, {"reason": "waiting for a door operator"}),
    A.RESUME: (TECH, {"approval_threshold": THRESHOLD}),
    A.REQUEST_APPROVAL: (MANAGER, {}),
    A.APPROVE: (COMMITTEE, {}),
    A.REJECT: (COMMITTEE, {"reason": "get a second quote"}),
    A.RESOLVE: (TECH2, {"approval_threshold": THRESHOLD}),
    A.VERIFY: (SUPERVISOR, {}),
    A.FAIL_VERIFICATION: (SUPERVISOR, {"reason": "door still slow"}),
    A.CLOSE: (MANAGER, {}),
    A.CANCEL: (MANAGER, {"reason": "duplicate"}),
    A.RATE: (RESIDENT, {"stars": 4}),
    A.COMMENT: (TECH, {"text": "on my way"}),
    A.SET_COST: (MANAGER, {"estimate": Decimal(300)}),
    A.ARRIVE: (TECH, {"latitude": 31.2, "longitude": 121.5}),
}


def act(order: WorkOrder, action: Action, minutes: int = 1) -> None:
    actor, kwargs = CALLS[action]
    method: Callable[..., None] = getattr(order, action.value)
    method(actor, T0 + timedelta(minutes=minutes), **kwargs)


def new_order(**overrides: Any) -> WorkOrder:
    fields: dict[str, Any] = {
        "id": "WO-2026-000007",
        "title": "Lift door slow to close",
        "asset": "north/elevator/elev-01",
        "site": "north",
        "category": "elevator",
        "fault_kind": "door",
        "priority": "P3",
        "source": "resident",
        "now": T0,
        "created_by": RESIDENT,
        "requested_by": RESIDENT.user_id,
    }
    return WorkOrder.open(**(fields | overrides))


# A path of actions from new to each state. Every order gets a cost estimate first (below
# the threshold), so approval can be requested wherever the table allows it.
PATHS: dict[Status, list[Action]] = {
    S.NEW: [],
    S.ASSIGNED: [A.ASSIGN],
    S.ACKNOWLEDGED: [A.ASSIGN, A.ACKNOWLEDGE],
    S.IN_PROGRESS: [A.ASSIGN, A.ACKNOWLEDGE, A.START],
    S.ON_HOLD: [A.ASSIGN, A.ACKNOWLEDGE, A.START, A.HOLD],
    S.AWAITING_APPROVAL: [A.ASSIGN, A.ACKNOWLEDGE, A.REQUEST_APPROVAL],
    S.APPROVED: [A.ASSIGN, A.ACKNOWLEDGE, A.REQUEST_APPROVAL, A.APPROVE],
    S.REJECTED: [A.ASSIGN, A.ACKNOWLEDGE, A.REQUEST_APPROVAL, A.REJECT],
    S.RESOLVED: [A.ASSIGN, A.ACKNOWLEDGE, A.START, A.RESOLVE],
    S.VERIFIED: [A.ASSIGN, A.ACKNOWLEDGE, A.START, A.RESOLVE, A.VERIFY],
    S.CLOSED: [A.ASSIGN, A.ACKNOWLEDGE, A.START, A.RESOLVE, A.VERIFY, A.CLOSE],
    S.REOPENED: [A.ASSIGN, A.ACKNOWLEDGE, A.START, A.RESOLVE, A.FAIL_VERIFICATION],
    S.CANCELLED: [A.CANCEL],
}


def order_in(status: Status) -> WorkOrder:
    order = new_order()
    order.set_cost(MANAGER, T0, estimate=Decimal(300))
    for minute, action in enumerate(PATHS[status], start=1):
        act(order, action, minute)
    assert order.status is status
    order.pull_events()
    return order


def test_the_table_as_data_matches_the_specification() -> None:
    as_pairs = {(s, a): t for a, sources in TRANSITIONS.items() for s, t in sources.items()}
    assert as_pairs == EXPECTED


@pytest.mark.parametrize(
    ("state", "action"),
    list(itertools.product(Status, (a for a in Action if a not in RESCUE_STEPS))),
    ids=lambda v: str(v),
)
def test_every_state_and_action(state: Status, action: Action) -> None:
    order = order_in(state)
    target = EXPECTED.get((state, action))
    if target is None:
        with pytest.raises(IllegalTransition) as caught:
            act(order, action, 60)
        message = str(caught.value)
        assert order.id in message
        assert f"cannot {action.value} while {state.value}" in message
        assert order.status is state
        assert order.pull_events() == []
        return
    act(order, action, 60)
    assert order.status is target
    [event] = order.pull_events()
    assert (event.action, event.from_status, event.to_status) == (action, state, target)
    assert event.actor == CALLS[action][0]
    assert event.at == T0 + timedelta(minutes=60)


def test_illegal_transition_lists_the_allowed_actions() -> None:
    order = order_in(S.ON_HOLD)
    with pytest.raises(
        IllegalTransition, match=r"allowed in on_hold: cancel, comment, resume, set_cost"
    ):
        act(order, A.RESOLVE)


def test_the_resolver_can_never_verify_even_after_a_reopen() -> None:
    resolver_supervisor = Actor("sup-9", "supervisor")
    order = order_in(S.IN_PROGRESS)
    order.resolve(resolver_supervisor, T0 + timedelta(hours=1), approval_threshold=THRESHOLD)
    resolved_it = r"sup-9 \(supervisor\) resolved this order"
    with pytest.raises(NotPermitted, match=resolved_it):
        order.verify(resolver_supervisor, T0 + timedelta(hours=2))
    with pytest.raises(NotPermitted, match=resolved_it):
        order.fail_verification(resolver_supervisor, T0 + timedelta(hours=2), reason="x")
    order.fail_verification(SUPERVISOR, T0 + timedelta(hours=2), reason="still broken")
    order.start(TECH, T0 + timedelta(hours=3), approval_threshold=THRESHOLD)
    order.resolve(TECH, T0 + timedelta(hours=4), approval_threshold=THRESHOLD)
    with pytest.raises(NotPermitted):
        order.verify(resolver_supervisor, T0 + timedelta(hours=5))
    assert order.status is S.RESOLVED
    assert order.resolvers == ["sup-9", "tech-1"]


@pytest.mark.parametrize("actor", [MANAGER, COMMITTEE, NEIGHBOUR, Actor("adm", "admin")])
def test_only_a_supervisor_or_the_requesting_resident_verifies(actor: Actor) -> None:
    order = order_in(S.RESOLVED)
    with pytest.raises(NotPermitted, match="supervisor or the requesting resident"):
        order.verify(actor, T0 + timedelta(hours=1))
    order.verify(RESIDENT, T0 + timedelta(hours=1), note="door closes fine")
    assert order.verifications[-1].by == RESIDENT
    assert order.verifications[-1].passed


def test_failed_verification_reopens_and_clears_the_resolution() -> None:
    order = order_in(S.RESOLVED)
    assert order.resolved_at is not None
    order.fail_verification(RESIDENT, T0 + timedelta(hours=1), reason="still slow")
    assert order.status is S.REOPENED
    assert order.resolved_at is None
    assert not order.verifications[-1].passed


def test_work_cannot_go_on_above_the_threshold_without_approval() -> None:
    order = order_in(S.ACKNOWLEDGED)
    order.set_cost(MANAGER, T0, estimate=Decimal("8000.00"))
    for attempt in (order.start, order.resolve):
        with pytest.raises(NotPermitted, match=r"8000\.00 exceeds the approval threshold 5000"):
            attempt(TECH, T0, approval_threshold=THRESHOLD)
    assert order.status is S.ACKNOWLEDGED

    order.request_approval(MANAGER, T0 + timedelta(minutes=5))
    with pytest.raises(NotPermitted, match="committee"):
        order.approve(MANAGER, T0 + timedelta(minutes=6))
    order.approve(COMMITTEE, T0 + timedelta(minutes=7), reason="fund vote 2026-03")
    [approval] = order.approvals
    assert (approval.by, approval.at, approval.amount) == (
        COMMITTEE,
        T0 + timedelta(minutes=7),
        Decimal("8000.00"),
    )
    order.start(TECH, T0 + timedelta(minutes=8), approval_threshold=THRESHOLD)

    # A larger estimate than the approved one needs approval again before work resumes.
    order.hold(TECH, T0 + timedelta(minutes=9), reason="parts")
    order.set_cost(MANAGER, T0 + timedelta(minutes=10), estimate=Decimal("9000"))
    with pytest.raises(NotPermitted):
        order.resume(TECH, T0 + timedelta(minutes=11), approval_threshold=THRESHOLD)
    assert order.holds[-1].ended_at is None  # still on hold


def test_after_a_rejection_a_cheaper_plan_may_start() -> None:
    order = order_in(S.ACKNOWLEDGED)
    order.set_cost(MANAGER, T0, estimate=Decimal(8000))
    order.request_approval(MANAGER, T0)
    order.reject(COMMITTEE, T0, reason="too expensive")
    with pytest.raises(NotPermitted):
        order.start(TECH, T0, approval_threshold=THRESHOLD)
    order.set_cost(MANAGER, T0, estimate=Decimal(5000))
    order.start(TECH, T0, approval_threshold=THRESHOLD)
    assert order.status is S.IN_PROGRESS
    assert [a.approved for a in order.approvals] == [False]


def test_request_approval_needs_an_estimate() -> None:
    order = new_order()
    order.assign(MANAGER, T0, assignee="tech-1")
    order.acknowledge(TECH, T0)
    with pytest.raises(InvalidRequest, match="cost estimate"):
        order.request_approval(MANAGER, T0)


@pytest.mark.parametrize("stars", [0, 6, True, 3.5])
def test_rating_is_one_to_five(stars: Any) -> None:
    with pytest.raises(InvalidRequest, match="1 to 5"):
        order_in(S.VERIFIED).rate(RESIDENT, T0, stars=stars)


def test_rating_only_by_the_requesting_resident_and_once() -> None:
    order = order_in(S.CLOSED)
    for other in (NEIGHBOUR, MANAGER):
        with pytest.raises(NotPermitted, match="only the resident who requested it"):
            order.rate(other, T0, stars=5)
    order.rate(RESIDENT, T0, stars=2, comment="slow")
    with pytest.raises(InvalidRequest, match="already rated"):
        order.rate(RESIDENT, T0, stars=5)
    assert order.rating is not None
    assert order.rating.stars == 2


def test_first_feedback_is_a_visible_staff_note_not_an_acknowledgement() -> None:
    order = order_in(S.ASSIGNED)
    order.acknowledge(TECH, T0 + timedelta(minutes=3))
    order.comment(TECH, T0 + timedelta(minutes=4), text="internal", public=False)
    order.comment(RESIDENT, T0 + timedelta(minutes=5), text="any news?")
    assert order.first_feedback_at is None
    order.comment(TECH, T0 + timedelta(minutes=6), text="parts ordered, back at 3 pm")
    order.start(TECH, T0 + timedelta(minutes=7), approval_threshold=THRESHOLD)
    assert order.first_feedback_at == T0 + timedelta(minutes=6)
    assert order.acknowledged_at == T0 + timedelta(minutes=3)


def test_reasons_are_required() -> None:
    order = order_in(S.IN_PROGRESS)
    with pytest.raises(InvalidRequest, match="hold needs a reason"):
        order.hold(TECH, T0, reason="   ")
    with pytest.raises(InvalidRequest, match="cancel needs a reason"):
        order.cancel(MANAGER, T0, reason="")
    assert order.status is S.IN_PROGRESS


def test_format_order_id() -> None:
    assert format_order_id(2026, 123) == "WO-2026-000123"
    assert format_order_id(2027, 1) == "WO-2027-000001"


def test_repeat_window_is_thirty_days_from_closing() -> None:
    old = order_in(S.CLOSED)
    assert old.closed_at is not None
    assert repeat_of(old, old.closed_at + timedelta(days=30)) == old.id
    assert repeat_of(old, old.closed_at + timedelta(days=30, minutes=1)) is None
    assert repeat_of(order_in(S.RESOLVED), T0) is None
    assert repeat_of(None, T0) is None


def test_creation_time_must_be_timezone_aware() -> None:
    with pytest.raises(InvalidRequest, match="has no timezone"):
        new_order(now=T0.replace(tzinfo=None))


def test_an_uncoded_order_takes_the_code_of_an_attached_alarm_a_coded_one_keeps_its_own() -> None:
    reported = new_order()  # a resident's report: no GB/T 24476 code
    reported.attach_alarm("ALM-1", T0 + timedelta(minutes=1), "P1", "11")
    assert reported.code == "11"
    reported.attach_alarm("ALM-2", T0 + timedelta(minutes=2), "P1", "01")
    assert reported.code == "11", "the first code stays: the fault the order is about"
    plain = new_order()
    plain.attach_alarm("ALM-3", T0 + timedelta(minutes=1), "P2")
    assert plain.code is None
