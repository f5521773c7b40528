"""KPI frames and the monthly report from a fixed November 2026 on a real SQLite file.

The dataset (times UTC, default SLA policy: P1 10/60 min, P2 30/120, P3 120/480):

    order asset            prio source   created     ack feedback    resolved  closed cost rating
    WO-A  elev-01 door     P1   alarm    11-02 08:00 +5  +20         +100      11-02  1200 -
    WO-B  elev-04 door     P2   resident 11-10 12:00 +50 +60 (hold)  +240 (a)  11-10  800  5
    WO-C  charger-01       P3   staff    11-20 09:00 -   -           -         -      -    -
    WO-D  smoke-004 tamper P3   resident 10-25 10:00 +30 +60         11-03     11-04  300  3
    WO-F  elev-01 door     P1   alarm    11-15 08:00 +8  +30         -         -      -    - (b)

(a) after 2 h on hold; (b) a repeat of WO-A.

Alarms: ALM-1 (opened WO-A) and ALM-3 (opened WO-F) are elevator door faults; ALM-2
(elev-01 offline) and ALM-4 (e-bike notice on elev-04) are not faults. WO-B, a
resident's elevator request, is a fault of elev-04.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from estatewatch.influx.query import InfluxReader
from estatewatch.wire import Reading, TelemetryMessage
from infra.local import InfluxInstance
from ingest.line_protocol import encode
from ingest.points import points_from_telemetry
from maintenance.db.engine import make_engine, make_sessionmaker
from maintenance.db.migrations import upgrade
from maintenance.db.read.kpi_frames import kpi_frames
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.actors import Actor
from maintenance.domain.alarms import Alarm
from maintenance.domain.errors import InvalidRequest
from maintenance.domain.kpis import compute_kpis
from maintenance.domain.signals import DeviceRef, Priority, Signal
from maintenance.domain.sla import SlaPolicy
from maintenance.domain.workorders import Source, WorkOrder
from maintenance.reports import month_period, monthly_report, report_csv
from maintenance.sites import load_site_file

pytestmark = pytest.mark.integration

DEMO = Path(__file__).parents[2] / "infra" / "sites" / "demo-compound.yaml"
NOV, DEC = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
POLICY = SlaPolicy()
NO_LIMIT = Decimal(10**9)
MANAGER = Actor("mgr-1", "manager")
TECH = Actor("tech-1", "technician")
SUPERVISOR = Actor("sup-1", "supervisor")
RES1, RES2 = Actor("res-1", "resident"), Actor("res-2", "resident")
ELEV01 = DeviceRef("demo", "elevator", "elev-01")
ELEV04 = DeviceRef("demo", "elevator", "elev-04")


def t(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def alarm(
    alarm_id: str, device: DeviceRef, at: datetime, fault_kind: str, priority: Priority | None
) -> Alarm:
    signal = Signal(
        kind="raised",
        rule=f"rule_{fault_kind}",
        device=device,
        at=at,
        severity="critical",
        priority=priority,
        fault_kind=fault_kind,
        message=fault_kind,
    )
    return Alarm.raise_from(alarm_id, signal)


def order(
    order_id: str,
    asset: str,
    created: datetime,
    priority: Priority,
    source: Source,
    *,
    category: str = "elevator",
    fault_kind: str = "door",
    requester: Actor | None = None,
    repeat_of: str | None = None,
    alarm_ids: tuple[str, ...] = (),
) -> WorkOrder:
    return WorkOrder.open(
        id=order_id,
        title=f"{fault_kind} on {asset}",
        asset=asset,
        site="demo",
        category=category,
        fault_kind=fault_kind,
        priority=priority,
        source=source,
        now=created,
        created_by=requester or MANAGER,
        requested_by=None if requester is None else requester.user_id,
        repeat_of=repeat_of,
        alarm_ids=alarm_ids,
    )


def work_through(
    wo: WorkOrder,
    *,
    ack: int,
    feedback: int,
    resolve: int | None = None,
    hold: int | None = None,
) -> None:
    """Minutes after creation: acknowledged, started (first feedback), held for 2 h at
    ``hold`` (instead of starting), resolved."""
    created = wo.created_at
    wo.assign(MANAGER, created + timedelta(minutes=1), assignee=TECH.user_id)
    wo.acknowledge(TECH, created + timedelta(minutes=ack))
    if hold is None:
        wo.start(TECH, created + timedelta(minutes=feedback), approval_threshold=NO_LIMIT)
    else:
        wo.hold(TECH, created + timedelta(minutes=hold), reason="waiting for parts")
        wo.resume(TECH, created + timedelta(minutes=hold + 120), approval_threshold=NO_LIMIT)
    if resolve is not None:
        wo.resolve(TECH, created + timedelta(minutes=resolve), approval_threshold=NO_LIMIT)


def close(wo: WorkOrder, at: datetime, cost: str, verifier: Actor = SUPERVISOR) -> None:
    wo.set_cost(TECH, at, actual=Decimal(cost))
    wo.verify(verifier, at)
    wo.close(MANAGER, at + timedelta(minutes=30))


async def build_november(engine: AsyncEngine) -> None:
    sessions = make_sessionmaker(engine)
    async with SqlUnitOfWork(sessions) as uow:
        await uow.sites.import_file(load_site_file(DEMO), actor="cli:test", at=NOV, source="demo")
        await uow.commit()
    elev01, elev04 = str(ELEV01), str(ELEV04)

    a = order("WO-A", elev01, t(11, 2, 8), "P1", "alarm", alarm_ids=("ALM-1",))
    work_through(a, ack=5, feedback=20, resolve=100)
    close(a, t(11, 2, 10), "1200")

    b = order("WO-B", elev04, t(11, 10, 12), "P2", "resident", requester=RES1)
    work_through(b, ack=50, feedback=60, hold=60, resolve=240)
    close(b, t(11, 10, 17), "800", verifier=RES1)
    b.rate(RES1, t(11, 10, 18), stars=5)

    c = order("WO-C", "demo/charger/charger-01", t(11, 20, 9), "P3", "staff")

    d = order(
        "WO-D",
        "demo/smoke_alarm/smoke-004",
        t(10, 25, 10),
        "P3",
        "resident",
        category="fire_safety",
        fault_kind="tamper",
        requester=RES2,
    )
    work_through(d, ack=30, feedback=60)
    d.resolve(TECH, t(11, 3, 10), approval_threshold=NO_LIMIT)
    close(d, t(11, 4, 9), "300")
    d.rate(RES2, t(11, 5, 9), stars=3)

    f = order("WO-F", elev01, t(11, 15, 8), "P1", "alarm", repeat_of="WO-A", alarm_ids=("ALM-3",))
    work_through(f, ack=8, feedback=30)

    alarms = [
        alarm("ALM-1", ELEV01, t(11, 2, 8), "door", "P1"),
        alarm("ALM-2", ELEV01, t(11, 6, 3), "offline", "P3"),
        alarm("ALM-3", ELEV01, t(11, 15, 8), "door", "P1"),
        alarm("ALM-4", ELEV04, t(11, 7, 18), "ebike", None),
    ]
    alarms[0].link_work_order("WO-A")
    alarms[0].clear(t(11, 2, 9, 40))
    alarms[2].link_work_order("WO-F")
    async with SqlUnitOfWork(sessions) as uow:
        for wo in (a, b, c, d, f):
            await uow.work_orders.add(wo)
        for item in alarms:
            await uow.alarms.add(item)
        await uow.commit()


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(db_url)
    await upgrade(engine)
    await build_november(engine)
    yield engine
    await engine.dispose()


async def test_november_kpis_match_the_hand_computed_figures(engine: AsyncEngine) -> None:
    async with make_sessionmaker(engine)() as session:
        frames = await kpi_frames(session, NOV, DEC, policy=POLICY)
    assert frames.trips is None  # no reader: trips unknown, not zero
    orders = frames.work_orders
    assert orders is not None
    by_id = orders.set_index("id")
    assert sorted(by_id.index) == ["WO-A", "WO-B", "WO-C", "WO-D", "WO-F"]
    assert by_id.loc["WO-B", "on_hold_minutes"] == 120
    assert by_id.loc["WO-B", "response_due_at"] == t(11, 10, 12, 30)
    assert (by_id.loc["WO-B", "asset_kind"], by_id.loc["WO-B", "building"]) == ("elevator", "B1")
    assert by_id.loc["WO-C", "asset_kind"] == "charger_cabinet"

    kpis = compute_kpis(frames, NOV, DEC)
    assert (kpis.orders_created, kpis.orders_resolved, kpis.orders_closed) == (4, 3, 3)
    # Response: A (5 min) and F (8) met; B (50 > 30) late; C never acknowledged, due passed.
    assert (kpis.response_sla.met, kpis.response_sla.breached, kpis.response_sla.share) == (
        2,
        2,
        0.5,
    )
    # Feedback: A (20 <= 60), B (hold at 60 <= 120), F (30 <= 60) met; C breached.
    assert (kpis.feedback_sla.met, kpis.feedback_sla.breached) == (3, 1)
    ack = kpis.time_to_acknowledge_minutes
    assert (ack.count, ack.mean, ack.median) == (3, 21.0, 8.0)
    assert ack.p90 == pytest.approx(8 + 0.8 * (50 - 8))
    # Resolved in November: A 100 min, B 240 - 120 on hold, D 9 days (created in October).
    resolve = kpis.time_to_resolve_minutes
    assert (resolve.count, resolve.median) == (3, 120.0)
    assert resolve.mean == pytest.approx((100 + 120 + 9 * 24 * 60) / 3)
    assert kpis.repeat_faults == 1
    assert (kpis.satisfaction.rated, kpis.satisfaction.average) == (2, 4.0)
    assert kpis.satisfaction.share_satisfied == 0.5
    assert kpis.spending_by_category == {"elevator": 2000.0, "fire_safety": 300.0}
    assert kpis.spending_total == 2300.0

    elevators = {e.asset_id: e for e in kpis.elevators}
    assert sorted(elevators) == [str(ELEV01), str(ELEV04)]
    e01, e04 = elevators[str(ELEV01)], elevators[str(ELEV04)]
    # elev-01: ALM-1 and ALM-3 (offline ALM-2 is no fault); 720 calendar hours / 2.
    assert (e01.faults, e01.mtbf_hours, e01.mtbf_basis, e01.mttr_minutes) == (
        2,
        360.0,
        "calendar",
        100.0,
    )
    assert e01.repeat_faults == 1
    # elev-04: the resident's request WO-B (the e-bike notice ALM-4 is no fault).
    assert (e04.faults, e04.mtbf_hours, e04.mttr_minutes, e04.repeat_faults) == (1, 720.0, 120.0, 0)


async def _write_counters(influxdb: InfluxInstance, database: str) -> None:
    readings = [
        Reading(ts=t(10, 31, 23), fields={"run_count": 99_000, "running_hours": 4_900}),
        Reading(ts=t(11, 1, 0, 5), fields={"run_count": 100_000, "running_hours": 5_000}),
        Reading(ts=t(11, 15, 12), fields={"run_count": 100_500, "running_hours": 5_100}),
        Reading(ts=t(11, 30, 23), fields={"run_count": 101_000, "running_hours": 5_200}),
        Reading(ts=t(12, 1, 1), fields={"run_count": 101_100, "running_hours": 5_210}),
    ]
    message = TelemetryMessage(
        gateway_id="gw-1",
        seq=1,
        site="demo",
        device_type="elevator",
        device_id="elev-01",
        profile="elevator-nice3000",
        tags={"building": "B1"},
        readings=readings,
    )
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{influxdb.url}/write",
            params={"db": database, "precision": "ns"},
            content=encode(points_from_telemetry(message)),
        )
    assert response.status_code == 204, response.text


async def test_trips_and_hours_come_from_the_counters_in_influxdb(
    engine: AsyncEngine, influxdb: InfluxInstance, influx_database: str
) -> None:
    await _write_counters(influxdb, influx_database)
    async with (
        InfluxReader(influxdb.url, influx_database) as reader,
        make_sessionmaker(engine)() as session,
    ):
        frames = await kpi_frames(session, NOV, DEC, policy=POLICY, reader=reader)
    assert frames.trips is not None
    assert frames.operating_hours is not None
    # Only November's points: 101,000 - 100,000 trips, 5,200 - 5,000 hours.
    assert frames.trips.to_dict("records") == [{"asset_id": str(ELEV01), "trips": 1000}]
    assert frames.operating_hours.to_dict("records") == [{"asset_id": str(ELEV01), "hours": 200}]
    e01 = next(e for e in compute_kpis(frames, NOV, DEC).elevators if e.asset_id == str(ELEV01))
    assert (e01.trips, e01.faults_per_1000_trips) == (1000, 2.0)
    assert (e01.mtbf_hours, e01.mtbf_basis) == (100.0, "operating")


async def test_the_monthly_report_lists_urgent_open_orders_and_reads_as_csv(
    engine: AsyncEngine,
) -> None:
    async with make_sessionmaker(engine)() as session:
        report = await monthly_report(session, "2026-11", now=DEC, policy=POLICY)
        october = await monthly_report(session, "2026-10", now=DEC, policy=POLICY)
    # WO-F (P1) is still open at the end of November; A and B were closed, C and D are P3.
    assert [o.id for o in report.open_priority_orders] == ["WO-F"]
    assert report.kpis.spending_total == 2300.0
    assert october.kpis.orders_created == 1
    assert october.open_priority_orders == ()
    text = report_csv(report)
    lines = text.splitlines()
    assert lines[0] == "section,metric,scope,value"
    assert "kpi,spending,elevator,2000.0" in lines
    assert "kpi,response_sla.share,,0.5" in lines
    assert "open_priority_order,priority,WO-F,P1" in lines
    assert f"kpi,elevator.faults,{ELEV01},2" in lines


async def test_the_current_month_counts_only_deadlines_already_passed(
    engine: AsyncEngine,
) -> None:
    """On 20 November at 09:05 WO-C (P3, created at 09:00, nobody has acknowledged it) is
    not late yet: its 2 h response deadline is still ahead, so it is no breach."""
    now = t(11, 20, 9, 5)
    async with make_sessionmaker(engine)() as session:
        so_far = await monthly_report(session, "2026-11", now=now, policy=POLICY)
        whole = await monthly_report(session, "2026-11", now=DEC, policy=POLICY)
    assert (so_far.kpis.response_sla.breached, so_far.kpis.response_sla.pending) == (
        whole.kpis.response_sla.breached - 1,
        whole.kpis.response_sla.pending + 1,
    )
    # Its feedback clock (8 h) is not due either; by the month's end both have passed.
    assert so_far.kpis.feedback_sla.breached == whole.kpis.feedback_sla.breached - 1
    # A past month read later is the same report whatever the clock says.
    later = t(12, 20, 0)
    async with make_sessionmaker(engine)() as session:
        again = await monthly_report(session, "2026-11", now=later, policy=POLICY)
    assert again == whole


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "26-11", "2026-11'; DROP TABLE x", ""])
def test_a_malformed_month_is_refused(month: str) -> None:
    with pytest.raises(InvalidRequest, match="is not a month like 2026-11"):
        month_period(month)


def test_december_ends_at_the_new_year() -> None:
    assert month_period("2026-12") == (t(12, 1, 0), datetime(2027, 1, 1, tzinfo=UTC))
