"""The InfluxDB schema: wire messages to line-protocol points (pure).

Every telemetry, event and status message becomes points as follows (message ``tags``
are tags too, except on ``gateway``):

| measurement | tags | fields | time |
|---|---|---|---|
| `elevator` | `site`, `device_id` | the reading's fields | reading `ts` |
| `charger` | `site`, `device_id` | cabinet fields (not `portN.*`) | reading `ts` |
| `charger_port` | `site`, `device_id`, `port` (N) | `portN.<name>` as `<name>` | reading `ts` |
| `smoke_alarm` | `site`, `device_id` | the reading's fields | reading `ts` |
| `event` | `site`, `device_type`, `device_id`, `kind` | `detail` fields, `seq` (int) | event `ts` |
| `gateway` | `site`, `gateway_id` | `state` (string), status numbers | status `ts` |

One ``charger_port`` point per port per reading. The ``gateway`` numbers: ``uptime_s``,
``devices_online``, ``devices_degraded``, ``devices_offline``, ``buffer_depth``,
``buffer_bytes``, ``buffer_dropped``, ``poll_overruns``, ``dead_letters`` and, when the
gateway measured them, ``poll_p50_ms``, ``poll_p95_ms``, ``poll_p99_ms``, ``poll_max_ms``.

Rules behind the table:

- The measurement of a telemetry reading is the message's ``device_type``; any device
  type with ``portN.<name>`` fields gets a ``<device_type>_port`` measurement for them
  (only chargers have ports today). Other repeated groups (``relayN.enabled``) stay on
  the device's own measurement under their catalogue key.
- Message ``tags`` (``building``, ``location``, ...) become tags, but never override
  ``site``, ``device_id``, ``device_type``, ``kind`` or ``port``: identity comes from the
  message header.
- Field values keep the type they arrived with: integers stay integers (written ``5i``),
  floats stay floats, bools and strings as such. InfluxDB fixes a field's type per shard
  on first write, so a producer must not send one key as an int here and a float there.
- Time is the reading's (or event's, or status's) own timestamp, in ns: never the time
  of arrival.

**Replays do not double-count.** A point's series (measurement and tag set) and time
depend only on the message's content, never on when or how often it arrives. InfluxDB
keeps one value per field per series and time, so a message delivered twice (QoS 1 is at
least once; ingest may also re-send a batch after a timeout) overwrites the same values
with the same values: counts, sums and means are unchanged. The flip side: two distinct
events of one device and kind with the same ``ts`` would merge; the gateway's timestamps
have microsecond resolution, so this does not happen in practice.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping

from estatewatch.influx.schema import EVENT_MEASUREMENT, GATEWAY_MEASUREMENT, PORT_SUFFIX, time_ns
from estatewatch.wire import EventMessage, GatewayStatus, TelemetryMessage
from ingest.line_protocol import FieldValue, Point

__all__ = [
    "points_from_event",
    "points_from_status",
    "points_from_telemetry",
    "port_of",
]

_PORT_KEY = re.compile(r"^port([1-9][0-9]*)\.(.+)$")
# Each field key's (port, name), or None for a device's own field: the same few hundred
# keys come in every reading, so the split is remembered (and forgotten past the limit,
# so a stream of unique keys cannot eat memory).
_port_of: dict[str, tuple[str, str] | None] = {}
_PORT_CACHE_LIMIT = 10_000


def port_of(key: str) -> tuple[str, str] | None:
    """``key``'s port and name in the port's own measurement (``"3", "power"`` for
    ``port3.power``); None for a device's own field."""
    try:
        return _port_of[key]
    except KeyError:
        pass
    match = _PORT_KEY.match(key) if key.startswith("port") else None
    split = None if match is None else (match[1], match[2])
    if len(_port_of) >= _PORT_CACHE_LIMIT:
        _port_of.clear()
    _port_of[key] = split
    return split


def _may_have_ports(fields: Mapping[str, object]) -> bool:
    """Whether a key of ``fields`` starts with ``port``: one join and one search in C, where
    a test per key costs more than the rest of a port-less reading's point."""
    return "\0port" in "\0" + "\0".join(fields)


def points_from_telemetry(msg: TelemetryMessage) -> list[Point]:
    """One point per reading on ``msg.device_type``, plus one per port per reading."""
    tags = {**msg.tags, "site": msg.site, "device_id": msg.device_id}
    tags.pop("port", None)
    port_measurement = msg.device_type + PORT_SUFFIX
    points: list[Point] = []
    for reading in msg.readings:
        ts = time_ns(reading.ts)
        if not _may_have_ports(reading.fields):
            # Most devices have no ports: the reading is one point, its fields as they came.
            if reading.fields:
                points.append(Point(msg.device_type, tags, reading.fields, ts))
            continue
        own: dict[str, FieldValue] = {}
        ports: defaultdict[str, dict[str, FieldValue]] = defaultdict(dict)
        for key, value in reading.fields.items():
            split = port_of(key)
            if split is None:
                own[key] = value
            else:
                ports[split[0]][split[1]] = value
        if own:
            points.append(Point(msg.device_type, tags, own, ts))
        # Sorted numerically so the points come out port1, port2, ..., port10.
        for port in sorted(ports, key=int):
            points.append(Point(port_measurement, {**tags, "port": port}, ports[port], ts))
    return points


def points_from_event(msg: EventMessage) -> list[Point]:
    """One ``event`` point: ``detail`` fields plus the gateway's ``seq``."""
    tags = {
        **msg.tags,
        "site": msg.site,
        "device_type": msg.device_type,
        "device_id": msg.device_id,
        "kind": msg.kind,
    }
    fields: dict[str, FieldValue] = {**msg.detail, "seq": msg.seq}
    return [Point(EVENT_MEASUREMENT, tags, fields, time_ns(msg.ts))]


def points_from_status(status: GatewayStatus) -> list[Point]:
    """One ``gateway`` point with the status's numbers and its ``state``."""
    fields: dict[str, FieldValue] = {
        "state": status.state,
        "uptime_s": float(status.uptime_s),
        "devices_online": status.devices_online,
        "devices_degraded": status.devices_degraded,
        "devices_offline": status.devices_offline,
        "buffer_depth": status.buffer_depth,
        "buffer_bytes": status.buffer_bytes,
        "buffer_dropped": status.buffer_dropped,
        "poll_overruns": status.poll_overruns,
        "dead_letters": status.dead_letters,
    }
    lateness = status.poll_lateness
    if lateness is not None:
        fields["poll_p50_ms"] = float(lateness.p50_ms)
        fields["poll_p95_ms"] = float(lateness.p95_ms)
        fields["poll_p99_ms"] = float(lateness.p99_ms)
        fields["poll_max_ms"] = float(lateness.max_ms)
    tags = {"site": status.site, "gateway_id": status.gateway_id}
    return [Point(GATEWAY_MEASUREMENT, tags, fields, time_ns(status.ts))]
