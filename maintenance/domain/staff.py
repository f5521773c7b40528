"""Who may be given a work order. Pure: the service layer looks the person up
(:meth:`maintenance.domain.ports.PeopleDirectory.worker`) and asks :func:`check_assignee`.

An order goes to a person who can work it: an active account of a staff role
(:data:`~maintenance.domain.actors.STAFF_ROLES`, the roles the JSON API lets act on an
order). A technician works only at the sites their account lists (they see no other
site's orders); admins and managers see every site and may take any order.
"""

from __future__ import annotations

from dataclasses import dataclass

from maintenance.domain.actors import STAFF_ROLES, Role
from maintenance.domain.errors import NotAssignable

__all__ = ["Worker", "check_assignee"]


@dataclass(frozen=True, slots=True)
class Worker:
    """A person as an assignee: what decides whether they may take an order."""

    username: str
    role: Role
    active: bool
    sites: frozenset[str]


def check_assignee(order_id: str, site: str, username: str, person: Worker | None) -> None:
    """Raise :class:`NotAssignable` unless ``person`` (the account named ``username``,
    None when there is none) may take order ``order_id`` at ``site``."""
    if person is None:
        raise NotAssignable(order_id, username, "unknown", "there is no such person")
    if not person.active:
        raise NotAssignable(order_id, username, "inactive", "their account is deactivated")
    if person.role not in STAFF_ROLES:
        raise NotAssignable(
            order_id,
            username,
            "role",
            f"a {person.role} does not work orders ({', '.join(sorted(STAFF_ROLES))} do)",
        )
    if person.role == "technician" and site not in person.sites:
        raise NotAssignable(order_id, username, "site", f"they do not work at site {site}")
