"""The on-demand interval measures door-time drift from real telemetry (InfluxDB).

Two monitored cars of the demo compound (limits 10 to 30 days) sent their door times for
75 days: elev-05's stayed at 3.0 s to open and 3.0 s to close, elev-04's slowed by 30 %
over the last 15 days (since its plan began: the period its first visit judges). The
technicians record both cars' visits through the API; elev-04's interval shrinks to the
site's minimum with the ``door_slow`` reason, on the JSON API and the public notice
board, and elev-05's does not. Without InfluxDB the visit is still recorded: the car is
not known to be monitored, so it keeps the statutory 15 days and the plan says why.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import T0, RunningApi, SettableClock, bearer, running_api
from test_api_plans import DEMO, record_body

from estatewatch.wire import Reading, TelemetryMessage
from infra.local import InfluxInstance, free_ports
from ingest.line_protocol import encode
from ingest.points import points_from_telemetry
from ingest.writers import Influx1Writer
from maintenance.config_files import load_checklist
from maintenance.db.uow import SqlUnitOfWork
from maintenance.services.plans import schedule_visits
from maintenance.sites import load_site_file

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("api_db")]

HISTORY_DAYS = 75
SLOWED_DAYS = 15
DOOR_S = 3.0


def _readings(slowed_by: float, days: int) -> list[Reading]:
    """Every six hours for ``days`` up to T0: door times and the run counter (its rise
    says the car is monitored), the last :data:`SLOWED_DAYS` days slower."""
    readings = []
    for step in range(days * 4):
        at = T0 - timedelta(hours=6 * (days * 4 - step))
        door = DOOR_S * (1 + slowed_by if at >= T0 - timedelta(days=SLOWED_DAYS) else 1)
        fields = {"door_open_duration": door, "door_close_duration": door, "run_count": 50 * step}
        readings.append(Reading(ts=at, fields=fields))
    return readings


async def _write(
    url: str, database: str, device_id: str, slowed_by: float, days: int = HISTORY_DAYS
) -> None:
    message = TelemetryMessage(
        gateway_id="gw-1",
        seq=1,
        site="demo",
        device_type="elevator",
        device_id=device_id,
        profile="elevator-nice3000",
        tags={},
        readings=_readings(slowed_by, days),
    )
    points = points_from_telemetry(message)
    async with Influx1Writer(url, database) as writer:
        await writer.write(encode(points), len(points))


@pytest.fixture
def door_database(influxdb: InfluxInstance) -> Iterator[str]:
    # One shard group for the whole history (InfluxDB 1.x can leave a weekly shard out of a
    # long range on a loaded machine: influxdata/influxdb#10093, see tests/browser).
    name = f"doors_{uuid.uuid4().hex[:8]}"
    influxdb.create_database(name, shard_days=10_000)
    yield name
    if influxdb.running:
        influxdb.drop_database(name)


@dataclass
class Compound:
    api: RunningApi
    tokens: dict[str, str]

    async def call(self, who: str, method: str, path: str, **kw: Any) -> httpx.Response:
        return await self.api.client.request(
            method, f"/api/v1{path}", headers=bearer(self.tokens[who]), **kw
        )

    async def plans(self) -> dict[str, dict[str, Any]]:
        listed = (await self.call("mgr", "GET", "/maintenance/plans?site=demo")).json()
        return {p["device_id"]: p for p in listed}

    async def visit(self, device_id: str) -> None:
        """The car's waiting visit, taken and recorded by two technicians."""
        order_id = (await self.plans())[device_id]["pending_visit"]
        for who, action, body in (
            ("mgr", "assign", {"assignee": "wang"}),
            ("wang", "acknowledge", {}),
        ):
            moved = await self.call(who, "POST", f"/work-orders/{order_id}/{action}", json=body)
            assert moved.status_code == 200, moved.text
        visit = (await self.call("wang", "GET", f"/maintenance/visits/{order_id}")).json()
        body = record_body(visit, self.api.services.clock())
        recorded = await self.call(
            "wang", "POST", f"/maintenance/visits/{order_id}/record", json=body
        )
        assert recorded.status_code == 200, recorded.text


