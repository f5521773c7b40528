"""Maintenance: how fast the detection rules judge telemetry, on one core.

**Rule evaluation** (``maintenance.rule_readings_per_s``): ``CARS`` simulated elevators
(:class:`simulators.elevator.Elevator`, read through the gateway's own read plans, so a
reading has the real ~40 fields and values: both poll groups plus the derived
``stopped_outside_zone_s`` and ``speed_percent``) for ``SECONDS`` seconds of traffic at
one reading a second, the gateway's ``always`` report mode (every field in every
reading, the most work per reading). The readings are built first; the timed loop feeds
them in time order to a fresh :class:`~maintenance.domain.rules.RuleEngine` with the
shipped default rules and calls ``tick`` once per simulated second, as the service does.
Best of ``REPEATS``.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

from estatewatch.catalogue import builtin_catalogue
from estatewatch.wire import FieldValue
from gateway.derive import SPEED_PERCENT, STOPPED_OUTSIDE_ZONE
from gateway.plan import plan_device
from maintenance.config_files import DEFAULT_RULES, load_rules
from maintenance.domain.observations import TelemetryReading
from maintenance.domain.rules import RuleEngine
from maintenance.domain.signals import DeviceRef
from simulators.elevator import Elevator

NAME = "maintenance"
CARS = 200
SECONDS = 300  # 60,000 readings
REPEATS = 3
START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def elevator_traffic() -> list[list[TelemetryReading]]:
    """Per simulated second, one full reading of every car."""
    profile = builtin_catalogue().profiles["elevator-nice3000"]
    plan = plan_device("bench", profile)
    cars = []
    for n in range(CARS):
        rng = random.Random(n)
        sim = Elevator(f"elev-{n:03d}", profile, rng, 0.0, age_years=rng.uniform(2, 20))
        ref = DeviceRef("site-01", "elevator", f"elev-{n:03d}")
        cars.append((ref, f"b{n // 10 + 1}", sim))
    seconds = []
    for s in range(SECONDS):
        batch = []
        for ref, building, sim in cars:
            sim.step(float(s))
            fields: dict[str, FieldValue] = {}
            for group in plan.groups:
                replies = [sim.read(r.table, r.address, r.count) for r in group.requests]
                fields.update(group.decode(replies))
            fields[STOPPED_OUTSIDE_ZONE] = 0.0
            fields[SPEED_PERCENT] = round(100.0 * sim.speed / sim.rated_speed, 1)
            batch.append(TelemetryReading(ref, building, START + timedelta(seconds=s), fields))
        seconds.append(batch)
    return seconds


def rule_readings_per_s(traffic: list[list[TelemetryReading]]) -> float:
    rules = load_rules(DEFAULT_RULES)
    count = sum(len(batch) for batch in traffic)
    best = float("inf")
    for _ in range(REPEATS):
        engine = RuleEngine(rules, lambda: START)
        started = time.perf_counter()
        for batch in traffic:
            for reading in batch:
                engine.observe(reading)
            engine.tick(batch[0].ts)
        best = min(best, time.perf_counter() - started)
    return count / best


def run() -> dict[str, float]:
    traffic = elevator_traffic()
    return {"maintenance.rule_readings_per_s": round(rule_readings_per_s(traffic))}
