"""Charging physics of one e-bike session, in closed form, and when residents plug in.

A session charges at constant current (close to constant power, since the pack voltage
moves little) until ``cc_end``, then at constant voltage with the power decaying
exponentially. The charger calls it float charge once the power has fallen to 20 % of the
charging power, and full after 30 minutes of float (domain notes). Power, energy and
voltage are functions of time, so a step of a simulated day costs what a 0.2 s step does.

Everything here is pure; ``simulators.charger`` decides what the ports do with it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

FLOAT_FRACTION = 0.2  # of the charging power: below it the port is in float charge
FLOAT_TO_FULL_S = 1800.0  # s of float charge after which the battery counts as full
SESSION_LIMIT_S = 10 * 3600.0  # maximum session length before a time-limit stop
PRECHECK_S = (3.0, 15.0)  # s the port spends plugged-not-started, checking the load
# Li-ion packs sold as 48 V (13 cells) and 60 V (16 cells) finish charging at 4.2 V a cell.
PACK_VOLTS = (54.6, 67.2)
WORN_PACK_P = 0.03  # share of packs so unbalanced they never taper: they hit the time limit

# Sessions per port per hour while the port is free, by hour of the simulated clock (the
# compound's local time, as for the elevators): residents plug in after work.
HOURLY_SESSIONS = (
    0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.02, 0.04, 0.03, 0.02, 0.02, 0.02,
    0.04, 0.04, 0.02, 0.02, 0.03, 0.10, 0.25, 0.30, 0.25, 0.15, 0.08, 0.03,
)  # fmt: skip
ARRIVAL_HORIZON_S = 7 * 86400.0  # how far ahead one draw looks before drawing again


@dataclass(frozen=True)
class Session:
    """One bike on one port, from plug-in to collection."""

    plugged_at: float
    start: float  # charging starts once the pre-check is done
    power: float  # W during constant current
    pack_volts: float  # V at the end of charge
    cc_s: float  # s of constant current
    taper_tau: float  # s, time constant of the constant-voltage taper
    unplug_at: float  # when the resident takes the bike away

    @property
    def cc_end(self) -> float:
        return self.start + self.cc_s

    @property
    def float_at(self) -> float:
        return self.cc_end + self.taper_tau * math.log(1.0 / FLOAT_FRACTION)

    @property
    def full_at(self) -> float:
        return self.float_at + FLOAT_TO_FULL_S

    @property
    def limit_at(self) -> float:
        return self.start + SESSION_LIMIT_S

    def power_at(self, t: float) -> float:
        if t < self.start:
            return 0.0
        if t <= self.cc_end:
            return self.power
        return self.power * math.exp(-(t - self.cc_end) / self.taper_tau)

    def energy_kwh(self, t: float) -> float:
        """Energy delivered from the start of charging until ``t``."""
        if t <= self.start:
            return 0.0
        joules = self.power * (min(t, self.cc_end) - self.start)
        if t > self.cc_end:
            joules += self.power * self.taper_tau * -math.expm1(-(t - self.cc_end) / self.taper_tau)
        return joules / 3.6e6

    def volts_at(self, t: float) -> float:
        """Output voltage: the pack voltage climbs during constant current, then holds."""
        if t < self.start:
            return 0.0
        if t >= self.cc_end:
            return self.pack_volts
        progress = (t - self.start) / self.cc_s
        return self.pack_volts * (0.9 + 0.1 * progress)


def new_session(rng: random.Random, now: float) -> Session:
    """A bike with a random pack and charge level, plugged in at ``now``."""
    start = now + rng.uniform(*PRECHECK_S)
    worn = rng.random() < WORN_PACK_P
    return Session(
        plugged_at=now,
        start=start,
        power=rng.uniform(150.0, 400.0),
        pack_volts=PACK_VOLTS[0] if rng.random() < 0.6 else PACK_VOLTS[1],
        cc_s=rng.uniform(0.5, 5.0) * 3600.0,
        taper_tau=rng.uniform(8.0, 12.0) * 3600.0 if worn else rng.uniform(20.0, 45.0) * 60.0,
        # Most bikes stay overnight and are collected after they are full; a few leave early.
        unplug_at=start + rng.uniform(3.0, 14.0) * 3600.0,
    )


def next_arrival(rng: random.Random, now: float) -> tuple[float, bool]:
    """When the next resident plugs into a free port: ``(time, True)``.

    Integrates the hourly rate against one exponential draw, so the cost is one loop
    turn per simulated hour waited, at most ``ARRIVAL_HORIZON_S`` ahead; past that it
    returns ``(now + horizon, False)`` and the caller draws again from there.
    """
    need = rng.expovariate(1.0)
    t, end = now, now + ARRIVAL_HORIZON_S
    while t < end:
        hour_end = min(end, (t // 3600.0 + 1.0) * 3600.0)
        rate = HOURLY_SESSIONS[int(t // 3600.0) % 24] / 3600.0
        expected = rate * (hour_end - t)
        if expected >= need:
            return t + need / rate, True
        need -= expected
        t = hour_end
    return end, False
