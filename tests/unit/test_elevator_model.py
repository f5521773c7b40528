"""The elevator model, stepped by hand on simulated time and read through its registers."""

from __future__ import annotations

import random

import pytest

from estatewatch.catalogue import Profile, Table, Value, builtin_catalogue, decode_field
from estatewatch.errors import ConfigError
from simulators.elevator import Elevator

MORNING_PEAK = 1_767_254_400.0  # 2026-01-01T08:00Z: 45 calls an hour


@pytest.fixture
def profile() -> Profile:
    return builtin_catalogue()["elevator-nice3000"]


def registers(car: Elevator, profile: Profile) -> dict[str, Value]:
    """Decode every field from what a Modbus client would read."""
    return {
        f.key: decode_field(f, car.read(f.table, f.address, f.length))
        for f in profile.fields
        if f.table is Table.HOLDING
    }


def run(car: Elevator, seconds: float, step: float = 0.2) -> list[dict[str, Value]]:
    seen = []
    t = car.now
    for _ in range(int(seconds / step)):
        t += step
        car.step(t)
        seen.append(registers(car, car.profile))
    return seen


def test_car_travels_between_floors_within_its_limits(profile: Profile) -> None:
    car = Elevator("elev-01", profile, random.Random(7), MORNING_PEAK, floors=18, rated_speed=1.75)
    start = registers(car, profile)
    seen = run(car, 900)
    floors = {r["floor"] for r in seen}
    assert len(floors) >= 3, "a car at the morning peak serves several floors in 15 minutes"
    assert all(0 <= float(r["speed"]) <= 1.75 for r in seen)
    assert all(1 <= int(r["floor"]) <= 18 for r in seen)
    assert int(seen[-1]["run_count"]) > int(start["run_count"])
    states = {r["car_state"] for r in seen}
    assert {1, 2, 3, 4, 5} <= states, "opening, open, closing, closed and running all occur"
    # Running and door states are consistent with the door limit switches.
    for r in seen:
        if r["car_state"] == 5:
            assert r["door_close_limit_front"]
            assert float(r["speed"]) >= 0
            assert r["direction"] in (1, 2)
        if r["car_state"] == 2:
            assert r["door_open_limit_front"]
            assert r["speed"] == 0


def test_door_wear_slows_closing_over_a_simulated_month(profile: Profile) -> None:
    worn = Elevator("elev-01", profile, random.Random(3), MORNING_PEAK, age_years=18)
    healthy = Elevator("elev-02", profile, random.Random(3), MORNING_PEAK, age_years=18)
    before = float(registers(worn, profile)["door_close_duration"])
    worn.inject("door_wear", {"close_s_per_day": 0.1})
    for day in range(1, 31):
        worn.step(MORNING_PEAK + day * 86400)
        healthy.step(MORNING_PEAK + day * 86400)
    after = float(registers(worn, profile)["door_close_duration"])
    assert after - before == pytest.approx(3.0, abs=0.5)
    assert float(registers(healthy, profile)["door_close_duration"]) == pytest.approx(
        before, abs=0.5
    )
    # A month of trips was counted even though it was taken in 30 steps.
    assert int(registers(worn, profile)["run_count"]) - 18 * 365 * 180 > 500
    worn.clear("door_wear")
    run(worn, 600)
    assert float(registers(worn, profile)["door_close_duration"]) == pytest.approx(before, abs=0.5)


def test_entrapment_shows_a_stopped_car_outside_the_door_zone(profile: Profile) -> None:
    car = Elevator("elev-01", profile, random.Random(1), MORNING_PEAK)
    run(car, 60)
    car.inject("entrapment", {"load_pct": 22.5})
    regs = run(car, 40)[-1]
    assert regs["car_state"] == 6
    assert regs["speed"] == 0
    assert regs["in_door_zone"] is False
    assert regs["door_close_limit_front"] is True
    assert regs["alarm_button"] is True
    assert regs["car_load"] == 22.5
    car.clear("entrapment")
    after = run(car, 10)
    assert after[-1]["alarm_button"] is False
    assert any(r["in_door_zone"] and r["car_state"] in (1, 2) for r in after)


def test_stopping_faults_set_codes_and_mode(profile: Profile) -> None:
    car = Elevator("elev-01", profile, random.Random(1), MORNING_PEAK)
    car.inject("safety_circuit")
    regs = run(car, 5)[-1]
    assert (regs["fault_code"], regs["mode"], regs["car_state"]) == (41, 5, 6)
    car.clear("safety_circuit")
    assert run(car, 5)[-1]["fault_code"] == 0
    car.inject("door_failure", {"code": 48})
    regs = run(car, 5)[-1]
    assert regs["fault_code"] == 48
    assert regs["door_failures"] == 1


def test_motor_overheat_raises_e39_only_once_hot(profile: Profile) -> None:
    car = Elevator("elev-01", profile, random.Random(1), MORNING_PEAK)
    car.inject("motor_overheat")
    assert run(car, 10)[-1]["fault_code"] == 0, "the heatsink takes time to warm"
    car.step(car.now + 4 * 3600)
    regs = registers(car, profile)
    assert int(regs["heatsink_temperature"]) > 90
    assert regs["fault_code"] == 39
    car.clear("motor_overheat")
    car.step(car.now + 4 * 3600)
    assert registers(car, profile)["fault_code"] == 0


def test_ebike_holds_the_doors_open(profile: Profile) -> None:
    car = Elevator("elev-01", profile, random.Random(5), MORNING_PEAK)
    car.inject("ebike")
    seen = run(car, 600)
    assert all(r["ebike_detected"] for r in seen)
    # Once the doors opened with the bike inside, the car never left that landing.
    first_open = next(i for i, r in enumerate(seen) if r["car_state"] == 2)
    assert {r["car_state"] for r in seen[first_open:]} == {2}


def test_comms_and_exception_faults_and_unknown_faults(profile: Profile) -> None:
    car = Elevator("elev-01", profile, random.Random(1), MORNING_PEAK)
    car.inject("comms_loss")
    assert not car.responding
    car.clear("comms_loss")
    car.inject("device_failure")
    assert car.responding
    assert car.exception_code == 4
    with pytest.raises(ConfigError, match=r"elev-01: unknown fault 'flood' \(known: .*entrapment"):
        car.inject("flood")
