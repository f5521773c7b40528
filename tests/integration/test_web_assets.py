"""A device's page over HTTP in-process: state, charts from a real InfluxDB (and without
one), work orders, renewal evidence, who may see it, and the links that lead to it.

The compound is :mod:`board_support`'s (as of 2026-12-10 04:00 UTC; elev-01 exists at
both ``demo`` and ``other``). Both elev-01 reported every 2 hours for the 10 days before
the clock; demo's doors open in 3 s and close in 4 s, 10 more trips each time, other's
take 9 s, 1,000 more trips each time, which demo's page must never show. demo's also
reported a minute ago (standing at a floor: idle); other's last report is 2 hours old
(stale: offline).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from api_support import RunningApi, SettableClock, bearer, running_api, web_login
from board_support import MANAGER, NOW, TECH, order, seed_board

from estatewatch.ports import free_ports
from estatewatch.wire import Reading, TelemetryMessage
from infra.local import InfluxInstance
from ingest.line_protocol import encode
from ingest.points import points_from_telemetry
from ingest.writers import Influx1Writer
from maintenance.config_files import DEFAULT_RULES, load_rules
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.signals import DeviceRef, Signal
from maintenance.services import handle_signal

# Every API here runs on SQLite and on PostgreSQL (api_db in tests/conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("api_db")]

ZH = {"Accept": "text/html", "Accept-Language": "zh-CN"}
EN = {"Accept": "text/html", "Accept-Language": "en"}
PAGE = "/assets/demo/elev-01"
REPORTS = 120  # every 2 hours for 10 days


async def _write(influxdb: InfluxInstance, database: str, site: str, door_s: float) -> None:
    times = [NOW - timedelta(hours=2 * k) for k in range(REPORTS + 1)]
    if site == "demo":
        times[0] = NOW - timedelta(minutes=1)
    else:
        times.pop(0)
    readings = [
        Reading(
            ts=ts,
            fields={
                "door_open_duration": door_s,
                "door_close_duration": door_s + 1,
                # other's controller counts from elsewhere, 1,000 trips at a time: read
                # with demo's, it would swell demo's trips and evidence.
                "run_count": 200_000 + 10 * k if site == "demo" else 5_000_000 + 1000 * k,
                "speed": 0.0,
                "floor": 3,
                "car_state": 6,  # stopped
                "mode": 7,  # automatic
            },
        )
        for k, ts in enumerate(reversed(times))
    ]
    message = TelemetryMessage(
        gateway_id="gw-1",
        seq=1,
        site=site,
        device_type="elevator",
        device_id="elev-01",
        profile="elevator-nice3000",
        readings=readings,
    )
    points = points_from_telemetry(message)
    async with Influx1Writer(influxdb.url, database) as writer:
        await writer.write(encode(points), len(points))


async def _open_order(api: RunningApi) -> None:
    """WO-2026-000777 on demo's elev-01, assigned to the seeded technician, started."""
    wo = order("WO-2026-000777", "demo/elevator/elev-01", NOW - timedelta(hours=3), "P2", "staff")
    wo.assign(MANAGER, NOW - timedelta(hours=2), assignee=TECH.user_id)
    async with SqlUnitOfWork(api.services.sessions) as uow:
        await uow.work_orders.add(wo)
        await uow.commit()


@pytest.fixture
async def site(
    tmp_path: Path, influxdb: InfluxInstance, influx_database: str
) -> AsyncIterator[RunningApi]:
    await _write(influxdb, influx_database, "demo", 3.0)
    await _write(influxdb, influx_database, "other", 9.0)
    async with running_api(
        tmp_path, SettableClock(NOW), influx_url=influxdb.url, influx_database=influx_database
    ) as api:
        await seed_board(api.services.sessions)
        await _open_order(api)
        yield api


def chart(html: str, chart_id: str) -> tuple[str, int, dict[str, Any] | None]:
    """A chart's status, its point count and its JSON (None when not drawn)."""
    found = re.search(
        rf'<figure class="chart-box" id="chart-{chart_id}" data-status="(\w+)" '
        rf'data-points="(\d+)"[^>]*>(.*?)</figure>',
        html,
        re.S,
    )
    assert found, f"no chart {chart_id}"
    spec = re.search(r'<script type="application/json">(.*?)</script>', found.group(3), re.S)
    return found.group(1), int(found.group(2)), json.loads(spec.group(1)) if spec else None


