"""Errors the maintenance domain raises on purpose.

    EstatewatchError                (estatewatch.errors)
    +-- DomainError                 a maintenance rule refused a change
        +-- IllegalTransition       the action is not allowed in the order's current state
        +-- NotPermitted            the state allows it, but not for this actor
        +-- InvalidRequest          the arguments break a rule (a rating of 7, no reason...)
        |   +-- NotAssignable       the order's assignee cannot take it (no such person,
        |                           deactivated, not staff, not at the order's site)
        +-- NotFound                no alarm or work order with that id
        +-- AlreadyOpen             an open order already covers this (asset, fault kind)
        +-- AlreadyAcknowledged     someone acknowledged this alarm before
        +-- CommitteeConflict       a spending proposal's state forbids the step
        +-- PhotoRejected           an uploaded photo is not an image we accept
            +-- PhotoTooLarge       ... because its file is over the size limit

Each message names what was tried and why it was refused, so the API can pass it on as is.
The names read as verdicts (``raise NotPermitted``), hence no ``Error`` suffix (N818).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from estatewatch.errors import EstatewatchError


class DomainError(EstatewatchError):
    """A maintenance rule refused a change."""


class IllegalTransition(DomainError):  # noqa: N818
    """An action that the work-order state machine does not allow from the current state."""

    def __init__(self, order_id: str, state: str, action: str, allowed: Iterable[str]) -> None:
        self.order_id = order_id
        self.state = state
        self.action = action
        self.allowed = tuple(sorted(allowed))
        listed = ", ".join(self.allowed) or "none"
        super().__init__(
            f"work order {order_id}: cannot {action} while {state}; allowed in {state}: {listed}"
        )


class NotPermitted(DomainError):  # noqa: N818
    """The actor may not do this, whatever the state (e.g. a resolver verifying)."""


class InvalidRequest(DomainError):  # noqa: N818
    """The action's arguments break a rule (missing reason, rating out of 1-5, ...)."""


class NotAssignable(InvalidRequest):
    """An order was to go to someone who cannot take it; ``reason`` says why, as a code
    (``unknown``, ``inactive``, ``role``, ``site``) that pages translate."""

    def __init__(
        self,
        order_id: str,
        username: str,
        reason: Literal["unknown", "inactive", "role", "site"],
        why: str,
    ) -> None:
        self.order_id, self.username, self.reason = order_id, username, reason
        super().__init__(f"work order {order_id}: cannot assign it to {username!r}: {why}")


class NotFound(DomainError):  # noqa: N818
    """No alarm or work order with the given id."""


class AlreadyOpen(DomainError):  # noqa: N818
    """An open work order already covers this (asset, fault kind)."""

    def __init__(self, order_id: str, asset: str, fault_kind: str) -> None:
        self.order_id = order_id
        super().__init__(
            f"work order {order_id} is already open for {fault_kind} on {asset}; "
            "add to it instead of opening another"
        )


class AlreadyAcknowledged(DomainError):  # noqa: N818
    """The alarm was acknowledged before (the message names by whom)."""


class CommitteeConflict(DomainError):  # noqa: N818
    """The proposal's or vote's state forbids the step (already decided, vote open...)."""


class PhotoRejected(DomainError):  # noqa: N818
    """An uploaded photo was refused: not a JPEG/PNG/WebP, damaged, or too many pixels."""


class PhotoTooLarge(PhotoRejected):
    """An uploaded photo's file is larger than the limit."""
