"""The record of a maintenance visit (TSG T5002): who, when, each item's result, sign-off.

A visit is a work order of category ``maintenance_visit`` (its SLA is the policy's
``categories.maintenance_visit``) plus this record, keyed by the order's id. When the
visit is opened the record takes a copy of its level's checklist items, so the record
stays what was asked even if the catalogue changes later.

:meth:`Visit.record` is the technicians' part, once: at least two technicians present
(the rule's minimum), start and end (end after start, not in the future), and a result
for every item: ``done``, ``not_applicable`` (with a note saying why) or ``defect`` (with
a note; the service opens a repair order for each defect and links it here). An item with
a reading takes its measured value when done; a value outside the item's limits must be
recorded as a defect, not as done. :meth:`Visit.sign_off` is the property's elevator
safety manager's part (a ``manager`` account of the site; the user unit's safety manager
signs for the property), after the record and once.

Every change appends a :class:`~maintenance.domain.events.DomainEvent` (subject
``visit``), which the unit of work writes to the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Final, Literal

from maintenance.domain.actors import Actor
from maintenance.domain.checklists import ChecklistItem, Level
from maintenance.domain.errors import InvalidRequest, NotPermitted
from maintenance.domain.events import DomainEvent

__all__ = [
    "MIN_TECHNICIANS",
    "SIGNING_ROLES",
    "VISIT_CATEGORY",
    "ItemResult",
    "ItemStatus",
    "Visit",
]

VISIT_CATEGORY: Final = "maintenance_visit"
"""The work-order category (and fault kind) of a scheduled visit: one open per car."""
MIN_TECHNICIANS: Final = 2
"""Fact (domain.md): a maintenance visit needs at least two workers on site."""
SIGNING_ROLES: Final = frozenset({"manager"})
"""Who signs for the property: its elevator safety manager holds a manager account."""

ItemStatus = Literal["done", "not_applicable", "defect"]


@dataclass(frozen=True, slots=True)
class ItemResult:
    code: str
    status: ItemStatus
    note: str | None = None
    reading: float | None = None


@dataclass(eq=False)
class Visit:
    order_id: str
    asset: str
    site: str
    level: Level
    due_on: date
    items: tuple[ChecklistItem, ...]
    technicians: tuple[str, ...] = ()
    started_at: datetime | None = None
    ended_at: datetime | None = None
    results: tuple[ItemResult, ...] = ()
    recorded_by: str | None = None
    defect_orders: dict[str, str] = field(default_factory=dict)
    """Item code -> the repair order its defect opened."""
    signed_by: str | None = None
    signed_at: datetime | None = None
    pending_events: list[DomainEvent] = field(default_factory=list, repr=False)

    @classmethod
    def plan(
        cls,
        *,
        order_id: str,
        asset: str,
        site: str,
        level: Level,
        due_on: date,
        items: list[ChecklistItem],
        now: datetime,
    ) -> Visit:
        visit = cls(order_id, asset, site, level, due_on, tuple(items))
        visit._emit("planned", None, now, {"level": level, "due_on": due_on.isoformat()})
        return visit

    @property
    def recorded(self) -> bool:
        return self.ended_at is not None

    @property
    def defects(self) -> list[ItemResult]:
        return [r for r in self.results if r.status == "defect"]

    def record(
        self,
        actor: Actor,
        now: datetime,
        *,
        technicians: list[str],
        started_at: datetime,
        ended_at: datetime,
        results: list[ItemResult],
    ) -> None:
        if self.recorded:
            raise InvalidRequest(f"visit {self.order_id} was recorded at {self.ended_at}")
        present = tuple(dict.fromkeys(t.strip() for t in technicians if t.strip()))
        if len(present) < MIN_TECHNICIANS:
            raise InvalidRequest(
                f"visit {self.order_id}: {MIN_TECHNICIANS} technicians must be present, "
                f"got {len(present)}"
            )
        if started_at.utcoffset() is None or ended_at.utcoffset() is None:
            raise InvalidRequest(f"visit {self.order_id}: start and end need a time zone")
        if not started_at < ended_at <= now:
            raise InvalidRequest(
                f"visit {self.order_id}: it must start before it ends, and end by now"
                f" (start {started_at.isoformat()}, end {ended_at.isoformat()})"
            )
        self.results = self._checked(results)
        self.technicians, self.started_at, self.ended_at = present, started_at, ended_at
        self.recorded_by = actor.user_id
        counts = {s: sum(r.status == s for r in results) for s in ("done", "not_applicable")}
        detail = {
            "technicians": ", ".join(present),
            "done": str(counts["done"]),
            "not_applicable": str(counts["not_applicable"]),
            "defects": ", ".join(r.code for r in self.defects),
        }
        self._emit("recorded", actor, now, detail)

    def link_defect(self, code: str, order_id: str, now: datetime) -> None:
        self.defect_orders[code] = order_id
        self._emit("defect_order", None, now, {"item": code, "work_order": order_id})

    def sign_off(self, actor: Actor, now: datetime) -> None:
        if actor.role not in SIGNING_ROLES:
            raise NotPermitted(
                f"visit {self.order_id}: the property's elevator safety manager signs, not {actor}"
            )
        if not self.recorded:
            raise InvalidRequest(f"visit {self.order_id}: record the visit before signing it")
        if self.signed_by is not None:
            raise InvalidRequest(f"visit {self.order_id} was signed by {self.signed_by}")
        self.signed_by, self.signed_at = actor.user_id, now
        self._emit("signed", actor, now, {})

    def pull_events(self) -> list[DomainEvent]:
        events, self.pending_events = self.pending_events, []
        return events

    def _checked(self, results: list[ItemResult]) -> tuple[ItemResult, ...]:
        by_code: dict[str, ItemResult] = {}
        expected = {item.name: item for item in self.items}
        for result in results:
            item = expected.get(result.code)
            where = f"visit {self.order_id}: item {result.code}"
            if item is None:
                raise InvalidRequest(f"{where} is not on this {self.level} visit's checklist")
            if result.code in by_code:
                raise InvalidRequest(f"{where} has two results")
            if result.status != "done" and not (result.note or "").strip():
                raise InvalidRequest(f"{where}: {result.status} needs a note saying why")
            if item.reading is not None and result.status == "done":
                if result.reading is None:
                    raise InvalidRequest(f"{where}: give the reading in {item.reading.unit}")
                if not item.reading.within(result.reading):
                    raise InvalidRequest(
                        f"{where}: {result.reading:g} {item.reading.unit} is outside its limits;"
                        " record it as a defect"
                    )
            by_code[result.code] = result
        missing = [code for code in expected if code not in by_code]
        if missing:
            raise InvalidRequest(
                f"visit {self.order_id}: no result for {len(missing)} item(s): {', '.join(missing)}"
            )
        return tuple(by_code[code] for code in expected)

    def _emit(
        self, action: str, actor: Actor | None, now: datetime, detail: dict[str, str]
    ) -> None:
        self.pending_events.append(
            DomainEvent(
                subject="visit",
                subject_id=self.order_id,
                action=action,
                at=now,
                actor=actor,
                detail={"asset": self.asset, **detail},
            )
        )
