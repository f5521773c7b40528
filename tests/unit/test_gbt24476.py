"""GB/T 24476: the codes on signals, the rules for what the standard lists, and the
simulator faults that raise them (through the elevator model, the gateway's derived
signals and the rule engine; no servers)."""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from estatewatch.catalogue import Profile, Table, builtin_catalogue, decode_field
from estatewatch.errors import ConfigError
from estatewatch.gbt24476 import CODES, controller_codes, describe
from estatewatch.wire import FieldValue
from gateway.derive import ElevatorSignals
from maintenance.config_files import DEFAULT_RULES, load_rules
from maintenance.domain.observations import TelemetryReading
from maintenance.domain.rules import RuleEngine
from maintenance.domain.rules.spec import parse_rules
from maintenance.domain.signals import DeviceRef, Signal
from simulators.elevator import Elevator

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)  # the morning peak: the car is busy
CAR = DeviceRef("site1", "elevator", "elev-01")
RULES = load_rules(DEFAULT_RULES)
FAULT_CODES = controller_codes(builtin_catalogue())
NEW_RULES = {
    "overtravel_top",
    "overtravel_bottom",
    "door_open_running",
    "moving_doors_open",
    "unintended_movement",
    "overspeed",
    "floor_position_lost",
    "inspection_mode",
    "fire_return",
    "firefighter_service",
    "emergency_power",
    "earthquake_mode",
    "mains_power_lost",
}

# What a car in normal service reads: the base every scripted reading changes.
NORMAL: dict[str, FieldValue] = {
    "car_state": 4,
    "mode": 7,
    "speed": 0.0,
    "speed_percent": 0.0,
    "floor": 5,
    "car_position": 12.0,
    "car_load": 0.0,
    "in_door_zone": True,
    "door_close_limit_front": True,
    "door_close_limit_rear": False,
    "final_limit_top": False,
    "final_limit_bottom": False,
    "seismic_sensor": False,
    "mains_ok": True,
    "fault_code": 0,
}


def new_engine() -> RuleEngine:
    return RuleEngine(RULES, lambda: T0, fault_codes=FAULT_CODES)


def reading(s: float, **fields: FieldValue) -> TelemetryReading:
    return TelemetryReading(CAR, "B1", T0 + timedelta(seconds=s), {**NORMAL, **fields})


def of(rule: str, signals: list[Signal]) -> list[Signal]:
    return [s for s in signals if s.rule == rule]


# --- the table and the catalogue's map ------------------------------------------------


def test_the_code_table_has_the_standard_faults_events_and_alarm() -> None:
    assert [c for c, e in CODES.items() if e.kind == "fault"] == [f"{n:02d}" for n in range(1, 12)]
    assert [c for c, e in CODES.items() if e.kind == "event"] == [str(n) for n in range(40, 48)]
    assert describe("90").kind == "alarm"
    with pytest.raises(KeyError, match="'12' is no GB/T 24476 code"):
        describe("12")


def test_the_elevator_profile_maps_its_stopping_faults() -> None:
    codes = FAULT_CODES["elevator"]
    assert (codes[41], codes[42], codes[48], codes[49], codes[53]) == ("01", "01", "03", "02", "08")
    assert 39 not in codes, "motor overheat is not on the regulators' list"


# --- scripted readings: raise, carry the code, clear ------------------------------------

SCRIPTED = {
    # rule: (fields that raise it, readings it needs, its code, its priority)
    "overtravel_top": ({"final_limit_top": True, "car_load": 15.0}, 1, "09", "P1"),
    "overtravel_bottom": ({"final_limit_bottom": True}, 1, "10", "P2"),
    "door_open_running": (
        {"car_state": 5, "speed": 1.2, "door_close_limit_front": False},
        3,
        None,
        "P1",
    ),
    "moving_doors_open": ({"car_state": 2, "speed": 0.3, "in_door_zone": True}, 1, None, "P1"),
    "unintended_movement": ({"car_state": 2, "in_door_zone": False}, 1, "05", "P1"),
    "overspeed": ({"car_state": 5, "speed": 2.1, "speed_percent": 120.0}, 1, None, "P2"),
    "floor_position_lost": ({"floor": 0}, 1, "07", "P2"),
    "inspection_mode": ({"mode": 0}, 1, "43", None),
    "fire_return": ({"mode": 4}, 1, "44", None),
    "firefighter_service": ({"mode": 6}, 1, "45", None),
    "emergency_power": ({"mode": 11, "mains_ok": False}, 1, "46", None),
    "earthquake_mode": ({"seismic_sensor": True}, 1, "47", None),
    "mains_power_lost": ({"mains_ok": False}, 1, "41", None),
}


