"""The SQL adapter of :class:`maintenance.domain.ports.UnitOfWork`.

``SqlUnitOfWork(sessions)`` opens a session (one transaction) per ``async with`` block.
Alarms and work orders that are added or loaded are *tracked* in an identity map (one
object per id within the block); before every query and at ``commit()`` the tracked
objects are turned into rows (:mod:`maintenance.db.mapping`) and only the rows that
differ from what was last read or written are inserted, updated or deleted. So queries
see the unit's own changes, and nothing needs an explicit save.

Spending proposals (``proposals``, :class:`maintenance.db.committee.SqlProposals`) are
ORM rows in the session instead: SQLAlchemy tracks their changes, and each flush first
copies the tracked proposals onto their rows. The site register (``sites``,
:class:`maintenance.db.site_import.SqlSites`) and the API's users and tokens
(``accounts``, :class:`maintenance.db.accounts.SqlAccounts`) write their rows and audit
entries straight into the unit's transaction, as do the webhook relay's mark
(``webhook_cursor``, :class:`maintenance.db.webhook_cursor.SqlWebhookCursor`), the
work orders' photos (``photos``, :class:`maintenance.db.photos.SqlPhotos`), the
maintenance plans and visit records (``plans`` and ``visits``, :mod:`maintenance.db.plans`)
the elevator inspections (``inspections``,
:class:`maintenance.db.inspections.SqlInspections`) and the notification relay's outbox
(``notifications``, :class:`maintenance.db.notifications.SqlNotifications`), and the
quarantine of unknown senders (``quarantine``, :class:`maintenance.db.quarantine.SqlQuarantine`).

SLA due times: each work-order row carries the order's due time
(:func:`maintenance.domain.sla.order_due_at`) under the unit's ``sla`` policy, rewritten
whenever the order changes, so the list reads what the domain computed. Pass the
process's policy (the composition roots do); :meth:`SqlWorkOrders.with_stale_due_times`
finds the open orders whose stored due time another policy computed, and loading them
is enough for the next commit to recompute it.

Audit: at each flush, every domain event still pending on a tracked object is appended to
the audit trail (:mod:`maintenance.db.audit`) in the same transaction, once, so a change
and its audit row commit together. The service layer must therefore not audit the events
it pulls after the commit again (pass ``audit=False`` to leave auditing to the caller).

Concurrent writers: every alarm and work order a unit loads is locked until the unit ends
(``SELECT ... FOR UPDATE`` on PostgreSQL), so two processes changing one order take turns
and the second decides on what the first committed: the same action twice is then
refused by the state machine (the API's 409) instead of both "winning" and auditing it
twice. Under READ COMMITTED a locking read that waited returns the row as committed, and
the order's items are read after it, so the object is whole. SQLite needs no row locks:
each transaction holds the database's write lock from its start (``BEGIN IMMEDIATE``,
:mod:`maintenance.db.engine`). Reading without locks is the read models' job
(:mod:`maintenance.db.read`). On PostgreSQL a unit's transaction begins by taking the
audit trail's lock (:func:`maintenance.db.audit.lock_trail_first`), as SQLite's begins
with the write lock, so writers lock in one order and none waits in a circle: a unit that
audited a change and then loaded a row another held, while that other waited for the
trail to audit its own (an alarm clearing as its order is acknowledged; a unit opening
several visits as a worker opens an order) was a deadlock, failing one. Units on one
database therefore take turns; a unit is a few statements, and the trail serialised
every writer's commit already. What is looked for and not found cannot be locked as a row:
:meth:`SqlWorkOrders.open_for` first locks its (asset, fault kind) as a name (a
transaction-scoped advisory lock on PostgreSQL), so "no order open, so open one" is one
step and two processes opening an order for one fault open one; the other finds it.

Work-order numbers come from ``work_order_counter`` (one row per year), incremented with
an ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` in the unit's transaction: the row
stays locked until the unit ends, so concurrent units get distinct numbers; a rolled-back
unit's number was never stored and is handed out again.

Not for concurrent use: make one per task (it is cheap; the engine holds the pool).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Select, Table, delete, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from maintenance.db.accounts import SqlAccounts
from maintenance.db.audit import append, lock_trail_first
from maintenance.db.committee import SqlProposals
from maintenance.db.errors import StorageError
from maintenance.db.inspections import SqlInspections
from maintenance.db.mapping import (
    ALARM,
    WORK_ORDER,
    OrderItems,
    RowData,
    Rows,
    alarm_from_row,
    alarm_rows,
    key,
    load_order_items,
    order_from_rows,
    order_rows,
)
from maintenance.db.notifications import SqlNotifications
from maintenance.db.photos import SqlPhotos
from maintenance.db.plans import SqlPlans, SqlVisits
from maintenance.db.quarantine import SqlQuarantine
from maintenance.db.site_import import SqlSites
from maintenance.db.tables import Base, WorkOrderCounterRow
from maintenance.db.webhook_cursor import SqlWebhookCursor
from maintenance.domain.alarms import Alarm
from maintenance.domain.audit import entry_from_event
from maintenance.domain.events import DomainEvent
from maintenance.domain.proposals import SpendingProposal
from maintenance.domain.signals import DeviceRef
from maintenance.domain.sla import SlaPolicy
from maintenance.domain.workorders import TERMINAL, Status, WorkOrder

__all__ = ["SqlUnitOfWork"]

COUNTER: Table = WorkOrderCounterRow.__table__  # type: ignore[assignment]
_OPEN = WORK_ORDER.c.status.not_in([status.value for status in TERMINAL])
DEFAULT_SLA = SlaPolicy()


class SqlUnitOfWork:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        audit: bool = True,
        sla: SlaPolicy = DEFAULT_SLA,
    ) -> None:
        self._sessions = sessions
        self._audit = audit
        self.sla = sla
        self._session: AsyncSession | None = None
        self._alarms: dict[str, Alarm] = {}
        self._orders: dict[str, WorkOrder] = {}
        self._written: Rows = {}  # the tracked objects' rows as the database has them
        self._audited: set[int] = set()  # id() of events already in the audit trail
        self.alarms = SqlAlarms(self)
        self.work_orders = SqlWorkOrders(self)
        self.proposals = SqlProposals(lambda: self.session)
        self.sites = SqlSites(lambda: self.session)
        self.accounts = SqlAccounts(lambda: self.session)
        self.webhook_cursor = SqlWebhookCursor(lambda: self.session)
        self.photos = SqlPhotos(lambda: self.session)
        self.plans = SqlPlans(lambda: self.session)
        self.visits = SqlVisits(lambda: self.session, self.flush)
        self.inspections = SqlInspections(lambda: self.session)
        self.notifications = SqlNotifications(lambda: self.session)
        self.quarantine = SqlQuarantine(lambda: self.session)

    async def __aenter__(self) -> Self:
        if self._session is not None:
            raise RuntimeError("SqlUnitOfWork is already in use; make one per task")
        self._session = self._sessions()
        lock_trail_first(self._session)
        self._forget()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self.session, None
        try:
            await session.rollback()
        finally:
            await session.close()
            self._forget()

    async def commit(self) -> None:
        await self.flush()
        await self.session.commit()

    async def rollback(self) -> None:
        await self.session.rollback()
        self._forget()

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("use the unit of work inside 'async with'")
        return self._session

    def _forget(self) -> None:
        self._alarms.clear()
        self._orders.clear()
        self._written = {}
        self._audited.clear()
        self.proposals.forget()

    # -- tracking ------------------------------------------------------------------------

    def track_alarm(self, alarm: Alarm, *, stored: bool) -> Alarm:
        self._alarms[alarm.id] = alarm
        if stored:
            self._written |= alarm_rows(alarm)
        return alarm

    def track_order(self, order: WorkOrder, *, stored: bool) -> WorkOrder:
        self._orders[order.id] = order
        if stored:
            self._written |= order_rows(order, self.sla)
        return order

    def tracked_alarm(self, alarm_id: str) -> Alarm | None:
        return self._alarms.get(alarm_id)

    def tracked_order(self, order_id: str) -> WorkOrder | None:
        return self._orders.get(order_id)

    async def flush(self) -> None:
        """Write the tracked objects' changes (and their pending events' audit rows)."""
        rows: Rows = {}
        for alarm in self._alarms.values():
            rows |= alarm_rows(alarm)
        for order in self._orders.values():
            rows |= order_rows(order, self.sla)
        written = self._written
        session = self.session
        # Parents before children on insert, children before parents on delete.
        for table in Base.metadata.sorted_tables:
            new = [row for (t, pk), row in rows.items() if t is table and (t, pk) not in written]
            if new:
                await session.execute(insert(table), new)
        for (table, pk), row in rows.items():
            old = written.get((table, pk))
            changed = {} if old is None else {c: v for c, v in row.items() if old[c] != v}
            if changed:
                await session.execute(update(table).where(*_pk_match(table, pk)).values(changed))
        gone = written.keys() - rows.keys()
        for table in reversed(Base.metadata.sorted_tables):
            for t, pk in gone:
                if t is table:
                    await session.execute(delete(table).where(*_pk_match(table, pk)))
        self._written = rows
        await self.proposals.sync()
        if self._audit:
            await self._audit_events()

    async def _audit_events(self) -> None:
        subjects: list[Alarm | WorkOrder | SpendingProposal] = [
            *self._alarms.values(),
            *self._orders.values(),
            *self.proposals.tracked(),
        ]
        pending: list[DomainEvent] = [
            event
            for subject in subjects
            for event in subject.pending_events
            if id(event) not in self._audited
        ]
        for event in sorted(pending, key=lambda e: e.at):  # stable: same-time events keep order
            await append(self.session, entry_from_event(event))
            self._audited.add(id(event))

    # -- loading -------------------------------------------------------------------------

    async def load_alarms(self, query: Select[Any]) -> list[Alarm]:
        await self.flush()
        rows = (await self.session.execute(query.with_for_update())).mappings()
        return [
            self.tracked_alarm(row["id"]) or self.track_alarm(alarm_from_row(row), stored=True)
            for row in rows
        ]

    async def load_orders(self, query: Select[Any]) -> list[WorkOrder]:
        """The orders ``query`` selects (whole ``work_order`` rows), in its order, locked
        until the unit ends."""
        await self.flush()
        rows = list((await self.session.execute(query.with_for_update())).mappings())
        missing = [row["id"] for row in rows if row["id"] not in self._orders]
        items = await load_order_items(self.session, missing)
        return [self.tracked_order(row["id"]) or self._track_loaded(row, items) for row in rows]

    def _track_loaded(self, row: RowData, items: OrderItems) -> WorkOrder:
        order = self.track_order(order_from_rows(row, items[row["id"]]), stored=True)
        # The due time as stored, not as this unit's policy would compute it: a flush then
        # rewrites one that another policy computed.
        self._written[key(WORK_ORDER, row)] |= {
            "due_at": row["due_at"],
            "due_policy": row["due_policy"],
        }
        return order

    async def lock_name(self, *parts: str) -> None:
        """Hold a lock on the name ``parts`` until the unit ends: PostgreSQL's
        transaction-scoped advisory lock on a 64-bit hash of it (a rare collision only
        makes two names wait for each other); SQLite holds the write lock already."""
        if self.session.get_bind().dialect.name != "postgresql":
            return
        digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
        key = int.from_bytes(digest, "big", signed=True)
        await self.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})

    async def next_number(self, year: int) -> int:
        dialect = self.session.get_bind().dialect.name
        upsert: sqlite.Insert | postgresql.Insert
        if dialect == "sqlite":
            upsert = sqlite.insert(COUNTER)
        elif dialect == "postgresql":
            upsert = postgresql.insert(COUNTER)
        else:
            raise StorageError(f"work-order numbers need SQLite or PostgreSQL, not {dialect}")
        query = (
            upsert.values(year=year, last=1)
            .on_conflict_do_update(
                index_elements=[COUNTER.c.year], set_={"last": COUNTER.c.last + 1}
            )
            .returning(COUNTER.c.last)
        )
        number: int = (await self.session.execute(query)).scalar_one()
        return number


def _pk_match(table: Table, pk: tuple[Any, ...]) -> list[Any]:
    return [column == value for column, value in zip(table.primary_key.columns, pk, strict=True)]


class SqlAlarms:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def add(self, alarm: Alarm) -> None:
        self._uow.track_alarm(alarm, stored=False)

    async def get(self, alarm_id: str) -> Alarm | None:
        tracked = self._uow.tracked_alarm(alarm_id)
        if tracked is not None:
            return tracked
        found = await self._uow.load_alarms(select(ALARM).where(ALARM.c.id == alarm_id))
        return found[0] if found else None

    async def active_for(self, device: DeviceRef, rule: str) -> Alarm | None:
        found = await self._uow.load_alarms(
            select(ALARM).where(
                ALARM.c.site == device.site,
                ALARM.c.device_type == device.device_type,
                ALARM.c.device_id == device.device_id,
                ALARM.c.rule == rule,
                ALARM.c.cleared_at.is_(None),
            )
        )
        return found[0] if found else None


class SqlWorkOrders:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def add(self, order: WorkOrder) -> None:
        self._uow.track_order(order, stored=False)

    async def get(self, order_id: str) -> WorkOrder | None:
        tracked = self._uow.tracked_order(order_id)
        if tracked is not None:
            return tracked
        return await self._one(select(WORK_ORDER).where(WORK_ORDER.c.id == order_id))

    async def open_for(self, asset: str, fault_kind: str) -> WorkOrder | None:
        await self._uow.lock_name("open work order", asset, fault_kind)
        return await self._one(
            select(WORK_ORDER).where(
                WORK_ORDER.c.asset == asset, WORK_ORDER.c.fault_kind == fault_kind, _OPEN
            )
        )

    async def last_closed_for(self, asset: str, fault_kind: str) -> WorkOrder | None:
        return await self._one(
            select(WORK_ORDER)
            .where(
                WORK_ORDER.c.asset == asset,
                WORK_ORDER.c.fault_kind == fault_kind,
                WORK_ORDER.c.status == Status.CLOSED.value,
            )
            .order_by(WORK_ORDER.c.closed_at.desc())
            .limit(1)
        )

    async def needing_sla_check(self, sites: Collection[str] | None = None) -> list[WorkOrder]:
        query = select(WORK_ORDER).where(_OPEN)
        if sites is not None:
            query = query.where(WORK_ORDER.c.site.in_(sorted(sites)))
        return await self._uow.load_orders(query.order_by(WORK_ORDER.c.created_at, WORK_ORDER.c.id))

    async def with_stale_due_times(self) -> list[WorkOrder]:
        policy = self._uow.sla.due_fingerprint
        stale = or_(WORK_ORDER.c.due_policy.is_(None), WORK_ORDER.c.due_policy != policy)
        return await self._uow.load_orders(select(WORK_ORDER).where(_OPEN, stale))

    async def next_number(self, year: int) -> int:
        return await self._uow.next_number(year)

    async def _one(self, query: Select[Any]) -> WorkOrder | None:
        found = await self._uow.load_orders(query)
        return found[0] if found else None