def drawn(html: str, chart_id: str) -> dict[str, Any]:
    """The JSON of a chart the page draws."""
    spec = chart(html, chart_id)[2]
    assert spec is not None, f"chart {chart_id} has no data"
    return spec


async def test_an_elevators_page_charts_its_week_from_influxdb(site: RunningApi) -> None:
    await web_login(site, "qian", "manager", sites=["demo"])
    page = await site.client.get(PAGE, headers=ZH)
    assert page.status_code == 200
    html = page.text
    # ALM-1, the door fault of 30 Nov, is still active: the board's tile says fault too.
    assert 'data-state="fault"' in html
    assert re.search(r"最近故障</dt><dd>door fault · <time>2026-12-01 01:00</time>", html)
    # The certificate from the site file's inspection of 2026-05-20, as the notice board has it.
    assert re.search(r'data-certificate="valid">.*有效期至 <time>2027-05-19</time>', html)
    # The controller's enumerated states as words, never as their numbers.
    assert "<dt>轿厢与门</dt><dd>停止</dd>" in html
    assert "<dt>运行模式</dt><dd>自动运行</dd>" in html
    status, points, _ = chart(html, "doors")
    doors = drawn(html, "doors")
    # 84 two-hourly reports in the week and the last one, each in an hourly bucket of its
    # own; none of other's.
    assert (status, points) == ("ok", 85)
    assert doors["tz"] == "Asia/Shanghai"
    assert [s["label"] for s in doors["series"]] == ["开门", "关门"]
    assert set(doors["series"][0]["values"]) == {3.0}
    assert set(doors["series"][1]["values"]) == {4.0}
    assert doors["times"][-1] == int((NOW - timedelta(hours=1)).timestamp())
    trips = drawn(html, "trips")
    # The bucket before the week had no report: the first has no rise to show.
    assert trips["series"][0]["values"] == [None] + [10] * 84
    # ALM-1 (30 Nov) is older than a week; WO-2026-000777 (today) is a fault.
    alarms = drawn(html, "alarms")
    assert [s["values"] for s in alarms["series"]] == [[0], [1]]


async def test_ninety_days_are_daily_buckets_with_the_alarm_history(site: RunningApi) -> None:
    await web_login(site, "qian", "manager", sites=["demo"])
    html = (await site.client.get(f"{PAGE}?days=90", headers=EN)).text
    status, points, _ = chart(html, "doors")
    # Ten days of reports from 30 Nov 04:00 UTC: 11 daily (UTC) buckets, 2-12 reports each.
    assert (status, points) == ("ok", 11)
    trips = drawn(html, "trips")
    assert trips["series"][0]["values"][1:-1] == [120] * 9  # whole days: 12 reports x 10
    assert chart(html, "alarms")[1] == 2
    alarms = drawn(html, "alarms")
    assert [s["label"] for s in alarms["series"]] == ["Alarms raised", "Faults"]
    # ALM-1 on 30 Nov, a fault; WO-2026-000777 today, a fault reported by staff with no alarm.
    assert [s["values"] for s in alarms["series"]] == [[1, 0], [1, 1]]
    assert 'aria-current="true">90 days<' in html


async def test_orders_come_open_first_and_the_evidence_in_the_readers_language(
    site: RunningApi,
) -> None:
    await web_login(site, TECH.user_id, "technician", sites=["demo"])
    html = (await site.client.get(PAGE, headers=ZH)).text
    assert re.findall(r'data-order="([^"]+)" data-open="(\w+)"', html) == [
        ("WO-2026-000777", "true"),
        ("WO-1", "false"),
    ]
    assert 'href="/tech/orders/WO-2026-000777"' in html  # a technician has order pages
    assert 'data-order="WO-2"' not in html  # elev-04's
    # The year's evidence with InfluxDB's trips: 1,200 trips, ALM-1 and WO-2026-000777.
    assert "<strong>安全评估</strong>" in html
    assert re.findall(r'data-finding="([^"]+)">([^<]*)<', html) == [
        (
            "frequent_by_rate",
            "故障频繁：1200 次运行中故障 2 次，即每千次运行 1.67 次（达到 0.1 次即为频繁）",  # noqa: RUF001
        )
    ]
    # Faults by kind name each kind in Chinese, not by its code (``door``).
    kinds = re.findall(r'data-kind="([^"]+)">([^<]*)<', html)
    assert kinds
    assert all(re.search(r"[\u4e00-\u9fff]", name) and name != kind for kind, name in kinds)


