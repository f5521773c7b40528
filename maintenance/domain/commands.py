"""Work-order commands: what a caller asks of an order, as data.

One frozen dataclass per state-machine action (:class:`~.workorders.Action`), carrying
the order's id and that action's arguments and nothing else: who asks and when come
from the caller's context, the spending threshold from the SLA policy. The service layer
(:func:`maintenance.services.perform`) runs a command through its handler map, so mypy
checks every field a handler reads and every command a caller builds; an unknown action
or a missing argument is a type error, not a runtime lookup.

``OrderCommand`` is the union of them all; ``action`` names the state-machine action a
command performs (and the audit trail records).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

from maintenance.domain.workorders import Action

__all__ = [
    "Acknowledge",
    "Approve",
    "Arrive",
    "Assign",
    "Cancel",
    "Close",
    "Comment",
    "FailVerification",
    "FalseAlarm",
    "Hold",
    "OrderCommand",
    "Rate",
    "Reject",
    "Release",
    "RequestApproval",
    "Resolve",
    "Resume",
    "ReturnToService",
    "SetCost",
    "Start",
    "Verify",
]


@dataclass(frozen=True, slots=True)
class Assign:
    action: ClassVar[Action] = Action.ASSIGN
    order_id: str
    assignee: str


@dataclass(frozen=True, slots=True)
class Acknowledge:
    action: ClassVar[Action] = Action.ACKNOWLEDGE
    order_id: str


@dataclass(frozen=True, slots=True)
class Start:
    action: ClassVar[Action] = Action.START
    order_id: str


@dataclass(frozen=True, slots=True)
class Hold:
    action: ClassVar[Action] = Action.HOLD
    order_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Resume:
    action: ClassVar[Action] = Action.RESUME
    order_id: str


@dataclass(frozen=True, slots=True)
class RequestApproval:
    action: ClassVar[Action] = Action.REQUEST_APPROVAL
    order_id: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Approve:
    action: ClassVar[Action] = Action.APPROVE
    order_id: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Reject:
    action: ClassVar[Action] = Action.REJECT
    order_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Resolve:
    action: ClassVar[Action] = Action.RESOLVE
    order_id: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Verify:
    action: ClassVar[Action] = Action.VERIFY
    order_id: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class FailVerification:
    action: ClassVar[Action] = Action.FAIL_VERIFICATION
    order_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Close:
    action: ClassVar[Action] = Action.CLOSE
    order_id: str


@dataclass(frozen=True, slots=True)
class Cancel:
    action: ClassVar[Action] = Action.CANCEL
    order_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Rate:
    action: ClassVar[Action] = Action.RATE
    order_id: str
    stars: int
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class Comment:
    action: ClassVar[Action] = Action.COMMENT
    order_id: str
    text: str
    public: bool = True


@dataclass(frozen=True, slots=True)
class SetCost:
    action: ClassVar[Action] = Action.SET_COST
    order_id: str
    estimate: Decimal | None = None
    actual: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Arrive:
    action: ClassVar[Action] = Action.ARRIVE
    order_id: str
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True, slots=True)
class Release:
    action: ClassVar[Action] = Action.RELEASE
    order_id: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class ReturnToService:
    action: ClassVar[Action] = Action.RETURN_TO_SERVICE
    order_id: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class FalseAlarm:
    action: ClassVar[Action] = Action.FALSE_ALARM
    order_id: str
    reason: str


OrderCommand = (
    Assign
    | Acknowledge
    | Start
    | Hold
    | Resume
    | RequestApproval
    | Approve
    | Reject
    | Resolve
    | Verify
    | FailVerification
    | Close
    | Cancel
    | Rate
    | Comment
    | SetCost
    | Arrive
    | Release
    | ReturnToService
    | FalseAlarm
)
