"""The InfluxDB schema: which measurement, tags, fields and time each message becomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from estatewatch.influx.schema import time_ns
from estatewatch.wire import (
    EventMessage,
    GatewayStatus,
    PollLateness,
    TelemetryMessage,
)
from ingest.line_protocol import FieldValue, Point, encode
from ingest.points import points_from_event, points_from_status, points_from_telemetry

T0 = datetime(2026, 11, 24, 8, 0, 0, 123456, tzinfo=UTC)
T0_NS = 1_795_507_200_123_456_000


def _telemetry(
    device_type: str, device_id: str, *readings: dict[str, FieldValue], **extra: object
) -> TelemetryMessage:
    return TelemetryMessage.model_validate(
        {
            "gateway_id": "gw-1",
            "seq": 41,
            "site": "demo",
            "device_type": device_type,
            "device_id": device_id,
            "profile": "p",
            "tags": {"building": "B1", "location": "shaft A"},
            "readings": [
                {"ts": T0 + timedelta(seconds=i), "fields": fields}
                for i, fields in enumerate(readings)
            ],
            **extra,
        }
    )


def test_time_ns_is_exact_to_the_microsecond() -> None:
    assert time_ns(T0) == T0_NS
    assert time_ns(datetime(1970, 1, 1, tzinfo=UTC)) == 0
    # A float timestamp would round this one.
    assert (
        time_ns(datetime(2262, 4, 11, 23, 47, 16, 854775, tzinfo=UTC)) == 9_223_372_036_854_775_000
    )


def test_an_elevator_reading_is_one_elevator_point_typed_as_received() -> None:
    fields: dict[str, FieldValue] = {"floor": 3, "speed": 1.0, "overload": False, "note": "ok"}
    msg = _telemetry("elevator", "elev-01", fields)

    assert points_from_telemetry(msg) == [
        Point(
            "elevator",
            {"building": "B1", "location": "shaft A", "site": "demo", "device_id": "elev-01"},
            fields,
            T0_NS,
        )
    ]
    [point] = points_from_telemetry(msg)
    assert type(point.fields["floor"]) is int
    assert type(point.fields["speed"]) is float
    assert type(point.fields["overload"]) is bool
    assert encode([point]) == (
        b"elevator,building=B1,device_id=elev-01,location=shaft\\ A,site=demo"
        b' floor=3i,speed=1.0,overload=false,note="ok" 1795507200123456000\n'
    )


def test_every_reading_is_a_point_at_its_own_time() -> None:
    msg = _telemetry("elevator", "elev-01", {"floor": 1}, {"floor": 2})
    points = points_from_telemetry(msg)
    assert [(p.fields["floor"], p.time_ns) for p in points] == [(1, T0_NS), (2, T0_NS + 10**9)]


def test_charger_ports_become_charger_port_points_and_the_rest_stays_on_charger() -> None:
    msg = _telemetry(
        "charger",
        "chg-01",
        {
            "total_power": 250.5,
            "door_open": False,
            "port1.state": 1,
            "port1.power": 100.0,
            "port10.state": 3,
            "port2.state": 0,
            "relay1.enabled": True,
        },
    )
    cabinet, *ports = points_from_telemetry(msg)

    base = {"building": "B1", "location": "shaft A", "site": "demo", "device_id": "chg-01"}
    assert cabinet == Point(
        "charger",
        base,
        {"total_power": 250.5, "door_open": False, "relay1.enabled": True},
        T0_NS,
    )
    assert ports == [
        Point("charger_port", {**base, "port": "1"}, {"state": 1, "power": 100.0}, T0_NS),
        Point("charger_port", {**base, "port": "2"}, {"state": 0}, T0_NS),
        Point("charger_port", {**base, "port": "10"}, {"state": 3}, T0_NS),
    ]


def test_a_reading_of_ports_only_has_no_cabinet_point() -> None:
    msg = _telemetry("charger", "chg-01", {"port3.power": 5.5})
    assert [(p.measurement, p.tags["port"]) for p in points_from_telemetry(msg)] == [
        ("charger_port", "3")
    ]


def test_keys_that_only_look_like_ports_stay_on_the_device() -> None:
    msg = _telemetry("charger", "chg-01", {"port.power": 1, "port0.power": 2, "porta.x": 3})
    [point] = points_from_telemetry(msg)
    assert point.measurement == "charger"
    assert set(point.fields) == {"port.power", "port0.power", "porta.x"}


def test_a_smoke_alarm_reading_is_a_smoke_alarm_point() -> None:
    fields: dict[str, FieldValue] = {
        "message_type": "heartbeat",
        "battery": 87,
        "smoke_obscuration": 0.0,
        "temperature": 21.5,
    }
    [point] = points_from_telemetry(_telemetry("smoke_alarm", "smoke-001", fields))
    assert point.measurement == "smoke_alarm"
    assert point.tags["device_id"] == "smoke-001"
    assert point.fields == fields


def test_message_tags_never_override_identity() -> None:
    msg = _telemetry("charger", "chg-01", {"port1.state": 1}).model_copy(
        update={"tags": {"site": "evil", "device_id": "other", "port": "9", "building": "B1"}}
    )
    [point] = points_from_telemetry(msg)
    assert point.tags == {"site": "demo", "device_id": "chg-01", "building": "B1", "port": "1"}


def test_a_replayed_message_gives_identical_lines() -> None:
    payload = _telemetry(
        "charger", "chg-01", {"total_power": 1.5, "port1.state": 1}, {"port2.power": 2.0}
    ).model_dump_json()
    first = encode(points_from_telemetry(TelemetryMessage.model_validate_json(payload)))
    again = encode(points_from_telemetry(TelemetryMessage.model_validate_json(payload)))
    assert first == again
    assert first.count(b"\n") == 3


def test_an_event_is_one_event_point_with_detail_and_seq() -> None:
    msg = EventMessage(
        gateway_id="gw-1",
        seq=42,
        site="demo",
        device_type="elevator",
        device_id="elev-01",
        tags={"building": "B1", "kind": "spoofed"},
        ts=T0,
        kind="door_cycle",
        detail={"landing": 3, "open_s": 2.5, "reversed": True},
    )
    assert points_from_event(msg) == [
        Point(
            "event",
            {
                "building": "B1",
                "site": "demo",
                "device_type": "elevator",
                "device_id": "elev-01",
                "kind": "door_cycle",
            },
            {"landing": 3, "open_s": 2.5, "reversed": True, "seq": 42},
            T0_NS,
        )
    ]
    assert encode(points_from_event(msg)) == encode(points_from_event(msg.model_copy()))


def test_gateway_status_is_one_gateway_point() -> None:
    status = GatewayStatus(
        gateway_id="gw-1",
        site="demo",
        state="online",
        ts=T0,
        uptime_s=3600,
        devices_online=40,
        devices_degraded=1,
        devices_offline=2,
        offline_devices=["elev-03", "chg-02"],
        buffer_depth=5,
        buffer_bytes=2048,
        buffer_dropped=0,
        poll_lateness=PollLateness(p50_ms=1.5, p95_ms=4.0, p99_ms=9.0, max_ms=20.0),
        poll_overruns=3,
        errors={"timeout": 4},
        dead_letters=1,
    )
    [point] = points_from_status(status)
    assert point == Point(
        "gateway",
        {"site": "demo", "gateway_id": "gw-1"},
        {
            "state": "online",
            "uptime_s": 3600.0,
            "devices_online": 40,
            "devices_degraded": 1,
            "devices_offline": 2,
            "buffer_depth": 5,
            "buffer_bytes": 2048,
            "buffer_dropped": 0,
            "poll_overruns": 3,
            "dead_letters": 1,
            "poll_p50_ms": 1.5,
            "poll_p95_ms": 4.0,
            "poll_p99_ms": 9.0,
            "poll_max_ms": 20.0,
        },
        T0_NS,
    )
    assert type(point.fields["uptime_s"]) is float


def test_an_offline_status_without_lateness_has_no_lateness_fields() -> None:
    status = GatewayStatus(gateway_id="gw-1", site="demo", state="offline", ts=T0)
    [point] = points_from_status(status)
    assert point.fields["state"] == "offline"
    assert not any(key.startswith("poll_p") for key in point.fields)