async def test_a_manager_sees_the_orders_without_a_technicians_links(site: RunningApi) -> None:
    await web_login(site, "qian", "manager", sites=["demo"])
    html = (await site.client.get(PAGE, headers=EN)).text
    assert 'data-order="WO-2026-000777"' in html
    assert "/tech/orders/" not in html
    assert 'href="/orders/WO-2026-000777"' in html  # staff's order page
    assert "Renewal evidence" in html


async def test_a_smoke_alarm_shows_what_it_has(site: RunningApi) -> None:
    await web_login(site, "qian", "manager", sites=["demo"])
    html = (await site.client.get("/assets/demo/smoke-004", headers=EN)).text
    # No reading at all and an open order being no more than assigned: unknown.
    assert 'data-state="unknown"' in html
    assert "Smoke alarm" in html
    assert re.findall(r'id="chart-(\w+)"', html) == ["alarms"]  # no door or trip charts
    assert re.findall(r'data-order="([^"]+)"', html) == ["WO-3"]
    assert "Renewal evidence" not in html


async def test_who_may_not_see_the_device_gets_404(site: RunningApi) -> None:
    await web_login(site, "sun-other", "technician", sites=["other"])
    assert (await site.client.get(PAGE, headers=EN)).status_code == 404
    mine = await site.client.get("/assets/other/elev-01", headers=EN)
    assert mine.status_code == 200
    assert 'data-state="offline"' in mine.text  # reported 2 hours ago: stale
    # Other's doors, not demo's: the site narrows the InfluxDB query.
    assert set(drawn(mine.text, "doors")["series"][0]["values"]) == {9.0}
    assert set(drawn(mine.text, "trips")["series"][0]["values"][1:]) == {1000}
    # The JSON API's series names the site too.
    token = bearer(await site.user("mgr-json", "manager"))
    window = {"from": (NOW - timedelta(days=1)).isoformat(), "to": NOW.isoformat()}
    for name, door in (("demo", 3.0), ("other", 9.0)):
        series = await site.client.get(
            "/api/v1/assets/elev-01/telemetry",
            params={"site": name, "fields": "door_open_duration", "every": "1h"} | window,
            headers=token,
        )
        assert {p["door_open_duration"] for p in series.json()["points"]} == {door}
    assert (await site.client.get("/assets/demo/no-such-lift", headers=EN)).status_code == 404


async def test_a_resident_gets_404_and_a_bad_range_is_refused(site: RunningApi) -> None:
    await web_login(site, "wu", "resident", sites=["demo"], building="B1", unit="3-201")
    assert (await site.client.get(PAGE, headers=EN)).status_code == 404


async def test_a_range_the_page_does_not_offer_is_a_clear_error(site: RunningApi) -> None:
    await web_login(site, "qian", "manager", sites=["demo"])
    refused = await site.client.get(f"{PAGE}?days=5", headers=EN)
    assert refused.status_code == 422
    assert "not valid" in refused.text


@pytest.mark.parametrize("influx", ["down", "none", "empty"])
async def test_the_page_renders_without_telemetry(
    tmp_path: Path, influxdb: InfluxInstance, influx_database: str, influx: str
) -> None:
    settings: dict[str, Any] = {
        "down": {"influx_url": f"http://127.0.0.1:{free_ports(1)[0]}"},
        "none": {},
        "empty": {"influx_url": influxdb.url, "influx_database": influx_database},
    }[influx]
    async with running_api(tmp_path, SettableClock(NOW), **settings) as api:
        await seed_board(api.services.sessions)
        await web_login(api, "qian", "manager", sites=["demo"])
        page = await api.client.get(f"{PAGE}?days=30", headers=ZH)
    assert page.status_code == 200
    expected = {"down": "unavailable", "none": "not_configured", "empty": "empty"}[influx]
    for chart_id in ("doors", "trips"):
        assert chart(page.text, chart_id)[:2] == (expected, 0)
    # Chinese punctuation, as a property office writes it.
    message = {
        "down": "遥测数据不可用：遥测数据库未响应。",  # noqa: RUF001
        "none": "遥测数据不可用：未配置遥测数据库。",  # noqa: RUF001
        "empty": "此期间暂无数据。",
    }[influx]
    assert message in page.text
    # The alarm history is in the database: ALM-1 (30 Nov) is within 30 days.
    assert chart(page.text, "alarms")[:2] == ("ok", 1)
    assert 'data-finding="watched_not_frequent"' in page.text  # evidence without trips


