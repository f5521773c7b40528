"""Assets and telemetry over HTTP: the demo compound in SQLite, readings in a real InfluxDB.

elev-01 sent four readings in the two minutes before the clock (09:00), written by the
ingest writer; smoke-004 has an active offline alarm; nothing else sent any data.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import T0, RunningApi, bearer, running_api

from api.routes import assets, telemetry
from estatewatch.influx.query import InfluxReader
from estatewatch.wire import Reading, TelemetryMessage
from infra.local import InfluxInstance
from ingest.line_protocol import encode
from ingest.points import points_from_telemetry
from ingest.writers import Influx1Writer
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.alarms import Alarm
from maintenance.domain.signals import DeviceRef, Signal
from maintenance.sites import load_site_file

# Every API here runs on SQLite and on PostgreSQL (api_db in tests/conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("api_db")]

DEMO = Path(__file__).parents[2] / "infra" / "sites" / "demo-compound.yaml"
ELEV01 = "/api/v1/assets/elev-01"
SERIES = f"{ELEV01}/telemetry"
WINDOW = {"from": "2026-11-24T08:57:00Z", "to": "2026-11-24T09:00:00Z"}


@dataclass
class Site:
    api: RunningApi
    manager: dict[str, str]

    async def get(self, path: str, who: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
        return await self.api.client.get(path, headers=who or self.manager, **kw)


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


async def _write_readings(influxdb: InfluxInstance, database: str) -> None:
    readings = [
        Reading(
            ts=T0 - timedelta(seconds=120 - 30 * i),
            fields={
                "speed": 1.0 + i,
                "floor": 1 + i,
                "run_count": 100_000 + i,
                "car_state": 5 if i < 3 else 6,  # running, then stopped
                "mode": 7,  # automatic
            },
        )
        for i in range(4)
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
    points = points_from_telemetry(message)
    async with Influx1Writer(influxdb.url, database) as writer:
        await writer.write(encode(points), len(points))


async def _seed(api: RunningApi) -> None:
    async with SqlUnitOfWork(api.services.sessions) as uow:
        await uow.sites.import_file(load_site_file(DEMO), actor="cli:test", at=T0, source="demo")
        await uow.commit()
    offline = Signal(
        kind="raised",
        rule="smoke_offline",
        device=DeviceRef("demo", "smoke_alarm", "smoke-004"),
        at=T0 - timedelta(hours=4),
        severity="major",
        priority="P3",
        fault_kind="offline",
        message="smoke alarm offline",
    )
    async with SqlUnitOfWork(api.services.sessions) as uow:
        await uow.alarms.add(Alarm.raise_from("ALM-offline", offline))
        await uow.commit()


@pytest.fixture
async def site(
    tmp_path: Path, influxdb: InfluxInstance, influx_database: str
) -> AsyncIterator[Site]:
    await _write_readings(influxdb, influx_database)
    async with running_api(
        tmp_path,
        routers=[assets.router, telemetry.router],
        influx_url=influxdb.url,
        influx_database=influx_database,
    ) as api:
        await _seed(api)
        yield Site(api, bearer(await api.user("mgr", "manager")))


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_the_list_tells_online_offline_and_unknown(site: Site) -> None:
    response = await site.get("/api/v1/assets", params={"limit": 200})
    assert response.status_code == 200, response.text
    listed = {a["device_id"]: a for a in response.json()}
    assert len(listed) == 68
    assert (listed["elev-01"]["online"], listed["elev-01"]["online_basis"]) == (True, "recent_data")
    assert listed["elev-01"]["last_seen"] == "2026-11-24T08:59:30Z"
    assert (listed["smoke-004"]["online"], listed["smoke-004"]["online_basis"]) == (
        False,
        "offline_alarm",
    )
    assert (listed["elev-02"]["online"], listed["elev-02"]["online_basis"]) == (None, "unknown")
    elevators = await site.get("/api/v1/assets", params={"kind": "elevator", "building": "B1"})
    assert [a["device_id"] for a in elevators.json()] == ["elev-01", "elev-04"]
    problem(await site.get("/api/v1/assets", params={"kind": "lift'; --"}), 422)


async def test_detail_shows_latest_values_and_the_elevators_health(site: Site) -> None:
    response = await site.get(ELEV01)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["telemetry"], body["telemetry_error"]) == ("ok", None)
    assert {k: body["latest"][k] for k in ("speed", "floor", "run_count")} == {
        "speed": 4.0,
        "floor": 4,
        "run_count": 100_003,
    }
    # Enumerated fields keep their number, and the catalogue's label stands beside it.
    assert (body["latest"]["car_state"], body["latest"]["mode"]) == (6, 7)
    assert body["latest_labels"] == {"car_state": "stopped", "mode": "automatic"}
    health = body["health"]
    # Installed 2008-09-16: 18 years old; no alarm, inspected 2026-05-20.
    assert (health["age_years"], health["open_alarms"], health["faults_last_30_days"]) == (
        18,
        0,
        0,
    )
    assert health["recommendation"] == "keep_maintaining"
    # Each finding as a code with its figures, and the same in English.
    assert health["findings"] == [
        {
            "code": "watched_not_frequent",
            "recommendation": "keep_maintaining",
            "params": {"age_years": 18, "watch_age_years": 15},
            "text": "18 years old: under closer watch from 15, but faults are not frequent",
        }
    ]
    assert health["reasons"] == [health["findings"][0]["text"]]
    smoke = (await site.get("/api/v1/assets/smoke-004")).json()
    assert [a["id"] for a in smoke["open_alarms"]] == ["ALM-offline"]
    assert (smoke["online"], smoke["health"]) == (False, None)


async def test_a_series_is_downsampled_per_interval_in_json_and_csv(site: Site) -> None:
    params = WINDOW | {"fields": "speed,floor", "every": "1m"}
    response = await site.get(SERIES, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    # 08:58:00 and 08:58:30 fall in one minute, 08:59:00 and 08:59:30 in the next.
    assert body["points"] == [
        {"time": "2026-11-24T08:58:00+00:00", "speed": 1.5, "floor": 1.5},
        {"time": "2026-11-24T08:59:00+00:00", "speed": 3.5, "floor": 3.5},
    ]
    assert (body["every_seconds"], body["measurement"]) == (60.0, "elevator")
    peak = await site.get(SERIES, params=params | {"aggregate": "max", "fields": "speed"})
    assert [p["speed"] for p in peak.json()["points"]] == [2.0, 4.0]

    as_csv = await site.get(SERIES, site.manager | {"Accept": "text/csv"}, params=params)
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.text.splitlines() == [
        "time,speed,floor",
        "2026-11-24T08:58:00+00:00,1.5,1.5",
        "2026-11-24T08:59:00+00:00,3.5,3.5",
    ]
    by_query = await site.get(SERIES, params=params | {"format": "csv"})
    assert by_query.text == as_csv.text


@pytest.mark.parametrize(
    ("path", "changes", "status"),
    [
        ('/api/v1/assets/elev-01" OR 1=1 --/telemetry', {}, 404),
        ("/api/v1/assets/elev-01'; DROP MEASUREMENT elevator/telemetry", {}, 404),
        ("/api/v1/assets/elev-01%0ADROP MEASUREMENT elevator/telemetry", {}, 404),
        ("/api/v1/assets/" + "x" * 65 + "/telemetry", {}, 422),
        (SERIES, {"fields": 'speed" FROM elevator; DROP MEASUREMENT elevator --'}, 422),
        (SERIES, {"fields": "speed,floor) OR (1=1"}, 422),
        (SERIES, {"fields": "speed\nDROP"}, 422),
        (SERIES, {"fields": ",,"}, 422),
        (SERIES, {"fields": ",".join(f"f{i}" for i in range(21))}, 422),
        (SERIES, {"from": "yesterday"}, 422),
        (SERIES, {"from": "2026-11-24T08:57:00"}, 422),  # no zone
        (SERIES, {"to": "2026-11-24T08:00:00Z"}, 422),  # before from
        (SERIES, {"from": "2026-09-01T00:00:00Z"}, 422),  # more than 31 days
        (SERIES, {"every": "0s"}, 422),
        (SERIES, {"every": "-1m"}, 422),
        (SERIES, {"every": "1e9h"}, 422),
        (SERIES, {"every": "0.5s"}, 422),
        (SERIES, {"aggregate": "sum(*); DROP"}, 422),
        (SERIES, {"port": 1}, 422),  # an elevator has no ports
        (SERIES, {"port": "one"}, 422),
    ],
)
async def test_hostile_or_malformed_telemetry_requests_are_4xx_and_harm_nothing(
    site: Site,
    influxdb: InfluxInstance,
    influx_database: str,
    path: str,
    changes: dict[str, str],
    status: int,
) -> None:
    params = WINDOW | {"fields": "speed"} | changes
    problem(await site.get(path, params=params), status)
    async with InfluxReader(influxdb.url, influx_database) as reader:
        stored = await reader.series("elevator", "elev-01", ["speed"], T0 - timedelta(hours=1), T0)
    assert stored["speed"].tolist() == [1.0, 2.0, 3.0, 4.0]


async def test_too_many_points_are_refused_and_the_default_interval_keeps_within(
    site: Site,
) -> None:
    week = {"from": "2026-11-17T09:00:00Z", "to": "2026-11-24T09:00:00Z", "fields": "speed"}
    refused = problem(await site.get(SERIES, params=week | {"every": "1s"}), 422)
    assert "more than 10000 points" in refused["detail"]
    chosen = await site.get(SERIES, params=week)
    # 604,800 s / 10,000 points, rounded up to whole seconds: 61 s.
    assert chosen.json()["every_seconds"] == 61.0


async def test_visibility_and_roles(site: Site) -> None:
    elsewhere = bearer(await site.api.user("wu", "technician", sites=["other"]))
    here = bearer(await site.api.user("li", "technician", sites=["demo"]))
    resident = bearer(await site.api.user("res", "resident", unit="3-201"))
    hidden = problem(await site.get(ELEV01, elsewhere), 404)
    missing = problem(await site.get("/api/v1/assets/elev-99", here), 404)
    assert hidden["detail"] == missing["detail"].replace("elev-99", "elev-01")
    problem(await site.get(SERIES, elsewhere, params=WINDOW | {"fields": "speed"}), 404)
    assert (await site.get(ELEV01, here)).status_code == 200
    assert (await site.get("/api/v1/assets", elsewhere)).json() == []
    problem(await site.get(ELEV01, resident), 403)


async def test_without_influxdb_the_register_still_answers(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{_closed_port()}"
    async with running_api(
        tmp_path, routers=[assets.router, telemetry.router], influx_url=dead
    ) as api:
        await _seed(api)
        manager = bearer(await api.user("mgr", "manager"))
        response = await api.client.get(ELEV01, headers=manager)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["telemetry"], body["latest"], body["online"]) == ("unavailable", None, None)
        assert "InfluxDB did not answer" in body["telemetry_error"]
        assert body["health"]["age_years"] == 18
        series = await api.client.get(SERIES, headers=manager, params=WINDOW | {"fields": "speed"})
        problem(series, 503)
    # The same database again (the register is seeded), now with no InfluxDB configured.
    async with running_api(tmp_path, routers=[assets.router, telemetry.router]) as api:
        manager = bearer(await api.user("mgr-2", "manager"))
        body = (await api.client.get(ELEV01, headers=manager)).json()
        assert (body["telemetry"], body["latest"]) == ("not_configured", None)
        problem(
            await api.client.get(SERIES, headers=manager, params=WINDOW | {"fields": "speed"}), 503
        )
