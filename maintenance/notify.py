"""What the outside world is told: domain events and escalations to webhook events.

:func:`webhook_events` is the pure mapping (tested without a server); :func:`notify`
hands its result to a running :class:`~maintenance.webhooks.WebhookSender`. Both the
maintenance worker (alarms, SLA escalations) and the API (staff and committee actions)
call :func:`notify` after their unit of work has committed.

| webhook event | when |
|---|---|
| ``work_order.created_p1`` | a work order is created with priority P1, or raised to P1 |
| ``sla.breached`` | an SLA clock passes an escalation level (once per clock and level) |
| ``approval.needed`` | spending on an order awaits the committee's approval |
| ``vote.needed`` | an owners' vote on a proposal is opened |
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from maintenance.domain.events import DomainEvent
from maintenance.domain.sla import Escalation
from maintenance.webhooks import EventType, WebhookSender


def webhook_events(
    events: Iterable[DomainEvent], escalations: Iterable[Escalation] = ()
) -> list[tuple[EventType, dict[str, Any]]]:
    out: list[tuple[EventType, dict[str, Any]]] = []
    for event in events:
        if event.subject != "work_order":
            continue
        # "created" names the order's priority; "priority_raised" the one it was raised to.
        priority = event.detail.get(
            {"created": "priority", "priority_raised": "to"}.get(event.action, "")
        )
        if priority == "P1":
            out.append(("work_order.created_p1", _describe(event)))
        elif event.action == "request_approval":
            out.append(("approval.needed", _describe(event)))
        elif event.action == "vote_opened":
            out.append(("vote.needed", _describe(event)))
    for escalation in escalations:
        out.append(
            (
                "sla.breached",
                {
                    "work_order": escalation.order_id,
                    "clock": escalation.clock,
                    "level": escalation.level,
                    "notify": escalation.notify,
                    "priority": escalation.priority,
                    "overdue_minutes": escalation.overdue_minutes,
                },
            )
        )
    return out


def notify(
    sender: WebhookSender | None,
    events: Iterable[DomainEvent],
    escalations: Iterable[Escalation] = (),
) -> None:
    if sender is None:
        return
    for event_type, data in webhook_events(events, escalations):
        sender.publish(event_type, data)


def _describe(event: DomainEvent) -> dict[str, Any]:
    return {
        "work_order" if event.subject == "work_order" else event.subject: event.subject_id,
        "action": event.action,
        "at": event.at.isoformat(),
        "actor": event.actor.user_id if event.actor else None,
        "status": event.to_status,
        "reason": event.reason,
        **dict(event.detail),
    }
