"""Maintenance plans and visits through the HTTP API: the committee reads each car's
interval and why, a manager sets the site's limits, technicians record a visit (a defect
opens a repair order), the safety manager signs; bad records are refused with the reason."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import T0, RunningApi, SettableClock, bearer, running_api

from maintenance.config_files import load_checklist
from maintenance.db.uow import SqlUnitOfWork
from maintenance.services.plans import schedule_visits
from maintenance.sites import load_site_file

# Every API here runs on SQLite and on PostgreSQL (api_db in tests/conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("api_db")]

DEMO = Path(__file__).parents[2] / "infra" / "sites" / "demo-compound.yaml"


@dataclass
class Estate:
    api: RunningApi
    clock: SettableClock
    tokens: dict[str, str]

    async def call(self, who: str, method: str, path: str, **kw: Any) -> httpx.Response:
        return await self.api.client.request(
            method, f"/api/v1{path}", headers=bearer(self.tokens[who]), **kw
        )

    async def schedule(self) -> None:
        services = self.api.services
        uow = SqlUnitOfWork(services.sessions, sla=services.sla_policy)
        await schedule_visits(uow, self.clock, load_checklist(), services.sla_policy)


@pytest.fixture
async def estate(tmp_path: Path) -> AsyncIterator[Estate]:
    clock = SettableClock(T0)
    async with running_api(tmp_path, clock) as api:
        uow = SqlUnitOfWork(api.services.sessions)
        async with uow:
            await uow.sites.import_file(load_site_file(DEMO), actor="cli:t", at=T0, source="d")
            await uow.commit()
        tokens = {
            "mgr": await api.user("mgr", "manager"),
            "wang": await api.user("wang", "technician", sites=["demo"]),
            "zhao": await api.user("zhao", "technician", sites=["elsewhere"]),
            "com": await api.user("com", "committee"),
            "res": await api.user("res", "resident", unit="1-101"),
        }
        yield Estate(api, clock, tokens)


def record_body(visit: dict[str, Any], now: Any, **change: Any) -> dict[str, Any]:
    results = []
    for item in visit["items"]:
        result: dict[str, Any] = {"code": item["code"], "status": "done"}
        if item["code"] == "HM29":
            result = {"code": "HM29", "status": "defect", "note": "5 mm at 7F", "reading": 5}
        elif item["unit"] is not None:
            result["reading"] = item["low"] if item["low"] is not None else item["high"]
        results.append(result)
    body = {
        "technicians": ["wang", "li"],
        "started_at": (now - timedelta(hours=2)).isoformat(),
        "ended_at": (now - timedelta(hours=1)).isoformat(),
        "results": results,
    }
    return body | change


async def test_a_visit_recorded_and_signed_and_the_plan_read(estate: Estate) -> None:
    limits = await estate.call(
        "mgr", "PUT", "/maintenance/plans/limits/demo", json={"min_days": 15, "max_days": 30}
    )
    assert limits.status_code == 200, limits.text
    await estate.schedule()
    plans = (await estate.call("com", "GET", "/maintenance/plans")).json()
    assert len(plans) == 6
    car = next(p for p in plans if p["device_id"] == "elev-01")
    assert car["interval_days"] == 15
    assert car["next_level"] == "yearly"
    assert car["reasons"]
    assert car["pending_visit"]
    order_id = car["pending_visit"]
    # Technicians of other sites neither see the plans nor the visit.
    assert (await estate.call("zhao", "GET", "/maintenance/plans")).json() == []
    assert (await estate.call("zhao", "GET", f"/maintenance/visits/{order_id}")).status_code == 404
    assert (await estate.call("res", "GET", "/maintenance/plans")).status_code == 403

    visit = (await estate.call("wang", "GET", f"/maintenance/visits/{order_id}")).json()
    assert visit["level"] == "yearly"
    assert len(visit["items"]) == 76
    assert {i["status"] for i in visit["items"]} == {None}
    for action in ("assign", "acknowledge"):
        body = {"assignee": "wang"} if action == "assign" else {}
        who = "mgr" if action == "assign" else "wang"
        moved = await estate.call(who, "POST", f"/work-orders/{order_id}/{action}", json=body)
        assert moved.status_code == 200, moved.text

    estate.clock.now = T0 + timedelta(hours=5)
    alone = record_body(visit, estate.clock.now, technicians=["wang"])
    refused = await estate.call(
        "wang", "POST", f"/maintenance/visits/{order_id}/record", json=alone
    )
    assert refused.status_code == 422
    assert "2 technicians must be present, got 1" in refused.json()["detail"]

    body = record_body(visit, estate.clock.now)
    recorded = await estate.call(
        "wang", "POST", f"/maintenance/visits/{order_id}/record", json=body
    )
    assert recorded.status_code == 200, recorded.text
    items = {i["code"]: i for i in recorded.json()["items"]}
    repair = items["HM29"]["repair_order"]
    assert items["HM29"]["status"] == "defect"
    assert repair
    order = (await estate.call("mgr", "GET", f"/work-orders/{repair}")).json()
    assert order["fault_kind"] == "defect/HM29"
    assert order_id in order["description"]

    by_tech = await estate.call("wang", "POST", f"/maintenance/visits/{order_id}/sign")
    assert by_tech.status_code == 403
    signed = await estate.call("mgr", "POST", f"/maintenance/visits/{order_id}/sign")
    assert signed.status_code == 200, signed.text
    assert signed.json()["signed_by"] == "mgr"

    after = (await estate.call("com", "GET", "/maintenance/plans?site=demo")).json()
    car = next(p for p in after if p["device_id"] == "elev-01")
    assert car["last_visit_on"] == "2026-11-24"
    assert car["pending_visit"] is None
    # No telemetry in this test: the car is not known to be monitored, so 15 days it stays.
    assert car["interval_days"] == 15
    assert car["reasons"][0] == "not monitored: the car is offline or sends no data"
    assert car["next_due"] == "2026-12-09"


async def test_bad_limits_and_unknown_sites_are_refused(estate: Estate) -> None:
    upside_down = await estate.call(
        "mgr", "PUT", "/maintenance/plans/limits/demo", json={"min_days": 30, "max_days": 15}
    )
    assert upside_down.status_code == 422
    assert "min_days 30 is above max_days 15" in upside_down.text
    too_long = await estate.call(
        "mgr", "PUT", "/maintenance/plans/limits/demo", json={"min_days": 15, "max_days": 120}
    )
    assert too_long.status_code == 422
    assert "max_days" in too_long.text
    nowhere = await estate.call(
        "mgr", "PUT", "/maintenance/plans/limits/nowhere", json={"min_days": 15, "max_days": 30}
    )
    assert nowhere.status_code == 404
