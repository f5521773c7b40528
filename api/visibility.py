"""Which records a caller may see, once the route's role policy has let them in.

| role | work orders | alarms, assets, telemetry |
|---|---|---|
| admin, manager, committee, supervisor | all | all |
| technician | assigned to them, or unassigned at a site they work at | at their sites |
| resident | those they requested | none (the route policies keep them out) |

A record the caller may not see is reported exactly like a missing one (same status 404,
same message), so a 404 never reveals that someone else's record exists. Actions hand the
``can_see_*`` predicates to the service (``visible=``), which checks them on the record it
changes, in the same transaction; lists use the ``*_scope`` functions as SQL filters, so
paging counts only visible rows.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import ColumnElement, and_, false, or_

from api.users import User
from maintenance.db.read.changes import Change
from maintenance.db.tables import AlarmRow, WorkOrderRow
from maintenance.domain.actors import Role
from maintenance.domain.alarms import Alarm
from maintenance.domain.workorders import WorkOrder

__all__ = [
    "SEE_ALL",
    "alarm_scope",
    "can_see_alarm",
    "can_see_change",
    "can_see_order",
    "can_see_site",
    "order_scope",
    "site_scope",
]

SEE_ALL: Final[frozenset[Role]] = frozenset({"admin", "manager", "committee", "supervisor"})


def can_see_order(user: User, order: WorkOrder) -> bool:
    return _sees_order(user, order.site, order.assignee, order.requested_by)


def _sees_order(user: User, site: str, assignee: str | None, requested_by: str | None) -> bool:
    if user.role in SEE_ALL:
        return True
    if user.role == "technician":
        return assignee == user.username or (assignee is None and site in user.sites)
    return requested_by == user.username


def can_see_site(user: User, site: str) -> bool:
    """Assets, alarms and telemetry of a site: technicians only their own sites."""
    if user.role in SEE_ALL:
        return True
    return user.role == "technician" and site in user.sites


def can_see_alarm(user: User, alarm: Alarm) -> bool:
    return can_see_site(user, alarm.device.site)


def can_see_change(user: User, change: Change) -> bool:
    """An entry of the change feed: by the order's or alarm's current facts; entries
    about anything else (proposals, users) only for those who see everything."""
    facts = change.facts
    if facts is None:
        return user.role in SEE_ALL
    if change.entity_type == "work_order":
        return _sees_order(user, facts.site, facts.assignee, facts.requested_by)
    return can_see_site(user, facts.site)


def order_scope(user: User) -> ColumnElement[bool] | None:
    """A WHERE clause on ``work_order`` for the orders ``user`` sees; None: all."""
    if user.role in SEE_ALL:
        return None
    if user.role == "technician":
        unassigned_here = and_(
            WorkOrderRow.assignee.is_(None), WorkOrderRow.site.in_(list(user.sites))
        )
        return or_(WorkOrderRow.assignee == user.username, unassigned_here)
    return WorkOrderRow.requested_by == user.username


def site_scope(user: User, site_column: ColumnElement[str]) -> ColumnElement[bool] | None:
    """A WHERE clause on any site-code column; None: all sites."""
    if user.role in SEE_ALL:
        return None
    if user.role == "technician":
        return site_column.in_(list(user.sites))
    return false()


def alarm_scope(user: User) -> ColumnElement[bool] | None:
    return site_scope(user, AlarmRow.site)  # type: ignore[arg-type]
