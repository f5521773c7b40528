"""A rolling baseline in daily buckets: bounded memory, exact mean and spread.

Each day's samples are folded into one bucket (count, mean, sum of squared deviations;
Welford's update), and buckets older than the window are dropped, so a 30-day baseline
holds at most 31 small buckets however many samples it has seen.

The spread reported is the *pooled within-day* standard deviation: the cycle-to-cycle
noise of a day around that day's mean. A slow drift moves the daily means, not the noise
inside a day, so it cannot widen its own yardstick the way the spread of all samples in
the window would (a ramp of 0.05 s a day over 30 days would otherwise hide at z ~ 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["DAY", "Baseline", "RollingStats"]

DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Baseline:
    count: int
    mean: float
    std: float  # pooled within-day; 0.0 when no day has two samples


class RollingStats:
    __slots__ = ("_buckets", "window_days")

    def __init__(self, window_days: int, buckets: list[list[float]] | None = None) -> None:
        self.window_days = window_days
        # [day number, count, mean, m2], oldest first
        self._buckets: list[list[float]] = buckets if buckets is not None else []

    def add(self, t: float, x: float) -> None:
        day = float(t // DAY)
        buckets = self._buckets
        if not buckets or buckets[-1][0] != day:
            buckets.append([day, 0.0, 0.0, 0.0])
            while buckets[0][0] <= day - self.window_days:
                buckets.pop(0)
        bucket = buckets[-1]
        bucket[1] += 1
        delta = x - bucket[2]
        bucket[2] += delta / bucket[1]
        bucket[3] += delta * (x - bucket[2])

    def baseline(self, t: float) -> Baseline:
        """The samples of the window ending at ``t`` (today and the days before)."""
        oldest = t // DAY - self.window_days
        count = 0.0
        total = 0.0
        m2 = 0.0
        dof = 0.0
        for day, n, mean, bucket_m2 in self._buckets:
            if day <= oldest:
                continue
            count += n
            total += n * mean
            m2 += bucket_m2
            dof += n - 1
        if count == 0:
            return Baseline(0, 0.0, 0.0)
        std = math.sqrt(m2 / dof) if dof > 0 else 0.0
        return Baseline(int(count), total / count, std)

    def dump(self) -> list[list[float]]:
        return [list(b) for b in self._buckets]
