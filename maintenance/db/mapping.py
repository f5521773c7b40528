"""Alarms and work orders to table rows and back.

A domain object becomes a set of rows, each keyed by (table, primary key): an alarm is
one ``alarm`` row; a work order is its ``work_order`` row (with its SLA due time, so the
list reads the domain's answer) plus one row per list item
(notes, holds, approvals, verifications, escalations sent, linked alarms, arrivals)
keyed by its position in the list, and a rescue order's ``work_order_rescue`` row. The
unit of work diffs these row sets to write only what changed; the unit of work and the
read models both load orders with :func:`load_order_items` and :func:`order_from_rows`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, cast

from sqlalchemy import (
    CompoundSelect,
    Label,
    Select,
    Table,
    bindparam,
    exists,
    literal_column,
    select,
    union_all,
)

from maintenance.db.engine import Reads
from maintenance.db.rescue_tables import WorkOrderArrivalRow, WorkOrderRescueRow
from maintenance.db.tables import (
    AlarmRow,
    WorkOrderAlarmRow,
    WorkOrderApprovalRow,
    WorkOrderEscalationRow,
    WorkOrderHoldRow,
    WorkOrderNoteRow,
    WorkOrderRow,
    WorkOrderVerificationRow,
)
from maintenance.domain.actors import Actor, Role
from maintenance.domain.alarms import Alarm
from maintenance.domain.rescue import ChainStep, Rescue, RescueTargets, Stage
from maintenance.domain.signals import DeviceRef, Priority, Severity
from maintenance.domain.sla import MINUTE, SlaPolicy, order_due_at
from maintenance.domain.workorders import (
    Approval,
    Arrival,
    Hold,
    Note,
    Rating,
    Resolution,
    SentEscalation,
    Source,
    Status,
    Verification,
    WorkOrder,
)

Row = dict[str, Any]
RowData = Mapping[Any, Any]  # a row as read: a dict or SQLAlchemy's RowMapping
RowKey = tuple[Table, tuple[Any, ...]]
Rows = dict[RowKey, Row]

ALARM: Table = AlarmRow.__table__  # type: ignore[assignment]
WORK_ORDER: Table = WorkOrderRow.__table__  # type: ignore[assignment]
RESCUE: Table = WorkOrderRescueRow.__table__  # type: ignore[assignment]


def key(table: Table, row: RowData) -> RowKey:
    return table, tuple(row[column.name] for column in table.primary_key.columns)


def _actor(user: str | None, role: str | None) -> Actor | None:
    return None if user is None or role is None else Actor(user, cast(Role, role))


def _by(row: RowData) -> Actor:
    return Actor(row["by_user"], cast(Role, row["by_role"]))


def _actor_columns(prefix: str, actor: Actor | None) -> Row:
    return {
        f"{prefix}_user": actor.user_id if actor else None,
        f"{prefix}_role": actor.role if actor else None,
    }


# -- alarms ------------------------------------------------------------------------------


def alarm_rows(alarm: Alarm) -> Rows:
    row: Row = {
        "id": alarm.id,
        "rule": alarm.rule,
        "site": alarm.device.site,
        "device_type": alarm.device.device_type,
        "device_id": alarm.device.device_id,
        "building": alarm.building,
        "severity": alarm.severity,
        "priority": alarm.priority,
        "fault_kind": alarm.fault_kind,
        "message": alarm.message,
        "raised_at": alarm.raised_at,
        "last_seen": alarm.last_seen,
        "count": alarm.count,
        **_actor_columns("acknowledged_by", alarm.acknowledged_by),
        "acknowledged_at": alarm.acknowledged_at,
        "cleared_at": alarm.cleared_at,
        "work_order_id": alarm.work_order_id,
        "code": alarm.code,
    }
    return {key(ALARM, row): row}


def alarm_from_row(row: RowData) -> Alarm:
    return Alarm(
        id=row["id"],
        rule=row["rule"],
        device=DeviceRef(row["site"], row["device_type"], row["device_id"]),
        severity=cast(Severity, row["severity"]),
        priority=cast(Priority | None, row["priority"]),
        fault_kind=row["fault_kind"],
        message=row["message"],
        raised_at=row["raised_at"],
        last_seen=row["last_seen"],
        building=row["building"],
        count=row["count"],
        acknowledged_by=_actor(row["acknowledged_by_user"], row["acknowledged_by_role"]),
        acknowledged_at=row["acknowledged_at"],
        cleared_at=row["cleared_at"],
        work_order_id=row["work_order_id"],
        code=row["code"],
    )


# -- work orders -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemList:
    """One of a work order's lists, stored one row per item in ``table``."""

    table: Table
    attribute: str
    dump: Callable[[Any], Row]
    load: Callable[[RowData], Any]


