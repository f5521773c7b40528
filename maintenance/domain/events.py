"""Domain events: one per change of an alarm, a work order, a spending proposal, a
maintenance visit or plan.

Domain objects append them; the service layer collects them and turns them into audit
rows, webhooks and notifications. They are not persisted with the object itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from maintenance.domain.actors import Actor

Subject = Literal["alarm", "work_order", "proposal", "visit", "plan"]
JsonValue = str | int | float | bool | None | Sequence["JsonValue"] | Mapping[str, "JsonValue"]


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """``actor`` None means the system (a rule, the alarm policy, the SLA scheduler).

    ``from_status``/``to_status`` are set for work-order and proposal actions (equal for
    actions that keep the state, such as a note); ``detail`` carries action-specific
    values as plain JSON (work orders and alarms use text only).
    """

    subject: Subject
    subject_id: str
    action: str
    at: datetime
    actor: Actor | None = None
    from_status: str | None = None
    to_status: str | None = None
    reason: str | None = None
    detail: Mapping[str, JsonValue] = field(default_factory=dict)
