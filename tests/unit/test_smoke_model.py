"""The smoke alarm model, stepped by hand on simulated time, and the messages it produces."""

from __future__ import annotations

import itertools
import random

import pytest

from estatewatch.catalogue import Profile, Value, builtin_catalogue
from estatewatch.catalogue.payload import PayloadSchema
from estatewatch.errors import ConfigError
from simulators.smoke import ALARM_REPEAT_S, ALARM_RESET, ALARM_THRESHOLD, SmokeAlarm

START = 1_767_225_600.0  # 2026-01-01T00:00Z
DAY = 86400.0
Message = dict[str, Value]


@pytest.fixture
def profile() -> Profile:
    return builtin_catalogue()["smoke-alarm"]


def alarm(profile: Profile, seed: int = 1, **kwargs: float) -> SmokeAlarm:
    return SmokeAlarm("smoke-001", profile, random.Random(seed), START, **kwargs)


def run(device: SmokeAlarm, seconds: float, step: float) -> list[Message]:
    end = device.now + seconds
    while device.now < end:
        device.step(min(end, device.now + step))
    return device.drain()


def types(messages: list[Message]) -> list[Value]:
    return [m["message_type"] for m in messages]


def test_heartbeats_on_power_up_then_hourly_with_a_per_device_phase(profile: Profile) -> None:
    one, other = alarm(profile, seed=1), alarm(profile, seed=2)
    day = one.drain() + run(one, DAY, 60.0)
    assert types(day) == ["heartbeat"] * 25, "one on power-up, then one an hour"
    assert day[0]["timestamp"] == int(START)
    periodic = [int(m["timestamp"]) for m in day[1:]]
    assert all(abs(b - a - 3600) <= 1 for a, b in itertools.pairwise(periodic))
    assert [m["vendor_sequence"] for m in day] == list(range(25))
    other.drain()
    first_other = run(other, 3600.0, 60.0)[0]
    assert first_other["timestamp"] != day[1]["timestamp"], "alarms do not report in lockstep"


def test_a_day_in_one_step_gives_the_same_messages_as_small_steps(profile: Profile) -> None:
    one, small = alarm(profile, seed=3), alarm(profile, seed=3)
    for device in (one, small):
        device.step(START + 600.0)
        device.inject("fire")
        device.step(START + 1200.0)
        device.clear("fire")
    one.step(START + DAY)
    assert one.drain() == run(small, DAY - 1200.0, 0.2)
    assert one.events_handled == small.events_handled


def test_fire_raises_alarms_that_repeat_until_the_smoke_clears(profile: Profile) -> None:
    device = alarm(profile)
    device.step(START + 100.0)
    device.drain()
    device.inject("fire")
    during = run(device, 180.0, 0.5)
    alarms = [m for m in during if m["message_type"] == "alarm"]
    assert len(alarms) >= 5
    assert float(alarms[0]["smoke_obscuration"]) >= ALARM_THRESHOLD
    assert int(alarms[0]["timestamp"]) - int(START + 100.0) <= 30, "smoke builds in seconds"
    gaps = [int(b["timestamp"]) - int(a["timestamp"]) for a, b in itertools.pairwise(alarms)]
    assert all(abs(g - ALARM_REPEAT_S) <= 1 for g in gaps)
    temperatures = [float(m["temperature"]) for m in alarms]
    assert temperatures[-1] > temperatures[0] + 10.0, "the ceiling warms in a fire"
    device.clear("fire")
    after = run(device, 900.0, 0.5)
    assert "heartbeat" in types(after), "a normal report once the smoke has cleared"
    normal = after[types(after).index("heartbeat")]
    assert float(normal["smoke_obscuration"]) < ALARM_RESET + 0.2, "below reset, give or take noise"
    assert "alarm" not in types(after)[types(after).index("heartbeat") :]


def test_a_long_fire_stays_within_the_sensor_range(profile: Profile) -> None:
    device = alarm(profile)
    device.inject("fire", {"obscuration": 40.0})
    messages = run(device, 3600.0, 10.0)
    assert max(float(m["temperature"]) for m in messages) == 70.0
    assert max(float(m["smoke_obscuration"]) for m in messages) <= 40.5


