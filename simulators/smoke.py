"""Behavioural model of a networked battery smoke alarm that reports vendor-style messages.

Event-driven: heartbeats, alarm repeats, daily low-battery and fault reports, and the
moments smoke crosses the alarm threshold are computed in closed form, so stepping costs
work per message. A long step emits every message that falls inside it, oldest first
(a simulated day at the default hourly heartbeat is 24 heartbeats); only a fire left
burning across a giant step makes many, one alarm every ``ALARM_REPEAT_S``.

Messages carry the profile's normalised payload names and are collected by ``drain()``;
``simulators.smoke_publisher`` turns them into vendor JSON.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping

from estatewatch.catalogue import Profile, Value
from simulators.device import FaultBook, FaultParams
from simulators.lag import relax, time_to_fall, time_to_rise

ALARM_THRESHOLD = 4.0  # %/m obscuration (our choice, within what standards allow)
ALARM_RESET = 2.0  # %/m: the alarm ends below this, so noise at the threshold cannot flap
ALARM_REPEAT_S = 30.0  # s between alarm messages while the smoke stays
HUSH_S = 600.0  # s a hush silences the alarm, as on common consumer alarms
DAILY_S = 86400.0  # repeat period of low-battery and fault reports
LOW_BATTERY = 20.0  # %
FIRE_SMOKE, FIRE_SMOKE_TAU = 15.0, 20.0  # %/m the smoke heads for in a fire, and how fast
CLEAR_SMOKE_TAU = 60.0  # s for the smoke to thin out once the fire is out
FIRE_HEAT, HEAT_TAU = 55.0, 120.0  # degC a fire adds at the ceiling, and how fast
SENSOR_RANGE = (-20.0, 70.0)  # degC
SEQUENCE_WRAP = 1 << 16
FIRMWARES = ("2.1.7", "2.3.0", "3.0.2")

FAULTS: Mapping[str, str] = {
    "fire": "smoke builds toward obscuration (15 %/m): alarm past 4 %/m, repeated every 30 s",
    "silence": "hush button: alarm_silenced, no alarm repeats for seconds (600), then ends",
    "low_battery": "battery drops to percent (15): low_battery now and daily; clear: new battery",
    "removed": "taken off its base: removed; clear: reinstalled",
    "self_test": "test button: one self_test message, then ends",
    "fault": "sensor fault: fault now and daily until cleared",
    "offline": "sends nothing until cleared, then a heartbeat",
}
_ONE_OFF = ("self_test",)


class SmokeAlarm:
    """One simulated alarm; implements ``simulators.device.MessageDevice``."""

    def __init__(
        self,
        device_id: str,
        profile: Profile,
        rng: random.Random,
        now: float,
        *,
        heartbeat_s: float = 3600.0,
    ) -> None:
        if heartbeat_s <= 0:
            raise ValueError("the heartbeat interval must be positive")
        self.device_id = device_id
        self.profile = profile
        self.heartbeat_s = heartbeat_s
        self._book = FaultBook(device_id, FAULTS)
        self._noise = random.Random(rng.random())
        self.firmware = rng.choice(FIRMWARES)
        self.now = now
        self._room_offset = rng.uniform(-3.0, 4.0)  # a kitchen runs warmer than a stairwell
        # Battery: a level at an anchor time, draining linearly over a 3-10 year life.
        self._battery = (now, rng.uniform(60.0, 100.0))
        self._drain = 100.0 / (rng.uniform(3.0, 10.0) * 365.0 * 86400.0)  # % per s
        self._smoke = (now, 0.0, 0.0, CLEAR_SMOKE_TAU)  # anchor, level, target, tau
        self._heat = (now, 0.0, 0.0)  # anchor, excess degC, target excess
        self.in_alarm = False
        self._alarm_at = math.inf  # next alarm repeat
        self._hush_until: float | None = None
        self._low_at: float | None = None  # next daily low-battery report, once low
        self._fault_at = math.inf
        self._normal_due = False  # a fire was put out: report normal once the smoke clears
        self._sequence = 0
        self._outbox: list[dict[str, Value]] = []
        self.events_handled = 0
        self._emit("heartbeat")  # on power-up
        # Each alarm keeps its own phase, so a fleet does not report all at once.
        self._heartbeat_at = now + rng.uniform(0.0, heartbeat_s)

    # --- the MessageDevice protocol --------------------------------------------------

    @property
    def faults(self) -> Mapping[str, str]:
        return FAULTS

    @property
    def active_faults(self) -> frozenset[str]:
        return frozenset(self._book.active)

    def drain(self) -> list[dict[str, Value]]:
        out, self._outbox = self._outbox, []
        return out

    def inject(self, fault: str, params: FaultParams | None = None) -> None:
        p = self._book.inject(fault, params)
        match fault:
            case "fire":
                target = p.get("obscuration", FIRE_SMOKE)
                self._smoke = (self.now, self.smoke(self.now), target, FIRE_SMOKE_TAU)
                self._heat_toward(FIRE_HEAT)
                self._normal_due = False
            case "silence":
                self._hush_until = self.now + p.get("seconds", HUSH_S)
                self._emit("alarm_silenced")
            case "low_battery":
                self._battery = (self.now, min(self.battery(self.now), p.get("percent", 15.0)))
                self._report_low_battery()
            case "removed" | "self_test":
                self._emit(fault)
            case "fault":
                self._emit("fault")
                self._fault_at = self.now + DAILY_S
        if fault in _ONE_OFF:
            self._book.clear(fault)

    def clear(self, fault: str) -> None:
        was_active = fault in self._book
        self._book.clear(fault)
        if not was_active:
            return
        match fault:
            case "fire":
                self._smoke = (self.now, self.smoke(self.now), 0.0, CLEAR_SMOKE_TAU)
                self._heat_toward(0.0)
                self._normal_due = True
                if not self.in_alarm:
                    self._report_normal()
            case "silence":
                self._end_hush()
            case "low_battery":
                self._battery, self._low_at = (self.now, 100.0), None  # a new battery
                self._emit("heartbeat")
            case "removed":
                self._emit("reinstalled")
            case "fault":
                self._fault_at = math.inf
                self._emit("heartbeat")
            case "offline":
                self._emit("heartbeat")

    def step(self, now: float) -> None:
        if now <= self.now:
            return
        while True:
            at, kind = self._next_event()
            if at > now:
                break
            self.now = max(self.now, at)
            self._handle(kind)
            self.events_handled += 1
        self.now = now

    # --- continuous quantities -------------------------------------------------------

    def battery(self, t: float) -> float:
        t0, level = self._battery
        return max(0.0, level - self._drain * (t - t0))

    def smoke(self, t: float) -> float:
        """Obscuration in %/m, without measurement noise."""
        t0, level, target, tau = self._smoke
        return relax(level, target, t - t0, tau)

    def temperature(self, t: float) -> float:
        """Air temperature at the alarm (it may exceed what the sensor can report)."""
        hour = (t % 86400.0) / 3600.0
        room = 20.0 + self._room_offset + 3.0 * math.cos(2 * math.pi * (hour - 16.0) / 24.0)
        t0, excess, target = self._heat
        return room + relax(excess, target, t - t0, HEAT_TAU)

    def _heat_toward(self, target: float) -> None:
        t0, excess, old = self._heat
        self._heat = (self.now, relax(excess, old, self.now - t0, HEAT_TAU), target)

    # --- events ----------------------------------------------------------------------

    def _next_event(self) -> tuple[float, str]:
        events = [(self._heartbeat_at, "heartbeat"), (self._fault_at, "fault")]
        if self._hush_until is not None:
            events.append((self._hush_until, "hush_end"))
        elif self.in_alarm:
            events.append((self._alarm_at, "alarm"))
        _, _, target, tau = self._smoke
        level = self.smoke(self.now)
        if self.in_alarm and target < ALARM_RESET:
            events.append((self.now + time_to_fall(level, target, ALARM_RESET, tau), "clear"))
        elif not self.in_alarm and target > ALARM_THRESHOLD:
            events.append((self.now + time_to_rise(level, target, ALARM_THRESHOLD, tau), "smoke"))
        battery = self.battery(self.now)
        if self._low_at is not None:
            events.append((self._low_at, "low_battery"))
        elif battery >= LOW_BATTERY:
            # A minute past the crossing, so the report already reads 19 %, not 20.
            crossing = (battery - LOW_BATTERY) / self._drain + 60.0
            events.append((self.now + crossing, "low_battery"))
        return min(events)

    def _handle(self, kind: str) -> None:
        match kind:
            case "heartbeat":
                self._emit("heartbeat")
                self._heartbeat_at += self.heartbeat_s
            case "fault":
                self._emit("fault")
                self._fault_at += DAILY_S
            case "smoke":
                self.in_alarm = True
                if self._hush_until is None:
                    self._sound_alarm()
            case "alarm":
                self._sound_alarm()
            case "hush_end":
                self._book.clear("silence")
                self._end_hush()
            case "clear":
                self.in_alarm = False
                if self._normal_due:
                    self._report_normal()
            case "low_battery":
                self._report_low_battery()

    def _sound_alarm(self) -> None:
        self._emit("alarm")
        self._alarm_at = self.now + ALARM_REPEAT_S

    def _end_hush(self) -> None:
        self._hush_until = None
        if self.in_alarm:
            self._sound_alarm()

    def _report_low_battery(self) -> None:
        self._emit("low_battery")
        self._low_at = self.now + DAILY_S

    def _report_normal(self) -> None:
        self._normal_due = False
        self._emit("heartbeat")

    # --- messages --------------------------------------------------------------------

    def _emit(self, message_type: str) -> None:
        battery = self.battery(self.now)
        if "offline" in self._book or battery <= 0.0:
            return  # nothing reaches the network; the vendor counter does not move either
        low, high = SENSOR_RANGE
        temperature = self.temperature(self.now) + self._noise.gauss(0.0, 0.1)
        smoke = self.smoke(self.now) + abs(self._noise.gauss(0.0, 0.03))
        self._outbox.append(
            {
                "device_id": self.device_id,
                "message_type": message_type,
                "battery": min(100, math.floor(battery)),
                "smoke_obscuration": round(min(100.0, smoke), 2),
                "temperature": round(min(high, max(low, temperature)), 1),
                "timestamp": int(self.now),
                "vendor_sequence": self._sequence,
                "firmware": self.firmware,
            }
        )
        self._sequence = (self._sequence + 1) % SEQUENCE_WRAP