async def test_the_board_the_order_page_and_the_committee_link_the_device(
    site: RunningApi,
) -> None:
    await web_login(site, "qian", "manager", sites=["demo"])
    board = await site.client.get("/board", headers=EN)
    # Each car's tile links its page and reads its own site's latest reading (floor 3).
    for car in ("demo", "other"):
        tile = rf'<a class="car" href="/assets/{car}/elev-01">elev-01</a>\s*<span class="where">'
        assert re.search(tile + r"[A-Z0-9]+ · Floor 3</span>", board.text), car
    site.client.cookies.clear()
    await web_login(site, TECH.user_id, "technician", sites=["demo"])
    order_page = await site.client.get("/tech/orders/WO-2026-000777", headers=EN)
    assert f'href="{PAGE}"' in order_page.text


async def test_an_elevators_page_shows_its_registration_code_and_coded_alarms(
    site: RunningApi,
) -> None:
    overtravel = Signal(
        kind="raised",
        rule="overtravel_top",
        device=DeviceRef("demo", "elevator", "elev-01"),
        at=NOW,
        severity="critical",
        priority="P2",
        fault_kind="overtravel",
        message="overtravel at the top",
        building="B1",
        code="09",
    )
    await handle_signal(SqlUnitOfWork(site.services.sessions), overtravel, lambda: NOW)
    await web_login(site, "qian", "manager", sites=["demo"])
    html = (await site.client.get(PAGE, headers=ZH)).text
    # elev-01's registration code from the demo site file, as the regulator feed sends it.
    assert "电梯注册代码</dt><dd>31103301002008090001</dd>" in html
    assert '<span class="gbt" title="GB/T 24476">GB/T 24476 代码 09 · 冲顶</span>' in html


async def test_the_board_and_the_asset_page_say_a_rules_alarm_in_the_readers_language(
    site: RunningApi,
) -> None:
    rule = next(r for r in load_rules(DEFAULT_RULES) if r.name == "level5_fault")
    stored = rule.message.format(fault_code=41, floor=6, car_load=35)
    stopped = Signal(
        kind="raised",
        rule=rule.name,
        device=DeviceRef("demo", "elevator", "elev-01"),
        at=NOW,
        severity="critical",
        priority="P2",
        fault_kind="elevator_stopped",
        message=stored,
        building="B1",
    )
    outcome = await handle_signal(SqlUnitOfWork(site.services.sessions), stopped, lambda: NOW)
    assert outcome.work_order is not None
    await web_login(site, "qian", "manager", sites=["demo"])
    said = "控制柜故障 E41 停梯，轿厢在 6 层（载重 35 %）"  # noqa: RUF001

    board = (await site.client.get("/board", headers=ZH)).text
    assert f'<span class="msg">{said}</span>' in board
    assert f'<span class="fault">{said}</span>' in board  # the car's tile
    # The order the alarm opened: its title said the same way, on the board and its page.
    assert f"elev-01：{said}</a>" in board  # noqa: RUF001
    order_page = await site.client.get(f"/orders/{outcome.work_order.id}", headers=ZH)
    assert f'<h1><span class="prio P2">P2</span> elev-01：{said}</h1>' in order_page.text  # noqa: RUF001
    assert (
        f'<span class="msg">{stored}</span>' in (await site.client.get("/board", headers=EN)).text
    )
    asset_page = (await site.client.get(PAGE, headers=ZH)).text
    assert said in asset_page
    assert f"elev-01：{said}</span>" in asset_page  # noqa: RUF001