def _items(
    row_class: type,
    attribute: str,
    dump: Callable[[Any], Row],
    load: Callable[[RowData], Any],
) -> ItemList:
    return ItemList(row_class.__table__, attribute, dump, load)  # type: ignore[attr-defined]


ITEM_LISTS: tuple[ItemList, ...] = (
    _items(
        WorkOrderAlarmRow,
        "alarm_ids",
        lambda alarm_id: {"alarm_id": alarm_id},
        lambda row: row["alarm_id"],
    ),
    _items(
        WorkOrderNoteRow,
        "notes",
        lambda note: {
            **_actor_columns("by", note.by),
            "at": note.at,
            "text": note.text,
            "public": note.public,
        },
        lambda row: Note(by=_by(row), at=row["at"], text=row["text"], public=row["public"]),
    ),
    _items(
        WorkOrderHoldRow,
        "holds",
        lambda hold: {
            **_actor_columns("by", hold.by),
            "reason": hold.reason,
            "started_at": hold.started_at,
            "ended_at": hold.ended_at,
        },
        lambda row: Hold(
            by=_by(row),
            reason=row["reason"],
            started_at=row["started_at"],
            ended_at=row["ended_at"],
        ),
    ),
    _items(
        WorkOrderApprovalRow,
        "approvals",
        lambda approval: {
            **_actor_columns("by", approval.by),
            "at": approval.at,
            "approved": approval.approved,
            "amount": approval.amount,
            "reason": approval.reason,
        },
        lambda row: Approval(
            by=_by(row),
            at=row["at"],
            approved=row["approved"],
            amount=row["amount"],
            reason=row["reason"],
        ),
    ),
    _items(
        WorkOrderVerificationRow,
        "verifications",
        lambda check: {
            **_actor_columns("by", check.by),
            "at": check.at,
            "passed": check.passed,
            "note": check.note,
        },
        lambda row: Verification(by=_by(row), at=row["at"], passed=row["passed"], note=row["note"]),
    ),
    _items(
        WorkOrderEscalationRow,
        "escalations",
        lambda sent: {
            "clock": sent.clock,
            "level": sent.level,
            "notify": sent.notify,
            "at": sent.at,
        },
        lambda row: SentEscalation(
            clock=row["clock"], level=row["level"], notify=row["notify"], at=row["at"]
        ),
    ),
    _items(
        WorkOrderArrivalRow,
        "arrivals",
        lambda arrival: {
            **_actor_columns("by", arrival.by),
            "at": arrival.at,
            "latitude": arrival.latitude,
            "longitude": arrival.longitude,
        },
        lambda row: Arrival(
            by=_by(row), at=row["at"], latitude=row["latitude"], longitude=row["longitude"]
        ),
    ),
)
CHILD_TABLES: tuple[Table, ...] = (*(spec.table for spec in ITEM_LISTS), RESCUE)
"""The tables holding an order's rows besides ``work_order``."""


def _rescue_row(order_id: str, rescue: Rescue) -> Row:
    targets = rescue.targets
    return {
        "order_id": order_id,
        "stage": rescue.stage.value,
        "reported_at": rescue.reported_at,
        "responded_at": rescue.responded_at,
        "arrived_at": rescue.arrived_at,
        "released_at": rescue.released_at,
        "ended_at": rescue.ended_at,
        "false_alarm_reason": rescue.false_alarm_reason,
        "respond_within_min": targets.respond_within // MINUTE,
        "arrive_within_min": targets.arrive_within // MINUTE,
        "contracted_maintainer": targets.contracted_maintainer,
        "chain": [
            {
                "level": step.level,
                "notify": step.notify,
                "party": step.party,
                "after_min": step.after // MINUTE,
            }
            for step in targets.chain
        ],
    }


