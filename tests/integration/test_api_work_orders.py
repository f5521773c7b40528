"""Work orders, alarms and resident requests through the HTTP API, on a real SQLite file.

Users and tokens are real (made through the admin routes); the clock is the test's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import T0, RunningApi, SettableClock, bearer, running_api
from register_support import register_devices

from api.errors import PROBLEM_MEDIA_TYPE
from api.schemas.work_orders import WorkOrderPageOut, WorkOrderQuery
from api.users import get_user, set_active
from api.visibility import order_scope
from maintenance import services
from maintenance.db.read.work_orders import WorkOrderSort, list_work_orders
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.signals import DeviceRef, Signal

# Every API here runs on SQLite and on PostgreSQL (api_db in tests/conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("api_db")]

WO = "/api/v1/work-orders"


@dataclass
class Desk:
    api: RunningApi
    clock: SettableClock
    tokens: dict[str, str]

    async def call(
        self, method: str, path: str, who: str, body: Any = None, **params: Any
    ) -> httpx.Response:
        return await self.api.client.request(
            method, path, headers=bearer(self.tokens[who]), json=body, params=params or None
        )

    async def ok(self, method: str, path: str, who: str, body: Any = None, **params: Any) -> Any:
        response = await self.call(method, path, who, body, **params)
        assert response.status_code in (200, 201), response.text
        return response.json()

    async def order(self, minutes: float, **fields: Any) -> str:
        self.clock.now = T0 + timedelta(minutes=minutes)
        body = {
            "title": "Lift door slow",
            "site": "demo",
            "asset": f"demo/elevator/elev-{minutes:03.0f}",
            "category": "elevator",
            "fault_kind": "door",
            "priority": "P3",
        } | fields
        created = await self.ok("POST", WO, "mgr", body)
        return str(created["id"])

    async def ids(self, who: str = "mgr", **params: Any) -> list[str]:
        page = await self.ok("GET", WO, who, **params)
        return [item["id"] for item in page["items"]]


USERS: dict[str, dict[str, Any]] = {
    "mgr": {"role": "manager"},
    "tech": {"role": "technician", "sites": ["demo"]},
    "tech-north": {"role": "technician", "sites": ["north"]},
    "tech-2": {"role": "technician", "sites": ["demo"]},
    "com": {"role": "committee"},
    "sup": {"role": "supervisor"},
    "res": {"role": "resident", "sites": ["demo"], "building": "B3", "unit": "3-201"},
    "res-2": {"role": "resident", "sites": ["demo"], "building": "B3", "unit": "3-202"},
}


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    clock = SettableClock()
    async with running_api(tmp_path, clock) as api:
        admin = await api.user("root", "admin")
        tokens = {"admin": admin}
        for name, fields in USERS.items():
            made = await api.client.post(
                "/api/v1/users", json={"username": name, **fields}, headers=bearer(admin)
            )
            assert made.status_code == 201, made.text
            issued = await api.client.post(
                f"/api/v1/users/{name}/tokens", json={}, headers=bearer(admin)
            )
            tokens[name] = issued.json()["token"]
        cars = [f"demo/elevator/elev-{n:03d}" for n in range(10)]
        await register_devices(api.services.sessions, *cars, "north/elevator/elev-01")
        yield Desk(api, clock, tokens)


def assert_problem(response: httpx.Response, status: int, field: str | None = None) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    if field is not None:
        named = [error["field"] for error in body["errors"]]
        assert any(f == field or f.startswith(f"{field}.") for f in named), body
    return str(body["detail"])


async def test_filters_sorts_and_pages(desk: Desk) -> None:
    a = await desk.order(0, priority="P1")
    b = await desk.order(1, priority="P4")
    c = await desk.order(2, site="north", asset="north/elevator/elev-01", priority="P2")
    await desk.ok("POST", f"{WO}/{a}/assign", "mgr", {"assignee": "tech"})
    desk.clock.now = T0 + timedelta(minutes=30)  # P1 unacknowledged after 10 min: overdue

    assert await desk.ids() == [c, b, a]
    assert await desk.ids(status=["new"]) == [c, b]
    assert await desk.ids(status=["new", "assigned"], site="demo") == [b, a]
    assert await desk.ids(priority=["P1", "P2"]) == [c, a]
    assert await desk.ids(assignee="tech") == [a]
    assert await desk.ids(asset="north/elevator/elev-01") == [c]
    assert await desk.ids(overdue="true") == [a]
    assert await desk.ids(sort="priority") == [a, c, b]
    assert await desk.ids(sort="-priority") == [b, c, a]
    assert await desk.ids(assignee="tech' OR '1'='1") == []

    first = await desk.ok("GET", WO, "mgr", limit=2)
    assert [i["id"] for i in first["items"]] == [c, b]
    rest = await desk.ok("GET", WO, "mgr", limit=2, cursor=first["next_cursor"])
    assert ([i["id"] for i in rest["items"]], rest["next_cursor"]) == ([a], None)
    summary = first["items"][0]
    assert (summary["status"], summary["overdue"], summary["site"]) == ("new", False, "north")


async def test_bounds_and_hostile_inputs_are_4xx_problems_naming_the_field(desk: Desk) -> None:
    order = await desk.order(0)
    for params, field in (
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"limit": 10**30}, "limit"),
        ({"limit": "fifty"}, "limit"),
        ({"sort": "title"}, "sort"),
        ({"sort": "created_at; DROP TABLE work_order"}, "sort"),
        ({"status": "done"}, "status"),
        ({"priority": "P9"}, "priority"),
        ({"overdue": "perhaps"}, "overdue"),
        ({"cursor": "x" * 600}, "cursor"),
        ({"site": "demo' OR '1'='1"}, "site"),
    ):
        assert_problem(await desk.call("GET", WO, "mgr", **params), 422, field)
    detail = assert_problem(await desk.call("GET", WO, "mgr", cursor="bm90IGEgY3Vyc29y"), 422)
    assert "cursor" in detail
    for bad_id in ("WO-1", "WO-2026-00000x", "WO-2026-000001' OR 1=1 --", "%00", "x" * 5000):
        assert_problem(await desk.call("GET", f"{WO}/{bad_id}", "mgr"), 422, "order_id")
    assert_problem(await desk.call("GET", f"{WO}/../../etc/passwd", "mgr"), 404)
    assert_problem(await desk.call("POST", f"{WO}/{order}/assign", "mgr", {}), 422, "assignee")
    assert_problem(
        await desk.call("POST", f"{WO}/{order}/assign", "mgr", {"assignee": ["tech"]}),
        422,
        "assignee",
    )
    assert_problem(
        await desk.call("POST", f"{WO}/{order}/hold", "mgr", {"reason": "r", "x": 1}), 422, "x"
    )
    new = {"title": "t" * 301, "site": "demo", "asset": "a", "category": "c", "fault_kind": "f"}
    response = await desk.call("POST", WO, "mgr", new | {"priority": "P0"})
    assert_problem(response, 422, "title")
    assert_problem(response, 422, "priority")
    malformed = await desk.api.client.post(
        WO,
        content=b"{not json",
        headers=bearer(desk.tokens["mgr"]) | {"Content-Type": "application/json"},
    )
    assert_problem(malformed, 400)


async def test_an_order_goes_only_to_someone_who_can_take_it(desk: Desk) -> None:
    order = await desk.order(0)
    for assignee, why in (
        ("nobody", "there is no such person"),
        ("res", "a resident does not work orders"),
        ("tech-north", "they do not work at site demo"),
    ):
        response = await desk.call("POST", f"{WO}/{order}/assign", "mgr", {"assignee": assignee})
        detail = assert_problem(response, 422)
        assert response.json()["type"] == "urn:estatewatch:problem:not-assignable"
        assert f"cannot assign it to '{assignee}': {why}" in detail
    assert (await desk.ok("GET", f"{WO}/{order}", "mgr"))["status"] == "new"
    sessions = desk.api.services.sessions
    async with sessions() as session:
        root = await get_user(session, "root")
    await set_active(SqlUnitOfWork(sessions), root, "tech-2", False, at=desk.clock.now)
    response = await desk.call("POST", f"{WO}/{order}/assign", "mgr", {"assignee": "tech-2"})
    assert "their account is deactivated" in assert_problem(response, 422)
    assigned = await desk.ok("POST", f"{WO}/{order}/assign", "mgr", {"assignee": "tech"})
    assert (assigned["status"], assigned["assignee"]) == ("assigned", "tech")


async def test_a_404_never_tells_someone_elses_order_from_a_missing_one(desk: Desk) -> None:
    mine = await desk.order(0)
    await desk.ok("POST", f"{WO}/{mine}/assign", "mgr", {"assignee": "tech"})
    unassigned_here = await desk.order(1)
    up_north = await desk.order(2, site="north", asset="north/elevator/elev-01")
    assigned_to_other = await desk.order(3)
    await desk.ok("POST", f"{WO}/{assigned_to_other}/assign", "mgr", {"assignee": "tech-2"})

    assert await desk.ids("tech") == [unassigned_here, mine]
    assert await desk.ids("tech-north") == [up_north]
    missing = await desk.call("GET", f"{WO}/WO-2026-999999", "tech")
    for hidden in (up_north, assigned_to_other):
        response = await desk.call("GET", f"{WO}/{hidden}", "tech")
        assert_problem(response, 404)
        assert response.json()["detail"] == missing.json()["detail"].replace("999999", hidden[-6:])
        assert_problem(await desk.call("POST", f"{WO}/{hidden}/acknowledge", "tech"), 404)
    assert (await desk.ok("GET", f"{WO}/{mine}", "tech"))["assignee"] == "tech"

    request = await desk.ok(
        "POST",
        "/api/v1/requests",
        "res",
        {"title": "Light out", "place": "stairwell", "category": "lighting"},
    )
    assert_problem(await desk.call("GET", f"/api/v1/requests/{request['id']}", "res-2"), 404)
    assert_problem(await desk.call("GET", f"/api/v1/requests/{mine}", "res"), 404)
    assert (await desk.ok("GET", "/api/v1/requests", "res-2"))["items"] == []
    assert_problem(await desk.call("GET", WO, "res"), 403)
    # The place is free text as a resident writes it; a QR code's link names the building.
    lift = await desk.ok(
        "POST",
        "/api/v1/requests",
        "res",
        {"title": "电梯异响", "place": "2号电梯 轿厢", "category": "elevator", "building": "B7"},
    )
    assert lift["asset"].endswith("/building/B7/2号电梯 轿厢")
    for place in ("a/b", "line\nbreak", ""):
        body = {"title": "x", "place": place, "category": "lighting"}
        assert_problem(await desk.call("POST", "/api/v1/requests", "res", body), 422)


async def test_a_place_is_a_line_of_text_in_any_script_but_no_markup(desk: Desk) -> None:
    for place in ("B1 lift lobby", "3号楼大堂", "café №3 (east)"):
        body = {"title": "Light out", "place": place, "category": "lighting"}
        made = await desk.ok("POST", "/api/v1/requests", "res", body)
        assert made["asset"] == f"demo/building/B3/{place}"
    hostile = ("<b>lobby</b>", "lobby\x07", "lobby\x7f", "\u202elobby", "lobby\u2028B2", "a\tb")
    for place in hostile:
        body = {"title": "Light out", "place": place, "category": "lighting"}
        refused = await desk.call("POST", "/api/v1/requests", "res", body)
        assert "no control characters, '/', '<' or '>'" in assert_problem(refused, 422, "place")
    assert len((await desk.ok("GET", "/api/v1/requests", "res"))["items"]) == 3


async def test_every_action_moves_the_order_and_is_recorded(desk: Desk) -> None:
    order = await desk.order(0, priority="P2")
    path = f"{WO}/{order}"
    steps: list[tuple[str, str, dict[str, Any] | None, str]] = [
        ("assign", "mgr", {"assignee": "tech"}, "assigned"),
        ("acknowledge", "tech", None, "acknowledged"),
        ("start", "tech", None, "in_progress"),
        ("hold", "tech", {"reason": "waiting for a door operator"}, "on_hold"),
        ("resume", "tech", None, "in_progress"),
        ("cost", "tech", {"estimate": "8000.00"}, "in_progress"),
        ("request-approval", "tech", {"note": "new door operator"}, "awaiting_approval"),
        ("reject", "com", {"reason": "get a second quote"}, "rejected"),
        ("request-approval", "mgr", {"note": "second quote, same price"}, "awaiting_approval"),
        ("approve", "com", {"note": "agreed at the owners' meeting"}, "approved"),
        ("start", "tech", None, "in_progress"),
        ("comment", "tech", {"text": "old operator was burnt out", "public": False}, "in_progress"),
        ("resolve", "tech", {"note": "operator replaced"}, "resolved"),
        ("reopen", "sup", {"reason": "door still reopens twice"}, "reopened"),
        ("start", "tech", None, "in_progress"),
        ("resolve", "tech", {"note": "door sensor cleaned"}, "resolved"),
        ("verify", "sup", {"note": "closes first time now"}, "verified"),
        ("close", "mgr", None, "closed"),
    ]
    for n, (action, who, body, status) in enumerate(steps, start=1):
        desk.clock.now = T0 + timedelta(minutes=n)
        answer = await desk.ok("POST", f"{path}/{action}", who, body)
        assert answer["status"] == status, action
    final = await desk.ok("GET", path, "mgr")
    assert len(final["history"]) == 1 + len(steps)
    assert final["cost_estimate"] == "8000.00"
    assert final["allowed_actions"] == ["rate", "comment", "set_cost"]
    assert [c["name"] for c in final["clocks"]] == ["response", "feedback", "resolution"]

    cancelled = await desk.order(1)
    answer = await desk.ok("POST", f"{WO}/{cancelled}/cancel", "mgr", {"reason": "duplicate"})
    assert (answer["status"], answer["cancel_reason"]) == ("cancelled", "duplicate")


async def test_a_refused_action_is_a_409_or_403_problem(desk: Desk) -> None:
    order = await desk.order(0)
    detail = assert_problem(await desk.call("POST", f"{WO}/{order}/acknowledge", "tech"), 409)
    assert "cannot acknowledge while new" in detail
    assert desk.api.client is not None
    await desk.ok("POST", f"{WO}/{order}/assign", "mgr", {"assignee": "tech"})
    await desk.ok("POST", f"{WO}/{order}/acknowledge", "tech")
    await desk.ok("POST", f"{WO}/{order}/resolve", "tech", {})
    assert_problem(await desk.call("POST", f"{WO}/{order}/verify", "com", {}), 403)
    assert_problem(await desk.call("POST", f"{WO}/{order}/approve", "tech", {}), 403)
    again = await desk.call(
        "POST",
        WO,
        "mgr",
        {
            "title": "again",
            "site": "demo",
            "asset": "demo/elevator/elev-000",
            "category": "elevator",
            "fault_kind": "door",
            "priority": "P3",
        },
    )
    assert order in assert_problem(again, 409)


async def test_a_resident_raises_follows_and_rates_a_request(desk: Desk) -> None:
    raised = await desk.ok(
        "POST",
        "/api/v1/requests",
        "res",
        {"title": "Stairwell light out", "place": "stairwell-2", "category": "lighting"},
    )
    order = raised["id"]
    assert (raised["source"], raised["requested_by"], raised["priority"]) == (
        "resident",
        "res",
        "P3",
    )
    assert raised["asset"] == "demo/building/B3/stairwell-2"
    assert_problem(
        await desk.call("POST", f"/api/v1/requests/{order}/rate", "res", {"stars": 5}), 409
    )

    await desk.ok("POST", f"{WO}/{order}/assign", "mgr", {"assignee": "tech"})
    await desk.ok(
        "POST", f"{WO}/{order}/comment", "tech", {"text": "ladder needed", "public": False}
    )
    await desk.ok("POST", f"{WO}/{order}/comment", "tech", {"text": "coming at 3 pm"})
    await desk.ok("POST", f"{WO}/{order}/acknowledge", "tech")
    await desk.ok("POST", f"{WO}/{order}/resolve", "tech", {"note": "bulb replaced"})
    seen = await desk.ok("GET", f"/api/v1/requests/{order}", "res")
    assert [n["text"] for n in seen["notes"]] == ["coming at 3 pm"]
    assert all("ladder" not in (e["reason"] or "") for e in seen["history"])

    for stars in (0, 6, "5", 4.5):
        response = await desk.call(
            "POST", f"/api/v1/requests/{order}/rate", "res", {"stars": stars}
        )
        assert_problem(response, 422, "stars")
    rated = await desk.ok("POST", f"/api/v1/requests/{order}/rate", "res", {"stars": 4})
    assert rated["rating"]["stars"] == 4
    mine = await desk.ok("GET", "/api/v1/requests", "res")
    assert [i["id"] for i in mine["items"]] == [order]


async def test_alarms_list_filter_and_acknowledge(desk: Desk) -> None:
    sessions = desk.api.services.sessions
    made = []
    for n, site in enumerate(("demo", "demo", "north")):
        signal = Signal(
            kind="raised",
            rule="device_offline",
            device=DeviceRef(site, "smoke_alarm", f"smoke-{n}"),
            at=T0 + timedelta(minutes=n),
            severity="minor",
            priority=None,
            fault_kind="offline",
            message="silent for 3 heartbeats",
            building=f"B{n}",
        )
        outcome = await services.handle_signal(SqlUnitOfWork(sessions), signal, desk.clock)
        assert outcome.alarm is not None
        made.append(outcome.alarm.id)

    listed = await desk.ok("GET", "/api/v1/alarms", "mgr")
    assert [a["id"] for a in listed["items"]] == made[::-1]
    tech_sees = await desk.ok("GET", "/api/v1/alarms", "tech")
    assert [a["id"] for a in tech_sees["items"]] == [made[1], made[0]]
    by_building = await desk.ok("GET", "/api/v1/alarms", "mgr", building="B1")
    assert [a["id"] for a in by_building["items"]] == [made[1]]

    acked = await desk.ok("POST", f"/api/v1/alarms/{made[0]}/acknowledge", "tech")
    assert acked["acknowledged_by"] == "tech"
    assert_problem(await desk.call("POST", f"/api/v1/alarms/{made[0]}/acknowledge", "mgr"), 409)
    assert_problem(await desk.call("POST", f"/api/v1/alarms/{made[2]}/acknowledge", "tech"), 404)
    assert_problem(await desk.call("POST", "/api/v1/alarms/ALM-1'--/acknowledge", "tech"), 422)
    unacked = await desk.ok("GET", "/api/v1/alarms", "mgr", acknowledged="false")
    assert [a["id"] for a in unacked["items"]] == [made[2], made[1]]
    assert_problem(await desk.call("GET", "/api/v1/alarms", "res"), 403)


async def test_a_coded_alarm_and_its_order_carry_the_gbt24476_code(desk: Desk) -> None:
    sessions = desk.api.services.sessions
    signal = Signal(
        kind="raised",
        rule="overtravel_top",
        device=DeviceRef("demo", "elevator", "elev-01"),
        at=T0,
        severity="critical",
        priority="P2",
        fault_kind="overtravel",
        message="overtravel at the top: car on the final limit at 51.3 m (load 0.0 %)",
        building="B1",
        code="09",
    )
    outcome = await services.handle_signal(SqlUnitOfWork(sessions), signal, desk.clock)
    assert outcome.alarm is not None
    assert outcome.work_order is not None

    (alarm,) = (await desk.ok("GET", "/api/v1/alarms", "mgr"))["items"]
    assert (alarm["id"], alarm["gbt24476_code"]) == (outcome.alarm.id, "09")
    (listed,) = (await desk.ok("GET", WO, "mgr"))["items"]
    assert listed["gbt24476_code"] == "09"
    order = await desk.ok("GET", f"{WO}/{outcome.work_order.id}", "mgr")
    assert order["gbt24476_code"] == "09"
    by_hand = await desk.ok("GET", f"{WO}/{await desk.order(5)}", "mgr")
    assert by_hand["gbt24476_code"] is None, "an order a person opened has no code"


async def test_the_list_and_detail_answer_what_the_session_reads_answer(desk: Desk) -> None:
    """The list and the detail read on a bare Core connection; an action's answer and the
    web pages still read through an ORM session. The same orders, callers and clock must
    give the same JSON both ways, scoping included."""
    await desk.order(0)
    worked = await desk.order(1, priority="P2")
    north = await desk.order(2, site="north", asset="north/elevator/elev-01", priority="P1")
    steps: list[tuple[str, str, dict[str, Any] | None]] = [
        ("assign", "mgr", {"assignee": "tech"}),
        ("acknowledge", "tech", None),
        ("start", "tech", None),
        ("hold", "tech", {"reason": "waiting for a door operator"}),
        ("resume", "tech", None),
        ("cost", "tech", {"estimate": "120.50"}),
        ("comment", "tech", {"text": "operator worn", "public": False}),
        ("comment", "mgr", {"text": "order the part", "public": True}),
    ]
    answered: dict[str, Any] = {}
    for n, (action, who, body) in enumerate(steps, start=3):
        desk.clock.now = T0 + timedelta(minutes=n)
        answered[who] = await desk.ok("POST", f"{WO}/{worked}/{action}", who, body)
        # Each caller's last answer, read back through the connection at the same time.
        assert await desk.ok("GET", f"{WO}/{worked}", who) == answered[who], action
    assert answered["mgr"]["notes"]
    assert answered["mgr"]["history"]

    desk.clock.now = T0 + timedelta(hours=30)  # clocks past due: overdue counts
    queries: list[dict[str, Any]] = [
        {},
        {"status": ["new", "in_progress"], "priority": ["P1", "P2"], "limit": 1},
        {"sort": "due", "overdue": True},
    ]
    for who in ("mgr", "tech", "tech-north", "com"):
        async with desk.api.services.readers() as session:
            user = await get_user(session, who)
            for params in queries:
                query = WorkOrderQuery.model_validate(params)
                page = await list_work_orders(
                    session,
                    now=desk.clock(),
                    filters=query.filters(),
                    sort=WorkOrderSort.parse(query.sort),
                    page=query.page(),
                    visible=order_scope(user),
                )
                expected = WorkOrderPageOut.of(page).model_dump(mode="json")
                assert await desk.ok("GET", WO, who, **params) == expected, (who, params)
    assert await desk.ids("tech-north") == [north]
    assert (await desk.call("GET", f"{WO}/{worked}", "tech-north")).status_code == 404
    assert (await desk.ok("GET", f"{WO}/{north}", "tech-north"))["id"] == north
