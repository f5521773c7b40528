"""Detectors: the rolling baseline's maths, door z-score on noise and on drift, silent lift."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from estatewatch.wire import FieldValue
from maintenance.config_files import DEFAULT_RULES, load_rules
from maintenance.domain.observations import DeviceEvent, TelemetryReading
from maintenance.domain.rules import RuleEngine
from maintenance.domain.rules.baselines import DAY, RollingStats
from maintenance.domain.signals import DeviceRef, Signal

T0 = datetime(2026, 10, 1, tzinfo=UTC)
CAR = DeviceRef("site1", "elevator", "elev-01")
RULES = load_rules(DEFAULT_RULES)


def engine_with(name: str) -> RuleEngine:
    return RuleEngine([r for r in RULES if r.name == name], lambda: T0)


def restarted(engine: RuleEngine) -> RuleEngine:
    """The engine as a restarted service gets it back: through JSON."""
    saved = json.loads(json.dumps(engine.snapshot()))
    return RuleEngine.restore(engine.rules, lambda: T0, saved)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# --- baseline maths --------------------------------------------------------------------


def test_baseline_mean_and_pooled_within_day_spread() -> None:
    stats = RollingStats(window_days=30)
    for x in (1.0, 2.0, 3.0):  # day 0: mean 2, squared deviations 1 + 0 + 1 = 2
        stats.add(3600.0, x)
    for x in (5.0, 7.0):  # day 1: mean 6, squared deviations 1 + 1 = 2
        stats.add(DAY + 3600.0, x)
    base = stats.baseline(DAY + 7200.0)
    assert base.count == 5
    assert base.mean == pytest.approx(18.0 / 5)  # (1 + 2 + 3 + 5 + 7) / 5
    # pooled: (2 + 2) / ((3 - 1) + (2 - 1)); the day-to-day shift of 4 is not noise
    assert base.std == pytest.approx(math.sqrt(4.0 / 3.0))


def test_baseline_forgets_days_past_its_window() -> None:
    stats = RollingStats(window_days=2)
    stats.add(0.0, 100.0)
    stats.add(DAY, 1.0)
    stats.add(DAY + 1, 3.0)
    assert stats.baseline(DAY + 2).mean == pytest.approx(104.0 / 3)
    stats.add(2 * DAY, 5.0)  # day 0 leaves the two-day window
    base = stats.baseline(2 * DAY + 1)
    assert base.count == 3
    assert base.mean == pytest.approx(3.0)
    assert len(stats.dump()) == 2  # memory stays bounded


# --- door z-score ----------------------------------------------------------------------


def door_cycle(
    t: float, landing: int, open_s: float, close_s: float, reversals: int = 0
) -> DeviceEvent:
    detail: dict[str, FieldValue] = {
        "landing": landing,
        "reversals": reversals,
        "reversal": reversals > 0,
        "box_open_s": round(open_s, 2),
        "box_close_s": round(close_s, 2),
        "open_s": round(open_s),  # the coarse sampled value; the box's is preferred
    }
    return DeviceEvent(CAR, "b1", at(t), "door_cycle", detail)


def door_days(
    engine: RuleEngine,
    rng: random.Random,
    days: range,
    close_drift_per_day: float = 0.0,
    drift_from: int = 0,
) -> list[Signal]:
    """40 cycles a day at landings 3 and 5; landing 3's close slows from ``drift_from``."""
    out: list[Signal] = []
    for day in days:
        for i in range(40):
            t = day * DAY + 6 * 3600 + i * 1200
            for landing in (3, 5):
                drift = close_drift_per_day * max(0, day - drift_from) if landing == 3 else 0.0
                close_s = 3.0 + drift + rng.gauss(0.0, 0.08)
                reversals = 1 if i % 13 == 0 else 0
                if reversals:
                    close_s += 5.0  # a reversed close is long, and says nothing of the door
                open_s = 2.5 + rng.gauss(0.0, 0.06)
                if i == 20 and day % 7 == 0:
                    open_s += 3.0  # a passenger holding the doors now and then
                out += engine.observe(door_cycle(t, landing, open_s, close_s, reversals))
    return out


