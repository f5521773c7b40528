"""The fast lane: telemetry in which everything passes, straight to line protocol (pure).

Nearly every message a worker takes is version 1 or 2 telemetry in which every field
passes the central checks. The full path (:func:`ingest.decode.decode`: pydantic's wire
schema, :class:`~estatewatch.screen.Screen`, points, line protocol) builds three sets of
objects for it and walks every field four times. The fast lane reads the JSON once and
writes each field's line protocol as it checks it, against the same things: the topic,
the wire schema's keys and names, the screen's profile rules, tags and time window, and
line protocol's escaping (:mod:`ingest.line_protocol`).

It takes only what it is sure of. At the first thing that is not plainly fine (an
unknown key, a value out of range or of another type, a timestamp not written as
gateways write them, a tag seen for the first time that fails, an event, a status) it
gives up, and the message takes the full path, which stores what passes and says why
the rest does not in a dead letter. So a worker stores and dead-letters exactly what the
full path alone would: ``tests/unit/test_ingest_golden.py`` holds both to the same
record, on the benchmark's traffic, hostile messages and mutated ones.
"""

from __future__ import annotations

import re
import sys
from datetime import datetime
from math import copysign
from typing import Any, Final

import orjson

from estatewatch.inbound import MAX_WIRE_PAYLOAD_BYTES, Rejected
from estatewatch.influx.schema import PORT_SUFFIX, time_ns
from estatewatch.screen import FieldRule, Screen
from estatewatch.wire import (
    BUNDLE_SCHEMA_VERSION,
    NAME_PATTERN,
    SCHEMA_VERSION,
    TOPIC_ROOT,
    DeviceTelemetry,
    Reading,
    TelemetryBundle,
    TelemetryMessage,
)
from ingest.decode import Decoded, decode
from ingest.line_protocol import field_prefix, series_key, string_value
from ingest.points import port_of

__all__ = ["FastLane"]

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_FLOAT_MAX: Final = sys.float_info.max
_NAME: Final = re.compile(NAME_PATTERN)
# A timestamp as gateways write them (pydantic's UTC datetimes): seconds, up to six
# decimals, an offset. pydantic reads other forms too; those take the full path.
_TS: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})"
)
# Names, series and timestamps repeat endlessly; each memo is cleared past this size so
# a stream of new ones cannot eat memory.
_MEMO_LIMIT: Final = 100_000


def _keys(model: type[Any]) -> tuple[frozenset[str], frozenset[str]]:
    """A wire model's keys, and those it requires."""
    fields = model.model_fields
    return frozenset(fields), frozenset(k for k, f in fields.items() if f.is_required())


_MESSAGE_KEYS, _MESSAGE_REQUIRED = _keys(TelemetryMessage)
_BUNDLE_KEYS, _BUNDLE_REQUIRED = _keys(TelemetryBundle)
_DEVICE_KEYS, _DEVICE_REQUIRED = _keys(DeviceTelemetry)
_READING_KEYS, _ = _keys(Reading)

# A field as the fast lane checks and writes it: the type it passes as (None: a string),
# its bounds, its escaped "key=" and its port (None: the device's own measurement).
_Field = tuple[type | None, float, float, str, str | None, FieldRule]


def _field(key: str, rule: FieldRule) -> _Field | None:
    """``key``'s entry in a profile's table; None if line protocol cannot write it."""
    split = port_of(key)
    port, name = (None, key) if split is None else split
    prefix = field_prefix(name)
    if not prefix:
        return None
    # Bounds within what line protocol writes: an int64, a finite float.
    if rule.kind == "int":
        low, high = max(rule.low, _INT64_MIN), min(rule.high, _INT64_MAX)
    else:
        low, high = max(rule.low, -_FLOAT_MAX), min(rule.high, _FLOAT_MAX)
    return rule.exact, low, high, prefix, port, rule


def _version(message: dict[str, Any], version: int) -> bool:
    """Whether ``message`` is of schema ``version`` (an int: ``true`` equals 1 too)."""
    given = message.get("schema_version", version)
    return type(given) is int and given == version


