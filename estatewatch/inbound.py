"""Broker message to wire model, or a reason to dead-letter it (pure).

Every central consumer (ingest, maintenance) reads the same topics; :func:`parse` is how
each of them turns what the broker delivered into a validated wire model::

    estatewatch/{site}/{device_type}/{device_id}/telemetry   TelemetryMessage
    estatewatch/{site}/gateway/{gateway_id}/telemetry        TelemetryBundle (version 2)
    estatewatch/{site}/{device_type}/{device_id}/event       EventMessage
    estatewatch/{site}/gateway/{gateway_id}/status           GatewayStatus

A message is rejected when its topic is none of these, its payload is not JSON, it fails
the schema (the reason names the field), or its site, device type and device id (or
gateway id) differ from the topic's, which would let a gateway speak for another device.
:func:`parse` never raises: one bad message must not stop a worker.

Parsing is bounded: a payload larger than :data:`MAX_WIRE_PAYLOAD_BYTES` is rejected
unread, and pydantic's JSON parser refuses nesting deeper than its fixed limit (so a
``[[[...]]]`` payload is a rejection, never a RecursionError).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from pydantic import BaseModel, ValidationError

from estatewatch.wire import (
    TOPIC_ROOT,
    EventMessage,
    GatewayStatus,
    TelemetryBundle,
    TelemetryMessage,
)

__all__ = [
    "MAX_WIRE_PAYLOAD_BYTES",
    "PAYLOAD_TEXT_LIMIT",
    "DeviceMessage",
    "Kind",
    "Parsed",
    "Rejected",
    "parse",
    "reject",
]

Kind = Literal["telemetry", "event", "status"]
DeviceMessage = TelemetryMessage | EventMessage | GatewayStatus
WireMessage = DeviceMessage | TelemetryBundle

# The gateway's dead letters keep this much of a payload; so do the central services.
PAYLOAD_TEXT_LIMIT: Final = 8 * 1024
# A gateway's largest message (60 readings of an 8-port charger) is about 150 KB; this
# leaves room for bigger batches and keeps a hostile publisher from making a worker parse
# hundreds of megabytes.
MAX_WIRE_PAYLOAD_BYTES: Final = 4 * 1024**2
# A schema error lists this many problems at most; a garbage payload can have hundreds.
_MAX_ERRORS: Final = 3


@dataclass(frozen=True, slots=True)
class Parsed:
    """A valid message: its model, and who sent it in which order (for de-duplication)."""

    topic: str
    kind: Kind
    message: WireMessage
    gateway_id: str
    seq: int | None  # status messages carry none
    refused: Rejected | None = None
    """What the central checks (:mod:`estatewatch.screen`) took out of ``message``, for
    the dead-letter file; ``message`` is what is left."""
    # A bundle's messages, built once: the central checks read them, then the consumer.
    _messages: Sequence[DeviceMessage] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def messages(self) -> Sequence[DeviceMessage]:
        """What ``message`` says, as version 1 messages: a bundle's, one per device."""
        message = self.message
        if not isinstance(message, TelemetryBundle):
            return (message,)
        if self._messages is None:
            object.__setattr__(self, "_messages", message.messages())  # frozen: a memo
        assert self._messages is not None
        return self._messages


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message that cannot be used, and why; ``payload_text`` is for the dead letter.

    ``code`` is the reason in a word, from a fixed set (a Prometheus label, so never
    built from what was received): ``unknown_topic``, ``too_large``, ``schema`` (not
    JSON or not the wire schema), ``mismatch`` (topic and payload disagree),
    ``not_writable`` (ingest: nothing line protocol can carry), the central checks'
    codes (:mod:`estatewatch.screen`: ``out_of_range``, ``time_ahead``, ...), ``invalid``
    otherwise.
    """

    topic: str
    reason: str
    payload_text: str
    code: str = "invalid"


def parse(topic: str, payload: bytes) -> Parsed | Rejected:
    """Validate ``payload`` against the model ``topic`` names."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != TOPIC_ROOT:
        return reject(topic, "unknown topic", payload, code="unknown_topic")
    _, site, device_type, device_id, suffix = parts
    model: type[BaseModel]
    if suffix == "telemetry" and device_type == "gateway":
        model = TelemetryBundle
    elif suffix == "telemetry":
        model = TelemetryMessage
    elif suffix == "event":
        model = EventMessage
    elif suffix == "status" and device_type == "gateway":
        model = GatewayStatus
    else:
        return reject(topic, "unknown topic", payload, code="unknown_topic")
    if len(payload) > MAX_WIRE_PAYLOAD_BYTES:
        limit = MAX_WIRE_PAYLOAD_BYTES // 1024**2
        return reject(
            topic,
            f"payload of {len(payload)} bytes is larger than {limit} MiB",
            payload,
            code="too_large",
        )
    try:
        message = model.model_validate_json(payload)
    except ValidationError as exc:
        return reject(topic, _describe(exc), payload, code="schema")
    if isinstance(message, GatewayStatus | TelemetryBundle):
        mismatch = _mismatch(
            (("site", site, message.site), ("gateway_id", device_id, message.gateway_id))
        )
        if mismatch:
            return reject(topic, mismatch, payload, code="mismatch")
        if isinstance(message, TelemetryBundle):
            return Parsed(topic, "telemetry", message, message.gateway_id, message.seq)
        return Parsed(topic, "status", message, message.gateway_id, None)
    assert isinstance(message, TelemetryMessage | EventMessage)
    mismatch = _mismatch(
        (
            ("site", site, message.site),
            ("device_type", device_type, message.device_type),
            ("device_id", device_id, message.device_id),
        )
    )
    if mismatch:
        return reject(topic, mismatch, payload, code="mismatch")
    kind: Kind = "telemetry" if isinstance(message, TelemetryMessage) else "event"
    return Parsed(topic, kind, message, message.gateway_id, message.seq)


def reject(topic: str, reason: str, payload: bytes, *, code: str = "invalid") -> Rejected:
    text = payload[:PAYLOAD_TEXT_LIMIT].decode("utf-8", errors="replace")
    return Rejected(topic, reason, text, code)


def _mismatch(checks: tuple[tuple[str, str, str], ...]) -> str:
    for name, in_topic, in_payload in checks:
        if in_topic != in_payload:
            return (
                f"topic/payload mismatch: {name} is {in_topic!r} in the topic,"
                f" {in_payload!r} in the payload"
            )
    return ""


def _describe(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    if errors and errors[0]["type"] == "json_invalid":
        return f"invalid JSON: {errors[0]['msg']}"
    described = []
    for error in errors[:_MAX_ERRORS]:
        where = ".".join(str(part) for part in error["loc"]) or "(message)"
        described.append(f"{where}: {error['msg']}")
    more = len(errors) - _MAX_ERRORS
    tail = f" (and {more} more)" if more > 0 else ""
    return f"schema error: {'; '.join(described)}{tail}"
