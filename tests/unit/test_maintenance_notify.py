"""Which domain events and escalations become which webhooks (maintenance/notify.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from maintenance.domain.actors import Actor
from maintenance.domain.events import DomainEvent
from maintenance.domain.sla import Escalation
from maintenance.domain.workorders import WorkOrder
from maintenance.notify import webhook_events

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
MANAGER = Actor("li", "manager")


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


def test_only_p1_orders_are_announced_when_created() -> None:
    assert [t for t, _ in webhook_events(opened("P2").pull_events())] == []
    [(kind, data)] = webhook_events(opened("P1").pull_events())
    assert kind == "work_order.created_p1"
    assert data["work_order"] == "WO-2026-000001"
    assert data["asset"] == "demo/elevator/elev-02"


def test_an_order_raised_to_p1_is_announced_once() -> None:
    order = opened("P3")
    order.pull_events()
    order.attach_alarm("ALM-2", NOW, "P1")
    kinds = [t for t, _ in webhook_events(order.pull_events())]
    assert kinds == ["work_order.created_p1"]


def test_approval_requests_and_escalations_are_announced() -> None:
    asked = DomainEvent(
        "work_order", "WO-2026-000007", "request_approval", NOW, MANAGER, "in_progress",
        "awaiting_approval", detail={"amount": "12000"},
    )  # fmt: skip
    noted = DomainEvent("work_order", "WO-2026-000007", "comment", NOW, MANAGER)
    breach = Escalation("WO-2026-000007", "response", 2, "committee", "P1", timedelta(minutes=75))
    out = webhook_events([asked, noted], [breach])
    assert [t for t, _ in out] == ["approval.needed", "sla.breached"]
    assert out[0][1]["amount"] == "12000"
    assert out[1][1] == {
        "work_order": "WO-2026-000007",
        "clock": "response",
        "level": 2,
        "notify": "committee",
        "priority": "P1",
        "overdue_minutes": 75,
    }
