"""The rule engine on scripted telemetry with a fake clock: raise, de-duplicate, clear,
hysteresis, durations, repeat counts, notices and a restart."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest

from estatewatch.wire import FieldValue, GatewayStatus, Reading, TelemetryMessage
from maintenance.config_files import DEFAULT_RULES, load_rules
from maintenance.domain.observations import (
    DeviceEvent,
    GatewayState,
    TelemetryReading,
    from_status,
    from_telemetry,
)
from maintenance.domain.rules import RuleEngine
from maintenance.domain.rules.spec import RuleSpec
from maintenance.domain.signals import DeviceRef, Signal

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
CAR = DeviceRef("site1", "elevator", "elev-01")
CHARGER = DeviceRef("site1", "charger", "charger-01")
RULES = load_rules(DEFAULT_RULES)


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def reading(
    device: DeviceRef,
    s: float,
    given: Mapping[str, FieldValue] | None = None,
    /,
    building: str | None = "b1",
    **fields: FieldValue,
) -> TelemetryReading:
    return TelemetryReading(device, building, at(s), {**(given or {}), **fields})


def feed(engine: RuleEngine, *observations: TelemetryReading | DeviceEvent) -> list[Signal]:
    return [signal for obs in observations for signal in engine.observe(obs)]


def kinds(signals: list[Signal]) -> list[tuple[str, str]]:
    return [(s.kind, s.rule) for s in signals]


def only(rule: str, signals: list[Signal]) -> list[tuple[str, str]]:
    return [k for k in kinds(signals) if k[1] == rule]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def engine(clock: FakeClock) -> RuleEngine:
    return RuleEngine(RULES, clock)


def port3(engine: RuleEngine, s: float, celsius: float) -> list[Signal]:
    return engine.observe(reading(CHARGER, s, {"port3.temperature": celsius}))


def test_overheat_raises_after_30s_once_and_clears_only_below_the_band(engine: RuleEngine) -> None:
    assert port3(engine, 0, 81.0) == []
    assert port3(engine, 20, 83.0) == []  # hot, but not yet for 30 s
    (raised,) = port3(engine, 30, 84.0)
    assert (raised.kind, raised.rule, raised.priority) == ("raised", "charger_overheat/port3", "P2")
    assert raised.detail == {"temperature": 84.0, "port": 3, "instance": "port3"}
    assert raised.message == "charger port 3 at 84.0 degC for 30 s"
    assert raised.building == "b1"
    assert raised.at == at(30)
    assert port3(engine, 31, 90.0) == []  # still hot: de-duplicated
    assert port3(engine, 40, 77.0) == []  # below 80 but inside the 5 degC band
    (cleared,) = port3(engine, 50, 74.9)
    assert (cleared.kind, cleared.rule, cleared.priority) == (
        "cleared",
        "charger_overheat/port3",
        "P2",
    )
    assert port3(engine, 51, 70.0) == []


def test_a_dip_restarts_the_duration_and_ports_are_separate_alarms(engine: RuleEngine) -> None:
    port3(engine, 0, 85.0)
    port3(engine, 25, 79.0)  # dipped: the 30 s start again
    port3(engine, 26, 85.0)
    assert port3(engine, 40, 85.0) == []
    assert kinds(port3(engine, 56, 85.0)) == [("raised", "charger_overheat/port3")]
    other = engine.observe(reading(CHARGER, 57, {"port5.temperature": 81.0}))
    assert other == []  # port 5 has its own clock
    assert kinds(engine.observe(reading(CHARGER, 87, {"port5.temperature": 81.0}))) == [
        ("raised", "charger_overheat/port5")
    ]


def test_hot_again_while_still_raised_repeats(engine: RuleEngine) -> None:
    port3(engine, 0, 85.0)
    port3(engine, 30, 85.0)
    port3(engine, 40, 78.0)  # not hot, not cool enough to clear
    port3(engine, 50, 82.0)
    assert kinds(port3(engine, 80, 82.0)) == [("repeated", "charger_overheat/port3")]


def test_a_duration_completes_on_tick_without_new_readings(engine: RuleEngine) -> None:
    port3(engine, 0, 85.0)  # a gateway on on_change reporting sends nothing while it stays
    assert engine.tick(at(29)) == []
    assert kinds(engine.tick(at(30))) == [("raised", "charger_overheat/port3")]
    assert engine.tick(at(60)) == []


def test_entrapment_from_partial_on_change_readings(engine: RuleEngine) -> None:
    full = {"car_load": 22.5, "alarm_button": False, "floor": 4, "stopped_outside_zone_s": 0.0}
    assert feed(engine, reading(CAR, 0, full)) == []
    # Afterwards the gateway reports only what changed.
    assert (
        feed(engine, *(reading(CAR, s, stopped_outside_zone_s=float(s)) for s in range(1, 30)))
        == []
    )
    (raised,) = engine.observe(reading(CAR, 30, stopped_outside_zone_s=30.0))
    assert (raised.rule, raised.priority, raised.severity, raised.fault_kind) == (
        "entrapment",
        "P1",
        "critical",
        "entrapment",
    )
    assert raised.detail["floor"] == 4
    assert raised.detail["car_load"] == 22.5
    assert engine.observe(reading(CAR, 31, stopped_outside_zone_s=31.0, alarm_button=True)) == []
    assert kinds(engine.observe(reading(CAR, 90, stopped_outside_zone_s=0.0))) == [
        ("cleared", "entrapment")
    ]


def test_an_empty_car_stopped_outside_a_zone_is_no_entrapment(engine: RuleEngine) -> None:
    assert (
        feed(engine, reading(CAR, 0, car_load=0.0, alarm_button=False, stopped_outside_zone_s=45.0))
        == []
    )


@pytest.mark.parametrize(("load", "priority"), [(35.0, "P1"), (0.0, "P2")])
def test_level5_fault_priority_depends_on_occupancy(
    engine: RuleEngine, load: float, priority: str
) -> None:
    (raised,) = engine.observe(reading(CAR, 0, fault_code=49, car_load=load, floor=7))
    assert (raised.rule, raised.priority) == ("level5_fault", priority)
    assert raised.message == f"car stopped by fault E49 at floor 7 (load {load} %)"
    # A minor fault code does not stop the car: the alarm clears.
    assert kinds(engine.observe(reading(CAR, 5, fault_code=22))) == [("cleared", "level5_fault")]


def test_levelling_drift_counts_stops_not_re_reads_and_clears_after_a_quiet_window(
    engine: RuleEngine,
) -> None:
    signals = feed(
        engine,
        reading(CAR, 0, levelling_error=2, floor=1),
        reading(CAR, 60, levelling_error=12),
        reading(CAR, 61, levelling_error=12),  # the same stop read again
        reading(CAR, 62, levelling_error=12),
        reading(CAR, 120, levelling_error=-14),
        reading(CAR, 180, levelling_error=3),  # a good stop
        reading(CAR, 240, levelling_error=15),
        reading(CAR, 300, levelling_error=11),
    )
    assert signals == []  # four bad stops so far
    (raised,) = engine.observe(reading(CAR, 360, levelling_error=13))
    assert (raised.rule, raised.detail["count"], raised.detail["levelling_error"]) == (
        "levelling_drift",
        5,
        13,
    )
    assert only("levelling_drift", engine.tick(at(360 + 6 * 3600 - 1))) == []
    assert only("levelling_drift", engine.tick(at(360 + 6 * 3600))) == [
        ("cleared", "levelling_drift")
    ]


def test_ebike_is_a_notice_counted_per_building(engine: RuleEngine) -> None:
    car2 = DeviceRef("site1", "elevator", "elev-02")
    signals = feed(
        engine,
        reading(CAR, 0, ebike_detected=True, floor=1),
        reading(CAR, 1, ebike_detected=True),  # the same bike
        reading(CAR, 30, ebike_detected=False),
        reading(CAR, 600, ebike_detected=True),
        reading(car2, 700, building="b2", ebike_detected=True),
    )
    raised = [s for s in signals if s.kind != "cleared"]
    assert len(raised) == 3
    assert all(s.priority is None and s.severity == "notice" for s in signals)
    assert engine.notice_counts() == {"ebike_in_elevator": {"b1": 2, "b2": 1}}


def test_smoke_messages_raise_and_clear(engine: RuleEngine) -> None:
    alarm = DeviceRef("site1", "smoke_alarm", "smoke-001")
    signals = feed(
        engine,
        reading(alarm, 0, message_type="heartbeat", battery=80, temperature=21.0),
        reading(alarm, 10, message_type="alarm", smoke_obscuration=6.5, temperature=24.0),
        reading(alarm, 40, message_type="alarm", smoke_obscuration=9.0),
        reading(alarm, 900, message_type="heartbeat", smoke_obscuration=0.1),
        reading(alarm, 1000, message_type="low_battery", battery=14),
    )
    assert [(s.kind, s.rule, s.priority) for s in signals] == [
        ("raised", "smoke_fire", "P1"),
        ("cleared", "smoke_fire", "P1"),
        ("raised", "smoke_battery_low", "P4"),
    ]
    assert signals[0].message == "smoke alarm: obscuration 6.5 %/m, 24.0 degC"


def test_restart_keeps_raised_alarms_silent_and_durations_under_way(clock: FakeClock) -> None:
    engine = RuleEngine(RULES, clock)
    full = {"car_load": 10.0, "alarm_button": True, "floor": 2, "stopped_outside_zone_s": 40.0}
    assert kinds(feed(engine, reading(CAR, 0, full))) == [("raised", "entrapment")]
    port3(engine, 0, 85.0)  # 10 s into its 30 s at the snapshot
    engine.observe(reading(CAR, 1, ebike_detected=True))
    clock.now = at(10)
    saved = json.loads(json.dumps(engine.snapshot()))

    restored = RuleEngine.restore(RULES, clock, saved)
    assert restored.observe(reading(CAR, 20, stopped_outside_zone_s=60.0)) == []  # no re-raise
    assert restored.observe(reading(CAR, 21, ebike_detected=True)) == []
    assert kinds(port3(restored, 30, 85.0)) == [("raised", "charger_overheat/port3")]
    assert kinds(restored.observe(reading(CAR, 40, stopped_outside_zone_s=0.0))) == [
        ("cleared", "entrapment")
    ]
    assert restored.notice_counts() == {"ebike_in_elevator": {"b1": 1}}


def test_restore_drops_state_of_rules_no_longer_configured(clock: FakeClock) -> None:
    engine = RuleEngine(RULES, clock)
    port3(engine, 0, 85.0)
    port3(engine, 30, 85.0)
    fewer: list[RuleSpec] = [r for r in RULES if r.name != "charger_overheat"]
    restored = RuleEngine.restore(fewer, clock, engine.snapshot())
    assert restored.active() == []
    assert port3(restored, 40, 60.0) == []


def test_device_offline_after_three_learned_intervals_or_the_minimum(engine: RuleEngine) -> None:
    feed(engine, *(reading(CAR, s, speed=0.0) for s in range(0, 10)))  # a 1 s poll
    assert engine.tick(at(9 + 90)) == []  # 3 x 1 s is below the 90 s floor
    (raised,) = engine.tick(at(9 + 91))
    assert (raised.rule, raised.fault_kind, raised.detail["silent_s"]) == (
        "elevator_offline",
        "offline",
        91,
    )
    assert engine.tick(at(200)) == []
    assert kinds(engine.observe(reading(CAR, 201, speed=0.0))) == [("cleared", "elevator_offline")]


def test_smoke_alarm_offline_after_three_missed_heartbeats(engine: RuleEngine) -> None:
    alarm = DeviceRef("site1", "smoke_alarm", "smoke-001")
    engine.observe(reading(alarm, 0, message_type="heartbeat", battery=90))
    assert engine.tick(at(3 * 3600)) == []
    assert kinds(engine.tick(at(3 * 3600 + 1))) == [("raised", "smoke_offline")]


def test_a_gateway_event_takes_a_device_offline_at_once(engine: RuleEngine) -> None:
    engine.observe(reading(CAR, 0, speed=0.0))
    offline = DeviceEvent(CAR, "b1", at(1), "device_offline", {"reason": "no answer from unit 1"})
    (raised,) = engine.observe(offline)
    assert raised.message == "elevator offline: no answer from unit 1"
    online = DeviceEvent(CAR, "b1", at(5), "device_online", {})
    assert kinds(engine.observe(online)) == [("cleared", "elevator_offline")]


def test_a_restart_does_not_declare_every_device_offline(clock: FakeClock) -> None:
    engine = RuleEngine(RULES, clock)
    feed(engine, *(reading(CAR, s, speed=0.0) for s in range(0, 10)))
    clock.now = at(3600)  # the service was down for an hour
    restored = RuleEngine.restore(RULES, clock, engine.snapshot())
    assert restored.tick(at(3600 + 60)) == []  # its backlog is still arriving
    assert kinds(restored.tick(at(3600 + 91))) == [("raised", "elevator_offline")]


def test_a_restore_keeps_only_the_sites_the_engine_now_judges(clock: FakeClock) -> None:
    """A site moved to another worker: its cars' and gateways' restored state is dropped
    here, so nothing goes offline on a worker its messages no longer reach, and the sites
    kept carry on as before."""
    moved = DeviceRef("site2", "elevator", "elev-09")
    engine = RuleEngine(RULES, clock, gateway_grace=30)
    feed(engine, *(reading(car, s, speed=0.0) for s in range(0, 10) for car in (CAR, moved)))
    engine.observe(GatewayState("site2", "gw-2", online=False, ts=at(9)))  # pending offline
    engine.observe(GatewayState("site1", "gw-1", online=False, ts=at(9)))
    saved = json.loads(json.dumps(engine.snapshot()))

    kept = RuleEngine.restore(RULES, clock, saved, gateway_grace=30, sites=["site1"])
    clock.now = at(3600)
    raised = sorted((s.rule, s.device.site) for s in kept.tick())
    assert raised == [("elevator_offline", "site1"), ("gateway_offline", "site1")]
    snapshot = kept.snapshot()
    assert all(key.startswith("site1/") for key in snapshot["devices"])
    assert "site2" not in json.dumps(snapshot["detectors"])
    # The other worker, restored from the same file with every site, would judge both.
    clock.now = at(9)
    both = RuleEngine.restore(RULES, clock, saved, gateway_grace=30)
    clock.now = at(3600)
    raised = {(s.rule, s.device.site) for s in both.tick()}
    assert raised == {
        ("elevator_offline", "site1"),
        ("elevator_offline", "site2"),
        ("gateway_offline", "site1"),
        ("gateway_offline", "site2"),
    }


def test_gateway_offline_and_back(engine: RuleEngine, clock: FakeClock) -> None:
    down = GatewayState("site1", "gw-1", online=False, ts=at(0))
    assert engine.observe(down) == []  # within the grace (120 s by default)
    clock.now = at(119)
    assert engine.tick() == []
    clock.now = at(120)
    (raised,) = engine.tick()
    assert (raised.device, raised.priority) == (DeviceRef("site1", "gateway", "gw-1"), "P2")
    assert raised.at == at(0)  # offline since its status arrived
    assert engine.observe(down) == []
    assert engine.tick(at(600)) == []
    clock.now = at(660)
    assert kinds(engine.observe(GatewayState("site1", "gw-1", True, at(60)))) == [
        ("cleared", "gateway_offline")
    ]


def test_a_gateway_back_within_the_grace_raises_nothing(clock: FakeClock) -> None:
    """A broker restart hands the workers every gateway's last will; the gateways are back
    seconds later."""
    engine = RuleEngine(RULES, clock, gateway_grace=30)
    # A last will carries the time its connection began, hours ago: not the outage's start.
    will = GatewayState("site1", "gw-1", online=False, ts=at(-7200))
    assert engine.observe(will) == []
    clock.now = at(10)
    assert engine.tick() == []
    assert engine.observe(GatewayState("site1", "gw-1", True, at(10))) == []
    clock.now = at(3600)
    assert engine.tick() == []
    # A second outage is timed from its own status, not the first one's.
    assert engine.observe(will) == []
    clock.now = at(3629)
    assert engine.tick() == []
    clock.now = at(3630)
    assert kinds(engine.tick()) == [("raised", "gateway_offline")]


def test_a_zero_grace_raises_at_once(clock: FakeClock) -> None:
    engine = RuleEngine(RULES, clock, gateway_grace=0)
    assert kinds(engine.observe(GatewayState("site1", "gw-1", False, at(0)))) == [
        ("raised", "gateway_offline")
    ]


def test_a_restart_keeps_a_gateway_s_pending_offline(clock: FakeClock) -> None:
    engine = RuleEngine(RULES, clock, gateway_grace=60)
    engine.observe(GatewayState("site1", "gw-1", online=False, ts=at(0)))
    saved = json.loads(json.dumps(engine.snapshot()))
    clock.now = at(30)
    restored = RuleEngine.restore(RULES, clock, saved, gateway_grace=60)
    assert restored.tick() == []
    assert kinds(restored.tick(at(60))) == [("raised", "gateway_offline")]
    # A snapshot from before the grace kept only the raised gateways, as a list.
    saved["detectors"]["gateway_offline"] = ["site1/gateway/gw-1"]
    older = RuleEngine.restore(RULES, clock, saved, gateway_grace=60)
    assert older.tick(at(600)) == []
    assert kinds(older.observe(GatewayState("site1", "gw-1", True, at(30)))) == [
        ("cleared", "gateway_offline")
    ]


def test_observations_from_wire_messages() -> None:
    fields: dict[str, FieldValue] = {"port3.temperature": 81.5}
    msg = TelemetryMessage(
        gateway_id="gw-1",
        seq=7,
        site="site1",
        device_type="charger",
        device_id="charger-01",
        profile="charger-8port",
        tags={"building": "b3"},
        readings=[Reading(ts=at(0), fields=fields), Reading(ts=at(1), fields=fields)],
    )
    first, second = from_telemetry(msg)
    assert first == TelemetryReading(CHARGER, "b3", at(0), fields)
    assert second.ts == at(1)
    status = GatewayStatus(gateway_id="gw-1", site="site1", state="offline", ts=at(2))
    assert from_status(status) == GatewayState("site1", "gw-1", False, at(2))
