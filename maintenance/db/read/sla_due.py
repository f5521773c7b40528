"""An order's SLA due time as a SQL expression, so the work-order list can filter and sort
on due and overdue.

**Due and overdue** are computed in SQL from the SLA policy given to the query, not
stored, so a changed policy applies at once. A clock still running (response until the
first acknowledgement, feedback until the first feedback, resolution until resolved) is
due at ``created_at + target(priority) + time on hold``; an open order is *overdue* when
one of its running clocks is past due, which is :meth:`SlaClocks.of`'s ``breached`` for the
clocks still running. The order's *due* time is the earliest of them (none when no clock
runs). Holds are rare, so their sum is a correlated subquery on the hold table's key. A
hold that began after a clock was already late moves the list's due time as well, where
:class:`SlaClocks` keeps the instant the target was reached; both agree on overdue.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Final

from sqlalchemy import ColumnElement, and_, bindparam, case, func, select

from maintenance.db.mapping import WORK_ORDER
from maintenance.db.read.dialect import Epoch, Least
from maintenance.db.tables import UtcDateTime, WorkOrderHoldRow
from maintenance.domain.signals import Priority
from maintenance.domain.sla import ClockName, SlaPolicy
from maintenance.domain.workorders import TERMINAL, Status

__all__ = ["NEVER", "NOW_PARAM", "OPEN_STATUSES", "due_epoch"]

WO = WORK_ORDER.c
HOLD = WorkOrderHoldRow.__table__.c

NEVER: Final = 1e12
""""No clock running": sorts after every real due time (epoch seconds)."""
NOW_PARAM: Final = "due_now"
"""The bound parameter a query using :func:`due_epoch` passes its ``now`` as."""
OPEN_STATUSES: Final = tuple(s.value for s in Status if s not in TERMINAL)

_STOPS: Final[Mapping[ClockName, ColumnElement[Any]]] = {
    "response": WO.acknowledged_at,
    "feedback": WO.first_feedback_at,
    "resolution": WO.resolved_at,
}


@functools.lru_cache(maxsize=16)
def due_epoch(policy: SlaPolicy) -> ColumnElement[float]:
    """Epoch seconds when the order's earliest running clock is due, or :data:`NEVER`.

    Built once per policy (building it costs more than running it); the time the holds
    run to is the bound parameter :data:`NOW_PARAM`.
    """
    now_param = bindparam(NOW_PARAM, type_=UtcDateTime())
    held = (
        select(
            func.coalesce(
                func.sum(Epoch(func.coalesce(HOLD.ended_at, now_param)) - Epoch(HOLD.started_at)),
                0.0,
            )
        )
        .where(HOLD.order_id == WO.id)
        .scalar_subquery()
    )
    priorities: tuple[Priority, ...] = ("P1", "P2", "P3", "P4")
    targets = [
        case(
            (
                stop.is_(None),
                case(
                    {p: policy.for_priority(p).for_clock(name).total_seconds() for p in priorities},
                    value=WO.priority,
                    else_=NEVER,
                ),
            ),
            else_=NEVER,
        )
        for name, stop in _STOPS.items()
    ]
    earliest = Least(*targets)
    is_open = WO.status.in_(OPEN_STATUSES)
    return case(
        (and_(is_open, earliest < NEVER), Epoch(WO.created_at) + earliest + held),
        else_=NEVER,
    )