def test_door_zscore_stays_quiet_on_normal_noise_and_fires_on_drift() -> None:
    engine = engine_with("door_degradation")
    rng = random.Random(7)
    assert door_days(engine, rng, range(0, 45)) == []  # 3,600 normal cycles
    engine = restarted(engine)  # the baselines survive a restart

    signals = door_days(engine, rng, range(45, 60), close_drift_per_day=0.05, drift_from=45)
    raised = [s for s in signals if s.kind == "raised"]
    assert [s.rule for s in raised] == ["door_degradation/landing3"]
    (signal,) = raised
    assert signal.detail["metric"] == "close"
    assert signal.detail["z"] > 3.0  # type: ignore[operator]
    assert signal.priority == "P3"
    assert signal.fault_kind == "door"
    # 3 noise sigmas are 0.24 s: reached after about five days of 0.05 s/day, not in two.
    days_in = (signal.at - at(45 * DAY)) / timedelta(days=1)
    assert 2.0 < days_in < 10.0

    repaired = door_days(engine, rng, range(60, 61))
    assert [(s.kind, s.rule) for s in repaired] == [("cleared", "door_degradation/landing3")]


def test_door_zscore_judges_nothing_before_min_samples() -> None:
    engine = engine_with("door_degradation")
    events = [door_cycle(i * 60.0, 1, 2.5, 3.0 if i < 10 else 9.0) for i in range(49)]
    assert [s for e in events for s in engine.observe(e)] == []


# --- silent lift -----------------------------------------------------------------------


def busy_day(engine: RuleEngine, day: int, until_hour: float = 22.0) -> list[Signal]:
    """A trip every 5 minutes from 06:00 to ``until_hour``; the car reports every minute."""
    out: list[Signal] = []
    t = day * DAY + 6 * 3600
    while t <= day * DAY + until_hour * 3600:
        out += engine.observe(TelemetryReading(CAR, "b1", at(t), {"speed": 0.0}))
        out += engine.observe(
            DeviceEvent(CAR, "b1", at(t), "trip", {"from_floor": 1, "to_floor": 5})
        )
        t += 300
    return out


def alive(engine: RuleEngine, start: float, end: float, step: float = 60.0) -> list[Signal]:
    """Readings (no trips) and a tick every ``step`` seconds."""
    out: list[Signal] = []
    t = start
    while t <= end:
        out += engine.observe(TelemetryReading(CAR, "b1", at(t), {"speed": 0.0}))
        out += engine.tick(at(t))
        t += step
    return out


def test_silent_lift_learns_quiet_nights_and_fires_on_a_quiet_morning() -> None:
    engine = engine_with("silent_lift")
    for day in range(10):
        assert busy_day(engine, day) == []
        assert alive(engine, day * DAY + 22 * 3600 + 60, (day + 1) * DAY + 6 * 3600 - 60) == []
    engine = restarted(engine)  # what it learned survives a restart
    busy_day(engine, 10, until_hour=10.0)  # the last trip is at 10:00
    assert alive(engine, 10 * DAY + 10 * 3600 + 60, 10 * DAY + 10 * 3600 + 900) == []
    (raised,) = alive(engine, 10 * DAY + 10 * 3600 + 960, 10 * DAY + 10 * 3600 + 960)
    # Learned for 10:00 is 5 min x 1.5; the 15 min floor is what holds.
    assert raised.rule == "silent_lift"
    assert raised.detail == {"quiet_min": 16.0, "limit_min": 15.0, "hour": 10}
    trip = DeviceEvent(CAR, "b1", at(10 * DAY + 11 * 3600), "trip", {})
    assert [(s.kind, s.rule) for s in engine.observe(trip)] == [("cleared", "silent_lift")]


def test_silent_lift_judges_nothing_while_learning() -> None:
    engine = engine_with("silent_lift")
    for day in range(3):
        busy_day(engine, day)
    busy_day(engine, 3, until_hour=10.0)
    assert alive(engine, 3 * DAY + 10 * 3600, 3 * DAY + 14 * 3600) == []


def test_a_silent_lift_that_stopped_reporting_is_left_to_the_offline_rule() -> None:
    engine = engine_with("silent_lift")
    for day in range(10):
        busy_day(engine, day)
    busy_day(engine, 10, until_hour=10.0)
    assert engine.tick(at(10 * DAY + 12 * 3600)) == []  # no readings since 10:00 either
