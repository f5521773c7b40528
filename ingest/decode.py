"""Broker message to line protocol, or a reason to dead-letter it (pure, on the hot path).

:func:`decode` takes a topic and a payload as the broker delivered them and returns
either a :class:`Decoded` (line protocol ready for InfluxDB, with the gateway's id and
``seq`` for de-duplication statistics) or a :class:`Rejected` (topic, reason and payload
text, for the dead-letter log). It never raises: one bad message must not stop a worker.

The topic chooses the model (see :mod:`estatewatch.wire`)::

    estatewatch/{site}/{device_type}/{device_id}/telemetry   TelemetryMessage
    estatewatch/{site}/{device_type}/{device_id}/event       EventMessage
    estatewatch/{site}/gateway/{gateway_id}/status           GatewayStatus

A message is rejected when its topic is none of these, its payload is not JSON, it fails
the schema (the reason names the field), its site, device type and device id (or gateway
id) differ from the topic's, which would let a gateway write another device's series, or
nothing in it can be written as line protocol. Individual fields or points that line
protocol cannot carry are left out and listed in :attr:`Decoded.problems`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from pydantic import BaseModel, ValidationError

from estatewatch.wire import TOPIC_ROOT, EventMessage, GatewayStatus, TelemetryMessage
from ingest.line_protocol import Point, Problem, encode
from ingest.points import points_from_event, points_from_status, points_from_telemetry

__all__ = ["PAYLOAD_TEXT_LIMIT", "Decoded", "Kind", "Rejected", "decode"]

Kind = Literal["telemetry", "event", "status"]

# The gateway's dead letters keep this much of a payload; so do ours.
PAYLOAD_TEXT_LIMIT: Final = 8 * 1024
# A schema error lists this many problems at most; a garbage payload can have hundreds.
_MAX_ERRORS: Final = 3


@dataclass(frozen=True, slots=True)
class Decoded:
    """A valid message as line protocol: ``points`` lines in ``lines``."""

    topic: str
    kind: Kind
    gateway_id: str
    seq: int | None  # status messages carry none
    lines: bytes
    points: int
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message that cannot be stored, and why; ``payload_text`` is for the dead letter."""

    topic: str
    reason: str
    payload_text: str


def decode(topic: str, payload: bytes) -> Decoded | Rejected:
    """Validate ``payload`` against the model ``topic`` names and encode its points."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != TOPIC_ROOT:
        return _reject(topic, "unknown topic", payload)
    _, site, device_type, device_id, suffix = parts
    model: type[BaseModel]
    if suffix == "telemetry":
        model = TelemetryMessage
    elif suffix == "event":
        model = EventMessage
    elif suffix == "status" and device_type == "gateway":
        model = GatewayStatus
    else:
        return _reject(topic, "unknown topic", payload)
    try:
        message = model.model_validate_json(payload)
    except ValidationError as exc:
        return _reject(topic, _describe(exc), payload)

    points: list[Point]
    kind: Kind
    if isinstance(message, GatewayStatus):
        mismatch = _mismatch(
            (("site", site, message.site), ("gateway_id", device_id, message.gateway_id))
        )
        kind, seq, points = "status", None, points_from_status(message)
    else:
        assert isinstance(message, TelemetryMessage | EventMessage)
        mismatch = _mismatch(
            (
                ("site", site, message.site),
                ("device_type", device_type, message.device_type),
                ("device_id", device_id, message.device_id),
            )
        )
        if isinstance(message, TelemetryMessage):
            kind, points = "telemetry", points_from_telemetry(message)
        else:
            kind, points = "event", points_from_event(message)
        seq = message.seq
    if mismatch:
        return _reject(topic, mismatch, payload)

    problems: list[Problem] = []
    lines = encode(points, problems)
    count = lines.count(b"\n")
    if not count:
        left_out = "; ".join(f"{p.measurement} {p.key}: {p.reason}".strip() for p in problems)
        return _reject(topic, f"nothing writable as line protocol ({left_out})", payload)
    return Decoded(topic, kind, message.gateway_id, seq, lines, count, tuple(problems))


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


def _reject(topic: str, reason: str, payload: bytes) -> Rejected:
    text = payload[:PAYLOAD_TEXT_LIMIT].decode("utf-8", errors="replace")
    return Rejected(topic, reason, text)
