"""Broker messages to line protocol, or dead letters with a reason (no servers)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from estatewatch.wire import event_topic, status_topic, telemetry_topic
from ingest.decode import PAYLOAD_TEXT_LIMIT, Decoded, Rejected, decode

TS = "2026-11-24T08:00:00.123456+00:00"
TS_NS = 1_795_507_200_123_456_000


def _telemetry(**over: Any) -> dict[str, Any]:
    return {
        "gateway_id": "gw-1",
        "seq": 41,
        "site": "demo",
        "device_type": "elevator",
        "device_id": "lift-1",
        "profile": "p",
        "tags": {"building": "B1"},
        "readings": [
            {"ts": TS, "fields": {"speed": 1.5, "floor": 3}},
            {"ts": "2026-11-24T08:00:01.123456+00:00", "fields": {"speed": 0.0, "floor": 4}},
        ],
        **over,
    }


def _event(**over: Any) -> dict[str, Any]:
    return {
        "gateway_id": "gw-1",
        "seq": 42,
        "site": "demo",
        "device_type": "elevator",
        "device_id": "lift-1",
        "ts": TS,
        "kind": "door_cycle",
        "detail": {"floor": 3},
        **over,
    }


def _status(**over: Any) -> dict[str, Any]:
    return {"gateway_id": "gw-1", "site": "demo", "state": "online", "ts": TS, **over}


def _bytes(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode()


def _decoded(topic: str, payload: bytes) -> Decoded:
    result = decode(topic, payload)
    assert isinstance(result, Decoded), result
    return result


def _rejected(topic: str, payload: bytes) -> Rejected:
    result = decode(topic, payload)
    assert isinstance(result, Rejected), result
    assert result.topic == topic
    return result


TELEMETRY_TOPIC = telemetry_topic("demo", "elevator", "lift-1")
EVENT_TOPIC = event_topic("demo", "elevator", "lift-1")
STATUS_TOPIC = status_topic("demo", "gw-1")


def test_telemetry_becomes_one_line_per_reading() -> None:
    decoded = _decoded(TELEMETRY_TOPIC, _bytes(_telemetry()))
    assert (decoded.kind, decoded.gateway_id, decoded.seq) == ("telemetry", "gw-1", 41)
    assert decoded.points == 2
    assert decoded.lines.splitlines()[0] == (
        f"elevator,building=B1,device_id=lift-1,site=demo speed=1.5,floor=3i {TS_NS}".encode()
    )
    assert decoded.problems == ()


def test_an_event_becomes_one_event_line_with_its_seq() -> None:
    decoded = _decoded(EVENT_TOPIC, _bytes(_event()))
    assert (decoded.kind, decoded.seq, decoded.points) == ("event", 42, 1)
    assert decoded.lines == (
        b"event,device_id=lift-1,device_type=elevator,kind=door_cycle,site=demo"
        b" floor=3i,seq=42i " + str(TS_NS).encode() + b"\n"
    )


def test_a_status_becomes_one_gateway_line_without_seq() -> None:
    decoded = _decoded(STATUS_TOPIC, _bytes(_status()))
    assert (decoded.kind, decoded.gateway_id, decoded.seq, decoded.points) == (
        "status",
        "gw-1",
        None,
        1,
    )
    assert decoded.lines.startswith(b'gateway,gateway_id=gw-1,site=demo state="online",')


def test_invalid_json_is_rejected_with_the_payload_text() -> None:
    rejected = _rejected(TELEMETRY_TOPIC, b'{"seq": 1,')
    assert rejected.reason.startswith("invalid JSON")
    assert rejected.payload_text == '{"seq": 1,'


def test_non_utf8_payload_is_rejected_and_kept_readable() -> None:
    rejected = _rejected(TELEMETRY_TOPIC, b"\xff\xfe garbage")
    assert rejected.reason.startswith("invalid JSON")
    assert rejected.payload_text.endswith(" garbage")


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (_telemetry(seq=-1), "seq"),
        (_telemetry(readings=[]), "readings"),
        (_telemetry(readings=[{"ts": "2026-11-24T08:00:00", "fields": {"a": 1}}]), "readings.0.ts"),
        (_telemetry(surprise=1), "surprise"),
        ({k: v for k, v in _telemetry().items() if k != "gateway_id"}, "gateway_id"),
    ],
)
def test_a_schema_error_names_the_field(message: dict[str, Any], field: str) -> None:
    rejected = _rejected(TELEMETRY_TOPIC, _bytes(message))
    assert rejected.reason.startswith(f"schema error: {field}: "), rejected.reason


def test_a_bad_event_kind_names_the_field() -> None:
    rejected = _rejected(EVENT_TOPIC, _bytes(_event(kind="explosion")))
    assert rejected.reason.startswith("schema error: kind: ")


def test_the_payload_text_is_truncated() -> None:
    payload = b'"' + b"x" * (2 * PAYLOAD_TEXT_LIMIT) + b'"'
    rejected = _rejected(TELEMETRY_TOPIC, payload)
    assert len(rejected.payload_text) == PAYLOAD_TEXT_LIMIT


@pytest.mark.parametrize(
    ("topic", "message", "name"),
    [
        (telemetry_topic("other", "elevator", "lift-1"), _telemetry(), "site"),
        (telemetry_topic("demo", "charger", "lift-1"), _telemetry(), "device_type"),
        (telemetry_topic("demo", "elevator", "lift-2"), _telemetry(), "device_id"),
        (event_topic("demo", "elevator", "lift-2"), _event(), "device_id"),
        (status_topic("demo", "gw-2"), _status(), "gateway_id"),
        (status_topic("other", "gw-1"), _status(), "site"),
    ],
)
def test_a_topic_payload_mismatch_is_rejected(
    topic: str, message: dict[str, Any], name: str
) -> None:
    # Otherwise a gateway could write into another device's (or site's) series.
    rejected = _rejected(topic, _bytes(message))
    assert rejected.reason.startswith(f"topic/payload mismatch: {name} "), rejected.reason


@pytest.mark.parametrize(
    "topic",
    [
        "estatewatch/demo/elevator/lift-1/telemetry/extra",
        "estatewatch/demo/elevator/telemetry",
        "other/demo/elevator/lift-1/telemetry",
        "estatewatch/demo/gateway/gw-1/dead_letter",
        "estatewatch/demo/elevator/lift-1/status",
        "",
    ],
)
def test_an_unknown_topic_is_rejected(topic: str) -> None:
    assert _rejected(topic, _bytes(_telemetry())).reason == "unknown topic"


def test_a_message_with_nothing_writable_is_rejected() -> None:
    message = _telemetry(readings=[{"ts": TS, "fields": {"time": 1}}])
    rejected = _rejected(TELEMETRY_TOPIC, _bytes(message))
    assert rejected.reason.startswith("nothing writable as line protocol")


def test_fields_left_out_are_listed_as_problems() -> None:
    message = _telemetry(readings=[{"ts": TS, "fields": {"time": 1, "speed": 1.0}}])
    decoded = _decoded(TELEMETRY_TOPIC, _bytes(message))
    assert decoded.points == 1
    assert [(p.key, p.reason) for p in decoded.problems] == [
        ("time", "field key cannot be written")
    ]
