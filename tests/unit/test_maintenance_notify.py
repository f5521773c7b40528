"""Which audit entries become which webhooks (maintenance/notify.py).

Entries are made as the unit of work makes them (:func:`entry_from_event` on the domain
object's events), so a renamed action or detail key fails here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from maintenance.db.tables import AuditRow
from maintenance.domain.actors import Actor
from maintenance.domain.audit import AuditEntry, entry_from_event
from maintenance.domain.workorders import WorkOrder
from maintenance.notify import OutboundEvent, webhook_event

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
MANAGER = Actor("li", "manager")
_ids = iter(range(100, 1000))


def row(entry: AuditEntry) -> AuditRow:
    """The entry as stored, with the next id (hashes play no part in the mapping)."""
    return AuditRow(
        id=next(_ids),
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        entity_type=entry.entity_type,
        entity_id=entry.entity_id,
        from_state=entry.from_state,
        to_state=entry.to_state,
        reason=entry.reason,
        detail=dict(entry.detail),
    )


def announced(order: WorkOrder) -> list[OutboundEvent]:
    rows = [row(entry_from_event(event)) for event in order.pull_events()]
    return [event for r in rows if (event := webhook_event(r)) is not None]


def opened(priority: str) -> WorkOrder:
    return WorkOrder.open(
        id="WO-2026-000001",
        title="entrapment",
        asset="demo/elevator/elev-02",
        site="demo",
        category="elevator",
        fault_kind="entrapment",
        priority=priority,  # type: ignore[arg-type]
        source="alarm",
        now=NOW,
    )


def test_only_p1_orders_are_announced_when_created_with_the_entry_id_as_event_id() -> None:
    assert announced(opened("P2")) == []
    order = opened("P1")
    created = row(entry_from_event(order.pull_events()[0]))
    event = webhook_event(created)
    assert event is not None
    assert (event.id, event.type) == (str(created.id), "work_order.created_p1")
    assert event.data["work_order"] == "WO-2026-000001"
    assert event.data["asset"] == "demo/elevator/elev-02"
    assert event.data["actor"] == "system"
    assert event.data["at"] == "2026-11-24T09:00:00+00:00"


def test_an_order_raised_to_p1_is_announced_once() -> None:
    order = opened("P3")
    order.pull_events()
    order.attach_alarm("ALM-2", NOW, "P1")
    [event] = announced(order)
    assert (event.type, event.data["action"], event.data["to"]) == (
        "work_order.created_p1",
        "priority_raised",
        "P1",
    )


def test_approval_requests_and_escalations_are_announced_and_notes_are_not() -> None:
    order = opened("P2")
    order.assign(MANAGER, NOW, assignee="wang")
    order.acknowledge(Actor("wang", "technician"), NOW)
    order.comment(MANAGER, NOW, text="looked at it")
    order.set_cost(MANAGER, NOW, estimate=Decimal("12000"))
    order.request_approval(MANAGER, NOW, reason="new motor")
    order.record_escalation("response", 2, "committee", NOW, overdue_minutes=75)
    approval, breach = announced(order)
    assert approval.type == "approval.needed"
    assert (approval.data["actor"], approval.data["status"]) == ("manager:li", "awaiting_approval")
    assert approval.data["reason"] == "new motor"
    assert breach.type == "sla.breached"
    keys = ("work_order", "clock", "level", "notify", "priority", "overdue_minutes")
    assert {k: breach.data[k] for k in keys} == {
        "work_order": "WO-2026-000001",
        "clock": "response",
        "level": 2,
        "notify": "committee",
        "priority": "P2",
        "overdue_minutes": 75,
    }


def test_an_opened_vote_is_announced_with_its_proposal() -> None:
    entry = AuditEntry(
        NOW, "manager:li", "proposal.vote_opened", "proposal", "PR-7", "open", "open",
        detail={"owners_total": 120, "area_total_m2": "9800.5"},
    )  # fmt: skip
    event = webhook_event(row(entry))
    assert event is not None
    assert (event.type, event.data["proposal"]) == ("vote.needed", "PR-7")
    assert event.data["owners_total"] == 120
    decided = AuditEntry(NOW, "committee:ana", "proposal.decided", "proposal", "PR-7")
    assert webhook_event(row(decided)) is None
