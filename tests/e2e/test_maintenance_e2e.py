"""Detection as deployed: simulated elevators, ``estatewatch gateway run`` and
``estatewatch maintenance run`` as separate processes on a real Mosquitto; a fault is
injected through the simulator's control port and the work order is read back from the
maintenance database.

The shipped entrapment rule waits for a car stuck 30 s; the test's copy of the rule file
lowers that to 3 s so the test takes seconds (the threshold itself is covered by the rule
unit tests). Everything else is the shipped rule set.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from process_support import ESTATEWATCH, start, stop, until

from infra.local import MosquittoInstance
from maintenance.config_files import DEFAULT_RULES
from maintenance.db.engine import make_sessionmaker, open_engine
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.signals import DeviceRef
from maintenance.domain.workorders import WorkOrder
from maintenance.sites import site_from_inventory
from simulators.control import send_control

pytestmark = pytest.mark.e2e

SITE = "e2e"


def register(work: Path, inventory: dict[str, Any], gateway_id: str) -> None:
    """Put the simulated cars and the gateway in the register of the worker's database
    (``work/maintenance``): the worker believes only registered senders."""
    site = site_from_inventory(inventory, SITE, gateway_id, installed=date(2015, 6, 1))
    site_file = work / "register.yaml"  # JSON is YAML
    site_file.write_text(json.dumps(site.model_dump(mode="json", exclude_defaults=True)))
    for step in (["db", "upgrade"], ["import-site", str(site_file)]):
        done = subprocess.run(
            [*ESTATEWATCH, "maintenance", *step, "--data-dir", str(work / "maintenance")],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr


@pytest.fixture
def compound(tmp_path: Path, mosquitto: MosquittoInstance) -> Iterator[tuple[Path, dict[str, int]]]:
    """Two simulated cars, a running gateway uplinked to ``mosquitto``; the control port."""
    inventory = tmp_path / "inventory.json"
    simulator = start(
        ["simulate", "--elevators", "2", "--chargers", "0", "--smoke", "0",
         "--base-port", "0", "--control-port", "0", "--inventory", str(inventory)],
        tmp_path,
        tmp_path / "simulator.log",
    )  # fmt: skip
    gateway = None
    try:
        deadline = time.monotonic() + 30
        while not inventory.exists():
            assert simulator.poll() is None, (tmp_path / "simulator.log").read_text()
            assert time.monotonic() < deadline, "the simulator did not start"
            time.sleep(0.1)
        site = tmp_path / "site.yaml"
        drafted = subprocess.run(
            [*ESTATEWATCH, "gateway", "config-from-inventory", str(inventory),
             "--site", SITE, "--gateway-id", f"gw-{tmp_path.name[-8:]}",
             "--uplink", f"127.0.0.1:{mosquitto.port}",
             "--buffer", str(tmp_path / "buffer.sqlite"), "-o", str(site)],
            capture_output=True,
            text=True,
        )  # fmt: skip
        assert drafted.returncode == 0, drafted.stderr
        gateway = start(["gateway", "run", "--config", str(site)], tmp_path, tmp_path / "gw.log")
        register(tmp_path, json.loads(inventory.read_text()), f"gw-{tmp_path.name[-8:]}")
        yield tmp_path, json.loads(inventory.read_text())["control"]
    finally:
        if gateway is not None:
            stop(gateway)
        stop(simulator)


async def test_injected_entrapment_becomes_one_p1_order_and_a_repeat_attaches(
    compound: tuple[Path, dict[str, int]], mosquitto: MosquittoInstance
) -> None:
    work, control = compound
    rules = work / "rules.yaml"
    shipped = DEFAULT_RULES.read_text()
    quick = shipped.replace(
        "{field: stopped_outside_zone_s, ge: 30}", "{field: stopped_outside_zone_s, ge: 3}"
    )
    assert quick != shipped, "the entrapment rule no longer reads as the test expects"
    rules.write_text(quick)
    data = work / "maintenance"
    worker = start(
        ["maintenance", "run", "--migrate", "--mqtt-port", str(mosquitto.port),
         "--data-dir", str(data), "--client-id", f"maint-{work.name[-8:]}", "--sites", SITE,
         "--rules", str(rules), "--tick-interval", "0.2"],
        work,
        work / "maintenance.log",
    )  # fmt: skip
    asset = str(DeviceRef(SITE, "elevator", "elev-01"))
    try:
        async with open_engine(f"sqlite+aiosqlite:///{data / 'maintenance.db'}") as engine:
            sessions = make_sessionmaker(engine)

            async def order() -> WorkOrder | None:
                if not (data / "maintenance.db").exists():
                    return None
                uow = SqlUnitOfWork(sessions)
                async with uow:
                    return await uow.work_orders.open_for(asset, "entrapment")

            async def fault(cmd: str) -> None:
                request = {"cmd": cmd, "device": "elev-01", "fault": "entrapment"}
                if cmd == "inject":
                    request["params"] = {"load_pct": 20}
                reply = await send_control("127.0.0.1", control["port"], request)
                assert reply.get("ok"), reply

            await asyncio.sleep(3)  # the worker is subscribed and the gateway polling
            await fault("inject")
            await until(order, 30, "a work order for the entrapment")
            first = await order()
            assert first is not None
            assert first.priority == "P1"
            assert first.category
            assert first.fault_kind == "entrapment"
            assert len(first.alarm_ids) == 1
            await fault("clear")
            await asyncio.sleep(3)  # the car moves again: the alarm clears, the order stays

            async def attached() -> bool:
                again = await order()
                return again is not None and len(again.alarm_ids) == 2

            await fault("inject")
            await until(attached, 30, "the second entrapment on the same order")
            again = await order()
            assert again is not None
            assert again.id == first.id
    finally:
        assert stop(worker) == 0, (work / "maintenance.log").read_text()[-3000:]
    log = (work / "maintenance.log").read_text()
    assert "Traceback" not in log
    assert log.count("work order ") >= 1
