"""Kinematics and traffic for the elevator model: how a car moves, and when people call it."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

ACCELERATION = 0.8  # m/s^2, a comfortable residential lift
FLOOR_HEIGHT = 3.0  # m

# Calls per hour by hour of day in a residential block: morning and evening peaks,
# quiet nights. The "silent lift" rule learns exactly this kind of pattern.
HOURLY_CALLS = (
    3, 2, 1, 1, 1, 3, 12, 40, 45, 20, 12, 12,
    16, 14, 10, 10, 14, 30, 40, 34, 24, 16, 9, 5,
)  # fmt: skip


@dataclass(frozen=True)
class Run:
    """A trip between two floors with a trapezoidal speed profile."""

    start_floor: int
    end_floor: int
    speed: float  # rated speed, m/s

    @property
    def distance(self) -> float:
        return abs(self.end_floor - self.start_floor) * FLOOR_HEIGHT

    @property
    def _peak(self) -> float:
        return min(self.speed, math.sqrt(ACCELERATION * self.distance))

    @property
    def duration(self) -> float:
        peak = self._peak
        if peak <= 0:
            return 0.0
        accel_time = peak / ACCELERATION
        cruise = (self.distance - peak * accel_time) / peak
        return 2 * accel_time + max(0.0, cruise)

    def travelled(self, t: float) -> tuple[float, float]:
        """Distance covered and speed ``t`` seconds after departure."""
        peak, total = self._peak, self.duration
        t = min(max(t, 0.0), total)
        accel_time = peak / ACCELERATION if peak else 0.0
        if t < accel_time:
            return 0.5 * ACCELERATION * t * t, ACCELERATION * t
        if t > total - accel_time:
            left = total - t
            return self.distance - 0.5 * ACCELERATION * left * left, ACCELERATION * left
        return 0.5 * peak * accel_time + peak * (t - accel_time), peak

    def position(self, t: float) -> tuple[float, float]:
        """Car position above the lowest floor (m) and speed, ``t`` s after departure."""
        covered, speed = self.travelled(t)
        base = (self.start_floor - 1) * FLOOR_HEIGHT
        sign = 1 if self.end_floor >= self.start_floor else -1
        return base + sign * covered, speed


def calls_per_hour(unix_time: float, traffic: float) -> float:
    hour = int(unix_time // 3600) % 24
    return HOURLY_CALLS[hour] * traffic


def next_call_delay(rng: random.Random, unix_time: float, traffic: float) -> float:
    """Seconds until the next call: exponential at this hour's rate (re-drawn hourly)."""
    rate = calls_per_hour(unix_time, traffic) / 3600.0
    to_next_hour = 3600.0 - unix_time % 3600.0
    if rate <= 0:
        return to_next_hour
    delay = rng.expovariate(rate)
    # Memorylessness lets us re-draw at the hour boundary with the new rate.
    return delay if delay < to_next_hour else to_next_hour + 1e-6


def expected_calls(start: float, end: float, traffic: float) -> float:
    """Expected number of calls between two instants, integrating the hourly profile."""
    total, t = 0.0, start
    while t < end:
        boundary = min(end, (t // 3600 + 1) * 3600)
        total += calls_per_hour(t, traffic) * (boundary - t) / 3600.0
        t = boundary
    return total
