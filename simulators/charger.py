"""Behavioural model of an 8-port e-bike charging cabinet behind its Modbus map.

Event-driven, like the elevator: each port is in one phase with a known end (a resident
plugs in, charging starts, float charge, full, the bike is collected) and power, energy
and temperatures are closed-form functions of time between events, so a step costs work
per event, not per tick. Over a step longer than ``FAST_FORWARD`` a free port draws its
next arrival from ``FAST_FORWARD`` before the end of the step: sessions that would have
started and ended long before are skipped, so a simulated year in one call costs about
what a day does (``events_handled`` counts the work).

Protection follows the domain notes: a port at >= 80 degC for 30 s stops with
``over_temperature`` and stays locked until it cools; more than 2,000 W trips it with
``overload``; a session stops after 10 h (``time_limit``); mains above 270 V or below
100 V, power loss, water, smoke and heat alarms stop every port with their own reason.
A fault named after a port (``over_temperature``, ``over_current``, ``relay_welded``)
acts on one port at a time, given by the ``port`` parameter.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import replace

from estatewatch.catalogue import Profile, Table
from estatewatch.errors import ConfigError
from simulators.charger_port import Phase, Port
from simulators.charger_registers import CabinetRegisters
from simulators.charger_session import PACK_VOLTS, new_session, next_arrival
from simulators.device import BookedFaults, FaultBook, FaultParams
from simulators.lag import relax

FAST_FORWARD = 86400.0  # s: older free time is skipped (see the module docstring)
PORT_POWER_LIMIT, TRIP_S = 2000.0, 2.0  # W per port, and s above it before the trip
OVER_VOLTAGE, UNDER_VOLTAGE = 270.0, 100.0  # V of mains
TEMP_TAU = 600.0  # s: a socket warms and cools over minutes
OVERHEAT_TAU = 30.0  # s: a failing contact or a battery in thermal runaway heats fast
DEGC_PER_WATT = 0.025  # port temperature rise above ambient per W delivered
HEAT_RISE, HEAT_TAU = 40.0, 120.0  # degC the cabinet warms by in a heat alarm, and how fast
MAX_EVENTS_PER_STEP = 100_000  # far above what FAST_FORWARD allows: only a bug gets here

FAULTS: Mapping[str, str] = {
    "over_temperature": "port (default: a busy one) heats toward degc (95); stop after 30 s >= 80",
    "over_current": "port draws watts (2400); above 2000 W it trips with stop_reason overload",
    "relay_welded": "port's relay sticks: watts (120) keep flowing while the port is idle",
    "power_loss": "mains off: every port stops (power_loss), the cabinet runs on backup",
    "over_voltage": "mains rises to volts (285): above 270 V every port stops",
    "under_voltage": "mains sags to volts (90): below 100 V every port stops",
    "water_ingress": "water detected: every port stops (water_ingress)",
    "smoke": "cabinet smoke detector: every port stops (fire_stop)",
    "heat": "cabinet heat detector; the cabinet warms by 40 degC: every port stops (fire_stop)",
    "door_open": "cabinet door opened",
    "comms_loss": "the cabinet stops answering Modbus requests",
    "device_failure": "every request gets Modbus exception 4 (server device failure)",
}
PORT_FAULTS = ("over_temperature", "over_current", "relay_welded")
_ALARM_STOPS = {"smoke": "fire_stop", "heat": "fire_stop", "water_ingress": "water_ingress"}


class ChargerCabinet(BookedFaults):
    """One simulated cabinet; implements ``simulators.device.ModbusDevice``."""

    def __init__(
        self,
        device_id: str,
        profile: Profile,
        rng: random.Random,
        now: float,
        *,
        serial: str | None = None,
    ) -> None:
        self.device_id = device_id
        self.profile = profile
        self._rng = rng
        self._registers = CabinetRegisters(profile, random.Random(rng.random()))
        self._book = FaultBook(device_id, FAULTS)
        self.serial = self._serial(serial)
        self.now = now
        self._heat = (now, 0.0, 0.0)  # anchor time, excess degC there, excess it heads for
        self.relays = dict.fromkeys(profile.instances("relay"), True)
        self.events_handled = 0
        self.sessions_started = 0
        self._floor = now  # free ports draw their next arrival from no earlier than this
        ambient = self.ambient(now)
        self.ports = [Port(n, ambient + rng.uniform(0.0, 1.0)) for n in profile.instances("port")]
        for port in self.ports:
            self._free(port)
        self._dirty = True

    def _serial(self, given: str | None) -> str:
        room = 2 * self.profile.field("serial_number").length
        if given is None:
            derived = "CAB" + "".join(c for c in self.device_id if c.isascii() and c.isalnum())
            return derived.upper()[:room]
        if not given.isascii() or len(given) > room:
            raise ConfigError(f"{self.device_id}: serial {given!r}: ASCII, at most {room} chars")
        return given

    # --- the ModbusDevice protocol -------------------------------------------------

    def read(self, table: Table, address: int, count: int) -> list[int]:
        if self._dirty:
            self._registers.update(self)
            self._dirty = False
        return self._registers.read(table, address, count)

    def inject(self, fault: str, params: FaultParams | None = None) -> None:
        wanted = dict(params or {})
        if fault in PORT_FAULTS:
            wanted.setdefault("port", self._default_port())
            self._check_port(fault, wanted["port"])
        p = self._book.inject(fault, wanted)
        if fault in ("over_temperature", "over_current"):
            port = self.port(int(p["port"]))
            if port.phase is not Phase.FAULT:
                self._force_charging(port)
            overload = self._fault_watts(fault) > PORT_POWER_LIMIT
            if fault == "over_current" and port.active and overload:
                port.trip_at = self.now + TRIP_S
        elif fault == "heat":
            self._heat_toward(HEAT_RISE)
        reason = self._stop_reason()
        if reason is not None:
            for port in self.ports:
                if port.active:
                    port.end_session(self.now, reason, Phase.ENDED)
        self._dirty = True

    def clear(self, fault: str) -> None:
        self._book.clear(fault)
        if fault == "heat":
            self._heat_toward(0.0)
        for port in self.ports:
            if fault == "over_current":
                port.trip_at = math.inf
            if port.phase is Phase.FAULT and self._may_recover(port):
                self._free(port)
        self._dirty = True

    def step(self, now: float) -> None:
        if now <= self.now:
            return
        self._floor = max(self._floor, now - FAST_FORWARD)
        for _ in range(MAX_EVENTS_PER_STEP):
            at, kind, port = self._earliest()
            if at > now:
                break
            self._advance(at)
            self._handle(port, kind)
            self.events_handled += 1
        else:
            raise RuntimeError(f"{self.device_id}: too many events before t={self.now}")
        self._advance(now)
        self._dirty = True

    # --- what tests and the runner may look at -------------------------------------

    def port(self, number: int) -> Port:
        return self.ports[number - 1]

    def ambient(self, t: float) -> float:
        """Cabinet temperature: warmest mid-afternoon, plus any heat-alarm rise."""
        hour = (t % 86400.0) / 3600.0
        t0, excess, target = self._heat
        daily = 22.0 + 5.0 * math.cos(2 * math.pi * (hour - 15.0) / 24.0)
        return daily + relax(excess, target, max(0.0, t - t0), HEAT_TAU)

    def mains(self, t: float) -> float:
        """Mains voltage without measurement noise: lowest at the evening peak."""
        if "power_loss" in self._book:
            return 0.0
        if "over_voltage" in self._book:
            return self._book.param("over_voltage", "volts", 285.0)
        if "under_voltage" in self._book:
            return self._book.param("under_voltage", "volts", 90.0)
        hour = (t % 86400.0) / 3600.0
        return 228.0 - 5.0 * math.cos(2 * math.pi * (hour - 20.0) / 24.0)

    def power(self, number: int, t: float | None = None) -> float:
        """W a port delivers at ``t`` (default: now), without measurement noise."""
        port, t = self.port(number), self.now if t is None else t
        if "power_loss" in self._book:
            return 0.0
        if port.active and port.session is not None:
            if self._on(port, "over_current"):
                return self._fault_watts("over_current")
            return port.session.power_at(t)
        return self._fault_watts("relay_welded") if self._on(port, "relay_welded") else 0.0

    def volts(self, number: int) -> float:
        """Output voltage of a port now: the pack's while charging, else none."""
        port = self.port(number)
        if "power_loss" in self._book:
            return 0.0
        if port.phase in (Phase.CHARGING, Phase.FLOAT) and port.session is not None:
            return port.session.volts_at(self.now)
        return PACK_VOLTS[0] if self._on(port, "relay_welded") and not port.active else 0.0

    def fault_port(self, fault: str) -> int | None:
        """The port a port fault acts on while it is active."""
        return int(self._book.param(fault, "port", 0)) if fault in self._book else None

    # --- faults ----------------------------------------------------------------------

    def _on(self, port: Port, fault: str) -> bool:
        return self.fault_port(fault) == port.number

    def _fault_watts(self, fault: str) -> float:
        return self._book.param(fault, "watts", 2400.0 if fault == "over_current" else 120.0)

    def _default_port(self) -> float:
        return float(next((p.number for p in self.ports if p.active), self.ports[0].number))

    def _check_port(self, fault: str, number: float) -> None:
        numbers = [p.number for p in self.ports]
        if number not in numbers:
            raise ConfigError(
                f"{self.device_id}: fault {fault}: port must be one of"
                f" {numbers[0]}-{numbers[-1]}, not {number:g}"
            )

    def _locked(self, port: Port) -> bool:
        return self._on(port, "over_temperature") or self._on(port, "over_current")

    def _may_recover(self, port: Port) -> bool:
        return not self._locked(port) and port.hot_since is None

    def _heat_toward(self, target: float) -> None:
        t0, excess, old_target = self._heat
        self._heat = (self.now, relax(excess, old_target, self.now - t0, HEAT_TAU), target)

    def _stop_reason(self) -> str | None:
        """Why no port may charge right now, if something cabinet-wide forbids it."""
        if "power_loss" in self._book:
            return "power_loss"
        for fault, reason in _ALARM_STOPS.items():
            if fault in self._book:
                return reason
        mains = self.mains(self.now)
        if mains > OVER_VOLTAGE:
            return "over_voltage"
        if mains < UNDER_VOLTAGE:
            return "under_voltage"
        return None

    def _force_charging(self, port: Port) -> None:
        """A port that overheats or overloads is one with a bike charging on it."""
        if self._stop_reason() is not None or port.phase in (Phase.CHARGING, Phase.FLOAT):
            return
        if port.phase is not Phase.PLUGGED or port.session is None:
            port.plug(new_session(self._rng, self.now))
            self.sessions_started += 1
        assert port.session is not None
        port.session = replace(port.session, start=self.now)
        port.phase = Phase.CHARGING
        port.schedule()

    # --- events ----------------------------------------------------------------------

    def _earliest(self) -> tuple[float, str, Port]:
        best = (math.inf, "none", self.ports[0])
        for port in self.ports:
            at, kind = self._next_event(port)
            if at < best[0]:
                best = (at, kind, port)
        return best

    def _next_event(self, port: Port) -> tuple[float, str]:
        at, kind = port.next_at, port.next_kind
        if port.trip_at < at:
            at, kind = port.trip_at, "trip"
        target, tau = self._temperature_target(port, self.now)
        if port.phase is not Phase.FAULT:
            hot = port.overheat_at(self.now, target, tau)
            if hot < at:
                at, kind = hot, "overheat"
        elif not self._locked(port):  # a locked port waits for clear()
            cool = port.cooled_at(self.now, target, tau)
            if cool < at:
                at, kind = cool, "recover"
        return at, kind

    def _handle(self, port: Port, kind: str) -> None:
        match kind:
            case "arrival":
                if self._stop_reason() is None and self.relays.get(port.number, True):
                    port.plug(new_session(self._rng, self.now))
                    self.sessions_started += 1
                else:
                    self._free(port)
            case "redraw" | "collect":
                self._free(port)
            case "start" | "float":
                port.phase = Phase.CHARGING if kind == "start" else Phase.FLOAT
                port.schedule()
            case "full":
                port.end_session(self.now, "full", Phase.FULL)
            case "limit":
                port.end_session(self.now, "time_limit", Phase.ENDED)
            case "unplug":
                port.end_session(self.now, "unplugged", Phase.IDLE)
                self._free(port)
            case "trip":
                port.lock_out(self.now, "overload")
            case "overheat":
                if port.overheated(self.now):
                    port.lock_out(self.now, "over_temperature")
            case "recover":
                if self._may_recover(port):
                    self._free(port)

    def _free(self, port: Port) -> None:
        port.phase, port.session = Phase.IDLE, None
        at, real = next_arrival(self._rng, max(self.now, self._floor))
        port.next_at, port.next_kind = at, "arrival" if real else "redraw"

    # --- continuous quantities -------------------------------------------------------

    def _temperature_target(self, port: Port, t: float) -> tuple[float, float]:
        target = self.ambient(t) + DEGC_PER_WATT * self.power(port.number, t)
        if self._on(port, "over_temperature"):
            return max(target, self._book.param("over_temperature", "degc", 95.0)), OVERHEAT_TAU
        return target, TEMP_TAU

    def _advance(self, t: float) -> None:
        dt = t - self.now
        if dt <= 0:
            return
        for port in self.ports:
            # The target at the end of the interval: exact between events, except in the
            # taper, where the socket lags a little behind a slowly falling power.
            target, tau = self._temperature_target(port, t)
            port.warm(self.now, dt, target, tau)
        self.now = t
