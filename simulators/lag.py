"""First-order lag in closed form: temperatures, smoke and other quantities that settle.

Models step over arbitrary intervals, so instead of integrating they jump straight to the
value after ``dt`` and solve for the moment a threshold is crossed.
"""

from __future__ import annotations

import math


def relax(value: float, target: float, dt: float, tau: float) -> float:
    """Where ``value`` is after ``dt`` s heading for ``target`` with time constant ``tau``."""
    return target + (value - target) * math.exp(-dt / tau)


def time_to_rise(value: float, target: float, level: float, tau: float) -> float:
    """Seconds until a lag from ``value`` toward ``target`` reaches ``level`` (inf: never)."""
    if value >= level:
        return 0.0
    if target <= level:
        return math.inf
    return tau * math.log((target - value) / (target - level))


def time_to_fall(value: float, target: float, level: float, tau: float) -> float:
    """Seconds until a lag from ``value`` toward ``target`` drops below ``level`` (inf: never)."""
    if value < level:
        return 0.0
    if target >= level:
        return math.inf
    return tau * math.log((value - target) / (level - target))