def _rescue_from_row(row: RowData) -> Rescue:
    targets = RescueTargets(
        respond_within=row["respond_within_min"] * MINUTE,
        arrive_within=row["arrive_within_min"] * MINUTE,
        contracted_maintainer=row["contracted_maintainer"],
        chain=tuple(
            ChainStep(step["level"], step["notify"], step["party"], step["after_min"] * MINUTE)
            for step in row["chain"]
        ),
    )
    return Rescue(
        targets=targets,
        reported_at=row["reported_at"],
        stage=Stage(row["stage"]),
        responded_at=row["responded_at"],
        arrived_at=row["arrived_at"],
        released_at=row["released_at"],
        ended_at=row["ended_at"],
        false_alarm_reason=row["false_alarm_reason"],
    )


def order_rows(order: WorkOrder, policy: SlaPolicy) -> Rows:
    """The order's rows, with its due time under ``policy``."""
    rating = order.rating
    row: Row = {
        "id": order.id,
        "title": order.title,
        "asset": order.asset,
        "site": order.site,
        "location": order.location,
        "category": order.category,
        "fault_kind": order.fault_kind,
        "priority": order.priority,
        "source": order.source,
        "status": order.status.value,
        "created_at": order.created_at,
        **_actor_columns("created_by", order.created_by),
        "requested_by": order.requested_by,
        "description": order.description,
        "repeat_of": order.repeat_of,
        "assignee": order.assignee,
        "entered_at": {
            status.value: at.astimezone(UTC).isoformat() for status, at in order.entered_at.items()
        },
        "acknowledged_at": order.acknowledged_at,
        "first_feedback_at": order.first_feedback_at,
        "resolved_at": order.resolved_at,
        "resolvers": list(order.resolvers),
        "closed_at": order.closed_at,
        "cost_estimate": order.cost_estimate,
        "cost_actual": order.cost_actual,
        **_actor_columns("rating_by", rating.by if rating else None),
        "rating_at": rating.at if rating else None,
        "rating_stars": rating.stars if rating else None,
        "rating_comment": rating.comment if rating else None,
        "cancel_reason": order.cancel_reason,
        "resolution": None if order.resolution is None else order.resolution.value,
        "due_at": order_due_at(order, policy),
        "due_policy": policy.due_fingerprint,
        "code": order.code,
    }
    rows = {key(WORK_ORDER, row): row}
    for items in ITEM_LISTS:
        for position, item in enumerate(getattr(order, items.attribute)):
            item_row = {"order_id": order.id, "position": position, **items.dump(item)}
            rows[key(items.table, item_row)] = item_row
    if order.rescue is not None:
        rescue_row = _rescue_row(order.id, order.rescue)
        rows[key(RESCUE, rescue_row)] = rescue_row
    return rows


OrderItems = dict[str, dict[Table, list[RowData]]]
"""Each order's list rows, by order id and list table, in position order."""


_PROBE_MAX: Final = 200
"""Up to this many orders (a detail, a page), one query first asks which child tables
hold any of their rows; beyond it the probe's bound parameters (one per order and table)
would approach SQLite's limit, and a report's many orders use most tables anyway."""


async def load_order_items(
    session: Reads, order_ids: Sequence[str], tables: Sequence[Table] | None = None
) -> OrderItems:
    """The list rows (notes, holds, ...) and rescue rows of ``order_ids``: one query per
    table that holds any of them (``tables`` when the caller already knows which:
    :func:`holding_columns`)."""
    items: OrderItems = {order_id: {} for order_id in order_ids}
    if not order_ids:
        return items
    if tables is None:
        tables = (
            await _tables_holding(session, order_ids)
            if len(order_ids) <= _PROBE_MAX
            else CHILD_TABLES
        )
    for table in tables:
        found = await session.execute(_ITEMS[table], {"ids": list(order_ids)})
        for item in found.mappings():
            items[item["order_id"]].setdefault(table, []).append(item)
    return items


