"""Behavioural model of one elevator car behind a NICE3000+ controller and a monitoring box.

Event-driven: the car is always in one phase (idle, doors opening/open/closing, running,
stopped by a fault) with a known end time, so stepping costs work per event, not per tick.
Steps longer than ``FAST_FORWARD`` (time-accelerated tests) are taken statistically:
counters, wear and temperatures advance by their expected amounts, and the car is left
idle at a landing with a fresh door cycle that reflects the wear so far.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from estatewatch.catalogue import Profile, RegisterImage, Table
from simulators.device import BookedFaults, FaultBook, FaultParams
from simulators.elevator_motion import FLOOR_HEIGHT, Run, expected_calls, next_call_delay

FAST_FORWARD = 120.0  # s of simulated time beyond which a step is taken statistically
DOOR_ZONE = 0.1  # m either side of a landing
AMBIENT = 30.0  # degC in the machine room
HEAT_TIME_CONSTANT = 900.0  # s

MODE_INSPECTION, MODE_FAULT, MODE_AUTOMATIC = 0, 5, 7
# Service modes (GB/T 24476 events): the car takes no ordinary calls while one is on.
SERVICE_MODES: Mapping[str, int] = {
    "inspection": MODE_INSPECTION,
    "fire_return": 4,
    "firefighter": 6,
    "emergency_power": 11,
}
# Faults after which the car takes no ordinary calls (earthquake: the box's sensor says
# so, the controller's mode does not).
_PARKED = (*SERVICE_MODES, "earthquake")
GOVERNOR_TRIP = 1.15  # share of rated speed where the overspeed governor trips
SAFETY_GEAR_S = 1.5  # s from the governor's trip until the safety gear has stopped the car
OVERTRAVEL = 0.3  # m past the terminal landing where the final limit switch stops the car
STATE = {"opening": 1, "open": 2, "closing": 3, "closed": 4, "running": 5, "stopped": 6}

FAULTS: Mapping[str, str] = {
    "door_wear": "doors slow with age: close/open times drift up (close_s_per_day, open_s_per_day)",
    "door_reversals": "closing doors re-open often (probability per close, default 0.3)",
    "door_failure": "doors fail after the allowed retries: E49 (code=48 for fails-to-open)",
    "levelling_drift": "stopping error grows (mm_per_day, default 2; or bias_mm at once)",
    "motor_overheat": "heatsink climbs toward 100 degC; E39 above 90",
    "entrapment": "car stops between floors, doors closed, alarm pressed (load_pct)",
    "safety_circuit": "safety circuit opens: E41, the car stops where it is",
    "power_loss": "mains off: the car stops, DC bus drops",
    "ebike": "AI camera sees an e-bike: doors held open until it leaves",
    "inspection": "a technician puts the car in inspection mode",
    "overtravel_top": "the car runs past the top landing onto the final limit switch and stops",
    "overtravel_bottom": "the car runs past the bottom landing onto the final limit switch",
    "door_open_running": "the car runs with its doors not shut (door contacts bridged)",
    "unintended_movement": "doors open at a landing, the car creeps away (speed, distance)",
    "overspeed": "runs reach a share of rated speed (ratio, default 1.25); the governor stops it",
    "floor_lost": "the controller loses the car's floor: it reads floor 0",
    "fire_return": "fire emergency return: the car goes to floor 1 and parks there",
    "firefighter": "firefighters take the car over: no ordinary calls",
    "emergency_power": "mains off, the car runs on emergency power (mode 11)",
    "earthquake": "the earthquake sensor trips: the car parks at its landing",
    "comms_loss": "the controller stops answering Modbus requests",
    "device_failure": "every request gets Modbus exception 4 (server device failure)",
}
_STOPPING = (
    "entrapment",
    "safety_circuit",
    "power_loss",
    "door_failure",
    "overtravel_top",
    "overtravel_bottom",
    "unintended_movement",
)


class Phase(Enum):
    IDLE = "idle"
    OPENING = "opening"
    OPEN = "open"
    CLOSING = "closing"
    RUNNING = "running"
    HALTED = "halted"  # stopped by a fault until it clears


@dataclass
class DoorWear:
    open_extra: float = 0.0  # s added to the opening time
    close_extra: float = 0.0  # s added to the closing time


class Elevator(BookedFaults):
    """One simulated car; implements ``simulators.device.ModbusDevice``."""

    def __init__(
        self,
        device_id: str,
        profile: Profile,
        rng: random.Random,
        now: float,
        *,
        floors: int = 18,
        rated_speed: float = 1.75,
        rated_load_kg: float = 1000.0,
        age_years: float = 5.0,
        traffic: float = 1.0,
    ) -> None:
        self.device_id = device_id
        self.profile = profile
        self._rng = rng
        self._book = FaultBook(device_id, FAULTS)
        self.floors, self.rated_speed = floors, rated_speed
        self._load_per_person = 75.0 / rated_load_kg * 100.0
        self.traffic = traffic
        self._image = RegisterImage()
        self._fields = {f.key: f for f in profile.fields}
        # Older cars start slower and hotter, as their doors and drives have worn.
        self._base_open = 2.4 + 0.03 * age_years
        self._base_close = 2.9 + 0.04 * age_years
        self.wear = DoorWear()
        self._reversal_p = 0.01 + 0.002 * age_years
        self._level_bias = 0.0

        self.now = now
        self.floor = rng.randint(1, floors)
        self.position = (self.floor - 1) * FLOOR_HEIGHT
        self.speed = 0.0
        self.direction = 3
        self.load = 0.0
        self.heatsink = AMBIENT + 5.0
        self.run_count = int(age_years * 365 * 180)
        self.running_seconds = self.run_count * 12.0
        self.door_cycles = self.run_count
        self.door_reversals = 0
        self.door_failures = 0
        self.fault_code = 0
        self.levelling_error = 0
        self.last_open_s = self._base_open
        self.last_close_s = self._base_close
        self.last_cycle_floor = self.floor
        self.alarm_button = False

        self.phase = Phase.IDLE
        self._phase_start = now
        self._phase_end = now + next_call_delay(rng, now, traffic)
        self._run: Run | None = None
        self._targets: list[int] = []
        self._closing_time = self._base_close
        self._synced_at = -1.0
        self._governor_tripped: float | None = None

    # --- the ModbusDevice protocol -------------------------------------------------

    def inject(self, fault: str, params: FaultParams | None = None) -> None:
        p = self._book.inject(fault, params)
        if fault == "levelling_drift" and "bias_mm" in p:
            self._level_bias = p["bias_mm"]
        if fault == "door_reversals":
            p.setdefault("probability", 0.3)
        if fault == "unintended_movement":
            p.setdefault("speed", 0.3)
            p.setdefault("distance", 0.5)
        if fault == "fire_return" and self.phase is Phase.IDLE:
            self._phase_end = self.now  # head for floor 1 now, not at the next call
        if fault in _STOPPING:
            self._halt(fault, p)
        self._synced_at = -1.0

    def clear(self, fault: str) -> None:
        self._book.clear(fault)
        if fault == "door_wear":
            self.wear = DoorWear()  # the doors were repaired
        elif fault == "levelling_drift":
            self._level_bias = 0.0
        elif fault == "ebike" and self.phase is Phase.OPEN:
            self._phase_end = self.now
        if self.phase is Phase.HALTED and not any(f in self._book for f in _STOPPING):
            self._recover()
        self._synced_at = -1.0

    def read(self, table: Table, address: int, count: int) -> list[int]:
        if self._synced_at != self.now:
            self._sync_registers()
        return self._image.read(table, address, count)

    def step(self, now: float) -> None:
        if now <= self.now:
            return
        if now - self.now > FAST_FORWARD:
            self._fast_forward(now - 1.0)
        while self._phase_end <= now:
            self._advance_time(self._phase_end)
            self._end_phase()
        self._advance_time(now)

    # --- continuous quantities -------------------------------------------------------

    def _advance_time(self, t: float) -> None:
        dt = t - self.now
        if dt <= 0:
            return
        self._wear(dt)
        running = self.phase is Phase.RUNNING
        if running and self._run is not None:
            self.position, self.speed = self._run.position(t - self._phase_start)
            self.running_seconds += dt
            if "overspeed" in self._book:
                self._governor(t)
        elif "unintended_movement" in self._book and self.phase is Phase.HALTED:
            self._creep(t)
        target = AMBIENT + (25.0 if running else 0.0) + 5.0 * min(1.0, self.load / 100)
        if "motor_overheat" in self._book:
            target = 100.0
        self.heatsink = target + (self.heatsink - target) * math.exp(-dt / HEAT_TIME_CONSTANT)
        if "motor_overheat" in self._book and self.heatsink > 90.0 and self.fault_code == 0:
            self.fault_code = 39
        elif self.fault_code == 39 and self.heatsink < 80.0:
            self.fault_code = 0
        self.now = t

    def _governor(self, t: float) -> None:
        """Above the trip speed the governor trips, and the safety gear stops the car a
        moment later, opening the safety circuit (E41) until the fault is cleared."""
        ratio = self._book.param("overspeed", "ratio", 1.25)
        if self.speed * ratio <= GOVERNOR_TRIP * self.rated_speed:
            return
        if self._governor_tripped is None:
            self._governor_tripped = t
        elif t - self._governor_tripped >= SAFETY_GEAR_S:
            self._governor_tripped = None
            self._halt("safety_circuit", {})

    def _creep(self, t: float) -> None:
        """The brake does not hold: the car drifts up from its landing until it has gone
        ``distance`` (where a UCM device would stop it), doors open all the while."""
        speed = self._book.param("unintended_movement", "speed", 0.3)
        distance = self._book.param("unintended_movement", "distance", 0.5)
        moved = min(distance, speed * (t - self._phase_start))
        self.position = (self.floor - 1) * FLOOR_HEIGHT + moved
        self.speed = speed if moved < distance else 0.0

    def _wear(self, dt: float) -> None:
        days = dt / 86400.0
        if "door_wear" in self._book:
            self.wear.close_extra += days * self._book.param("door_wear", "close_s_per_day", 0.05)
            self.wear.open_extra += days * self._book.param("door_wear", "open_s_per_day", 0.02)
        if "levelling_drift" in self._book:
            self._level_bias += days * self._book.param("levelling_drift", "mm_per_day", 2.0)

    # --- phases ----------------------------------------------------------------------

    def _enter(self, phase: Phase, duration: float) -> None:
        self.phase = phase
        self._phase_start = self.now
        self._phase_end = self.now + duration

    def _end_phase(self) -> None:
        match self.phase:
            case Phase.IDLE:
                self._new_call()
            case Phase.RUNNING:
                self._arrive()
            case Phase.OPENING:
                self._enter(Phase.OPEN, self._rng.uniform(3.0, 6.0))
            case Phase.OPEN:
                if "ebike" in self._book:
                    self._enter(Phase.OPEN, 2.0)  # hold the doors until the bike leaves
                    return
                self._closing_time = self._door_time(self._base_close, self.wear.close_extra)
                self._enter(Phase.CLOSING, self._closing_time)
            case Phase.CLOSING:
                self._closed()
            case Phase.HALTED:
                self._phase_end = math.inf

    def _door_time(self, base: float, extra: float) -> float:
        return max(0.5, base + extra + self._rng.gauss(0.0, 0.08))

    def _new_call(self) -> None:
        if "fire_return" in self._book and self.floor != 1:
            self._targets = [1]
            self._go_to_next_target()
            return
        if any(fault in self._book for fault in _PARKED):
            self._enter(Phase.IDLE, 60.0)
            return
        pickup = self._rng.randint(1, self.floors)
        # Most trips in a residential block start or end at the ground floor.
        dest = 1 if pickup != 1 else self._rng.randint(2, self.floors)
        self._targets = [pickup, dest]
        self._go_to_next_target()

    def _go_to_next_target(self) -> None:
        if not self._targets:
            self.direction = 3
            self._enter(Phase.IDLE, next_call_delay(self._rng, self.now, self.traffic))
            return
        target = self._targets.pop(0)
        if target == self.floor:
            self._open_doors()
            return
        self._run = Run(self.floor, target, self.rated_speed)
        self.direction = 1 if target > self.floor else 2
        self.run_count += 1
        self._enter(Phase.RUNNING, self._run.duration)

    def _arrive(self) -> None:
        assert self._run is not None
        self.floor = self._run.end_floor
        self.speed = 0.0
        self.levelling_error = round(self._level_bias + self._rng.gauss(0.0, 2.0))
        self.position = (self.floor - 1) * FLOOR_HEIGHT + self.levelling_error / 1000.0
        self._run = None
        self._open_doors()

    def _open_doors(self) -> None:
        self.direction = 3
        self.last_open_s = self._door_time(self._base_open, self.wear.open_extra)
        self._enter(Phase.OPENING, self.last_open_s)
        # People get in or out while the doors open.
        people = self._rng.randint(0, 4) if self._targets else 0
        self.load = min(100.0, people * self._load_per_person)

    def _closed(self) -> None:
        p_reversal = self._book.param("door_reversals", "probability", self._reversal_p)
        if self._rng.random() < p_reversal:
            self.door_reversals = (self.door_reversals + 1) % 0x10000
            self._enter(Phase.OPENING, self._closing_time * 0.3)
            return
        self.last_close_s = self._closing_time
        self.last_cycle_floor = self.floor
        self.door_cycles += 1
        self._go_to_next_target()

    def _halt(self, fault: str, params: dict[str, float]) -> None:
        if fault == "entrapment":
            # Stopped between floors: past the door zone, doors shut, someone inside.
            below = max(1, min(self.floor, self.floors - 1))
            self.position = (below - 1) * FLOOR_HEIGHT + FLOOR_HEIGHT * 0.45
            self.load = params.get("load_pct", 15.0)
            self.alarm_button = True
        if fault == "door_failure":
            self.door_failures += 1
        if fault == "overtravel_top":
            self.position = (self.floors - 1) * FLOOR_HEIGHT + OVERTRAVEL
        elif fault == "overtravel_bottom":
            self.position = -OVERTRAVEL
        elif fault == "unintended_movement":
            self.floor = self._nearest_floor()
        self.fault_code = {"safety_circuit": 41, "door_failure": int(params.get("code", 49))}.get(
            fault, self.fault_code
        )
        self.speed, self.direction, self._run = 0.0, 3, None
        self.phase, self._phase_start, self._phase_end = Phase.HALTED, self.now, math.inf

    def _recover(self) -> None:
        """Faults cleared: re-level to the nearest landing and open the doors."""
        self.alarm_button = False
        self.speed = 0.0
        if self.fault_code in (41, 42, 48, 49, 53):
            self.fault_code = 0
        self.floor = self._nearest_floor()
        self.position = (self.floor - 1) * FLOOR_HEIGHT
        self._targets = []
        self._open_doors()

    def _fast_forward(self, until: float) -> None:
        """Take a long step statistically (see the module docstring)."""
        if self.phase is Phase.HALTED:
            self._advance_time(until)
            return
        calls = expected_calls(self.now, until, self.traffic)
        runs = int(calls * 2)
        self._advance_time(until)
        self.run_count += runs
        self.running_seconds += runs * 14.0
        self.door_cycles += runs
        p_reversal = self._book.param("door_reversals", "probability", self._reversal_p)
        self.door_reversals = (self.door_reversals + round(runs * p_reversal)) % 0x10000
        self.floor = self._rng.randint(1, self.floors)
        self.position, self.speed, self.load, self.direction = (
            (self.floor - 1) * FLOOR_HEIGHT,
            0.0,
            0.0,
            3,
        )
        self.levelling_error = round(self._level_bias + self._rng.gauss(0.0, 2.0))
        self.last_open_s = self._door_time(self._base_open, self.wear.open_extra)
        self.last_close_s = self._door_time(self._base_close, self.wear.close_extra)
        self.last_cycle_floor = self.floor
        self._run, self._targets = None, []
        self._enter(Phase.IDLE, next_call_delay(self._rng, self.now, self.traffic))

    # --- registers -------------------------------------------------------------------

    def _car_state(self) -> int:
        if "unintended_movement" in self._book:
            return STATE["open"]  # the controller holds the doors open; the car moves
        match self.phase:
            case Phase.OPENING:
                return STATE["opening"]
            case Phase.OPEN:
                return STATE["open"]
            case Phase.CLOSING:
                return STATE["closing"]
            case Phase.RUNNING:
                return STATE["running"]
            case Phase.HALTED:
                return STATE["stopped"]
        return STATE["closed"]

    def _mode(self) -> int:
        for fault, mode in SERVICE_MODES.items():
            if fault in self._book:
                return mode
        if self.fault_code and self.profile.faults.get(self.fault_code, None):
            level = self.profile.faults[self.fault_code].level
            if level >= 4:
                return MODE_FAULT
        return MODE_AUTOMATIC

    def _nearest_floor(self) -> int:
        """The landing nearest the car, as the controller's floor register shows it."""
        return min(self.floors, max(1, round(self.position / FLOOR_HEIGHT) + 1))

    def _sync_registers(self) -> None:
        mains = "power_loss" not in self._book and "emergency_power" not in self._book
        running = self.phase is Phase.RUNNING
        creeping = "unintended_movement" in self._book
        doors_open = self.phase in (Phase.OPEN,) or creeping
        doors_closed = self.phase in (Phase.IDLE, Phase.RUNNING, Phase.HALTED) and not (
            creeping or (running and "door_open_running" in self._book)
        )
        speed = self.speed
        if running and "overspeed" in self._book:
            speed *= self._book.param("overspeed", "ratio", 1.25)
        landing = (round(self.position / FLOOR_HEIGHT)) * FLOOR_HEIGHT
        in_zone = abs(self.position - landing) < DOOR_ZONE and not running
        load_frac = self.load / 100.0
        values: dict[str, int | float | bool | str] = {
            "speed": round(speed, 3),
            "rated_speed": self.rated_speed,
            "dc_bus_voltage": round(540.0 + self._rng.gauss(0, 2.0), 1) if mains else 0.0,
            "output_current": round(6.0 + 28.0 * load_frac, 1) if running else 0.0,
            "output_frequency": round(50.0 * speed / self.rated_speed, 2),
            "floor": 0 if "floor_lost" in self._book else self._nearest_floor(),
            "car_position": round(max(0.0, self.position), 1),
            "car_load": round(self.load, 1),
            "light_curtain_front": self.phase is Phase.OPEN and self._rng.random() < 0.2,
            "light_curtain_rear": False,
            "door_open_limit_front": doors_open,
            "door_open_limit_rear": False,
            "door_close_limit_front": doors_closed,
            "door_close_limit_rear": False,
            "full_load_input": self.load >= 80.0,
            "overload_input": self.load > 100.0,
            "mode": self._mode(),
            "car_state": self._car_state(),
            "full_load": self.load >= 80.0,
            "overload": self.load > 100.0,
            "direction": self.direction,
            "fault_code": self.fault_code,
            "running_hours": min(0xFFFF, int(self.running_seconds // 3600)),
            "run_count": self.run_count % 100_000_000,
            "heatsink_temperature": min(100, max(0, round(self.heatsink))),
            "door_open_duration": round(self.last_open_s, 2),
            "door_close_duration": round(self.last_close_s, 2),
            "door_cycle_landing": self.last_cycle_floor,
            "door_cycles": self.door_cycles % 0x1_0000_0000,
            "door_reversals": self.door_reversals,
            "door_failures": self.door_failures % 0x10000,
            "levelling_error": max(-32768, min(32767, self.levelling_error)),
            "alarm_button": self.alarm_button,
            "ebike_detected": "ebike" in self._book,
            "in_door_zone": in_zone,
            "mains_ok": mains,
            "final_limit_top": "overtravel_top" in self._book,
            "final_limit_bottom": "overtravel_bottom" in self._book,
            "seismic_sensor": "earthquake" in self._book,
        }
        self._image.set_many(self._fields, values)
        self._synced_at = self.now
