"""A site's routing table for the committee's and the residents' notices (pure).

| notice | from | default audience |
|---|---|---|
| ``approval_needed`` | ``work_order.request_approval``: a cost awaits approval | ``committee`` |
| ``proposal_opened`` | ``proposal.created``: a fund proposal for the committee | ``committee`` |
| ``vote_opened`` | ``proposal.vote_opened``: the owners' vote is open | ``committee`` |
| ``vote_decided`` | ``proposal.decided``: its result (or the emergency decision) | ``committee`` |
| ``request_update`` | a resident's request moves to assigned, acknowledged, | ``requester`` |
| | in progress, resolved or closed; is put on hold or cancelled (with | |
| | the staff's reason); the owners' supervisor confirms the fix for them | |
| ``digest`` | (time) once a day at ``digest_at`` (:mod:`.digest`) | ``committee`` |

An audience is a list of roles (the site's active users of that role: ``committee``,
``manager``, ``supervisor``, ``admin``, ``technician``), ``requester`` (the resident who
raised the request, and only for ``request_update``: nobody else's request reaches a
resident) and ``groups`` (the site's chat robots). An empty list turns a notice off. The
P1, rescue, "assigned to you", pre-breach and breach notices are routed by
:func:`maintenance.domain.notices.route`, as the promise to respond in 10 minutes needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from maintenance.domain.committee_notices import (
    PROPOSAL_NOTICES,
    ProposalFacts,
    ProposalNotice,
    render_proposal,
)
from maintenance.domain.digest import DigestFacts, render_digest
from maintenance.domain.notices import (
    REQUEST_STATES,
    Language,
    NoticeKind,
    OrderFacts,
    Routed,
    render,
)
from maintenance.domain.workorders import TRANSITIONS

__all__ = [
    "DEFAULT_ROUTES",
    "ORDER_ACTIONS",
    "ROLES",
    "Audience",
    "RoutedKind",
    "addressed",
    "order_notice",
    "proposal_notice",
    "render_notice",
]

Role = Literal["committee", "manager", "supervisor", "admin", "technician"]
Audience = Literal[
    "committee", "manager", "supervisor", "admin", "technician", "requester", "groups"
]
RoutedKind = Literal[
    "approval_needed", "proposal_opened", "vote_opened", "vote_decided", "request_update", "digest"
]
ROLES: Final[tuple[Role, ...]] = ("committee", "manager", "supervisor", "admin", "technician")

DEFAULT_ROUTES: Final[Mapping[RoutedKind, tuple[Audience, ...]]] = {
    "approval_needed": ("committee",),
    "proposal_opened": ("committee",),
    "vote_opened": ("committee",),
    "vote_decided": ("committee",),
    "request_update": ("requester",),
    "digest": ("committee",),
}


ORDER_ACTIONS: Final = frozenset(
    {"work_order.request_approval"}
    | {
        f"work_order.{action.value}"
        for action, moves in TRANSITIONS.items()
        if REQUEST_STATES & {after.value for before, after in moves.items() if after != before}
    }
)
"""The audited actions on an order :func:`order_notice` may answer (the others never)."""


def order_notice(
    action: str,
    from_state: str | None,
    to_state: str | None,
    source: str,
    *,
    actor: str,
    requester: str | None,
) -> RoutedKind | None:
    """The table's notice an audited action on a work order calls for, if any: a cost
    awaiting approval, or a resident's request changing to a state they are told of.
    ``actor`` is the entry's (``role:user_id``), ``requester`` the request's resident: a
    resident who confirmed the fix is not told so, one for whom the owners' supervisor
    confirmed it is."""
    if action == "work_order.request_approval":
        return "approval_needed"
    if source != "resident" or to_state == from_state or to_state not in REQUEST_STATES:
        return None
    if to_state == "verified" and actor == f"resident:{requester}":
        return None
    return "request_update"


def proposal_notice(action: str) -> ProposalNotice | None:
    return PROPOSAL_NOTICES.get(action)


def addressed(
    kind: RoutedKind,
    audience: Iterable[Audience],
    people: Mapping[str, Sequence[str]],
    requester: str | None = None,
) -> Routed:
    """``kind`` for the ``audience``: ``people`` are the site's active users by role,
    ``requester`` the resident of the request (used only for ``request_update``)."""
    users: list[str] = []
    groups = False
    for each in audience:
        if each == "groups":
            groups = True
        elif each == "requester":
            if kind == "request_update" and requester is not None:
                users.append(requester)
        else:
            users.extend(people.get(each, ()))
    return Routed(kind, tuple(dict.fromkeys(users)), groups=groups)


def render_notice(
    kind: NoticeKind,
    facts: Mapping[str, Any],
    language: Language,
    *,
    now: datetime,
    link: str,
    count: int = 1,
    window: timedelta = timedelta(0),
) -> tuple[str, str]:
    """The subject and text of a stored notice, from its kind and facts as JSON."""
    if kind == "digest":
        return render_digest(DigestFacts.from_json(facts), language, link=link)
    if kind in ("proposal_opened", "vote_opened", "vote_decided"):
        return render_proposal(kind, ProposalFacts.from_json(facts), language, link=link)
    return render(
        kind, OrderFacts.from_json(facts), language, now=now, link=link, count=count, window=window
    )
