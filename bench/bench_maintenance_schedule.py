"""Maintenance plans: laying out a year of visits for 10,000 elevators, on one core.

**Schedule generation** (``maintenance.schedule_10k_year_s``): ``CARS`` plans (anchors
spread over a year, intervals 15 to 30 days as an on-demand estate would have, every car
with a yearly visit behind it) each lay out their visits with
:func:`maintenance.domain.plans.schedule`, level and all, from each next due date
(some already past) to a year ahead: about 277,000 visits. Best of
``REPEATS``; target < 5 s.
"""

from __future__ import annotations

import random
import time
from datetime import date, timedelta

from maintenance.domain.plans import Plan, schedule

NAME = "maintenance_schedule"
CARS = 10_000
REPEATS = 3
TODAY = date(2026, 12, 7)


def plans() -> list[Plan]:
    rng = random.Random(14)
    built = []
    for n in range(CARS):
        anchor = TODAY - timedelta(days=rng.randrange(365))
        plan = Plan(f"site-{n // 200:02d}/elevator/elev-{n:05d}", f"site-{n // 200:02d}", anchor)
        plan = plan.visited(anchor, "yearly").with_interval(rng.choice((15, 15, 20, 25, 30)), ())
        built.append(plan)
    return built


def schedule_seconds(cars: list[Plan]) -> tuple[float, int]:
    until = TODAY + timedelta(days=365)
    best, visits = float("inf"), 0
    for _ in range(REPEATS):
        started = time.perf_counter()
        visits = sum(len(schedule(plan, until)) for plan in cars)
        best = min(best, time.perf_counter() - started)
    return best, visits


def run() -> dict[str, float]:
    seconds, _ = schedule_seconds(plans())
    return {"maintenance.schedule_10k_year_s": round(seconds, 3)}
