"""Scale-out as deployed: several processes of one kind on one PostgreSQL and one broker.

1. Two ``estatewatch api`` processes on one database (what sits behind a proxy): the same
   request sent to both at the same moment, for many orders and several actions, is done
   once; the other process answers 409, and the audit trail stays one intact chain
   (``estatewatch maintenance audit verify``).
2. (Two ingest workers sharing the stream by site: ``test_ingest_e2e.py``.)
3. Two ``estatewatch maintenance run`` workers splitting four sites: every alarm raised
   once, its regulator report sent once (one worker runs the relays), each car's rule
   state in one worker's data directory, and a restarted worker carrying on from it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import pytest
import yaml
from process_support import estatewatch, start, stop, until, wait_until_serving
from sqlalchemy import func, select

from estatewatch.mqtt import discard_session
from estatewatch.ports import free_ports
from estatewatch.wire import Reading, TelemetryMessage, telemetry_topic
from infra.local import MosquittoInstance
from maintenance.db.engine import make_sessionmaker, open_engine
from maintenance.db.tables import AlarmRow, AuditRow

# The webhook receiver of the notification tests stands in for the regulator's platform.
sys.path.insert(0, str(Path(__file__).parents[1] / "integration"))
from notify_servers import WEBHOOK_SECRET, robot_server
from register_support import registered

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
        for api, process in zip(apis, processes, strict=True):
            wait_until_serving(api.base, process, log=api.log)
        yield apis[0], apis[1], token
    finally:
        for process in processes:
            stop(process)
    for api in apis:
        assert "Traceback" not in api.log.read_text(), api.log.read_text()[-3000:]


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


# --- 3. maintenance workers partitioned by site -------------------------------------------


@dataclass
class Compound:
    """Four sites of two cars each, imported into the database."""

    sites: list[str]
    cars: list[str]

    def registration(self, site: str, car: str) -> str:
        return f"3110330100{self.sites.index(site)}{self.cars.index(car):09d}"


@dataclass
class MaintenanceWorker:
    client_id: str
    args: list[str]
    data: Path
    log: Path
    process: Any = None
    launches: int = 0

    def start(self, cwd: Path) -> None:
        # Its rule state saved each second (an environment-only setting), so the test
        # need not wait for the 30 s default.
        env = {"ESTATEWATCH_MAINTENANCE_SNAPSHOT_INTERVAL": "1"}
        args = ["maintenance", "run", *self.args, "--data-dir", str(self.data)]
        self.process = start(args, cwd, self.log, env)
        self.launches += 1

    def ready(self) -> bool:
        """Subscribed: each start logs this line once its subscriptions are made."""
        assert self.process.poll() is None, self.log.read_text()[-3000:]
        subscribed = f"maintenance {self.client_id} (sites"
        return self.log.read_text().count(subscribed) == self.launches

    def devices(self) -> set[str]:
        """The devices of its saved rule state."""
        return set(json.loads((self.data / "rule-state.json").read_text())["devices"])


async def publish_cars(
    mosquitto: MosquittoInstance, compound: Compound, sites: list[str], fault_code: int
) -> None:
    """Each car of ``sites`` reports ``fault_code``, each reading sent twice (a gateway's
    replay after a lost PUBACK), as a gateway per site would."""
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as gateway:
        for site in sites:
            for seq, car in enumerate(compound.cars):
                message = TelemetryMessage(
                    gateway_id=f"gw-{site}",
                    seq=seq,
                    site=site,
                    device_type="elevator",
                    device_id=car,
                    profile="elevator-nice3000",
                    tags={"building": "B1"},
                    readings=[
                        Reading(
                            ts=datetime.now(UTC),
                            fields={"fault_code": fault_code, "floor": 3, "car_load": 0.0},
                        )
                    ],
                )
                topic = telemetry_topic(site, "elevator", car)
                for _ in range(2):
                    await gateway.publish(topic, message.model_dump_json(), qos=1)


@ON_POSTGRESQL
async def test_two_workers_split_four_sites_raise_each_alarm_once_and_resume(
    tmp_path: Path, db_url: str, mosquitto: MosquittoInstance
) -> None:
    tag = uuid.uuid4().hex[:8]
    compound = Compound([f"w{tag}{n}" for n in range(1, 5)], ["elev-01", "elev-02"])
    for site in compound.sites:
        codes = {car: compound.registration(site, car) for car in compound.cars}
        await registered(
            db_url, site, *compound.cars, gateway=f"gw-{site}", registration_codes=codes
        )
    halves = {"a": compound.sites[:2], "b": compound.sites[2:]}
    async with robot_server() as regulator:
        hooks = tmp_path / "webhooks.yaml"
        hooks.write_text(
            yaml.safe_dump(
                {"subscriptions": [{"url": regulator.url("/regulator"),
                                    "secret": WEBHOOK_SECRET, "events": ["regulator.report"]}]}
            )
        )  # fmt: skip
        workers = {}
        for name, sites in halves.items():
            client_id = f"maint-{tag}-{name}"
            data = tmp_path / f"data-{name}"
            args = ["--db", db_url, "--mqtt-port", str(mosquitto.port), "--client-id", client_id,
                    "--sites", ",".join(sites), "--tick-interval", "0.2"]  # fmt: skip
            # Both know the webhooks; one per database runs the relays that send them.
            args += ["--webhooks", str(hooks)] + (["--no-relays"] if name == "b" else [])
            workers[name] = MaintenanceWorker(client_id, args, data, tmp_path / f"{name}.log")
        try:
            for worker in workers.values():
                worker.start(tmp_path)
            for worker in workers.values():
                await until(worker.ready, 30, f"{worker.client_id} to subscribe")
            await publish_cars(mosquitto, compound, compound.sites, fault_code=41)

            async def alarms(active: bool | None = None) -> list[tuple[str, str]]:
                async with open_engine(db_url) as engine, make_sessionmaker(engine)() as session:
                    query = select(AlarmRow.site, AlarmRow.device_id).where(
                        AlarmRow.rule == "level5_fault"
                    )
                    if active is not None:
                        cleared = AlarmRow.cleared_at
                        query = query.where(cleared.is_(None) if active else cleared.is_not(None))
                    return sorted((row.site, row.device_id) for row in await session.execute(query))

            every_car = sorted((s, c) for s in compound.sites for c in compound.cars)
            await until(lambda: _equal(alarms(), every_car), 30, "an alarm for each car")

            def reports(state: str) -> list[tuple[str, str]]:
                documents = [post.document for post in regulator.at("/regulator")]
                return sorted(
                    (d["data"]["site"], d["data"]["device_id"])
                    for d in documents
                    if d["data"]["state"] == state
                )

            await until(lambda: reports("raised") == every_car, 30, "each raise reported")

            # Each car's rule state lives with the worker of its site, and only there.
            for name, worker in workers.items():
                expected = {f"{s}/elevator/{c}" for s in halves[name] for c in compound.cars}

                def saved(
                    worker: MaintenanceWorker = worker, expected: set[str] = expected
                ) -> bool:
                    state = worker.data / "rule-state.json"
                    return state.exists() and worker.devices() == expected

                await until(saved, 10, f"{name}'s rule state saved")

            # Worker b restarts: restored, it still knows its cars' alarms are raised, so
            # the fault again raises nothing new and the fault's end clears each one.
            assert stop(workers["b"].process) == 0, workers["b"].log.read_text()[-3000:]
            workers["b"].start(tmp_path)
            await until(workers["b"].ready, 30, "worker b to subscribe again")
            assert "rule state restored" in workers["b"].log.read_text()
            await publish_cars(mosquitto, compound, halves["b"], fault_code=41)
            await publish_cars(mosquitto, compound, compound.sites, fault_code=0)
            await until(lambda: _equal(alarms(active=False), every_car), 30, "every alarm cleared")
            await until(lambda: reports("cleared") == every_car, 30, "each clear reported")
            await asyncio.sleep(2)  # a second raise or a second send would come about now
            assert await alarms() == every_car, "one alarm per car, never raised again"
            assert reports("raised") == every_car
            assert reports("cleared") == every_car
            ids = [post.document["id"] for post in regulator.at("/regulator")]
            assert len(ids) == len(set(ids)), "every report sent once"
        finally:
            for worker in workers.values():
                if worker.process is not None:
                    stop(worker.process)
            for worker in workers.values():
                await discard_session(mosquitto.host, mosquitto.port, worker.client_id)
    for worker in workers.values():
        log = worker.log.read_text()
        assert "Traceback" not in log, log[-3000:]


async def _equal(found: Any, expected: object) -> bool:
    return bool(await found == expected)
