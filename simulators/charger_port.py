"""One port of a charging cabinet: its phase, its session and how its socket warms.

The cabinet (``simulators.charger``) decides when things happen; a ``Port`` keeps what
follows from them consistent: which event comes next, what a stopped session delivered,
and whether the socket has been at the over-temperature limit long enough to count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from simulators.charger_session import Session
from simulators.lag import relax, time_to_fall, time_to_rise

TEMP_LIMIT, TEMP_CONFIRM_S = 80.0, 30.0  # degC held for s before an over-temperature stop
# Float arithmetic on Unix times (ulp ~2e-7 s) must not re-trigger an event just handled.
EPS = 1e-3


class Phase(Enum):
    IDLE = "idle"  # free: the next event is a resident plugging in
    PLUGGED = "plugged"  # pre-check before charging
    CHARGING = "charging"  # constant current, then the taper
    FLOAT = "float"
    FULL = "full"  # done, waiting to be collected
    ENDED = "ended"  # stopped early with the bike still there
    FAULT = "fault"  # locked out by port protection

    @property
    def label(self) -> str:
        """The profile's name for the port state this phase shows as."""
        return _LABELS[self]


_LABELS = {
    Phase.IDLE: "idle",
    Phase.PLUGGED: "plugged_not_started",
    Phase.CHARGING: "charging",
    Phase.FLOAT: "float_charge",
    Phase.FULL: "full",
    Phase.ENDED: "idle",  # the charger has nothing else to say about a stopped session
    Phase.FAULT: "fault",
}
ACTIVE = (Phase.PLUGGED, Phase.CHARGING, Phase.FLOAT)


@dataclass
class Port:
    number: int
    temperature: float
    phase: Phase = Phase.IDLE
    session: Session | None = None
    next_at: float = math.inf  # when the current phase ends ...
    next_kind: str = "arrival"  # ... and how
    trip_at: float = math.inf  # when an overload trips the port
    hot_since: float | None = None  # when it reached TEMP_LIMIT, while it stays there
    stop_reason: str = "none"
    energy: float = 0.0  # kWh of the last session, frozen when it ended
    minutes: int = 0  # length of the last session, frozen when it ended

    @property
    def active(self) -> bool:
        return self.phase in ACTIVE

    def energy_at(self, now: float) -> float:
        if self.active and self.session is not None:
            return self.session.energy_kwh(now)
        return self.energy

    def minutes_at(self, now: float) -> int:
        if self.active and self.session is not None:
            return max(0, int((now - self.session.start) // 60))
        return self.minutes

    def plug(self, session: Session) -> None:
        self.session, self.phase = session, Phase.PLUGGED
        self.stop_reason, self.energy, self.minutes = "none", 0.0, 0
        self.schedule()

    def schedule(self) -> None:
        """Set the end of the current session phase: whichever comes first."""
        s = self.session
        assert s is not None
        options: list[tuple[float, str]]
        if self.phase is Phase.PLUGGED:
            options = [(s.start, "start")]
        elif self.phase is Phase.CHARGING:
            options = [(s.float_at, "float"), (s.limit_at, "limit"), (s.unplug_at, "unplug")]
        else:
            options = [(s.full_at, "full"), (s.limit_at, "limit"), (s.unplug_at, "unplug")]
        self.next_at, self.next_kind = min(options)

    def end_session(self, now: float, reason: str, phase: Phase) -> None:
        """Stop charging; in FULL or ENDED the bike stays until the resident collects it."""
        s = self.session
        assert s is not None
        self.energy, self.minutes = s.energy_kwh(now), max(0, int((now - s.start) // 60))
        self.stop_reason, self.phase, self.trip_at = reason, phase, math.inf
        if phase in (Phase.FULL, Phase.ENDED):
            self.next_at, self.next_kind = max(now, s.unplug_at), "collect"
        else:
            self.session, self.next_at, self.next_kind = None, math.inf, "none"

    def lock_out(self, now: float, reason: str) -> None:
        if self.active:
            self.end_session(now, reason, Phase.FAULT)
        # A port without a session (a bike already full) is locked out all the same.
        self.stop_reason, self.phase, self.session = reason, Phase.FAULT, None
        self.next_at, self.next_kind, self.trip_at = math.inf, "none", math.inf

    # --- the socket's temperature ----------------------------------------------------

    def overheat_at(self, now: float, target: float, tau: float) -> float:
        """When the over-temperature stop is due, if the target holds."""
        if self.hot_since is not None:
            return self.hot_since + TEMP_CONFIRM_S
        return now + time_to_rise(self.temperature, target, TEMP_LIMIT, tau) + TEMP_CONFIRM_S

    def cooled_at(self, now: float, target: float, tau: float) -> float:
        if self.hot_since is None:
            return now
        return now + time_to_fall(self.temperature, target, TEMP_LIMIT, tau)

    def overheated(self, now: float) -> bool:
        return self.hot_since is not None and now >= self.hot_since + TEMP_CONFIRM_S - EPS

    def warm(self, now: float, dt: float, target: float, tau: float) -> None:
        """Relax toward ``target`` for ``dt`` s, noting exactly when the limit is crossed."""
        # Only a target beyond the limit may move the mark, so rounding right at the limit
        # cannot restart or end the 30 s confirmation.
        if self.hot_since is None and target > TEMP_LIMIT:
            rise = time_to_rise(self.temperature, target, TEMP_LIMIT, tau)
            if rise <= dt + EPS:
                self.hot_since = now + rise
        elif self.hot_since is not None and target < TEMP_LIMIT:
            fall = time_to_fall(self.temperature, target, TEMP_LIMIT, tau)
            self.hot_since = None if fall <= dt + EPS else self.hot_since
        self.temperature = relax(self.temperature, target, dt, tau)
