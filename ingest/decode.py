"""Broker message to line protocol, or a reason to dead-letter it (pure, on the hot path).

:func:`decode` validates a message with the kernel's central checks (its ``screen``: the
service passes :class:`estatewatch.screen.Screen`; :func:`estatewatch.inbound.parse`, the
wire schema alone, is the default) and returns either a :class:`Decoded` (line protocol ready
for InfluxDB, with the gateway's id and ``seq`` for de-duplication statistics) or a
:class:`~estatewatch.inbound.Rejected` (topic, reason and payload text, for the
dead-letter log). It never raises: one bad message must not stop a worker. A valid
message is also rejected when nothing in it can be written as line protocol; individual
fields or points that line protocol cannot carry are left out and listed in
:attr:`Decoded.problems`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from estatewatch.inbound import PAYLOAD_TEXT_LIMIT, Kind, Parsed, Rejected, parse, reject
from estatewatch.wire import EventMessage, TelemetryMessage
from ingest.line_protocol import Point, Problem, encode
from ingest.points import points_from_event, points_from_status, points_from_telemetry

__all__ = ["PAYLOAD_TEXT_LIMIT", "Decoded", "Kind", "Rejected", "decode"]


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
    refused: Rejected | None = None
    """What the screen took out of the message (for the dead-letter file)."""


def decode(
    topic: str, payload: bytes, screen: Callable[[str, bytes], Parsed | Rejected] = parse
) -> Decoded | Rejected:
    """Validate ``payload`` against the model ``topic`` names and encode its points."""
    parsed = screen(topic, payload)
    if isinstance(parsed, Rejected):
        return parsed
    points: list[Point] = []
    # A bundle (wire version 2) is its devices' version 1 messages: the same points.
    for message in parsed.messages:
        if isinstance(message, TelemetryMessage):
            points += points_from_telemetry(message)
        elif isinstance(message, EventMessage):
            points += points_from_event(message)
        else:
            points += points_from_status(message)
    problems: list[Problem] = []
    lines = encode(points, problems)
    count = lines.count(b"\n")
    if not count:
        left_out = "; ".join(f"{p.measurement} {p.key}: {p.reason}".strip() for p in problems)
        return reject(
            topic, f"nothing writable as line protocol ({left_out})", payload, code="not_writable"
        )
    return Decoded(
        topic,
        parsed.kind,
        parsed.gateway_id,
        parsed.seq,
        lines,
        count,
        tuple(problems),
        parsed.refused,
    )
