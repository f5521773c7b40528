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


def test_an_oversized_payload_is_rejected_unread() -> None:
    # Valid JSON, so only the size check can refuse it.
    payload = b'{"site": "' + b"x" * MAX_WIRE_PAYLOAD_BYTES + b'"}'
    result = parse(TOPICS[0], payload)
    assert isinstance(result, Rejected)
    assert result.reason == f"payload of {len(payload)} bytes is larger than 4 MiB"
    assert len(result.payload_text) == PAYLOAD_TEXT_LIMIT
