"""The central services' parser refuses hostile payloads without raising (estatewatch.inbound)."""

from __future__ import annotations

import pytest

from estatewatch.inbound import MAX_WIRE_PAYLOAD_BYTES, PAYLOAD_TEXT_LIMIT, Rejected, parse
from estatewatch.wire import event_topic, status_topic, telemetry_topic

TOPICS = [
    telemetry_topic("demo", "elevator", "lift-1"),
    event_topic("demo", "elevator", "lift-1"),
    status_topic("demo", "gw-1"),
]


@pytest.mark.parametrize("topic", TOPICS)
@pytest.mark.parametrize(
    "payload",
    [b"[" * 10_000 + b"]" * 10_000, b'{"site":' * 5_000 + b"1" + b"}" * 5_000],
    ids=["nested arrays", "nested objects"],
)
def test_deep_nesting_is_rejected_as_invalid_json(topic: str, payload: bytes) -> None:
    result = parse(topic, payload)
    assert isinstance(result, Rejected)
    assert result.reason.startswith("invalid JSON"), result.reason
    assert "recursion" in result.reason
    assert result.code == "schema"


def test_an_oversized_payload_is_rejected_unread() -> None:
    # Valid JSON, so only the size check can refuse it.
    payload = b'{"site": "' + b"x" * MAX_WIRE_PAYLOAD_BYTES + b'"}'
    result = parse(TOPICS[0], payload)
    assert isinstance(result, Rejected)
    assert result.reason == f"payload of {len(payload)} bytes is larger than 4 MiB"
    assert result.code == "too_large"
    assert len(result.payload_text) == PAYLOAD_TEXT_LIMIT


@pytest.mark.parametrize(
    ("topic", "payload", "code"),
    [
        ("estatewatch/demo/elevator/lift-1/other", b"{}", "unknown_topic"),
        ("not/ours", b"{}", "unknown_topic"),
        (TOPICS[0], b"{not json", "schema"),
        (TOPICS[2], b'{"site": "demo"}', "schema"),
        (
            status_topic("demo", "gw-1"),
            b'{"schema_version": 1, "site": "other", "gateway_id": "gw-1", "state": "online",'
            b' "ts": "2026-12-07T08:00:00Z", "version": "1", "uptime_s": 1}',
            "mismatch",
        ),
    ],
)
def test_each_rejection_says_its_reason_in_a_word(topic: str, payload: bytes, code: str) -> None:
    """The code labels the dead-letter metric, so it comes from a fixed set, never the input."""
    result = parse(topic, payload)
    assert isinstance(result, Rejected)
    assert result.code == code, result.reason