# A rule that clears on something other than normal standing: what clears it.
CLEARED_BY: dict[str, dict[str, FieldValue]] = {
    "door_open_running": {"car_state": 5, "speed": 1.0},  # a run with the doors shut
}


@pytest.mark.parametrize("rule", SCRIPTED)
def test_each_new_rule_raises_with_its_code_and_clears(rule: str) -> None:
    fields, needed, code, priority = SCRIPTED[rule]
    engine = new_engine()
    assert engine.observe(reading(0)) == []
    signals = [s for n in range(needed) for s in engine.observe(reading(1 + n, **fields))]
    raised = of(rule, signals)
    assert [(s.kind, s.code, s.priority) for s in raised] == [("raised", code, priority)]
    assert "?" not in raised[0].message, "the message finds every field it names"
    assert raised[0].severity == ("notice" if priority is None else raised[0].severity)
    cleared = of(rule, engine.observe(reading(10, **CLEARED_BY.get(rule, {}))))
    assert [(s.kind, s.code) for s in cleared] == [("cleared", code)]


def test_doors_open_while_running_stays_raised_until_a_run_with_shut_doors() -> None:
    engine = new_engine()
    running_open = {"car_state": 5, "speed": 1.2, "door_close_limit_front": False}
    signals = [s for n in range(3) for s in engine.observe(reading(n, **running_open))]
    signals += engine.observe(reading(5))  # standing at a landing does not prove the doors
    signals += [s for n in range(3) for s in engine.observe(reading(10 + n, **running_open))]
    assert [s.kind for s in of("door_open_running", signals)] == ["raised", "repeated"]


def test_a_door_gap_too_short_to_matter_raises_nothing() -> None:
    engine = new_engine()
    running_open = {"car_state": 5, "speed": 0.4, "door_close_limit_front": False}
    signals = engine.observe(reading(0, **running_open)) + engine.observe(reading(1))
    assert of("door_open_running", signals) == []


def test_re_levelling_with_open_doors_is_no_unintended_movement() -> None:
    engine = new_engine()
    signals = engine.observe(reading(0, car_state=2, speed=0.1, mode=10))
    assert of("moving_doors_open", signals) == []


def test_the_level5_alarm_carries_the_code_of_the_controller_fault() -> None:
    engine = new_engine()
    (raised,) = of("level5_fault", engine.observe(reading(0, fault_code=49, car_state=6)))
    assert raised.code == "02"
    (cleared,) = of("level5_fault", engine.observe(reading(1, fault_code=0)))
    assert cleared.code is None, "the clear reads fault code 0; the alarm keeps its code"
    unmapped = RuleEngine(RULES, lambda: T0)  # no map given: the alarm has no code
    (raised,) = of("level5_fault", unmapped.observe(reading(0, fault_code=41)))
    assert raised.code is None


def test_entrapment_is_fault_11() -> None:
    engine = new_engine()
    trapped = {"car_state": 6, "in_door_zone": False, "car_load": 20.0}
    engine.observe(reading(0, stopped_outside_zone_s=0.0, **trapped))
    signals = engine.observe(reading(31, stopped_outside_zone_s=31.0, **trapped))
    (raised,) = of("entrapment", signals)
    assert raised.code == "11"


RULE_ERRORS = {
    "unknown code": ('gbt24476: "12"', "rules[0] (r): gbt24476", "'12' is no GB/T 24476 code"),
    "unquoted code": ("gbt24476: 9", "rules[0] (r): gbt24476", '(quoted: "09")'),
    "other key": ("gbt24476: {code: 9}", "rules[0] (r): gbt24476", "or {field: fault_code}"),
    "field not in detail": (
        "gbt24476: {field: fault_code}",
        "rules[0] (r)",
        "gbt24476.field: fault_code must be one of the rule's detail fields",
    ),
}


@pytest.mark.parametrize(("line", "where", "what"), RULE_ERRORS.values(), ids=RULE_ERRORS.keys())
def test_a_bad_gbt24476_in_a_rule_file_names_rule_and_field(
    line: str, where: str, what: str
) -> None:
    text = (
        "rules:\n  - name: r\n    device_type: elevator\n    when: {field: floor, eq: 0}\n"
        f"    severity: major\n    priority: P2\n    fault_kind: position\n    {line}\n"
        "    message: lost\n"
    )
    with pytest.raises(ConfigError) as error:
        parse_rules(yaml.safe_load(text), "rules.yaml")
    assert str(error.value).startswith(f"rules.yaml: {where}")
    assert what in str(error.value)


def test_a_detector_takes_only_a_fixed_code() -> None:
    raw = {
        "rules": [
            {
                "name": "lift_offline",
                "device_type": "elevator",
                "detector": "offline",
                "severity": "major",
                "priority": "P3",
                "fault_kind": "offline",
                "gbt24476": {"field": "fault_code"},
                "message": "offline",
            }
        ]
    }
    with pytest.raises(ConfigError, match="a detector reads no fault code"):
        parse_rules(raw, "rules.yaml")


