"""Rescue orders through the HTTP API on a real SQLite file with the demo compound: the
duty room and a trapped resident report, the technician arrives, releases and returns the
car to service, a false alarm is recorded as such, and bad input is named."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from api_support import T0, RunningApi, SettableClock, bearer, running_api

from maintenance.db.uow import SqlUnitOfWork
from maintenance.sites import derived_rescue_code, load_site_file

# Every API here runs on SQLite and on PostgreSQL (api_db in tests/conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("api_db")]

DEMO = Path(__file__).parents[2] / "infra" / "sites" / "demo-compound.yaml"
WO = "/api/v1/work-orders"


class Desk:
    def __init__(self, api: RunningApi, clock: SettableClock, tokens: dict[str, str]) -> None:
        self.api, self.clock, self.tokens = api, clock, tokens

    async def call(self, method: str, path: str, who: str, body: Any = None) -> Any:
        return await self.api.client.request(
            method, path, headers=bearer(self.tokens[who]), json=body
        )

    async def ok(self, method: str, path: str, who: str, body: Any = None) -> Any:
        response = await self.call(method, path, who, body)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def at(self, minutes: float) -> None:
        self.clock.now = T0 + timedelta(minutes=minutes)


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    clock = SettableClock()
    async with running_api(tmp_path, clock) as api:
        async with SqlUnitOfWork(api.services.sessions) as uow:
            await uow.sites.import_file(load_site_file(DEMO), actor="cli:test", at=T0, source="t")
            await uow.commit()
        tokens = {
            "mgr": await api.user("mgr", "manager"),
            "tech": await api.user("tech", "technician", sites=["demo"]),
            "res": await api.user("res", "resident", sites=["demo"], unit="3-201"),
            "res-away": await api.user("res-away", "resident", sites=["north"], unit="1-101"),
        }
        yield Desk(api, clock, tokens)


async def test_a_rescue_from_the_report_to_back_in_service(desk: Desk) -> None:
    code = derived_rescue_code("demo", "elev-04")
    receipt = await desk.ok("POST", "/api/v1/rescues/trapped", "res", {"rescue_code": code.lower()})
    assert (receipt["device_id"], receipt["arrive_within_minutes"]) == ("elev-04", 30)
    order_id = receipt["order_id"]
    # The duty room's report of the same car joins the open rescue.
    desk.at(1)
    joined = await desk.ok(
        "POST", "/api/v1/rescues", "mgr", {"site": "demo", "device_id": "elev-04"}
    )
    assert joined["id"] == order_id
    assert joined["category"] == "rescue"
    rescue = joined["rescue"]
    assert rescue["stage"] == "reported"
    assert rescue["contracted_maintainer"] == "Harmony Lift Services Co., Ltd."
    assert [(s["notify"], s["party"]) for s in rescue["chain"]] == [
        ("backup_maintainer", "Eastern District Lift Rescue Team"),
        ("emergency_services", "119"),
    ]
    await desk.ok("POST", f"{WO}/{order_id}/assign", "mgr", {"assignee": "tech"})
    desk.at(3)
    await desk.ok("POST", f"{WO}/{order_id}/acknowledge", "tech")
    desk.at(17)
    arrived = await desk.ok(
        "POST", f"{WO}/{order_id}/arrive", "tech", {"latitude": 31.23, "longitude": 121.47}
    )
    assert arrived["rescue"]["stage"] == "arrived"
    assert arrived["rescue"]["arrival_minutes"] == 17
    assert arrived["arrivals"][0]["by"] == "tech"
    assert "release" in arrived["allowed_actions"]
    desk.at(25)
    released = await desk.ok("POST", f"{WO}/{order_id}/release", "tech", {"note": "2 out"})
    assert released["rescue"]["rescue_minutes"] == 25
    desk.at(60)
    done = await desk.ok("POST", f"{WO}/{order_id}/return-to-service", "tech", {})
    assert (done["status"], done["rescue"]["stage"]) == ("resolved", "back_in_service")
    assert any(h["action"] == "work_order.arrive" for h in done["history"])


async def test_a_false_alarm_is_recorded_as_such(desk: Desk) -> None:
    made = await desk.ok("POST", "/api/v1/rescues", "mgr", {"rescue_code": "P57XGW"})
    assert made["asset"] == "demo/elevator/elev-01"
    desk.at(5)
    refused = await desk.call("POST", f"{WO}/{made['id']}/false-alarm", "mgr", {})
    assert refused.status_code == 422
    ended = await desk.ok(
        "POST", f"{WO}/{made['id']}/false-alarm", "mgr", {"reason": "child pressed the button"}
    )
    assert ended["status"] == "cancelled"
    assert ended["rescue"]["stage"] == "false_alarm"
    assert ended["rescue"]["false_alarm_reason"] == "child pressed the button"


async def test_bad_reports_and_steps_are_named(desk: Desk) -> None:
    nothing = await desk.call("POST", "/api/v1/rescues", "mgr", {"description": "help"})
    assert nothing.status_code == 422
    assert "rescue_code" in nothing.json()["detail"]
    unknown = await desk.call("POST", "/api/v1/rescues/trapped", "res", {"rescue_code": "ZZZZ99"})
    assert unknown.status_code == 404
    assert "no elevator with rescue code ZZZZ99" in unknown.json()["detail"]
    elsewhere = await desk.call(
        "POST", "/api/v1/rescues/trapped", "res-away", {"rescue_code": "P57XGW"}
    )
    assert elsewhere.status_code == 404
    made = await desk.ok("POST", "/api/v1/rescues", "mgr", {"rescue_code": "P57XGW"})
    out_of_turn = await desk.call("POST", f"{WO}/{made['id']}/return-to-service", "mgr", {})
    assert out_of_turn.status_code == 409
    half = await desk.call("POST", f"{WO}/{made['id']}/arrive", "mgr", {"latitude": 31.2})
    assert half.status_code == 422
    assert "latitude and longitude" in half.json()["detail"]
    far = await desk.call(
        "POST", f"{WO}/{made['id']}/arrive", "mgr", {"latitude": 91, "longitude": 0}
    )
    assert far.status_code == 422
    assert "latitude" in far.text
