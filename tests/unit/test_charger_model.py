"""The charger cabinet model, stepped by hand on simulated time and read through its registers."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from estatewatch.catalogue import Profile, Value, builtin_catalogue, decode_field
from estatewatch.errors import ConfigError
from simulators.charger import ChargerCabinet
from simulators.charger_port import TEMP_LIMIT
from simulators.charger_session import FLOAT_FRACTION, FLOAT_TO_FULL_S, Session

EVENING = 1_767_225_600.0 + 18 * 3600  # 2026-01-01T18:00 on the simulated clock: peak arrivals
DAY = 86400.0


@pytest.fixture
def profile() -> Profile:
    return builtin_catalogue()["charger-8port"]


def registers(cabinet: ChargerCabinet) -> dict[str, Value]:
    """Decode every field from what a Modbus client would read."""
    return {
        f.key: decode_field(f, cabinet.read(f.table, f.address, f.length))
        for f in cabinet.profile.fields
    }


def label(profile: Profile, key: str, value: Value) -> str | None:
    assert isinstance(value, int)
    return profile.field(key).label(value)


def run(cabinet: ChargerCabinet, seconds: float, step: float) -> None:
    end = cabinet.now + seconds
    while cabinet.now < end:
        cabinet.step(min(end, cabinet.now + step))


def busy_cabinet(profile: Profile, seed: int = 1) -> ChargerCabinet:
    """A cabinet at 22:00 after the evening rush, with bikes charging."""
    cabinet = ChargerCabinet("charger-01", profile, random.Random(seed), EVENING)
    cabinet.step(EVENING + 4 * 3600)
    assert any(p.active for p in cabinet.ports)
    return cabinet


# --- sessions --------------------------------------------------------------------------


def test_session_physics_taper_to_float_and_full() -> None:
    s = Session(
        plugged_at=0.0, start=10.0, power=300.0, pack_volts=54.6, cc_s=3600.0,
        taper_tau=1800.0, unplug_at=50_000.0,
    )  # fmt: skip
    assert s.power_at(5.0) == 0.0
    assert s.power_at(s.cc_end) == 300.0
    assert s.power_at(s.float_at) == pytest.approx(FLOAT_FRACTION * 300.0)
    assert s.full_at - s.float_at == pytest.approx(FLOAT_TO_FULL_S)
    # Energy is the integral of power: CC part plus the exponential taper.
    expected = (300.0 * 3600.0 + 300.0 * 1800.0 * (1 - math.exp(-1.0))) / 3.6e6
    assert s.energy_kwh(s.cc_end + 1800.0) == pytest.approx(expected)
    times = [s.start + k * 600.0 for k in range(30)]
    energies = [s.energy_kwh(t) for t in times]
    assert energies == sorted(energies)
    assert s.volts_at(s.start) < s.volts_at(s.cc_end) == 54.6


def test_a_session_starts_with_a_short_precheck(profile: Profile) -> None:
    cabinet = ChargerCabinet("charger-01", profile, random.Random(4), EVENING)
    states = [profile.field(f"port{n}.state") for n in profile.instances("port")]

    def labels() -> list[str | None]:
        return [f.label(int(decode_field(f, cabinet.read(f.table, f.address, 1)))) for f in states]

    while "plugged_not_started" not in labels():
        cabinet.step(cabinet.now + 1.0)
        assert cabinet.now < EVENING + 4 * 3600, "nobody plugged in during the evening rush"
    n = labels().index("plugged_not_started")
    plugged_at = cabinet.now
    while labels()[n] == "plugged_not_started":
        cabinet.step(cabinet.now + 1.0)
    assert labels()[n] == "charging"
    assert cabinet.now - plugged_at <= 16.0


def test_sessions_go_through_taper_and_float_to_full(profile: Profile) -> None:
    cabinet = ChargerCabinet("charger-01", profile, random.Random(4), EVENING)
    history: dict[int, list[dict[str, Value]]] = {n: [] for n in profile.instances("port")}
    for _ in range(int(DAY / 30)):
        cabinet.step(cabinet.now + 30.0)
        regs = registers(cabinet)
        for n in history:
            history[n].append(
                {k.split(".")[1]: v for k, v in regs.items() if k.startswith(f"port{n}.")}
            )
    completed = 0
    for rows in history.values():
        states = [label(profile, "port1.state", r["state"]) for r in rows]
        # Sampled every 30 s, a session shows from its first charging sample (the
        # pre-check takes seconds) to the first sample at full, if it got there.
        starts = [
            i for i, s in enumerate(states) if s == "charging" and i and states[i - 1] == "idle"
        ]
        for start in starts:
            session = rows[start:]
            names = [label(profile, "port1.state", r["state"]) for r in session]
            if "full" not in names or (
                "idle" in names and names.index("idle") < names.index("full")
            ):
                continue
            end = names.index("full")
            charging = session[: end + 1]
            order = [n for i, n in enumerate(names[: end + 1]) if i == 0 or n != names[i - 1]]
            assert order == ["charging", "float_charge", "full"]
            powers = [float(r["power"]) for r in charging if r["state"] in (1, 4)]
            peak = max(powers)
            assert 150.0 * 0.98 <= peak <= 400.0 * 1.02
            assert powers[-1] <= FLOAT_FRACTION * peak * 1.05, "float ends well below the peak"
            energies = [float(r["energy"]) for r in charging]
            assert all(b >= a - 1e-6 for a, b in itertools.pairwise(energies))
            assert energies[-1] > 0.05
            assert label(profile, "port1.stop_reason", charging[-1]["stop_reason"]) == "full"
            assert float(charging[-1]["power"]) == 0.0
            completed += 1
    assert completed >= 3, "a day of an evening-rush cabinet completes several sessions"


def test_registers_decode_to_the_model(profile: Profile) -> None:
    cabinet = busy_cabinet(profile)
    regs = registers(cabinet)
    assert regs["serial_number"] == "CABCHARGER01"
    assert regs["firmware_version"] == 312
    assert 220.0 <= float(regs["mains_voltage"]) <= 235.0
    assert regs["ambient_temperature"] == pytest.approx(cabinet.ambient(cabinet.now), abs=0.3)
    assert not any(regs[k] for k in ("power_loss", "water_ingress", "smoke_alarm", "heat_alarm"))
    total = 0.0
    for port in cabinet.ports:
        key = f"port{port.number}."
        assert label(profile, key + "state", regs[key + "state"]) == port.phase.label
        assert label(profile, key + "stop_reason", regs[key + "stop_reason"]) == port.stop_reason
        model_power = cabinet.power(port.number)
        assert float(regs[key + "power"]) == pytest.approx(model_power, rel=0.02, abs=0.1)
        assert float(regs[key + "energy"]) == pytest.approx(port.energy_at(cabinet.now), rel=1e-6)
        assert float(regs[key + "temperature"]) == pytest.approx(port.temperature, abs=0.051)
        assert regs[key + "session_minutes"] == port.minutes_at(cabinet.now)
        if model_power:
            volts = float(regs[key + "voltage"])
            assert 49.0 <= volts <= 67.2
            assert float(regs[key + "current"]) == pytest.approx(model_power / volts, rel=0.03)
        total += float(regs[key + "power"])
        assert regs[f"relay{port.number}.enabled"] is True
    assert float(regs["total_power"]) == pytest.approx(total, abs=0.5)
    assert total > 0


def test_registers_refresh_only_when_the_model_moves(profile: Profile) -> None:
    cabinet = busy_cabinet(profile)
    field = profile.field("mains_voltage")
    first = cabinet.read(field.table, field.address, 4)
    assert cabinet.read(field.table, field.address, 4) == first, "no new noise without a step"
    cabinet.step(cabinet.now + 60.0)
    assert cabinet.read(field.table, field.address, 4) != first


def test_a_simulated_day_in_one_step_matches_small_steps_and_bounded_work(
    profile: Profile,
) -> None:
    one = ChargerCabinet("charger-01", profile, random.Random(3), EVENING)
    small = ChargerCabinet("charger-01", profile, random.Random(3), EVENING)
    one.step(EVENING + DAY)
    run(small, DAY, 7.3)
    assert one.events_handled == small.events_handled
    assert one.sessions_started == small.sessions_started >= 4
    for a, b in zip(one.ports, small.ports, strict=True):
        assert (a.phase, a.stop_reason, a.minutes_at(one.now)) == (
            b.phase,
            b.stop_reason,
            b.minutes_at(small.now),
        )
        assert a.energy_at(one.now) == pytest.approx(b.energy_at(small.now))
        assert a.temperature == pytest.approx(b.temperature, abs=0.5)
    # Work is per event (a handful per session), never per simulated second.
    assert one.events_handled <= 8 * 6 * 5


def test_a_simulated_year_in_one_step_costs_about_a_day(profile: Profile) -> None:
    cabinet = ChargerCabinet("charger-01", profile, random.Random(5), EVENING)
    cabinet.step(EVENING + 365 * DAY)
    assert cabinet.events_handled <= 8 * 6 * 5 * 2, "skipped sessions are not simulated"
    regs = registers(cabinet)
    for port in cabinet.ports:
        key = f"port{port.number}."
        assert label(profile, key + "state", regs[key + "state"]) is not None
        assert 0 <= float(regs[key + "power"]) <= 400.0 * 1.02
        assert 0 <= float(regs[key + "energy"]) < 5.0
        assert 0 <= int(regs[key + "session_minutes"]) <= 600
    # The cabinet carries on normally after the jump.
    before = cabinet.sessions_started
    cabinet.step(cabinet.now + DAY)
    assert cabinet.sessions_started > before


# --- faults ----------------------------------------------------------------------------


def test_over_temperature_stops_the_port_only_after_30_s_at_80(profile: Profile) -> None:
    cabinet = ChargerCabinet("charger-01", profile, random.Random(2), EVENING)
    cabinet.inject("over_temperature", {"port": 3})
    port = cabinet.port(3)
    assert port.phase.label == "charging", "an overheating port has a bike charging on it"
    hot_from: float | None = None
    while port.phase.label != "fault":
        cabinet.step(cabinet.now + 0.2)
        if hot_from is None and port.temperature >= TEMP_LIMIT:
            hot_from = cabinet.now
        assert cabinet.now < EVENING + 600, "the port never stopped"
    assert hot_from is not None
    assert 30.0 - 0.2 <= cabinet.now - hot_from <= 30.0 + 0.2
    regs = registers(cabinet)
    assert label(profile, "port3.stop_reason", regs["port3.stop_reason"]) == "over_temperature"
    assert label(profile, "port3.state", regs["port3.state"]) == "fault"
    assert regs["port3.power"] == 0.0
    # Cleared, the socket cools below the limit and the port is free again.
    cabinet.clear("over_temperature")
    cabinet.step(cabinet.now + 1800.0)
    assert port.phase.label in ("idle", "plugged_not_started", "charging")
    assert port.temperature < TEMP_LIMIT


def test_a_hot_spell_shorter_than_30_s_does_not_stop_the_port(profile: Profile) -> None:
    cabinet = ChargerCabinet("charger-01", profile, random.Random(2), EVENING)
    cabinet.inject("over_temperature", {"port": 4, "degc": 85.0})
    port = cabinet.port(4)
    while port.temperature < TEMP_LIMIT:
        cabinet.step(cabinet.now + 0.2)
    cabinet.step(cabinet.now + 5.0)
    cabinet.clear("over_temperature")
    cabinet.step(cabinet.now + 600.0)
    assert port.stop_reason != "over_temperature"
    assert port.temperature < TEMP_LIMIT


def test_over_temperature_is_confirmed_inside_one_large_step(profile: Profile) -> None:
    cabinet = ChargerCabinet("charger-01", profile, random.Random(2), EVENING)
    cabinet.inject("over_temperature", {"port": 3})
    cabinet.step(cabinet.now + 3600.0)
    assert cabinet.port(3).stop_reason == "over_temperature"
    assert cabinet.port(3).phase.label == "fault"


def test_over_current_shows_above_2000_w_then_trips_with_overload(profile: Profile) -> None:
    cabinet = ChargerCabinet("charger-01", profile, random.Random(2), EVENING)
    cabinet.inject("over_current", {"port": 5})
    assert float(registers(cabinet)["port5.power"]) > 2000.0
    cabinet.step(cabinet.now + 3.0)
    regs = registers(cabinet)
    assert label(profile, "port5.stop_reason", regs["port5.stop_reason"]) == "overload"
    assert label(profile, "port5.state", regs["port5.state"]) == "fault"
    assert regs["port5.power"] == 0.0
    cabinet.clear("over_current")
    assert cabinet.port(5).phase.label == "idle"


def test_relay_welded_keeps_power_flowing_on_an_idle_port(profile: Profile) -> None:
    cabinet = ChargerCabinet("charger-01", profile, random.Random(2), EVENING)
    idle = next(p for p in cabinet.ports if p.phase.label == "idle")
    key = f"port{idle.number}."
    cabinet.inject("relay_welded", {"port": idle.number, "watts": 150.0})
    regs = registers(cabinet)
    assert label(profile, key + "state", regs[key + "state"]) == "idle"
    assert float(regs[key + "power"]) == pytest.approx(150.0, rel=0.02)
    assert label(profile, key + "fault", regs[key + "fault"]) == "relay_welded"
    cabinet.clear("relay_welded")
    assert registers(cabinet)[key + "power"] == 0.0


def test_power_loss_stops_every_port_until_it_returns(profile: Profile) -> None:
    cabinet = busy_cabinet(profile)
    charging = [p.number for p in cabinet.ports if p.active]
    cabinet.inject("power_loss")
    regs = registers(cabinet)
    assert regs["power_loss"] is True
    assert regs["mains_voltage"] == 0.0
    assert regs["total_power"] == 0.0
    for n in charging:
        assert label(profile, f"port{n}.stop_reason", regs[f"port{n}.stop_reason"]) == "power_loss"
    started = cabinet.sessions_started
    cabinet.step(cabinet.now + DAY)
    assert cabinet.sessions_started == started, "nobody can start charging without mains"
    assert registers(cabinet)["total_power"] == 0.0
    cabinet.clear("power_loss")
    cabinet.step(cabinet.now + DAY)
    assert cabinet.sessions_started > started


@pytest.mark.parametrize(
    ("fault", "params", "flag", "reason"),
    [
        ("smoke", {}, "smoke_alarm", "fire_stop"),
        ("heat", {}, "heat_alarm", "fire_stop"),
        ("water_ingress", {}, "water_ingress", "water_ingress"),
        ("over_voltage", {"volts": 280.0}, None, "over_voltage"),
        ("under_voltage", {}, None, "under_voltage"),
    ],
)
def test_cabinet_alarms_stop_every_charging_port(
    profile: Profile, fault: str, params: dict[str, float], flag: str | None, reason: str
) -> None:
    cabinet = busy_cabinet(profile)
    charging = [p.number for p in cabinet.ports if p.active]
    cabinet.inject(fault, params)
    regs = registers(cabinet)
    if flag is not None:
        assert regs[flag] is True
    for n in charging:
        assert label(profile, f"port{n}.stop_reason", regs[f"port{n}.stop_reason"]) == reason
        assert regs[f"port{n}.power"] == 0.0
    assert cabinet.active_faults == {fault}


def test_heat_alarm_warms_the_cabinet(profile: Profile) -> None:
    cabinet = busy_cabinet(profile)
    before = cabinet.ambient(cabinet.now)
    cabinet.inject("heat")
    cabinet.step(cabinet.now + 600.0)
    assert cabinet.ambient(cabinet.now) > before + 30.0
    cabinet.clear("heat")
    cabinet.step(cabinet.now + 1800.0)
    assert cabinet.ambient(cabinet.now) < before + 5.0


def test_mains_within_limits_stops_nothing(profile: Profile) -> None:
    cabinet = busy_cabinet(profile)
    charging = [p for p in cabinet.ports if p.active]
    cabinet.inject("over_voltage", {"volts": 255.0})
    assert all(p.active for p in charging)
    assert float(registers(cabinet)["mains_voltage"]) == pytest.approx(255.0, abs=3.0)


def test_door_open_only_raises_its_flag(profile: Profile) -> None:
    cabinet = busy_cabinet(profile)
    charging = [p for p in cabinet.ports if p.active]
    cabinet.inject("door_open")
    assert registers(cabinet)["door_open"] is True
    assert all(p.active for p in charging)


def test_comms_loss_and_device_failure_change_how_it_answers(profile: Profile) -> None:
    cabinet = ChargerCabinet("charger-01", profile, random.Random(1), EVENING)
    assert cabinet.responding
    assert cabinet.exception_code is None
    cabinet.inject("comms_loss")
    assert not cabinet.responding
    cabinet.inject("device_failure")
    assert cabinet.exception_code == 4
    cabinet.clear("comms_loss")
    cabinet.clear("device_failure")
    assert cabinet.responding
    assert cabinet.exception_code is None
    assert cabinet.active_faults == frozenset()


def test_unknown_fault_names_the_device_and_the_known_faults(profile: Profile) -> None:
    cabinet = ChargerCabinet("charger-07", profile, random.Random(1), EVENING)
    with pytest.raises(
        ConfigError, match=r"charger-07: unknown fault 'meltdown'.*over_temperature"
    ):
        cabinet.inject("meltdown")
    with pytest.raises(ConfigError, match="charger-07: unknown fault"):
        cabinet.clear("meltdown")
    with pytest.raises(
        ConfigError, match=r"charger-07: fault over_current: port must be one of 1-8"
    ):
        cabinet.inject("over_current", {"port": 9})
    assert cabinet.active_faults == frozenset()


def test_every_fault_is_described(profile: Profile) -> None:
    cabinet = ChargerCabinet("charger-01", profile, random.Random(1), EVENING)
    expected = {
        "over_temperature", "over_current", "relay_welded", "power_loss", "water_ingress",
        "smoke", "heat", "door_open", "comms_loss", "device_failure",
    }  # fmt: skip
    assert expected <= set(cabinet.faults)
    for fault in cabinet.faults:
        cabinet.inject(fault)
        cabinet.step(cabinet.now + 60.0)
        registers(cabinet)
        cabinet.clear(fault)
    assert cabinet.active_faults == frozenset()
