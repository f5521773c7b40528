"""The committee's routes and the KPIs over HTTP, on a real SQLite file.

The demo compound is imported; elev-06 is 22 years old and its last inspection
(2025-10-28) is over a year before the clock (2026-11-24), so its evidence recommends a
safety evaluation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import T0, RunningApi, bearer, running_api

from api.routes import committee, kpis
from maintenance.db.audit import history
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.actors import Actor
from maintenance.domain.workorders import WorkOrder
from maintenance.sites import load_site_file

# Every API here runs on SQLite and on PostgreSQL (api_db in tests/conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("api_db")]

DEMO = Path(__file__).parents[2] / "infra" / "sites" / "demo-compound.yaml"
PROPOSALS = "/api/v1/committee/proposals"
NO_LIMIT = Decimal(10**9)
HOSTILE = ['elev-01" OR 1=1 --', "x'; DROP TABLE committee_proposal; --", "../../etc/passwd"]
# Two thirds of 300 owners and of 30,000 m2 take part; 3/4 and 7/10 of them agree.
TALLY = {
    "for_owners": 150,
    "for_area_m2": "14000",
    "against_owners": 40,
    "against_area_m2": "4500",
    "abstain_owners": 10,
    "abstain_area_m2": "1500",
}


@dataclass
class Committee:
    api: RunningApi
    chair: dict[str, str]
    manager: dict[str, str]
    technician: dict[str, str]
    resident: dict[str, str]

    async def post(self, path: str, body: Any, who: dict[str, str] | None = None) -> Any:
        return await self.api.client.post(path, json=body, headers=who or self.chair)

    async def get(self, path: str, who: dict[str, str] | None = None, **kw: Any) -> Any:
        return await self.api.client.get(path, headers=who or self.chair, **kw)


async def _awaiting_approval(api: RunningApi) -> None:
    manager, tech = Actor("mgr", "manager"), Actor("tech", "technician")
    order = WorkOrder.open(
        id="WO-2026-000001",
        title="replace the door operator",
        asset="demo/elevator/elev-06",
        site="demo",
        category="elevator",
        fault_kind="door",
        priority="P2",
        source="staff",
        now=T0,
        created_by=manager,
    )
    order.assign(manager, T0, assignee="tech")
    order.acknowledge(tech, T0)
    order.set_cost(tech, T0, estimate=Decimal("8000"))
    order.request_approval(tech, T0, reason="over the threshold")
    async with SqlUnitOfWork(api.services.sessions) as uow:
        await uow.work_orders.add(order)
        await uow.commit()


@pytest.fixture
async def club(tmp_path: Path) -> AsyncIterator[Committee]:
    async with running_api(tmp_path, routers=[committee.router, kpis.router]) as api:
        async with SqlUnitOfWork(api.services.sessions) as uow:
            site = load_site_file(DEMO)
            await uow.sites.import_file(site, actor="cli:test", at=T0, source="demo")
            await uow.commit()
        await _awaiting_approval(api)
        yield Committee(
            api,
            bearer(await api.user("chair", "committee")),
            bearer(await api.user("mgr", "manager")),
            bearer(await api.user("tech", "technician", sites=["demo"])),
            bearer(await api.user("res", "resident", unit="3-201")),
        )


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


async def _proposal(club: Committee, **changes: Any) -> dict[str, Any]:
    body = {"title": "Renew elev-06's doors", "amount": "48000.50", "device_id": "elev-06"}
    response = await club.post(PROPOSALS, body | changes, club.manager)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_a_proposal_carries_the_elevators_evidence(club: Committee) -> None:
    created = await _proposal(club)
    assert (created["status"], created["site"], created["device_id"]) == ("open", "demo", "elev-06")
    assert created["amount"] == "48000.50"
    evidence = created["evidence"]
    assert (evidence["asset_id"], evidence["age_years"]) == ("demo/elevator/elev-06", 22)
    assert evidence["recommendation"] == "safety_evaluation"
    assert created["created_by"] == "manager:mgr"

    fetched = await club.get(f"{PROPOSALS}/{created['id']}")
    assert fetched.json() == created
    listed = await club.get(PROPOSALS, params={"status": "open"})
    assert [p["id"] for p in listed.json()] == [created["id"]]
    async with club.api.services.sessions() as session:
        trail = await history(session, "proposal", created["id"])
    assert [entry.action for entry in trail] == ["proposal.created"]


async def test_owners_vote_opened_counted_and_decided(club: Committee) -> None:
    proposal = (await _proposal(club))["id"]
    vote = f"{PROPOSALS}/{proposal}/vote"
    problem(await club.get(vote), 404)
    opened = await club.post(vote, {"owners_total": 300, "area_total_m2": "30000"})
    assert opened.status_code == 201, opened.text
    assert opened.json()["passed"] is None
    problem(await club.post(vote, {"owners_total": 300, "area_total_m2": "30000"}), 409)

    counted = await club.post(f"{vote}/tally", TALLY)
    assert counted.status_code == 200, counted.text
    result = counted.json()["result"]
    assert counted.json()["passed"] is True
    assert (result["participation_by_headcount"], result["participation_by_area"]) == (
        "2/3",
        "2/3",
    )
    assert (result["approval_by_headcount"], result["approval_by_area"]) == ("3/4", "7/10")
    assert (await club.get(vote)).json() == counted.json()
    assert (await club.get(f"{PROPOSALS}/{proposal}")).json()["status"] == "decided"
    again = problem(await club.post(f"{vote}/tally", TALLY), 409)
    assert "decided" in again["detail"]


async def test_the_emergency_path(club: Committee) -> None:
    ordinary = (await _proposal(club))["id"]
    three_of_five = {"members_total": 5, "for_members": 3, "against_members": 2}
    refused = problem(
        await club.post(f"{PROPOSALS}/{ordinary}/emergency-decision", three_of_five), 409
    )
    assert "not an emergency" in refused["detail"]
    unjustified = problem(
        await club.post(PROPOSALS, {"title": "x", "amount": 1, "emergency": True}, club.manager),
        422,
    )
    assert "justification" in unjustified["detail"]
    urgent = (await _proposal(club, emergency=True, justification="two entrapments"))["id"]
    decided = await club.post(f"{PROPOSALS}/{urgent}/emergency-decision", three_of_five)
    assert decided.status_code == 200, decided.text
    assert (decided.json()["path"], decided.json()["passed"]) == ("committee_emergency", True)
    assert decided.json()["result"]["approval_of_members"] == "3/5"


async def test_roles_are_kept_to_their_part(club: Committee) -> None:
    proposal = (await _proposal(club))["id"]
    problem(await club.get(PROPOSALS, club.resident), 403)
    problem(await club.get(PROPOSALS, club.technician), 403)
    problem(await club.get("/api/v1/committee/approvals", club.technician), 403)
    electorate = {"owners_total": 300, "area_total_m2": "30000"}
    problem(await club.post(f"{PROPOSALS}/{proposal}/vote", electorate, club.manager), 403)
    problem(await club.post(PROPOSALS, {"title": "x", "amount": 1}, club.technician), 403)


async def test_pending_approvals_list_orders_awaiting_the_committee(club: Committee) -> None:
    response = await club.get("/api/v1/committee/approvals", club.manager)
    assert response.status_code == 200, response.text
    [pending] = response.json()
    assert (pending["id"], pending["cost_estimate"], pending["priority"]) == (
        "WO-2026-000001",
        "8000",
        "P2",
    )
    assert pending["approval_requested_at"] == "2026-11-24T09:00:00Z"


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        (PROPOSALS, {"title": "x", "amount": "-1"}, 422),
        (PROPOSALS, {"title": "x", "amount": "1e40"}, 422),
        (PROPOSALS, {"title": "x", "amount": "lots"}, 422),
        (PROPOSALS, {"title": "", "amount": 1}, 422),
        (PROPOSALS, {"title": "x", "amount": 1, "extra": True}, 422),
        (PROPOSALS, [1, 2], 422),
        *((PROPOSALS, {"title": "x", "amount": 1, "device_id": h}, 404) for h in HOSTILE),
        (f"{PROPOSALS}/PRP-000000000000/vote", {"owners_total": 3, "area_total_m2": 1}, 404),
        *(
            (f"{PROPOSALS}/{h}/vote", {"owners_total": 3, "area_total_m2": 1}, 422)
            for h in HOSTILE[:2]
        ),
        (f"{PROPOSALS}/PRP-000000000000/vote/tally", {"for_owners": "many"}, 422),
        (f"{PROPOSALS}/PRP-000000000000/vote/tally", {"for_owners": 10**30}, 422),
        (f"{PROPOSALS}/PRP-000000000000/vote/tally", {"for_area_m2": "1e999999"}, 422),
    ],
)
async def test_malformed_or_hostile_input_is_a_4xx_problem(
    club: Committee, path: str, body: Any, status: int
) -> None:
    problem(await club.post(path, body, club.manager if path == PROPOSALS else club.chair), status)


async def test_a_tally_that_breaks_a_rule_is_refused_and_changes_nothing(club: Committee) -> None:
    proposal = (await _proposal(club))["id"]
    vote = f"{PROPOSALS}/{proposal}/vote"
    await club.post(vote, {"owners_total": 300, "area_total_m2": "30000"})
    area_without_owners = problem(await club.post(f"{vote}/tally", {"for_area_m2": "10"}), 422)
    assert "0 owners" in area_without_owners["detail"]
    too_many = problem(await club.post(f"{vote}/tally", {"for_owners": 301, "for_area_m2": 1}), 422)
    assert "301 owners took part" in too_many["detail"]
    assert (await club.get(vote)).json()["passed"] is None
    not_json = await club.api.client.post(
        f"{vote}/tally",
        content=b"{not json",
        headers=club.chair | {"content-type": "application/json"},
    )
    problem(not_json, 400)


async def test_the_monthly_report_in_json_and_csv(club: Committee) -> None:
    proposal = await _proposal(club)
    report = await club.get("/api/v1/committee/reports/monthly", params={"month": "2026-11"})
    assert report.status_code == 200, report.text
    body = report.json()
    assert [p["id"] for p in body["proposals"]] == [proposal["id"]]
    assert body["proposals"][0]["recommendation"] == "safety_evaluation"
    assert body["kpis"]["orders_created"] == 1
    assert body["open_priority_orders"][0]["id"] == "WO-2026-000001"

    as_csv = club.chair | {"Accept": "text/csv"}
    for params, headers in (
        ({"month": "2026-11", "format": "csv"}, club.chair),
        ({"month": "2026-11"}, as_csv),
    ):
        response = await club.api.client.get(
            "/api/v1/committee/reports/monthly", params=params, headers=headers
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        lines = response.text.splitlines()
        assert lines[0] == "section,metric,scope,value"
        assert f"proposal,amount,{proposal['id']},48000.50" in lines
        assert "kpi,orders_created,,1" in lines

    for month in ("2026-13", "2026-1", "November", "2026-11' OR '1'='1"):
        problem(await club.get("/api/v1/committee/reports/monthly", params={"month": month}), 422)


async def test_kpis_for_a_period(club: Committee) -> None:
    response = await club.get(
        "/api/v1/kpis",
        params={"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00+00:00"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["trips"] == "not_configured"
    assert body["kpis"]["orders_created"] == 1
    assert body["kpis"]["response_sla"] == {"met": 1, "breached": 0, "pending": 0, "share": 1.0}
    for params in (
        {"from": "2026-11-01T00:00:00", "to": "2026-12-01T00:00:00Z"},  # no zone
        {"from": "2026-12-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"},
        {"from": "2020-01-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"},
        {"from": "2026-11-01'; DROP TABLE work_order; --", "to": "2026-12-01T00:00:00Z"},
        {"from": "2026-11-01T00:00:00Z"},
    ):
        problem(await club.get("/api/v1/kpis", params=params), 422)
