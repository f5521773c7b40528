"""Domain events: one per change of an alarm or a work order.

Domain objects append them; the service layer collects them and turns them into audit
rows, webhooks and notifications. They are not persisted with the object itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from maintenance.domain.actors import Actor

Subject = Literal["alarm", "work_order"]


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """``actor`` None means the system (a rule, the alarm policy, the SLA scheduler).

    ``from_status``/``to_status`` are set for work-order actions (equal for actions that
    keep the state, such as a note); ``detail`` carries action-specific values as text.
    """

    subject: Subject
    subject_id: str
    action: str
    at: datetime
    actor: Actor | None = None
    from_status: str | None = None
    to_status: str | None = None
    reason: str | None = None
    detail: Mapping[str, str] = field(default_factory=dict)