class FastLane:
    """A worker's decoder: the fast lane where it can, the full path where it cannot.

    ``fast`` and ``full`` count the messages each way.
    """

    def __init__(self, screen: Screen) -> None:
        self._screen = screen
        self._max_readings = screen.limits.max_readings
        self._tables: dict[tuple[str, str], dict[str, _Field] | None] = {}
        self._names: set[str] = set()
        self._series: dict[tuple[object, ...], tuple[str | None, dict[str, str]]] = {}
        self._times: dict[str, int | None] = {}
        # Values as line protocol writes them: registers at a fixed scale hold a few
        # thousand distinct values, and repr() of a float costs 0.2 us (a reading has ~13).
        self._floats: dict[float, str] = {}
        self._ints: dict[int, str] = {}
        self.fast = 0
        self.full = 0

    def decode(self, topic: str, payload: bytes) -> Decoded | Rejected:
        """:func:`ingest.decode.decode` with the screen, the fast way when it can be."""
        decoded = self._decode(topic, payload)
        if decoded is None:
            self.full += 1
            return decode(topic, payload, self._screen)
        self.fast += 1
        return decoded

    def _decode(self, topic: str, payload: bytes) -> Decoded | None:
        parts = topic.split("/")
        if (
            len(parts) != 5
            or parts[0] != TOPIC_ROOT
            or parts[4] != "telemetry"
            or len(payload) > MAX_WIRE_PAYLOAD_BYTES
        ):
            return None
        try:
            message = orjson.loads(payload)
        except orjson.JSONDecodeError:  # not UTF-8, not JSON, nested too deep
            return None
        if type(message) is not dict:
            return None
        _, site, device_type, device_id, _ = parts
        keys = message.keys()
        gateway_id, seq = message.get("gateway_id"), message.get("seq")
        if (
            type(seq) is not int
            or seq < 0
            or message.get("site") != site
            or not (self._name(site) and self._name(gateway_id))
        ):
            return None
        earliest, latest = (time_ns(moment) for moment in self._screen.window())
        lines: list[str] = []
        if device_type == "gateway":  # a bundle (wire version 2)
            devices = message.get("devices")
            if (
                gateway_id != device_id
                or not _BUNDLE_REQUIRED <= keys <= _BUNDLE_KEYS
                or not _version(message, BUNDLE_SCHEMA_VERSION)
                or type(devices) is not list
                or not devices
            ):
                return None
            for part in devices:
                if (
                    type(part) is not dict
                    or not _DEVICE_REQUIRED <= part.keys() <= _DEVICE_KEYS
                    or not self._device(part, site, earliest, latest, lines)
                ):
                    return None
        elif (
            not _MESSAGE_REQUIRED <= keys <= _MESSAGE_KEYS
            or not _version(message, SCHEMA_VERSION)
            or message["device_type"] != device_type
            or message["device_id"] != device_id
            or not self._device(message, site, earliest, latest, lines)
        ):
            return None
        try:
            body = "".join(lines).encode()
        except UnicodeEncodeError:  # a lone surrogate from a JSON escape
            return None
        assert isinstance(gateway_id, str)
        return Decoded(topic, "telemetry", gateway_id, seq, body, len(lines))

    def _device(
        self, part: dict[str, Any], site: str, earliest: int, latest: int, lines: list[str]
    ) -> bool:
        """Append the lines of one device's telemetry to ``lines``; False if anything in
        it is not plainly fine."""
        device_type, device_id = part["device_type"], part["device_id"]
        tags, units = part.get("tags", {}), part.get("units", {})
        readings = part["readings"]
        if not (self._name(device_type) and self._name(device_id)):
            return False
        table = self._table(part["profile"], device_type)
        if (
            table is None
            or type(tags) is not dict
            or type(units) is not dict
            or type(readings) is not list
            or not 0 < len(readings) <= self._max_readings
            or "port" in tags  # identity comes from the header: the full path drops it
        ):
            return False
        fine_tag = self._screen.fine_tag
        for key, value in tags.items():
            if type(value) is not str or not fine_tag(key, value):
                return False
        for value in units.values():
            if type(value) is not str:
                return False
        own_series, port_series = self._series_of(device_type, tags, site, device_id)
        if own_series is None:
            return False
        for reading in readings:
            if type(reading) is not dict or reading.keys() != _READING_KEYS:
                return False
            ts, fields = self._time(reading["ts"]), reading["fields"]
            if ts is None or not earliest <= ts <= latest or type(fields) is not dict:
                return False
            own: list[str] = []
            ports: dict[str, list[str]] | None = None
            floats, ints = self._floats, self._ints
            for key, value in fields.items():
                spec = table.get(key)
                if spec is None:
                    return False
                exact, low, high, prefix, port, rule = spec
                kind = type(value)
                # The screen's rule and line protocol's form, in one step.
                if kind is exact:
                    if kind is bool:
                        text = prefix + ("true" if value else "false")
                    elif not low <= value <= high:  # also NaN
                        return False
                    elif kind is float:
                        if value:
                            text = prefix + (floats.get(value) or self._float_text(value))
                        else:  # 0.0 and -0.0: one key to a dict, two texts
                            text = prefix + ("-0.0" if copysign(1.0, value) < 0 else "0.0")
                    else:
                        text = prefix + (ints.get(value) or self._int_text(value))
                elif kind is int and exact is float and low <= value <= high:
                    text = prefix + repr(float(value))  # the screen makes it a float
                elif (
                    exact is None
                    and kind is str
                    and (rule.choices is None or value in rule.choices)
                    and len(value) <= rule.max_length
                ):
                    text = prefix + string_value(value)
                else:
                    return False
                if port is None:
                    own.append(text)
                else:
                    if ports is None:
                        ports = {port: [text]}
                    elif (group := ports.get(port)) is None:
                        ports[port] = [text]
                    else:
                        group.append(text)
            if not own and ports is None:  # a reading without fields
                return False
            stamp = f" {ts}\n"
            if own:
                lines.append(f"{own_series} {','.join(own)}{stamp}")
            if ports is not None:
                # Numerically, as the full path writes them: port1, port2, ..., port10.
                for port in sorted(ports, key=int):
                    series = port_series.get(port)
                    if series is None:
                        series = series_key(
                            device_type + PORT_SUFFIX,
                            {**tags, "site": site, "device_id": device_id, "port": port},
                        )
                        if series is None:
                            return False
                        port_series[port] = series  # as many as the profile has ports
                    lines.append(f"{series} {','.join(ports[port])}{stamp}")
        return True

    def _name(self, name: object) -> bool:
        """Whether ``name`` is a wire name (a site, gateway, device type or id)."""
        if type(name) is not str:
            return False
        if name in self._names:
            return True
        if _NAME.fullmatch(name) is None:
            return False
        if len(self._names) >= _MEMO_LIMIT:
            self._names.clear()
        self._names.add(name)
        return True

    def _table(self, profile: object, device_type: str) -> dict[str, _Field] | None:
        """The fields of ``profile`` as the fast lane checks and writes them; None if it
        is no catalogue profile of ``device_type``."""
        if type(profile) is not str:
            return None
        try:
            return self._tables[profile, device_type]
        except KeyError:
            pass
        known = self._screen.profile(profile)
        table: dict[str, _Field] | None = None
        if known is not None and known[0] == device_type:
            table = {}
            for key, rule in known[1].items():
                entry = _field(key, rule)
                if entry is not None:
                    table[key] = entry
        # Profiles are few (a catalogue's); a stream of made-up ones is bounded here.
        if len(self._tables) >= _MEMO_LIMIT:
            self._tables.clear()
        self._tables[profile, device_type] = table
        return table

    def _series_of(
        self, device_type: str, tags: dict[str, str], site: str, device_id: str
    ) -> tuple[str | None, dict[str, str]]:
        """The escaped series of a device's own points, and its ports' series as
        :meth:`_device` finds them."""
        memo = (device_type, site, device_id, *tags.items())
        known = self._series.get(memo)
        if known is None:
            own = series_key(device_type, {**tags, "site": site, "device_id": device_id})
            known = own, {}
            if len(self._series) >= _MEMO_LIMIT:
                self._series.clear()
            self._series[memo] = known
        return known

    def _float_text(self, value: float) -> str:
        """``value`` (not a zero) as line protocol writes a float, remembered."""
        text = repr(value)
        if len(self._floats) >= _MEMO_LIMIT:
            self._floats.clear()
        self._floats[value] = text
        return text

    def _int_text(self, value: int) -> str:
        """``value`` as line protocol writes an integer, remembered."""
        text = f"{value}i"
        if len(self._ints) >= _MEMO_LIMIT:
            self._ints.clear()
        self._ints[value] = text
        return text

    def _time(self, text: object) -> int | None:
        """``text`` as ns since 1970 if it is a timestamp as gateways write them."""
        if type(text) is not str:
            return None
        try:
            return self._times[text]
        except KeyError:
            pass
        ns = None
        if _TS.fullmatch(text) is not None:
            try:
                ns = time_ns(datetime.fromisoformat(text))
            except ValueError:  # month 13, hour 25, ...
                ns = None
        if len(self._times) >= _MEMO_LIMIT:
            self._times.clear()
        self._times[text] = ns
        return ns