_ITEMS: Final[dict[Table, Select[Any]]] = {
    table: select(table)
    .where(table.c.order_id.in_(bindparam("ids", expanding=True)))
    .order_by(table.c.order_id, *(c for c in table.primary_key.columns if c.name == "position"))
    for table in CHILD_TABLES
}
"""Each child table's rows of some orders, built once (see :data:`_HOLDING`)."""


_HOLDING: Final[CompoundSelect[Any]] = union_all(
    *(
        select(literal_column(str(n))).where(
            exists().where(table.c.order_id.in_(bindparam("ids", expanding=True)))
        )
        for n, table in enumerate(CHILD_TABLES)
    )
)
"""The positions in CHILD_TABLES of the tables with a row of one of ``ids``; built once,
as building it took longer than running it."""


async def _tables_holding(session: Reads, order_ids: Sequence[str]) -> list[Table]:
    """Those of :data:`CHILD_TABLES` with a row of one of ``order_ids``, in one query: an
    order has few kinds of item, and each query costs far more than its few rows (a round
    trip to PostgreSQL, a thread hop on SQLite's writer), so eight queries for mostly
    nothing were a detail's largest cost."""
    found = set((await session.scalars(_HOLDING, {"ids": list(order_ids)})).all())
    return [table for n, table in enumerate(CHILD_TABLES) if n in found]


def holding_columns() -> list[Label[bool]]:
    """For a query of one ``work_order`` row: whether each of :data:`CHILD_TABLES` holds a
    row of it, as columns ``holds_<n>``, so an order's read learns which tables to load
    without a probe of its own (:func:`tables_held`)."""
    return [
        exists().where(table.c.order_id == WORK_ORDER.c.id).label(f"holds_{n}")
        for n, table in enumerate(CHILD_TABLES)
    ]


def tables_held(row: RowData) -> list[Table]:
    """The tables a row with :func:`holding_columns` says hold some of the order's rows."""
    return [table for n, table in enumerate(CHILD_TABLES) if row[f"holds_{n}"]]


def order_from_rows(row: RowData, items: Mapping[Table, Sequence[RowData]]) -> WorkOrder:
    """``items``: each list table's rows of this order, in position order."""
    rating_by = _actor(row["rating_by_user"], row["rating_by_role"])
    lists = {
        spec.attribute: [spec.load(r) for r in items.get(spec.table, ())] for spec in ITEM_LISTS
    }
    return WorkOrder(
        id=row["id"],
        title=row["title"],
        asset=row["asset"],
        site=row["site"],
        location=row["location"],
        category=row["category"],
        fault_kind=row["fault_kind"],
        priority=cast(Priority, row["priority"]),
        source=cast(Source, row["source"]),
        created_at=row["created_at"],
        status=Status(row["status"]),
        created_by=_actor(row["created_by_user"], row["created_by_role"]),
        requested_by=row["requested_by"],
        description=row["description"],
        repeat_of=row["repeat_of"],
        assignee=row["assignee"],
        entered_at={Status(s): datetime.fromisoformat(at) for s, at in row["entered_at"].items()},
        acknowledged_at=row["acknowledged_at"],
        first_feedback_at=row["first_feedback_at"],
        resolved_at=row["resolved_at"],
        resolvers=list(row["resolvers"]),
        closed_at=row["closed_at"],
        cost_estimate=row["cost_estimate"],
        cost_actual=row["cost_actual"],
        rating=None
        if rating_by is None
        else Rating(
            by=rating_by,
            at=row["rating_at"],
            stars=row["rating_stars"],
            comment=row["rating_comment"],
        ),
        cancel_reason=row["cancel_reason"],
        resolution=None if row["resolution"] is None else Resolution(row["resolution"]),
        alarm_ids=lists["alarm_ids"],
        notes=lists["notes"],
        holds=lists["holds"],
        approvals=lists["approvals"],
        verifications=lists["verifications"],
        escalations=lists["escalations"],
        arrivals=lists["arrivals"],
        rescue=_rescue_from_row(items[RESCUE][0]) if items.get(RESCUE) else None,
        code=row["code"],
    )
