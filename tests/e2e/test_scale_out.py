"""Scale-out as deployed: several processes of one kind on one PostgreSQL and one broker.

1. Two ``estatewatch api`` processes on one database (what sits behind a proxy): the same
   request sent to both at the same moment, for many orders and several actions, is done
   once; the other process answers 409, and the audit trail stays one intact chain
   (``estatewatch maintenance audit verify``).

(Two ingest workers sharing the stream by site: ``test_ingest_e2e.py``.)
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from process_support import estatewatch, start, stop
from sqlalchemy import func, select

from estatewatch.ports import free_ports
from maintenance.db.engine import make_sessionmaker, open_engine
from maintenance.db.tables import AuditRow

pytestmark = pytest.mark.e2e

DEMO_SITE = Path(__file__).parents[2] / "infra" / "sites" / "demo-compound.yaml"
CARS = [f"elev-{n:02d}" for n in range(1, 7)]  # the demo compound's elevators
ON_POSTGRESQL = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


@dataclass
class Api:
    base: str
    log: Path


@pytest.fixture
async def two_apis(tmp_path: Path, db_url: str) -> AsyncIterator[tuple[Api, Api, str]]:
    """Two ``estatewatch api`` processes serving one database; an admin's token."""
    db = ["--db", db_url]
    estatewatch("maintenance", "import-site", str(DEMO_SITE), *db, cwd=tmp_path)
    estatewatch("users", "add", "root", "--role", "admin", *db, cwd=tmp_path)
    token = estatewatch("tokens", "create", "root", *db, cwd=tmp_path).strip()
    apis, processes = [], []
    try:
        for name, port in zip("ab", free_ports(2), strict=True):
            api = Api(f"http://127.0.0.1:{port}", tmp_path / f"api-{name}.log")
            args = ["api", "--port", str(port), "--mqtt-port", "1", *db]
            processes.append(start(args, tmp_path, api.log))
            apis.append(api)
        async with httpx.AsyncClient() as client:
            for api, process in zip(apis, processes, strict=True):
                deadline = time.monotonic() + 30
                while not await _healthy(client, api):
                    assert process.poll() is None, api.log.read_text()
                    assert time.monotonic() < deadline, f"{api.base} did not start in 30 s"
                    await asyncio.sleep(0.2)
        yield apis[0], apis[1], token
    finally:
        for process in processes:
            stop(process)
    for api in apis:
        assert "Traceback" not in api.log.read_text(), api.log.read_text()[-3000:]


async def _healthy(client: httpx.AsyncClient, api: Api) -> bool:
    try:
        return (await client.get(f"{api.base}/healthz", timeout=1)).status_code == 200
    except httpx.TransportError:
        return False


@ON_POSTGRESQL
async def test_two_api_processes_do_each_request_once_and_refuse_its_twin(
    two_apis: tuple[Api, Api, str], db_url: str
) -> None:
    first, second, admin_token = two_apis
    admin = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(timeout=30) as client:

        async def call(api: Api, path: str, body: Any, headers: dict[str, str]) -> httpx.Response:
            return await client.post(f"{api.base}/api/v1{path}", json=body, headers=headers)

        async def both(path: str, body: Any, headers: dict[str, str]) -> list[int]:
            """The same request to both processes at once: their status codes."""
            answers = await asyncio.gather(
                call(first, path, body, headers), call(second, path, body, headers)
            )
            return sorted(answer.status_code for answer in answers)

        made = await call(
            first, "/users", {"username": "wang", "role": "technician", "sites": ["demo"]}, admin
        )
        assert made.status_code == 201, made.text
        issued = await call(first, "/users/wang/tokens", {}, admin)
        tech = {"Authorization": f"Bearer {issued.json()['token']}"}

        # Two faults of each car: 12 orders, each asked for through both processes at once.
        faults = [(car, f"fault-{n}") for car in CARS for n in (1, 2)]
        created = await asyncio.gather(
            *(
                both(
                    "/work-orders",
                    {"title": f"{kind} on {car}", "site": "demo", "asset": f"demo/elevator/{car}",
                     "category": "elevator", "fault_kind": kind, "priority": "P3"},
                    admin,
                )
                for car, kind in faults
            )
        )  # fmt: skip
        assert created == [[201, 409]] * len(faults)
        listed = await client.get(
            f"{second.base}/api/v1/work-orders", params={"limit": 100}, headers=admin
        )
        orders = [item["id"] for item in listed.json()["items"]]
        assert len(orders) == len(faults)

        # Each step of each order fired at both processes at once, all orders together.
        steps: list[tuple[str, dict[str, Any], dict[str, str]]] = [
            ("assign", {"assignee": "wang"}, admin),
            ("acknowledge", {}, tech),
            ("start", {}, tech),
            ("resolve", {"note": "fixed"}, tech),
        ]
        for action, body, headers in steps:
            codes = await asyncio.gather(
                *(both(f"/work-orders/{order}/{action}", body, headers) for order in orders)
            )
            if action == "assign":  # assigning again is allowed: both are done, in turn
                assert codes == [[200, 200]] * len(orders)
            else:
                assert codes == [[200, 409]] * len(orders), f"{action}: {codes}"

    async with open_engine(db_url) as engine, make_sessionmaker(engine)() as session:
        audited = Counter(
            (row.action, row.entity_id)
            for row in await session.execute(
                select(AuditRow.action, AuditRow.entity_id).where(
                    AuditRow.entity_type == "work_order"
                )
            )
        )
        entries = await session.scalar(select(func.count()).select_from(AuditRow))
    for order in orders:
        for action in ("created", "acknowledge", "start", "resolve"):
            assert audited[(f"work_order.{action}", order)] == 1, (action, order)
        assert audited[("work_order.assign", order)] == 2
    verified = estatewatch("maintenance", "audit", "verify", "--db", db_url, cwd=Path.cwd())
    assert f"audit trail intact: {entries} entries" in verified