@asynccontextmanager
async def compound(tmp_path: Path, influx_url: str, database: str) -> AsyncIterator[Compound]:
    clock = SettableClock(T0)
    async with running_api(tmp_path, clock, influx_url=influx_url, influx_database=database) as api:
        async with SqlUnitOfWork(api.services.sessions) as uow:
            await uow.sites.import_file(load_site_file(DEMO), actor="cli:t", at=T0, source="d")
            await uow.commit()
        tokens = {
            "mgr": await api.user("mgr", "manager"),
            "wang": await api.user("wang", "technician", sites=["demo"]),
        }
        site = Compound(api, tokens)
        limits = {"min_days": 10, "max_days": 30}
        put = await site.call("mgr", "PUT", "/maintenance/plans/limits/demo", json=limits)
        assert put.status_code == 200, put.text
        policy = api.services.sla_policy
        uow = SqlUnitOfWork(api.services.sessions, sla=policy)
        await schedule_visits(uow, clock, load_checklist(), policy)
        clock.now = T0 + timedelta(hours=5)
        yield site


async def test_slowed_doors_shrink_the_interval_and_healthy_ones_do_not(
    tmp_path: Path, influxdb: InfluxInstance, door_database: str
) -> None:
    await _write(influxdb.url, door_database, "elev-04", slowed_by=0.30)
    await _write(influxdb.url, door_database, "elev-05", slowed_by=0.0)
    async with compound(tmp_path, influxdb.url, door_database) as site:
        await site.visit("elev-04")
        await site.visit("elev-05")
        plans = await site.plans()
        board = await site.api.client.get("/public/demo", headers={"Accept": "text/html"})
    slowed, healthy = plans["elev-04"], plans["elev-05"]
    assert slowed["interval_days"] == 10
    assert slowed["reasons"] == [
        "door cycles 30 % slower than baseline",
        "shortened from 15 to 10 days",
    ]
    # The same door times without the slowing: no door finding, the car earns its stretch.
    assert healthy["interval_days"] == 20
    assert healthy["reasons"] == [
        "healthy: no finding since the last visit",
        "lengthened from 15 to 20 days (limit 30)",
    ]
    # The public notice board says why, in Chinese, from the reason's code and figure.
    assert board.status_code == 200
    rows = dict(re.findall(r'<th scope="row">(elev-\d+)</th>(.*?)</tr>', board.text, re.S))
    assert '<li data-reason="door_slow">开关门时间比基准慢 30%</li>' in rows["elev-04"]
    assert "10 天" in rows["elev-04"]
    assert "door_slow" not in rows["elev-05"]
    assert "20 天" in rows["elev-05"]


async def test_a_monitored_car_without_a_door_baseline_is_said_to_be_unmeasured(
    tmp_path: Path, influxdb: InfluxInstance, door_database: str
) -> None:
    # elev-05 joined the platform three days ago: monitored, but no baseline for its doors.
    await _write(influxdb.url, door_database, "elev-05", slowed_by=0.0, days=3)
    async with compound(tmp_path, influxdb.url, door_database) as site:
        await site.visit("elev-05")
        await site.visit("elev-04")  # sent nothing at all
        plans = await site.plans()
        board = await site.api.client.get("/public/demo", headers={"Accept": "text/html"})
    assert plans["elev-05"]["reasons"] == [
        "healthy: no finding since the last visit",
        "door-time drift unknown: no baseline of door times yet",
        "lengthened from 15 to 20 days (limit 30)",
    ]
    rows = dict(re.findall(r'<th scope="row">(elev-\d+)</th>(.*?)</tr>', board.text, re.S))
    assert "开关门时间变化暂无法判断" in rows["elev-05"]
    assert plans["elev-04"]["reasons"] == ["not monitored: the car is offline or sends no data"]


async def test_without_influxdb_a_visit_is_recorded_at_the_statutory_interval(
    tmp_path: Path,
) -> None:
    (closed,) = free_ports(1)  # nothing listens there: every query fails
    async with compound(tmp_path, f"http://127.0.0.1:{closed}", "gone") as site:
        await site.visit("elev-04")
        plans = await site.plans()
    # Drift, trips and all unknown: not known to be monitored, the statutory 15 days.
    assert plans["elev-04"]["interval_days"] == 15
    assert plans["elev-04"]["reasons"][0] == "not monitored: the car is offline or sends no data"
    assert plans["elev-04"]["last_visit_on"] == "2026-11-24"
