"""The indexes the work-order and alarm lists rely on.

Each list filter (site, status, assignee, requester) gets an index ending in the keyset
sort, with the tie-breaking id so an index serves the whole ORDER BY of a page: a page of
50 out of 100,000 orders reads about 50 index entries instead of scanning the table.
A site's *open* orders have their own partial index (revision 0022): a page of a filter
that few open orders match (P1 and P2) otherwise walked every order the site ever had.
Declaring them puts them on the tables' metadata (the model registry,
:mod:`maintenance.db.models`, imports this module), which the migrations are compared
with; revision 0004 created them (0011 the technician's).
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import Index

from maintenance.db.mapping import ALARM, WORK_ORDER
from maintenance.db.tables import OPEN_ORDER

__all__ = ["READ_INDEXES"]

WO = WORK_ORDER.c

READ_INDEXES: Final = (
    Index("ix_work_order_created_at_id", WO.created_at, WO.id),
    Index("ix_work_order_site_created_at_id", WO.site, WO.created_at, WO.id),
    # A site's open orders, newest first (revision 0022). A planner uses a partial index
    # only when the query's WHERE holds its predicate's very words: the list adds them
    # (work_orders.OPEN_ONLY) when it asks for open statuses only.
    Index(
        "ix_work_order_open_site_created_at_id",
        WO.site,
        WO.created_at,
        WO.id,
        sqlite_where=OPEN_ORDER,
        postgresql_where=OPEN_ORDER,
    ),
    Index("ix_work_order_status_created_at_id", WO.status, WO.created_at, WO.id),
    Index("ix_work_order_assignee_created_at_id", WO.assignee, WO.created_at, WO.id),
    Index("ix_work_order_requested_by_created_at_id", WO.requested_by, WO.created_at, WO.id),
    Index("ix_work_order_priority_id", WO.priority, WO.id),
    # A technician's open work (revision 0011): both halves of api.visibility's
    # "assigned to me, or unassigned at my sites" search open rows only.
    Index("ix_work_order_status_assignee_site", WO.status, WO.assignee, WO.site),
    Index("ix_alarm_raised_at_id", ALARM.c.raised_at, ALARM.c.id),
    Index("ix_alarm_site_raised_at_id", ALARM.c.site, ALARM.c.raised_at, ALARM.c.id),
)
