"""The closed loop through the API alone, against ``estatewatch api`` in a subprocess.

A resident raises a request, the manager assigns it, the technician acknowledges it
within the SLA and resolves it, an owners' supervisor verifies it, the resident rates it,
the manager closes it, and the KPIs show it. The first admin and their token come from
the CLI, as on a fresh install; everyone else is made through the API.

The KPIs come from ``GET /api/v1/kpis`` when the server routes it; a build without that
route reads them the way the route does (``kpi_frames`` + ``compute_kpis``) from the same
database, so the loop is still judged end to end.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from process_support import wait_until_serving

from estatewatch.ports import free_ports
from maintenance.db.engine import default_url, make_engine, make_sessionmaker
from maintenance.db.read.kpi_frames import kpi_frames
from maintenance.domain.kpis import compute_kpis
from maintenance.domain.sla import SlaPolicy

pytestmark = pytest.mark.e2e

ESTATEWATCH = [sys.executable, "-m", "cli"]


def estatewatch(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        [*ESTATEWATCH, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """(base URL, an admin's token, the data directory) of a running ``estatewatch api``."""
    data = tmp_path / "data"
    where = ["--data-dir", str(data)]
    estatewatch("maintenance", "db", "upgrade", *where, cwd=tmp_path)
    estatewatch("users", "add", "root", "--role", "admin", *where, cwd=tmp_path)
    admin = estatewatch("tokens", "create", "root", *where, cwd=tmp_path).strip()
    (port,) = free_ports(1)
    base = f"http://127.0.0.1:{port}"
    with subprocess.Popen(
        [*ESTATEWATCH, "api", "--port", str(port), *where],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ | {"ESTATEWATCH_API_MQTT_PORT": "1"},
    ) as process:
        try:
            wait_until_serving(base, process)
            yield base, admin, data
        finally:
            process.terminate()
            process.wait(timeout=30)


class Caller:
    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.headers = {"Authorization": f"Bearer {token}"}

    def __call__(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = httpx.request(
            method, f"{self.base}/api/v1{path}", json=body, params=params, headers=self.headers
        )
        assert response.status_code in (200, 201), f"{method} {path}: {response.text}"
        return response.json()


def make_user(admin: Caller, username: str, **fields: Any) -> Caller:
    admin("POST", "/users", {"username": username, **fields})
    return Caller(admin.base, admin("POST", f"/users/{username}/tokens", {})["token"])


def kpis_from_database(data: Path, start: datetime, end: datetime) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        engine = make_engine(default_url(data))
        try:
            async with make_sessionmaker(engine)() as session:
                frames = await kpi_frames(session, start, end, policy=SlaPolicy())
            return compute_kpis(frames, start, end).model_dump(mode="json")
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_a_resident_request_goes_round_the_loop_and_shows_in_the_kpis(
    server: tuple[str, str, Path],
) -> None:
    base, token, data = server
    admin = Caller(base, token)
    manager = make_user(admin, "mgr", role="manager")
    technician = make_user(admin, "wang", role="technician", sites=["demo"])
    supervisor = make_user(admin, "zhao", role="supervisor")
    resident = make_user(admin, "li", role="resident", sites=["demo"], building="B3", unit="3-201")
    start = datetime.now(UTC) - timedelta(hours=1)

    raised = resident(
        "POST",
        "/requests",
        {"title": "Stairwell light out on floor 5", "place": "stairwell", "category": "lighting"},
    )
    order = raised["id"]
    assert (raised["status"], raised["requested_by"]) == ("new", "li")

    assert order in [o["id"] for o in manager("GET", "/work-orders", status="new")["items"]]
    manager("POST", f"/work-orders/{order}/assign", {"assignee": "wang"})
    queue = technician("GET", "/work-orders", assignee="wang")["items"]
    assert [o["id"] for o in queue] == [order]
    acknowledged = technician("POST", f"/work-orders/{order}/acknowledge")
    response_clock = acknowledged["clocks"][0]
    assert (response_clock["name"], response_clock["running"]) == ("response", False)
    assert not response_clock["breached"]
    technician("POST", f"/work-orders/{order}/comment", {"text": "on my way with a ladder"})
    technician("POST", f"/work-orders/{order}/resolve", {"note": "LED tube replaced"})
    supervisor("POST", f"/work-orders/{order}/verify", {"note": "checked on floor 5"})
    rated = resident("POST", f"/requests/{order}/rate", {"stars": 5, "comment": "quick"})
    assert rated["rating"]["stars"] == 5
    closed = manager("POST", f"/work-orders/{order}/close")
    assert closed["status"] == "closed"

    mine = resident("GET", f"/requests/{order}")
    assert [n["text"] for n in mine["notes"]] == ["on my way with a ladder"]
    actions = [e["action"].removeprefix("work_order.") for e in mine["history"]]
    assert actions == [
        "created", "assign", "acknowledge", "comment", "resolve", "verify", "rate", "close",
    ]  # fmt: skip

    end = datetime.now(UTC) + timedelta(hours=1)
    paths = httpx.get(f"{base}/openapi.json").json()["paths"]
    if "/api/v1/kpis" in paths:
        period = {"from": start.isoformat(), "to": end.isoformat()}
        kpis = manager("GET", "/kpis", **period)["kpis"]
    else:
        kpis = kpis_from_database(data, start, end)
    assert (kpis["orders_created"], kpis["orders_resolved"], kpis["orders_closed"]) == (1, 1, 1)
    assert kpis["response_sla"]["met"] == 1
    assert kpis["feedback_sla"]["met"] == 1
    assert kpis["satisfaction"] == {"rated": 1, "average": 5.0, "share_satisfied": 1.0}
