"""Vendor JSON payloads checked against an MQTT profile (the built-in smoke alarm)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from estatewatch.catalogue import Value, builtin_catalogue, load_profile
from estatewatch.catalogue.payload import PayloadError, PayloadSchema

VALID: dict[str, Any] = {
    "devId": "smk-0042",
    "msgType": "heartbeat",
    "battery": 87,
    "smoke": 0.0,
    "temp": 21.5,
    "ts": 1_750_000_000,
}
NORMALISED: dict[str, Value] = {
    "device_id": "smk-0042",
    "message_type": "heartbeat",
    "battery": 87,
    "smoke_obscuration": 0.0,
    "temperature": 21.5,
    "timestamp": 1_750_000_000,
}


@pytest.fixture(scope="module")
def schema() -> PayloadSchema:
    return PayloadSchema(builtin_catalogue()["smoke-alarm"])


def body(**changes: Any) -> str:
    payload = {**VALID, **changes}
    return json.dumps({k: v for k, v in payload.items() if v is not ...})


def test_valid_payload_parses_to_normalised_names(schema: PayloadSchema) -> None:
    assert schema.parse(body()) == NORMALISED


def test_bytes_are_accepted(schema: PayloadSchema) -> None:
    assert schema.parse(body().encode()) == NORMALISED


def test_optional_keys_are_normalised_when_present(schema: PayloadSchema) -> None:
    parsed = schema.parse(body(seq=17, fw="2.3.1"))
    assert parsed["vendor_sequence"] == 17
    assert parsed["firmware"] == "2.3.1"


def test_absent_optional_keys_are_left_out(schema: PayloadSchema) -> None:
    parsed = schema.parse(body())
    assert "vendor_sequence" not in parsed
    assert "firmware" not in parsed


def test_unknown_extra_keys_are_ignored(schema: PayloadSchema) -> None:
    assert schema.parse(body(rssi=-71, newFeature={"x": 1})) == NORMALISED


def test_an_int_is_accepted_for_a_float(schema: PayloadSchema) -> None:
    assert schema.parse(body(temp=20))["temperature"] == 20


@pytest.mark.parametrize(("key", "value"), [("battery", 0), ("battery", 100), ("temp", -20.0)])
def test_range_limits_are_inclusive(schema: PayloadSchema, key: str, value: float) -> None:
    assert schema.parse(body(**{key: value}))


@pytest.mark.parametrize(
    "raw",
    ["{not json", "", b"\xff\xfe", '{"devId": "a",}'],
    ids=["broken", "empty", "not utf-8", "trailing comma"],
)
def test_malformed_json_is_rejected(schema: PayloadSchema, raw: str | bytes) -> None:
    with pytest.raises(PayloadError, match=r"^smoke-alarm: payload is not JSON: "):
        schema.parse(raw)


@pytest.mark.parametrize(
    "raw",
    [b"[" * 10_000 + b"]" * 10_000, b'{"devId":' * 5_000 + b"1" + b"}" * 5_000],
    ids=["nested arrays", "nested objects"],
)
def test_deeply_nested_json_is_a_payload_error_not_a_recursion_error(
    schema: PayloadSchema, raw: bytes
) -> None:
    # json.loads raised RecursionError on these, which no caller expected: the poison
    # message that stopped the site gateway (issue 12).
    with pytest.raises(PayloadError, match=r"^smoke-alarm: payload is not JSON: .*recursion"):
        schema.parse(raw)


@pytest.mark.parametrize("raw", ["[1, 2]", '"heartbeat"', "87", "null"])
def test_non_object_is_rejected(schema: PayloadSchema, raw: str) -> None:
    with pytest.raises(PayloadError, match=r"^smoke-alarm: payload must be a JSON object$"):
        schema.parse(raw)


REJECTED: list[tuple[str, Any, str]] = [
    ("battery", 101, "less than or equal to 100"),
    ("battery", -1, "greater than or equal to 0"),
    ("temp", 70.5, "less than or equal to 70"),
    ("temp", -20.1, "greater than or equal to -20"),
    ("smoke", 100.01, "less than or equal to 100"),
    ("msgType", "exploded", "Input should be 'heartbeat'"),
    ("msgType", "ALARM", "Input should be 'heartbeat'"),
    # Strict types: text, bools and fractions are vendor faults, not values to coerce.
    ("battery", "87", "valid integer"),
    ("battery", True, "valid integer"),
    ("battery", 87.5, "valid integer"),
    ("temp", "21.5", "valid number"),
    ("temp", False, "valid number"),
    ("ts", "1750000000", "valid integer"),
    ("devId", 42, "valid string"),
    ("seq", -1, "greater than or equal to 0"),
    ("fw", 2, "valid string"),
]


@pytest.mark.parametrize(("key", "value", "problem"), REJECTED)
def test_invalid_values_are_rejected_naming_the_vendor_key(
    schema: PayloadSchema, key: str, value: Any, problem: str
) -> None:
    with pytest.raises(PayloadError) as info:
        schema.parse(body(**{key: value}))
    message = str(info.value)
    assert message.startswith(f"smoke-alarm: {key}: ")
    assert problem in message


@pytest.mark.parametrize("key", ["devId", "msgType", "battery", "smoke", "temp", "ts"])
def test_missing_required_key_is_named(schema: PayloadSchema, key: str) -> None:
    with pytest.raises(PayloadError, match=rf"^smoke-alarm: {key}: Field required$"):
        schema.parse(body(**{key: ...}))


def test_explicit_null_for_a_required_key_is_rejected(schema: PayloadSchema) -> None:
    with pytest.raises(PayloadError, match=r"^smoke-alarm: battery: "):
        schema.parse(body(battery=None))


def test_every_problem_is_reported_at_once(schema: PayloadSchema) -> None:
    with pytest.raises(PayloadError) as info:
        schema.parse(body(battery="87", msgType="boom"))
    assert "battery: " in str(info.value)
    assert "msgType: " in str(info.value)


def test_build_writes_vendor_keys_that_parse_back(schema: PayloadSchema) -> None:
    values: dict[str, Value] = {**NORMALISED, "vendor_sequence": 3}
    raw = schema.build(values)
    assert json.loads(raw)["seq"] == 3
    assert json.loads(raw)["devId"] == "smk-0042"
    assert schema.parse(raw) == values


def test_build_rejects_unknown_names(schema: PayloadSchema) -> None:
    with pytest.raises(PayloadError, match=r"no payload field \['humidity'\]"):
        schema.build({**NORMALISED, "humidity": 40})


def test_build_validates_on_the_way_out(schema: PayloadSchema) -> None:
    with pytest.raises(PayloadError, match=r"^smoke-alarm: battery: "):
        schema.build({**NORMALISED, "battery": 120})


def test_schema_needs_an_mqtt_profile() -> None:
    with pytest.raises(ValueError, match="does not describe an MQTT payload"):
        PayloadSchema(builtin_catalogue()["elevator-nice3000"])


def test_bool_keys_are_strict_too(tmp_path: Path) -> None:
    path = tmp_path / "door.yaml"
    path.write_text(
        "profile: door\ndevice_type: door\nprotocol: mqtt\ntopic: 'd/{device_id}'\n"
        "payload:\n  - {name: open, key: o, type: bool}\n",
        encoding="utf-8",
    )
    schema = PayloadSchema(load_profile(path))
    assert schema.parse('{"o": true}') == {"open": True}
    with pytest.raises(PayloadError, match=r"^door: o: Input should be a valid boolean"):
        schema.parse('{"o": 1}')
    with pytest.raises(PayloadError, match=r"^door: o: Input should be a valid boolean"):
        schema.parse('{"o": "true"}')
