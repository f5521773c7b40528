"""Maintenance: an entrapment in a simulated elevator -> rescue order committed.

The deployed chain, as in :mod:`bench.bench_fault_to_order`: ``estatewatch simulate``
(``CARS`` elevators), ``estatewatch gateway run`` polling them every second, a private
Mosquitto, and the maintenance worker in this process. Each round traps passengers in
every car at once (the simulator's ``entrapment`` fault: stopped between floors, doors
shut, alarm button pressed); the entrapment rule holds for 30 s by design, so the figure
is measured from the gateway's reading that crossed those 30 s (the alarm's ``raised_at``,
the gateway's clock on this host) to the moment the rescue order is visible in the
database (one poller for all cars, every ``POLL_S``). Then the fault is cleared and the
order marked a false alarm, so the next round opens new ones.

Keys ``maintenance.entrapment_to_rescue_p50_s`` and ``..._p99_s`` (target p99 < 2 s).
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench.bench_fault_to_order import clear_and_end, measure_with_fleet, p50_p99
from estatewatch.clock import utc_now
from infra.local import MosquittoInstance
from maintenance.db.engine import make_sessionmaker, open_engine
from maintenance.db.read.work_orders import open_rescues
from maintenance.db.tables import AlarmRow
from maintenance.domain.commands import FalseAlarm
from maintenance.settings import MaintenanceSettings
from maintenance.worker import running_maintenance
from simulators.control import send_control

NAME = "entrapment"
KEY = "maintenance"
CARS = 20
ROUNDS = 3
POLL_S = 0.02
HOLD_S = 30  # the entrapment rule's duration


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
        migrate=True,
    )
    latencies: list[float] = []
    async with running_maintenance(settings) as detection, open_engine(settings.database_url) as db:
        sessions = make_sessionmaker(db)
        deadline = time.monotonic() + 60
        while detection.counters.messages < 3 * len(cars):
            if time.monotonic() > deadline:
                raise RuntimeError("the maintenance worker hears no telemetry")
            await asyncio.sleep(0.2)

        async def seen_rescues() -> dict[str, tuple[str, datetime]]:
            """Each car's open rescue order and when its alarm was raised, in one read."""
            async with sessions() as session:
                orders = await open_rescues(session)
                alarm_ids = [order.alarm_ids[0] for order in orders if order.alarm_ids]
                raised = dict(
                    (await session.execute(
                        select(AlarmRow.id, AlarmRow.raised_at).where(AlarmRow.id.in_(alarm_ids))
                    )).tuples().all()
                )  # fmt: skip
            return {
                order.asset.rsplit("/", 1)[1]: (order.id, raised[order.alarm_ids[0]])
                for order in orders
                if order.alarm_ids
            }

        for _ in range(ROUNDS):
            for car in cars:
                await send_control(
                    control["host"],
                    control["port"],
                    {"cmd": "inject", "device": car, "fault": "entrapment"},
                )
            injected = time.monotonic()
            found: dict[str, tuple[str, datetime]] = {}
            # One poller for every car: a poller per car would queue on SQLite's write lock
            # with the worker it measures.
            while len(found) < len(cars):
                if time.monotonic() - injected > HOLD_S + 30:
                    raise RuntimeError(f"no rescue order for {sorted(set(cars) - set(found))}")
                now = utc_now()
                for car, (order_id, raised_at) in (await seen_rescues()).items():
                    if car not in found:
                        found[car] = (order_id, raised_at)
                        latencies.append((now - raised_at).total_seconds())
                await asyncio.sleep(POLL_S)
            for car, (order_id, _raised) in found.items():
                end = FalseAlarm(order_id, reason="benchmark")
                await clear_and_end(control, car, "entrapment", end, sessions, detection)
            await asyncio.sleep(3)  # the alarms clear once the cars report freed
    return latencies


def run() -> dict[str, float]:
    p50, p99 = p50_p99(measure_with_fleet(CARS, "bench-entrapment-", _measure), "entrapments")
    return {f"{KEY}.entrapment_to_rescue_p50_s": p50, f"{KEY}.entrapment_to_rescue_p99_s": p99}


if __name__ == "__main__":
    print(run())
