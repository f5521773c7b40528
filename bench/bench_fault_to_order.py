"""Maintenance: fault injected in a simulated elevator -> work order committed.

The whole chain as deployed: ``estatewatch simulate`` (``CARS`` elevators over Modbus
TCP), ``estatewatch gateway run`` polling them every second (its default fast group) and
publishing to a private Mosquitto, and the maintenance worker (``running_maintenance``,
in this process) with its SQLite database. ``INJECTIONS`` times, a car's safety circuit
is opened through the simulator's control port (E41, a level-5 fault: the default rules
open a P1 or P2 order at once); the latency is from the control port's reply to the
moment the order is visible in the database (polled every ``POLL_S``, so figures carry up
to that much extra). Then the fault is cleared and the order cancelled, so the next
fault on that car opens a new order. ``PARALLEL`` cars are worked at a time.

Keys ``maintenance.fault_to_work_order_p50_s`` and ``..._p99_s`` (target p99 < 2 s). One
poll interval is the floor: the fault code is an urgent field, so the gateway sends its
change at once rather than with its next 1 s batch.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.bench_gateway import start_simulator, stop_process
from estatewatch.clock import utc_now
from infra.local import MosquittoInstance
from maintenance.db.engine import default_url, make_sessionmaker, open_engine
from maintenance.db.migrations import prepare_schema
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.actors import Actor
from maintenance.domain.commands import Cancel, FalseAlarm
from maintenance.domain.signals import DeviceRef
from maintenance.services import perform
from maintenance.settings import MaintenanceSettings
from maintenance.sites import site_from_inventory
from maintenance.worker import Detection, running_maintenance
from simulators.control import send_control

NAME = "fault_to_order"
KEY = "maintenance"  # the figures belong with the other maintenance ones
CARS = 20
INJECTIONS = 100
PARALLEL = 5
POLL_S = 0.02
FAULT_KIND = "elevator_stopped"
BENCH_ACTOR = Actor("bench", "admin")


async def _measure(
    work: Path, site: str, broker: MosquittoInstance, inventory: dict[str, Any]
) -> list[float]:
    control = inventory["control"]
    cars = [d["device_id"] for d in inventory["devices"] if d["profile"].startswith("elevator")]
    settings = MaintenanceSettings(
        data_dir=work / "maintenance",
        mqtt_port=broker.port,
        client_id="bench-maintenance",
        tick_interval=0.2,
        migrate=True,  # a fresh database, which this worker is the one to migrate
    )
    latencies: list[float] = []
    async with running_maintenance(settings) as detection, open_engine(settings.database_url) as db:
        sessions = make_sessionmaker(db)
        deadline = time.monotonic() + 60
        while detection.counters.messages < 3 * len(cars):  # every car heard a few times
            if time.monotonic() > deadline:
                raise RuntimeError("the maintenance worker hears no telemetry")
            await asyncio.sleep(0.2)

        async def order_for(car: str) -> str | None:
            uow = SqlUnitOfWork(sessions)
            async with uow:
                order = await uow.work_orders.open_for(
                    str(DeviceRef(site, "elevator", car)), FAULT_KIND
                )
                return order.id if order else None

        async def one(car: str) -> float:
            await send_control(
                control["host"],
                control["port"],
                {"cmd": "inject", "device": car, "fault": "safety_circuit"},
            )
            injected = time.monotonic()
            while (order := await order_for(car)) is None:
                if time.monotonic() - injected > 30:
                    raise RuntimeError(f"no work order for {car} 30 s after the fault")
                await asyncio.sleep(POLL_S)
            latency = time.monotonic() - injected
            await clear_and_end(
                control,
                car,
                "safety_circuit",
                Cancel(order, reason="benchmark"),
                sessions,
                detection,
            )
            # The alarm clears once the car reports no fault; wait so the next fault is new.
            await asyncio.sleep(2.5)
            return latency

        async def lane(lane_cars: list[str], count: int) -> None:
            for i in range(count):
                latencies.append(await one(lane_cars[i % len(lane_cars)]))

        lanes = [cars[i::PARALLEL] for i in range(PARALLEL)]
        async with asyncio.TaskGroup() as tasks:
            for lane_cars in lanes:
                tasks.create_task(lane(lane_cars, INJECTIONS // PARALLEL))
    return latencies


async def register_fleet(database_url: str, site: str, gateway_id: str, inventory: Any) -> None:
    """The fleet and its gateway in the register of the maintenance database at
    ``database_url`` (migrated first): the worker believes only registered senders."""
    register = site_from_inventory(inventory, site, gateway_id, installed=date(2015, 6, 1))
    async with open_engine(database_url) as engine:
        await prepare_schema(engine, migrate=True)
        async with SqlUnitOfWork(make_sessionmaker(engine)) as uow:
            await uow.sites.import_file(register, actor="bench", at=utc_now(), source="bench")
            await uow.commit()


@contextmanager
def running_fleet(cars: int, work: Path, broker: MosquittoInstance) -> Iterator[tuple[str, Any]]:
    """``estatewatch simulate`` with ``cars`` elevators and ``estatewatch gateway run``
    polling them into ``broker``; yields the site id and the simulator's inventory."""
    simulator, inventory_path = start_simulator(cars, work)
    gateway: subprocess.Popen[bytes] | None = None
    try:
        site_file = work / "site.yaml"
        subprocess.run(
            [
                sys.executable, "-m", "cli", "gateway",
                "config-from-inventory", str(inventory_path),
                "--uplink", f"127.0.0.1:{broker.port}",
                "--buffer", str(work / "buffer.sqlite"), "-o", str(site_file),
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        drafted = yaml.safe_load(site_file.read_text())
        site = drafted["site"]
        inventory = json.loads(inventory_path.read_text())
        asyncio.run(
            register_fleet(
                default_url(work / "maintenance"), site, drafted["gateway_id"], inventory
            )
        )
        gateway = subprocess.Popen(
            [
                sys.executable, "-m", "cli", "--log-level", "WARNING",
                "gateway", "run", "--config", str(site_file),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        yield site, inventory
    finally:
        if gateway is not None:
            stop_process(gateway)
        stop_process(simulator)


async def clear_and_end(
    control: dict[str, Any],
    car: str,
    fault: str,
    end: Cancel | FalseAlarm,
    sessions: async_sessionmaker[AsyncSession],
    detection: Detection,
) -> None:
    """Clear ``fault`` on ``car`` through the simulator's control port and end its order
    with ``end``, so the next fault on that car opens a new one."""
    await send_control(
        control["host"], control["port"], {"cmd": "clear", "device": car, "fault": fault}
    )
    await perform(
        SqlUnitOfWork(sessions, sla=detection.policy), end, BENCH_ACTOR, utc_now, detection.policy
    )


Measure = Callable[[Path, str, MosquittoInstance, dict[str, Any]], Coroutine[Any, Any, list[float]]]


def measure_with_fleet(cars: int, prefix: str, measure: Measure) -> list[float]:
    """Run ``measure(work, site, broker, inventory)`` against a fleet of ``cars`` simulated
    elevators and their gateway (:func:`running_fleet`) in a fresh directory."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        work = Path(tmp)
        with (
            MosquittoInstance(work / "broker") as broker,
            running_fleet(cars, work, broker) as (site, inventory),
        ):
            return asyncio.run(measure(work, site, broker, inventory))


def p50_p99(latencies: list[float], what: str) -> tuple[float, float]:
    """The median and the 99th percentile (nearest rank), also printed to stderr."""
    ranked = sorted(latencies)
    p50, p99 = statistics.median(ranked), ranked[round(0.99 * (len(ranked) - 1))]
    print(
        f"  {len(ranked)} {what}: p50 {p50:.3f} s, p99 {p99:.3f} s, max {ranked[-1]:.3f} s",
        file=sys.stderr,
    )
    return round(p50, 3), round(p99, 3)


def run() -> dict[str, float]:
    p50, p99 = p50_p99(measure_with_fleet(CARS, "bench-fault-", _measure), "faults")
    return {f"{KEY}.fault_to_work_order_p50_s": p50, f"{KEY}.fault_to_work_order_p99_s": p99}


if __name__ == "__main__":
    print(run())
