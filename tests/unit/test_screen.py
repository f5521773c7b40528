"""The central checks (estatewatch.screen): only what the catalogue says a device sends
gets through; what is refused comes back with a reason code (no servers)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from estatewatch.catalogue import builtin_catalogue
from estatewatch.inbound import Parsed, Rejected
from estatewatch.screen import EVENT_DETAIL, Screen, ScreenLimits, ScreenSettings
from estatewatch.wire import (
    EventMessage,
    Reading,
    TelemetryMessage,
    event_topic,
    status_topic,
    telemetry_topic,
)
from gateway.derive import DERIVED_UNITS, ElevatorSignals

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
TOPIC = telemetry_topic("demo", "elevator", "elev-01")
CHARGER_TOPIC = telemetry_topic("demo", "charger", "charger-01")
SMOKE_TOPIC = telemetry_topic("demo", "smoke_alarm", "smoke-001")
EVENT_TOPIC = event_topic("demo", "elevator", "elev-01")
STATUS_TOPIC = status_topic("demo", "gw-1")


@pytest.fixture(scope="module")
def screen() -> Screen:
    return Screen(builtin_catalogue(), ScreenLimits(), lambda: NOW)


def _telemetry(
    fields: dict[str, Any] | list[dict[str, Any]],
    *,
    ts: datetime = NOW,
    topic: str = TOPIC,
    **over: Any,
) -> bytes:
    _, site, device_type, device_id, _ = topic.split("/")
    profile = {
        "elevator": "elevator-nice3000",
        "charger": "charger-8port",
        "smoke_alarm": "smoke-alarm",
    }[device_type]
    batches = fields if isinstance(fields, list) else [fields]
    message = {
        "gateway_id": "gw-1",
        "seq": 7,
        "site": site,
        "device_type": device_type,
        "device_id": device_id,
        "profile": profile,
        "tags": {"building": "B1"},
        "readings": [{"ts": ts.isoformat(), "fields": f} for f in batches],
        **over,
    }
    return json.dumps(message).encode()


def _event(kind: str, detail: dict[str, Any], *, ts: datetime = NOW, **over: Any) -> bytes:
    message = {
        "gateway_id": "gw-1",
        "seq": 8,
        "site": "demo",
        "device_type": "elevator",
        "device_id": "elev-01",
        "ts": ts.isoformat(),
        "kind": kind,
        "detail": detail,
        **over,
    }
    return json.dumps(message).encode()


def _passed(result: Parsed | Rejected) -> Parsed:
    assert isinstance(result, Parsed), result
    return result


def _refused(result: Parsed | Rejected, code: str) -> Rejected:
    assert isinstance(result, Rejected), result
    assert result.code == code, result
    return result


def _fields(parsed: Parsed) -> list[dict[str, Any]]:
    assert isinstance(parsed.message, TelemetryMessage)
    return [dict(reading.fields) for reading in parsed.message.readings]


def test_a_gateways_reading_passes_unchanged(screen: Screen) -> None:
    fields = {"speed": 1.75, "floor": 7, "alarm_button": False, "fault_code": 0}
    parsed = _passed(screen(TOPIC, _telemetry(fields)))
    assert parsed.refused is None
    assert _fields(parsed) == [fields]
    assert type(_fields(parsed)[0]["floor"]) is int


def test_every_register_derived_and_payload_field_at_its_limits_passes(screen: Screen) -> None:
    elevator = {
        "speed": 65.535,  # u16 at scale 0.001
        "levelling_error": -32768,  # i16
        "run_count": 99_999_999,  # two base-10000 words
        "mode": 15,  # bits 4-7
        "stopped_outside_zone_s": 0.0,
        "speed_percent": 1000.0,
    }
    assert _passed(screen(TOPIC, _telemetry(elevator))).refused is None
    charger = {"port3.energy": -3.0e38, "serial_number": "X" * 16, "relay8.enabled": True}
    assert _passed(screen(CHARGER_TOPIC, _telemetry(charger, topic=CHARGER_TOPIC))).refused is None
    smoke = {"message_type": "alarm", "battery": 100, "temperature": -20.0, "firmware": "2.1"}
    assert _passed(screen(SMOKE_TOPIC, _telemetry(smoke, topic=SMOKE_TOPIC))).refused is None


@pytest.mark.parametrize(
    ("topic", "field", "value", "code"),
    [
        (TOPIC, "speed", 65.6, "out_of_range"),
        (TOPIC, "floor", -1, "out_of_range"),
        (TOPIC, "floor", 65536, "out_of_range"),
        (TOPIC, "mode", 16, "out_of_range"),
        (TOPIC, "floor", 3.5, "wrong_type"),
        (TOPIC, "floor", True, "wrong_type"),
        (TOPIC, "floor", "3", "wrong_type"),
        (TOPIC, "alarm_button", 1, "wrong_type"),
        (TOPIC, "speed", "fast", "wrong_type"),
        (TOPIC, "speed_percent", -5.0, "out_of_range"),
        (TOPIC, 'x" OR 1=1 --', 1, "unknown_field"),
        (TOPIC, "port1.power", 1.0, "unknown_field"),  # a charger's field on a car
        (CHARGER_TOPIC, "port9.power", 1.0, "unknown_field"),  # 8 ports
        (CHARGER_TOPIC, "port1.energy", 1e39, "out_of_range"),
        (CHARGER_TOPIC, "serial_number", "X" * 17, "out_of_range"),
        (SMOKE_TOPIC, "battery", 101, "out_of_range"),
        (SMOKE_TOPIC, "message_type", "party", "out_of_range"),
        (SMOKE_TOPIC, "vendor_sequence", 2**63, "out_of_range"),
        (SMOKE_TOPIC, "firmware", "v" * 257, "out_of_range"),
    ],
)
def test_a_field_the_profile_does_not_allow_is_taken_out_with_its_reason(
    screen: Screen, topic: str, field: str, value: Any, code: str
) -> None:
    keep: dict[str, dict[str, Any]] = {
        "elevator": {"fault_code": 49},
        "charger": {"door_open": False},
    }
    good = keep.get(topic.split("/")[2], {"temperature": 21.5})
    parsed = _passed(screen(topic, _telemetry({**good, field: value}, topic=topic)))
    assert _fields(parsed) == [good]
    refused = parsed.refused
    assert refused is not None
    assert refused.code == code, refused
    assert refused.topic == topic
    assert field[:20] in refused.reason
    assert json.loads(refused.payload_text) == {
        "readings": [{"ts": NOW.isoformat(), "fields": {field: value}}]
    }


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_out_of_range(screen: Screen, literal: str) -> None:
    payload = _telemetry({"fault_code": 0, "speed": 0.0}).replace(b"0.0", literal.encode())
    result = screen(TOPIC, payload)
    if isinstance(result, Rejected):  # the JSON parser may refuse the literal itself
        assert result.code == "schema"
        return
    assert _fields(result) == [{"fault_code": 0}]
    assert result.refused is not None
    assert result.refused.code == "out_of_range"


def test_an_int_for_a_float_field_is_stored_as_the_same_float(screen: Screen) -> None:
    parsed = _passed(screen(TOPIC, _telemetry({"floor": 2, "speed": 1, "car_load": 0.5})))
    assert parsed.refused is None
    (fields,) = _fields(parsed)
    assert fields == {"floor": 2, "speed": 1.0, "car_load": 0.5}
    assert type(fields["speed"]) is float
    assert type(fields["floor"]) is int


def test_only_the_bad_readings_and_fields_go_and_one_dead_letter_names_them(
    screen: Screen,
) -> None:
    readings: list[dict[str, Any]] = [{"floor": 1}, {"floor": 2, "speed": 99.0, "junk": 1}]
    readings.append({"floor": 3})
    message = json.loads(_telemetry(readings))
    message["readings"][2]["ts"] = "2249-01-01T00:00:00+00:00"
    parsed = _passed(screen(TOPIC, json.dumps(message).encode()))
    assert _fields(parsed) == [{"floor": 1}, {"floor": 2}]
    refused = parsed.refused
    assert refused is not None
    assert refused.code == "out_of_range"  # the first problem's
    assert "readings[1].speed" in refused.reason
    assert "readings[1].junk" in refused.reason
    assert "readings[2].ts" in refused.reason
    assert json.loads(refused.payload_text)["readings"] == [
        {"ts": NOW.isoformat(), "fields": {"speed": 99.0, "junk": 1}},
        {"ts": "2249-01-01T00:00:00+00:00", "fields": {"floor": 3}},
    ]


@pytest.mark.parametrize(
    ("ts", "code"),
    [
        (NOW + timedelta(minutes=5, seconds=1), "time_ahead"),
        (datetime(2249, 1, 1, tzinfo=UTC), "time_ahead"),
        (NOW - timedelta(days=30, seconds=1), "time_too_old"),
        (datetime(1970, 1, 1, tzinfo=UTC), "time_too_old"),
    ],
)
def test_a_message_dated_outside_the_window_is_refused_whole(
    screen: Screen, ts: datetime, code: str
) -> None:
    _refused(screen(TOPIC, _telemetry({"floor": 1}, ts=ts)), code)
    _refused(screen(EVENT_TOPIC, _event("trip", {"to_floor": 3}, ts=ts)), code)
    status = {"gateway_id": "gw-1", "site": "demo", "state": "offline", "ts": ts.isoformat()}
    _refused(screen(STATUS_TOPIC, json.dumps(status).encode()), code)


def test_the_window_edges_pass_and_follow_the_clock() -> None:
    limits = ScreenLimits(max_ahead=timedelta(minutes=1), max_age=timedelta(hours=2))
    now = [NOW]
    screen = Screen(builtin_catalogue(), limits, lambda: now[0])
    for ts in (NOW + timedelta(minutes=1), NOW - timedelta(hours=2)):
        assert _passed(screen(TOPIC, _telemetry({"floor": 1}, ts=ts))).refused is None
    now[0] = NOW + timedelta(hours=3)
    _refused(screen(TOPIC, _telemetry({"floor": 1})), "time_too_old")


@pytest.mark.parametrize(
    ("over", "code"),
    [
        ({"profile": "elevator-nice9999"}, "unknown_profile"),
        ({"profile": "charger-8port"}, "unknown_profile"),  # not an elevator's profile
    ],
)
def test_a_message_without_its_devices_profile_is_refused_whole(
    screen: Screen, over: dict[str, str], code: str
) -> None:
    _refused(screen(TOPIC, _telemetry({"floor": 1}, profile=over["profile"])), code)


def test_more_readings_than_allowed_are_refused_whole() -> None:
    screen = Screen(builtin_catalogue(), ScreenLimits(max_readings=3), lambda: NOW)
    assert _passed(screen(TOPIC, _telemetry([{"floor": n} for n in range(3)])))
    rejected = _refused(
        screen(TOPIC, _telemetry([{"floor": n} for n in range(4)])), "too_many_readings"
    )
    assert rejected.reason == "4 readings, more than 3"


def test_a_reading_with_nothing_left_refuses_a_message_with_nothing_else(screen: Screen) -> None:
    rejected = _refused(screen(TOPIC, _telemetry({"floor": -1, "junk": 2})), "out_of_range")
    assert "readings[0].floor" in rejected.reason
    assert "readings[0].junk" in rejected.reason
    # The whole message is kept, as received.
    assert json.loads(rejected.payload_text)["readings"][0]["fields"] == {"floor": -1, "junk": 2}


@pytest.mark.parametrize(
    ("tags", "code"),
    [
        ({"building": "B1", "../../etc/passwd": "x"}, "unknown_tag"),
        ({"building": "B1", "owner": "x"}, "unknown_tag"),
        ({"building": 'x" OR 1=1 --'}, "bad_tag"),
        ({"building": "../../etc"}, "bad_tag"),
        ({"building": "B1/2"}, "bad_tag"),
        ({"building": "a\x00b"}, "bad_tag"),
        ({"building": "B2\n"}, "bad_tag"),  # a pattern's "$" matches before a last newline
        ({"building": "B" * 65}, "bad_tag"),
        ({"building": ""}, "bad_tag"),
    ],
)
def test_unknown_tag_keys_and_unsafe_tag_values_are_taken_out(
    screen: Screen, tags: dict[str, str], code: str
) -> None:
    parsed = _passed(screen(TOPIC, _telemetry({"floor": 1}, tags=tags)))
    assert isinstance(parsed.message, TelemetryMessage)
    assert parsed.message.tags == {k: v for k, v in tags.items() if v == "B1" and k == "building"}
    assert _fields(parsed) == [{"floor": 1}]
    assert parsed.refused is not None
    assert parsed.refused.code == code
    assert json.loads(parsed.refused.payload_text)["tags"] == {
        k: v for k, v in tags.items() if (k, v) != ("building", "B1")
    }


def test_tag_values_may_be_chinese_with_spaces_and_punctuation(screen: Screen) -> None:
    tags = {"building": "3号楼", "location": "B1 lift lobby (east) #2"}
    parsed = _passed(screen(TOPIC, _telemetry({"floor": 1}, tags=tags)))
    assert parsed.refused is None
    assert isinstance(parsed.message, TelemetryMessage)
    assert parsed.message.tags == tags


def test_configured_tag_keys_replace_the_default() -> None:
    screen = Screen(builtin_catalogue(), ScreenLimits(tag_keys=frozenset({"zone"})), lambda: NOW)
    parsed = _passed(screen(TOPIC, _telemetry({"floor": 1}, tags={"zone": "north"})))
    assert parsed.refused is None
    refused = _passed(screen(TOPIC, _telemetry({"floor": 1}, tags={"building": "B1"}))).refused
    assert refused is not None
    assert refused.code == "unknown_tag"


def test_event_details_are_held_to_their_kind(screen: Screen) -> None:
    good = {"from_floor": 1, "to_floor": 5, "duration_s": 8.5, "direction": "up"}
    assert _passed(screen(EVENT_TOPIC, _event("trip", good))).refused is None
    parsed = _passed(
        screen(EVENT_TOPIC, _event("trip", {**good, "x" * 30: 1, "duration_s": 1e400}))
    )
    assert isinstance(parsed.message, EventMessage)
    assert parsed.message.detail == {k: v for k, v in good.items() if k != "duration_s"}
    assert parsed.refused is not None
    assert parsed.refused.code == "bad_detail"
    huge = _passed(screen(EVENT_TOPIC, _event("message", {"message_type": "a" * 300})))
    assert huge.refused is not None
    assert huge.refused.code == "bad_detail"


def test_an_event_of_a_device_type_no_profile_has_is_refused(screen: Screen) -> None:
    topic = event_topic("demo", "toaster", "t-1")
    payload = _event("trip", {"to_floor": 3}, device_type="toaster", device_id="t-1")
    _refused(screen(topic, payload), "unknown_device_type")


def test_wire_schema_refusals_carry_their_code_too(screen: Screen) -> None:
    _refused(screen(TOPIC, b"not json"), "schema")
    _refused(screen(TOPIC, b"{}"), "schema")
    _refused(screen(TOPIC, _telemetry({"floor": 1}, schema_version=2)), "schema")
    _refused(screen("estatewatch/demo/elevator/elev-01/other", b"{}"), "unknown_topic")
    other = telemetry_topic("demo", "elevator", "elev-02")
    _refused(screen(other, _telemetry({"floor": 1})), "mismatch")


def test_what_the_gateway_derives_is_declared_by_the_profile(screen: Screen) -> None:
    """The gateway's derived fields and events (gateway/derive.py) pass the screen, so the
    profile and the event table cannot drift from what gateways really send."""
    profile = builtin_catalogue()["elevator-nice3000"]
    assert set(DERIVED_UNITS) == {spec.name for spec in profile.derived}
    signals = ElevatorSignals(max_gap_s=10.0)
    base = {"rated_speed": 1.75, "direction": 1, "in_door_zone": True}
    states = [(6, 1, 0.0), (1, 1, 0.0), (2, 1, 0.0), (3, 1, 0.0), (4, 1, 0.0), (5, 1, 1.0)]
    states += [(5, 3, 1.0), (6, 5, 0.0), (1, 5, 0.0)]
    events = []
    for second, (state, floor, speed) in enumerate(states):
        values = {**base, "car_state": state, "floor": floor, "speed": speed}
        derived = signals.update(float(second), values)
        events += derived.events
        fields = {**values, **derived.fields}
        reading = TelemetryMessage(
            gateway_id="gw-1",
            seq=second,
            site="demo",
            device_type="elevator",
            device_id="elev-01",
            profile="elevator-nice3000",
            readings=[Reading(ts=NOW, fields=fields)],
        )
        assert _passed(screen(TOPIC, reading.model_dump_json().encode())).refused is None
    assert {event.kind for event in events} == {"door_cycle", "trip"}
    for event in events:
        assert set(event.detail) <= EVENT_DETAIL[event.kind]


def test_settings_read_durations_and_lists() -> None:
    settings = ScreenSettings(max_ahead="2m", max_age="7d", tag_keys="building, zone")  # type: ignore[arg-type]
    limits = settings.screen_limits
    assert limits.max_ahead == timedelta(minutes=2)
    assert limits.max_age == timedelta(days=7)
    assert limits.tag_keys == frozenset({"building", "zone"})
