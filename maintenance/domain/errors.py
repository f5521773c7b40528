"""Errors the maintenance domain raises on purpose.

    EstatewatchError                (estatewatch.errors)
    +-- DomainError                 a maintenance rule refused a change
        +-- IllegalTransition       the action is not allowed in the order's current state
        +-- NotPermitted            the state allows it, but not for this actor
        +-- InvalidRequest          the arguments break a rule (a rating of 7, no reason...)
        |   +-- NotAssignable       the order's assignee cannot take it (no such person,
        |   |                       deactivated, not staff, not at the order's site)
        |   +-- AssetRefused        a new order's asset is malformed, at another site than
        |                           the order, or a device not in the asset register
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


AssetProblem = Literal["malformed", "site-mismatch", "unknown"]


class AssetRefused(InvalidRequest):
    """A new order names an asset it cannot be about; ``code`` says why (the API answers
    a 422 of kind ``asset-<code>``): ``malformed`` (neither a device's nor a place's
    key), ``site-mismatch`` (the key's site is not the order's), ``unknown`` (a device
    the site's asset register does not have)."""

    def __init__(self, code: AssetProblem, why: str) -> None:
        self.code = code
        super().__init__(why)


class NotFound(DomainError):  # noqa: N818
    """No alarm or work order with the given id."""


class AlreadyOpen(DomainError):  # noqa: N818
    """An open work order already covers this (asset, fault kind). ``order_id`` is None
    when the caller may not see that order: the message then does not name it either."""

    def __init__(self, order_id: str | None, asset: str, fault_kind: str) -> None:
        self.order_id = order_id
        if order_id is None:
            said = f"an order is already open for {fault_kind} on {asset}; it is being handled"
        else:
            said = (
                f"work order {order_id} is already open for {fault_kind} on {asset}; "
                "add to it instead of opening another"
            )
        super().__init__(said)


class AlreadyAcknowledged(DomainError):  # noqa: N818
    """The alarm was acknowledged before (the message names by whom)."""


class CommitteeConflict(DomainError):  # noqa: N818
    """The proposal's or vote's state forbids the step (already decided, vote open...)."""


class PhotoRejected(DomainError):  # noqa: N818
    """An uploaded photo was refused: not a JPEG/PNG/WebP, damaged, or too many pixels."""


class PhotoTooLarge(PhotoRejected):
    """An uploaded photo's file is larger than the limit."""
