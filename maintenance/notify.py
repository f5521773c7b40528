"""What the outside world is told: audit entries to webhook events (pure, no I/O).

Every change is audited in the transaction that makes it, so the audit trail is the
webhooks' outbox: :class:`~maintenance.webhook_relay.WebhookRelay` reads it and sends
what :func:`webhook_event` makes of each entry.

| webhook event | audit action |
|---|---|
| ``work_order.created_p1`` | ``work_order.created`` as P1, ``work_order.priority_raised`` to P1 |
| ``approval.needed`` | ``work_order.request_approval``: spending awaits the committee |
| ``sla.breached`` | ``work_order.escalated``: an SLA clock passed a level (once each) |
| ``vote.needed`` | ``proposal.vote_opened``: an owners' vote on a proposal is open |

(``regulator.report``, from ``alarm.raised`` and ``alarm.cleared`` of coded alarms, is
made by :mod:`maintenance.regulator_feed`, which needs the cars' registration codes.)

The event's ``id`` is the audit entry's id: the same on every re-send, so receivers can
drop repeats. ``data`` names the entity (``{"work_order": id}`` or ``{"proposal": id}``),
the ``action``, its time ``at``, the ``actor`` as audited (``role:user_id``, or
``system``), the ``status`` it led to, the ``reason`` and the entry's detail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from maintenance.db.tables import AuditRow
from maintenance.webhooks import EventType

__all__ = ["OutboundEvent", "raises_p1", "webhook_event"]

# The key of the detail naming the priority an action gave the order.
_PRIORITY_KEY: Final = {"work_order.created": "priority", "work_order.priority_raised": "to"}
_PLAIN: Final[dict[str, EventType]] = {
    "work_order.request_approval": "approval.needed",
    "work_order.escalated": "sla.breached",
    "proposal.vote_opened": "vote.needed",
}


@dataclass(frozen=True, slots=True)
class OutboundEvent:
    id: str
    type: EventType
    data: dict[str, Any]


def raises_p1(action: str, detail: Mapping[str, Any]) -> bool:
    """Whether an audited action made a P1 order (created as P1, or raised to P1)."""
    priority_key = _PRIORITY_KEY.get(action)
    return priority_key is not None and detail.get(priority_key) == "P1"


def webhook_event(row: AuditRow) -> OutboundEvent | None:
    """The webhook event an audit entry calls for, if any (at most one per entry)."""
    if row.action in _PRIORITY_KEY:
        if not raises_p1(row.action, row.detail):
            return None
        event_type: EventType = "work_order.created_p1"
    elif row.action in _PLAIN:
        event_type = _PLAIN[row.action]
    else:
        return None
    return OutboundEvent(str(row.id), event_type, _describe(row))


def _describe(row: AuditRow) -> dict[str, Any]:
    data: dict[str, Any] = {
        row.entity_type: row.entity_id,
        "action": row.action.partition(".")[2],
        "at": row.at.isoformat(),
        "actor": row.actor,
        "status": row.to_state,
        "reason": row.reason,
        **row.detail,
    }
    if row.action == "work_order.escalated":
        # Audited as text, as all domain event detail.
        data["level"] = int(data["level"])
        if "overdue_minutes" in data:
            data["overdue_minutes"] = int(data["overdue_minutes"])
    return data