# --- the elevator model: normal traffic raises nothing; each fault raises its rule -------


@pytest.fixture(scope="module")
def profile() -> Profile:
    return builtin_catalogue()["elevator-nice3000"]


class Car:
    """A simulated car read every second, as the gateway would, into the rule engine."""

    def __init__(self, profile: Profile, seed: int = 3) -> None:
        self.model = Elevator("elev-01", profile, random.Random(seed), T0.timestamp())
        self.fields = [f for f in profile.fields if f.table is Table.HOLDING]
        self.derive = ElevatorSignals()
        self.engine = new_engine()
        self.t = T0.timestamp()

    def read(self) -> dict[str, FieldValue]:
        return {
            f.key: decode_field(f, self.model.read(f.table, f.address, f.length))
            for f in self.fields
        }

    def run(self, seconds: int) -> list[Signal]:
        signals: list[Signal] = []
        for _ in range(seconds):
            self.t += 1.0
            self.model.step(self.t)
            values = self.read()
            values |= self.derive.update(self.t, values).fields
            ts = datetime.fromtimestamp(self.t, UTC)
            signals += self.engine.observe(TelemetryReading(CAR, "B1", ts, values))
        return signals

    def run_until(self, what: Mapping[str, FieldValue], limit: int = 900) -> None:
        for _ in range(limit):
            self.run(1)
            values = self.read()
            if all(values.get(k) == v for k, v in what.items()):
                return
        raise AssertionError(f"the car never showed {dict(what)} within {limit} s")


def test_an_hour_of_normal_traffic_raises_none_of_the_new_rules(profile: Profile) -> None:
    car = Car(profile)
    signals = car.run(3600)
    assert {s.rule for s in signals} & NEW_RULES == set()
    assert car.model.run_count > 20, "the car served the morning peak"


SIMULATED = {
    # fault: (params, what the car shows first, the rule it raises, its code)
    "overtravel_top": ({}, {}, "overtravel_top", "09"),
    "overtravel_bottom": ({}, {}, "overtravel_bottom", "10"),
    "door_open_running": ({}, {"car_state": 5}, "door_open_running", None),
    "unintended_movement": ({}, {"car_state": 2}, "unintended_movement", "05"),
    "overspeed": ({"ratio": 1.3}, {}, "overspeed", None),
    "floor_lost": ({}, {}, "floor_position_lost", "07"),
    "inspection": ({}, {}, "inspection_mode", "43"),
    "fire_return": ({}, {}, "fire_return", "44"),
    "firefighter": ({}, {}, "firefighter_service", "45"),
    "emergency_power": ({}, {}, "emergency_power", "46"),
    "earthquake": ({}, {}, "earthquake_mode", "47"),
    "power_loss": ({}, {}, "mains_power_lost", "41"),
}


@pytest.mark.parametrize("fault", SIMULATED)
def test_each_simulator_fault_raises_its_rule_and_clearing_it_clears(
    profile: Profile, fault: str
) -> None:
    params, first, rule, code = SIMULATED[fault]
    car = Car(profile)
    assert {s.rule for s in car.run(30)} & NEW_RULES == set()
    if first:
        car.run_until(first)
    car.model.inject(fault, dict(params))
    during = of(rule, car.run(300))
    raised = [s for s in during if s.kind == "raised"]
    assert len(raised) == 1, f"{fault} raises {rule} once"
    assert raised[0].code == code
    car.model.clear(fault)
    after = of(rule, car.run(300))
    assert [s.kind for s in during + after if s.kind != "repeated"] == ["raised", "cleared"]
    assert {s.rule for s in car.run(300)} & NEW_RULES == set(), "back in normal service"


def test_the_moving_car_with_open_doors_is_seen_while_it_creeps(profile: Profile) -> None:
    car = Car(profile)
    car.run_until({"car_state": 2})
    car.model.inject("unintended_movement", {"speed": 0.1, "distance": 0.6})
    signals = car.run(10)
    assert [s.kind for s in of("moving_doors_open", signals)] == ["raised", "cleared"], (
        "raised while the car creeps, cleared once the brake holds it 0.6 m away"
    )
    assert [s.kind for s in of("unintended_movement", signals)] == ["raised"]


def test_fire_return_takes_the_car_to_floor_1_and_parks_it(profile: Profile) -> None:
    car = Car(profile, seed=5)
    car.model.inject("fire_return")
    car.run(120)
    assert car.read()["floor"] == 1
    runs = car.model.run_count
    car.run(600)
    assert car.model.run_count == runs, "no ordinary calls in fire return"
