"""The duty board (managers, admins; desktop and wall screen): ``/board``.

Active alarms, open work orders with their SLA countdowns (the stored due time; the
browser ticks it down: ``static/board.js``), a tile per elevator car (its state by
:func:`live_state`, the asset page's rule too: a stale reading is offline, and an
administrative alarm is a badge, not a fault), assigning an
unassigned order to a technician of its site in one click, and closing verified work.
Rescues under way come first, each with its timeline (``orders/_rescue.html``): the
stages so far, the arrival countdown and who the escalation chain has called.
Filters (site, building,
priority, status) are query parameters, so a wall screen's URL keeps them.

Live: the page listens to ``/events`` (:mod:`api.live`) and reloads its panel
(``/board/panel``) on ``order-changed`` / ``alarm-changed``; a ``p1-raised`` shows a
banner and, once someone has touched the page, beeps (browsers allow sound only after a
gesture). Reads go through the JSON API's read models under :mod:`api.visibility`;
assigning and closing run :func:`maintenance.services.perform` as ``POST
/api/v1/work-orders/{id}/assign`` and ``.../close`` do, for the same roles.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final
from urllib.parse import parse_qsl, urlsplit

import pandas as pd
from fastapi import Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from api.deps import AppServices, Clock, ReadSession, Settings, Sla, Uow
from api.routes.assets import last_seen, latest_rows, online_state, with_telemetry
from api.routes.work_orders import OrderId, release
from api.schemas.work_orders import RescueOut
from api.users import list_users
from api.visibility import alarm_scope, order_scope
from api.web.deps import PageDep, WebUser, page_allow, page_router
from api.web.i18n import N_
from api.web.orders import (
    CHAIN_NAMES,
    STAGE_NAMES,
    STATUS_NAMES,
    hx_status,
    perform_as,
    refusal,
    technicians_by_site,
)
from maintenance.db.read.alarms import AlarmFilters, AlarmSummary, list_alarms
from maintenance.db.read.assets import OFFLINE, AssetInfo, asset_register
from maintenance.db.read.pages import PageRequest
from maintenance.db.read.work_orders import (
    SortKey,
    WorkOrderFilters,
    WorkOrderSort,
    WorkOrderSummary,
    list_work_orders,
    open_rescues,
)
from maintenance.domain import commands as cmd
from maintenance.domain.alarms import is_administrative
from maintenance.domain.errors import DomainError, NotFound
from maintenance.domain.workorders import TERMINAL, Status, WorkOrder

__all__ = [
    "BOARD_ROLES",
    "CAR_STATES",
    "OPEN",
    "CarTile",
    "RescueCard",
    "car_state",
    "is_machine_fault",
    "live_state",
    "reading_number",
    "router",
]

log = logging.getLogger(__name__)

router = page_router()
BOARD_ROLES: Final = ("admin", "manager")
_BOARD = page_allow(*BOARD_ROLES)

OPEN: Final = frozenset(Status) - TERMINAL
ASSIGNABLE: Final = frozenset({Status.NEW, Status.REOPENED, Status.ASSIGNED})
# Verified work waits on the board for the manager to close it: only then does it count
# as done in the KPIs and on the public notice board (satisfaction counts closed orders).
CLOSABLE: Final = frozenset({Status.VERIFIED})
LIMIT: Final = 200
# A car moving slower than this (m/s) is standing at a landing.
_MOVING: Final = 0.05

CAR_STATES: Final = {
    "running": N_("Running"),
    "idle": N_("Idle"),
    "fault": N_("Fault"),
    "offline": N_("Offline"),
    "maintenance": N_("Under maintenance"),
    "unknown": N_("No data"),
}


@dataclass(frozen=True, slots=True)
class Filters:
    site: str | None = None
    building: str | None = None
    priority: str | None = None
    status: str | None = None


@dataclass(frozen=True, slots=True)
class RescueCard:
    """An open rescue order on the board: the order and its timeline."""

    order: WorkOrder
    rescue: RescueOut


@dataclass(frozen=True, slots=True)
class CarTile:
    site: str
    device_id: str
    building: str
    state: str
    floor: int | None
    last_fault: AlarmSummary | None
    notices: tuple[AlarmSummary, ...] = ()
    """Administrative alarms (an expired certificate, an overdue visit): badges."""


def car_state(*, offline: bool, fault: bool, maintenance: bool, speed: float | None) -> str:
    """A car's tile state: what needs people first (offline, fault, being worked on),
    then what the telemetry says; ``unknown`` without telemetry."""
    if offline:
        return "offline"
    if fault:
        return "fault"
    if maintenance:
        return "maintenance"
    if speed is None:
        return "unknown"
    return "running" if speed > _MOVING else "idle"


def live_state(
    kind: str,
    open_alarms: list[AlarmSummary],
    row: dict[str, Any] | None,
    *,
    worked_on: bool,
    now: datetime,
) -> tuple[str, bool | None]:
    """A device's state for the board's tile and the asset page alike (one rule), and
    whether it is online: offline by the JSON API's rule (:func:`api.routes.assets.
    online_state`: an offline alarm, or a reading older than its kind's limit); a fault
    only for alarms about the machine, not administrative ones
    (:func:`~maintenance.domain.alarms.is_administrative`: the car may run normally with
    an expired certificate); then under maintenance, then running or idle."""
    offline_alarm = any(a.fault_kind == OFFLINE for a in open_alarms)
    online, _ = online_state(kind, offline_alarm, last_seen(row), now)
    state = car_state(
        offline=online is False,
        fault=any(is_machine_fault(a) for a in open_alarms),
        maintenance=worked_on,
        speed=reading_number(row, "speed") if kind == "elevator" else None,
    )
    return state, online


def is_machine_fault(alarm: AlarmSummary) -> bool:
    """An alarm about the machine: neither the offline alarm nor an administrative one."""
    return alarm.fault_kind != OFFLINE and not is_administrative(alarm.fault_kind)


FilterQuery = Query(default=None, max_length=64)


def _filters(
    site: str | None = FilterQuery,
    building: str | None = FilterQuery,
    priority: str | None = FilterQuery,
    status: str | None = FilterQuery,
) -> Filters:
    """The board's filters from the query (an empty field is no filter)."""

    def given(value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    return Filters(given(site), given(building), given(priority), given(status))


BoardFilters = Annotated[Filters, Depends(_filters)]


def reading_number(row: dict[str, Any] | None, field: str) -> float | None:
    """A latest-reading row's ``field`` as a float; None when missing or empty."""
    value = None if row is None else row.get(field)
    return None if value is None or pd.isna(value) else float(value)


def _tiles(
    cars: list[AssetInfo],
    alarms: list[AlarmSummary],
    orders: list[WorkOrderSummary],
    latest: dict[str, dict[str, Any]],
    now: datetime,
) -> list[CarTile]:
    by_car: dict[str, list[AlarmSummary]] = {}
    for alarm in alarms:  # newest raised first
        by_car.setdefault(f"{alarm.site}/{alarm.device_type}/{alarm.device_id}", []).append(alarm)
    worked_on = {o.asset for o in orders if o.status in (Status.IN_PROGRESS, Status.ON_HOLD)}
    tiles = []
    for car in sorted(cars, key=lambda c: (c.site, c.building, c.device_id)):
        car_alarms = by_car.get(car.key, [])
        row = latest.get(car.key)
        floor = reading_number(row, "floor")
        faults = [a for a in car_alarms if is_machine_fault(a)]
        state, _ = live_state(car.kind, car_alarms, row, worked_on=car.key in worked_on, now=now)
        tiles.append(
            CarTile(
                car.site,
                car.device_id,
                car.building,
                state,
                None if floor is None else int(floor),
                faults[0] if faults else None,
                tuple(a for a in car_alarms if is_administrative(a.fault_kind)),
            )
        )
    return tiles


async def _panel_context(
    me: WebUser, reader: ReadSession, services_: AppServices, now: datetime, filters: Filters
) -> dict[str, Any]:
    priorities = frozenset({filters.priority}) if filters.priority else frozenset()
    statuses = frozenset({Status(filters.status)}) & OPEN if filters.status in set(Status) else OPEN
    orders = await list_work_orders(
        reader,
        now=now,
        filters=WorkOrderFilters(
            status=statuses,
            priority=priorities,  # type: ignore[arg-type]
            site=filters.site,
            building=filters.building,
        ),
        sort=WorkOrderSort(SortKey.DUE, descending=False),
        page=PageRequest(limit=LIMIT),
        visible=order_scope(me.user),
    )
    alarms = await list_alarms(
        reader,
        filters=AlarmFilters(site=filters.site, building=filters.building, active=True),
        page=PageRequest(limit=LIMIT),
        visible=alarm_scope(me.user),
    )
    rescues = [
        RescueCard(order, RescueOut.of(order.rescue, order.escalations))
        for order in await open_rescues(reader, visible=order_scope(me.user))
        if order.rescue is not None
        and filters.site in (None, order.site)
        and filters.building in (None, order.location)
    ]
    register = await asset_register(reader, site=filters.site)
    cars = [
        a
        for a in register.values()
        if a.kind == "elevator" and filters.building in (None, a.building)
    ]
    people = await list_users(reader)
    await release(reader)
    # The JSON API's latest readings; without InfluxDB (or when it fails) none, and the
    # board still shows alarms and orders.
    latest, _ = await with_telemetry(services_.influx, lambda r: latest_rows(r, cars))
    return {
        "orders": orders.items,
        "rescues": rescues,
        "stage_names": STAGE_NAMES,
        "chain_names": CHAIN_NAMES,
        "alarms": [a for a in alarms.items if filters.priority in (None, a.priority)],
        "tiles": _tiles(cars, alarms.items, orders.items, latest, now),
        "technicians": technicians_by_site(people),
        "assignable": ASSIGNABLE,
        "closable": CLOSABLE,
        "now": now,
        "status_names": STATUS_NAMES,
        "car_states": CAR_STATES,
        "filters": filters,
        "error": None,  # a refused action's reason (_act)
    }


@router.get("/board", dependencies=[_BOARD])
async def board(
    me: WebUser,
    page: PageDep,
    reader: ReadSession,
    services_: AppServices,
    clock: Clock,
    filters: BoardFilters,
) -> Response:
    return await _board_page(me, page, reader, services_, clock(), filters)


async def _board_page(
    me: WebUser,
    page: PageDep,
    reader: ReadSession,
    services_: AppServices,
    now: datetime,
    filters: Filters,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    context = await _panel_context(me, reader, services_, now, filters)
    context |= {"statuses": sorted(OPEN), "priorities": ("P1", "P2", "P3", "P4"), "error": error}
    return page.render("board/board.html", context, status_code=status_code)


@router.get("/board/panel", dependencies=[_BOARD])
async def panel(
    me: WebUser,
    page: PageDep,
    reader: ReadSession,
    services_: AppServices,
    clock: Clock,
    filters: BoardFilters,
) -> Response:
    context = await _panel_context(me, reader, services_, clock(), filters)
    return page.render("board/_panel.html", context)


@dataclass(frozen=True, slots=True)
class _Desk:
    """What a board action needs: to act, and to show the board again with a refusal."""

    me: WebUser
    page: PageDep
    uow: Uow
    reader: ReadSession
    services: AppServices
    clock: Clock
    sla: Sla
    settings: Settings


async def _desk(
    me: WebUser,
    page: PageDep,
    uow: Uow,
    reader: ReadSession,
    services_: AppServices,
    clock: Clock,
    sla: Sla,
    settings: Settings,
) -> _Desk:
    return _Desk(me, page, uow, reader, services_, clock, sla, settings)


Desk = Annotated[_Desk, Depends(_desk)]


@router.post("/board/orders/{order_id}/assign", dependencies=[_BOARD])
async def assign(
    order_id: OrderId, request: Request, desk: Desk, assignee: str = Form(max_length=100)
) -> Response:
    return await _act(cmd.Assign(order_id, assignee), request, desk)


@router.post("/board/orders/{order_id}/close", dependencies=[_BOARD])
async def close(order_id: OrderId, request: Request, desk: Desk) -> Response:
    return await _act(cmd.Close(order_id), request, desk)


async def _act(command: cmd.OrderCommand, request: Request, desk: _Desk) -> Response:
    """Run a board action as the JSON API's route for it does, then show the board as it
    was filtered (htmx says where it was; it keeps the panel); a refusal (someone moved
    the order first, an assignee who cannot take it) shows the board with the reason."""
    back = urlsplit(request.headers.get("HX-Current-URL", ""))
    query = back.query if back.path == "/board" else ""
    try:
        await perform_as(desk.me, command, desk.uow, desk.clock, desk.sla)
    except NotFound:
        raise
    except DomainError as exc:
        log.info("board: %s on %s refused", command.action, command.order_id, exc_info=True)
        given = dict(parse_qsl(query))
        fields = ("site", "building", "priority", "status")
        filters = _filters(*(given.get(name) for name in fields))
        return await _board_page(
            desk.me,
            desk.page,
            desk.reader,
            desk.services,
            desk.clock(),
            filters,
            error=refusal(desk.page, exc, desk.settings),
            status_code=hx_status(request),
        )
    return RedirectResponse(f"/board?{query}" if query else "/board", status_code=303)