def test_silence_pauses_alarms_for_the_hush_time(profile: Profile) -> None:
    device = alarm(profile)
    device.inject("fire")
    run(device, 60.0, 0.5)
    device.inject("silence", {"seconds": 300.0})
    hushed_at = device.now
    messages = run(device, 600.0, 0.5)
    assert messages[0]["message_type"] == "alarm_silenced"
    alarms = [int(m["timestamp"]) for m in messages if m["message_type"] == "alarm"]
    assert alarms, "the smoke is still there after the hush, so the alarm sounds again"
    assert alarms[0] >= int(hushed_at + 300.0)
    assert "silence" not in device.active_faults, "a hush ends by itself"


def test_low_battery_reports_now_and_daily(profile: Profile) -> None:
    device = alarm(profile)
    device.drain()
    device.inject("low_battery")
    messages = device.drain() + run(device, 3 * DAY, 600.0)
    low = [m for m in messages if m["message_type"] == "low_battery"]
    assert [int(m["timestamp"]) - int(START) for m in low] == [0, 86400, 172800, 259200]
    assert next(m["battery"] for m in low) == 15
    assert all(14 <= int(m["battery"]) <= 15 for m in low), "it drains on, slowly"
    device.clear("low_battery")
    fresh = device.drain()
    assert types(fresh) == ["heartbeat"]
    assert fresh[0]["battery"] == 100
    assert "low_battery" not in types(run(device, 2 * DAY, 3600.0))


def test_the_battery_drains_over_years_until_it_reports_low(profile: Profile) -> None:
    device = alarm(profile, heartbeat_s=30 * DAY)
    messages = run(device, 12 * 365 * DAY, 365 * DAY)
    batteries = [int(m["battery"]) for m in messages if m["message_type"] == "heartbeat"]
    assert batteries == sorted(batteries, reverse=True)
    first_low = types(messages).index("low_battery")
    assert messages[first_low]["battery"] == 19
    assert int(messages[first_low - 1]["battery"]) >= 19
    # Twelve years outlast any battery: a flat alarm sends nothing at all.
    assert device.battery(device.now) == 0.0
    assert run(device, 60 * DAY, DAY) == []


def test_tamper_self_test_and_fault_reports(profile: Profile) -> None:
    device = alarm(profile)
    device.drain()
    device.inject("removed")
    device.inject("self_test")
    assert device.active_faults == {"removed"}, "a self-test is one-off"
    device.clear("removed")
    device.inject("fault")
    assert types(device.drain()) == ["removed", "self_test", "reinstalled", "fault"]
    daily = run(device, 2 * DAY, 3600.0)
    assert types(daily).count("fault") == 2
    device.clear("fault")
    assert types(device.drain()) == ["heartbeat"]


def test_offline_sends_nothing_until_cleared(profile: Profile) -> None:
    device = alarm(profile)
    device.drain()
    device.inject("offline")
    device.inject("fire")
    assert run(device, DAY, 30.0) == []
    device.clear("fire")
    device.clear("offline")
    back = device.drain()
    assert types(back) == ["heartbeat"]
    assert int(back[0]["timestamp"]) == int(device.now)


def test_every_message_is_a_valid_vendor_payload(profile: Profile) -> None:
    schema = PayloadSchema(profile)
    device = alarm(profile)
    for fault in ("removed", "self_test", "fault", "low_battery", "fire"):
        device.inject(fault)
        device.step(device.now + 120.0)
    device.inject("silence")
    device.step(device.now + 60.0)
    for fault in ("fire", "fault", "low_battery", "removed"):
        device.clear(fault)
    messages = run(device, DAY, 30.0)
    seen = set()
    for message in messages:
        assert schema.parse(schema.build(message)) == message
        seen.add(message["message_type"])
    choices = next(p.choices for p in profile.payload if p.name == "message_type")
    assert seen == set(choices or ())


def test_unknown_fault_names_the_device_and_the_known_faults(profile: Profile) -> None:
    device = alarm(profile)
    with pytest.raises(ConfigError, match=r"smoke-001: unknown fault 'flood'.*fire.*offline"):
        device.inject("flood")
    with pytest.raises(ConfigError, match="smoke-001: unknown fault"):
        device.clear("flood")
