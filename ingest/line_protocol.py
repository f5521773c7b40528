"""InfluxDB line protocol: pure encoding of points, on the ingest hot path.

One line per point::

    measurement,tag1=v1,tag2=v2 field1=1i,field2=2.5,field3="text",field4=true 1700000000000000000

Escaping (InfluxDB 1.x and 2.x agree on these):

- measurement: ``,`` and space are backslash-escaped;
- tag keys, tag values and field keys: ``,``, ``=`` and space are backslash-escaped;
- string field values: double-quoted, with ``"`` and ``\\`` backslash-escaped.

Types: ``bool`` -> ``true``/``false`` (checked before ``int``, since ``bool`` is an
``int`` to Python), ``int`` -> ``<n>i``, ``float`` -> ``repr``, ``str`` -> quoted.

Tags are written sorted by key (InfluxDB indexes series faster when clients sort), and
tags with an empty value are dropped (line protocol cannot express them).

Line protocol has no escape for a newline, so nothing we write may contain one; a batch
split on ``\\n`` (a 413 retry) must never cut a point in two:

- a newline or carriage return in a string *field value* is written as the two
  characters ``\\n``/``\\r`` (lossy, but a free-text field keeps its line);
- a newline in a measurement, tag or field key, a measurement starting with ``#`` (a
  comment line), a name ending in a backslash (it would escape the delimiter after it)
  or an empty name cannot be written faithfully: that tag, field or point is left out
  and reported;
- ``nan`` and ``inf`` floats, and integers outside int64, have no line protocol form:
  the field is left out and reported; a point left with no fields is left out.

Reports go to the ``problems`` list the caller passes to :func:`encode` (the ingest
service counts and logs them); :func:`encode` never raises for bad data, so one odd
reading cannot fail a whole batch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "FieldValue",
    "Point",
    "Problem",
    "encode",
    "field_prefix",
    "series_key",
    "string_value",
]

FieldValue = bool | int | float | str

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

# Escaped names repeat endlessly (the same few hundred keys, device ids and sites), so
# escaping is memoised; the caches are cleared when they grow past this many entries so a
# stream of unique values cannot eat memory.
_CACHE_LIMIT = 100_000


@dataclass(frozen=True, slots=True)
class Point:
    """One line: a measurement, its tags, typed fields and a timestamp in ns since 1970."""

    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, FieldValue]
    time_ns: int


@dataclass(frozen=True, slots=True)
class Problem:
    """Something :func:`encode` left out: the whole point (``key`` empty) or one item."""

    measurement: str
    key: str
    reason: str


_measurement_cache: dict[str, str | None] = {}
_name_cache: dict[str, str | None] = {}
_series_cache: dict[tuple[object, ...], str] = {}
# A field key's "escaped=" prefix, or "" when the key cannot be written.
_field_cache: dict[str, str] = {}


def _escape_measurement(name: str) -> str | None:
    escaped = _measurement_cache.get(name)
    if escaped is None and name not in _measurement_cache:
        if not name or "\n" in name or "\r" in name or name[0] == "#" or name[-1] == "\\":
            escaped = None
        else:
            escaped = name.replace(",", "\\,").replace(" ", "\\ ")
        if len(_measurement_cache) >= _CACHE_LIMIT:
            _measurement_cache.clear()
        _measurement_cache[name] = escaped
    return escaped


def _escape_name(name: str) -> str | None:
    """Escape a tag key, tag value or field key; ``None`` if it cannot be written."""
    escaped = _name_cache.get(name)
    if escaped is None and name not in _name_cache:
        if not name or "\n" in name or "\r" in name or name[-1] == "\\":
            escaped = None
        else:
            escaped = name.replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")
        if len(_name_cache) >= _CACHE_LIMIT:
            _name_cache.clear()
        _name_cache[name] = escaped
    return escaped


def string_value(value: str) -> str:
    """A string field value as line protocol writes it: quoted and escaped."""
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    if '"' in value:
        value = value.replace('"', '\\"')
    if "\n" in value or "\r" in value:
        value = value.replace("\n", "\\n").replace("\r", "\\r")
    return f'"{value}"'


def _field_value(value: FieldValue) -> str | None:
    kind = type(value)
    if kind is float:
        assert isinstance(value, float)
        return repr(value) if math.isfinite(value) else None
    if kind is int:
        assert isinstance(value, int)
        return f"{value}i" if _INT64_MIN <= value <= _INT64_MAX else None
    if kind is bool:
        return "true" if value else "false"
    if kind is str:
        assert isinstance(value, str)
        return string_value(value)
    # Subclasses (an IntEnum, numpy scalars via float()) are rare: the slow, exact path.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return _field_value(int(value))
    if isinstance(value, float):
        return _field_value(float(value))
    if isinstance(value, str):
        # str() of a (str, Enum) member is its name; str.__str__ is the text itself.
        return string_value(str.__str__(value))
    return None


def field_prefix(key: str) -> str:
    """A field key's escaped ``key=``; "" if the key cannot be written."""
    prefix = _field_cache.get(key)
    if prefix is None:
        # InfluxDB refuses a field named "time".
        escaped = None if key == "time" else _escape_name(key)
        prefix = "" if escaped is None else f"{escaped}="
        if len(_field_cache) >= _CACHE_LIMIT:
            _field_cache.clear()
        _field_cache[key] = prefix
    return prefix


def _report(problems: list[Problem] | None, point: Point, key: str, reason: str) -> None:
    if problems is not None:
        problems.append(Problem(point.measurement, key, reason))


def _series_key(point: Point, problems: list[Problem] | None) -> str | None:
    measurement = _escape_measurement(point.measurement)
    if measurement is None:
        _report(problems, point, "", "measurement cannot be written")
        return None
    parts = [measurement]
    tags = point.tags
    for key in sorted(tags):
        value = tags[key]
        if not value:
            continue
        escaped_key = _escape_name(key)
        escaped_value = _escape_name(value)
        if escaped_key is None or escaped_value is None:
            # Dropping one tag would silently merge this series into another one.
            _report(problems, point, key, "tag cannot be written")
            return None
        parts.append(f"{escaped_key}={escaped_value}")
    return ",".join(parts)


def series_key(measurement: str, tags: Mapping[str, str]) -> str | None:
    """A line's escaped ``measurement,tag=value,...``; None if it cannot be written."""
    return _series_key(Point(measurement, tags, {}, 0), None)


def encode(points: Iterable[Point], problems: list[Problem] | None = None) -> bytes:
    """Encode ``points`` as line protocol, one ``\\n``-terminated line per point.

    Fields, tags or points that cannot be written are left out and, if ``problems`` is
    given, appended to it (see the module docstring).
    """
    lines: list[str] = []
    append = lines.append
    field_cache = _field_cache
    series_cache = _series_cache
    for point in points:
        # Most points of a batch share a few hundred series, so the escaped series key is
        # memoised on the raw (measurement, tags) pair; building it is the slow part.
        raw_series = (point.measurement, *point.tags.items())
        series = series_cache.get(raw_series)
        if series is None:
            series = _series_key(point, problems)
            if series is None:
                continue
            if len(series_cache) >= _CACHE_LIMIT:
                series_cache.clear()
            series_cache[raw_series] = series
        fields: list[str] = []
        add = fields.append
        for key, value in point.fields.items():
            prefix = field_cache.get(key)
            if prefix is None:
                prefix = field_prefix(key)
            if not prefix:
                _report(problems, point, key, "field key cannot be written")
                continue
            # Inlined type dispatch: this loop runs once per field, millions of times a
            # minute (bools too: 17 of an elevator reading's 38 fields). ``type() is`` keeps bool
            # (an int subclass) out of the int branch.
            if type(value) is float:
                if value - value == 0.0:  # false for nan and +-inf
                    add(prefix + repr(value))
                    continue
                text = None
            elif type(value) is int:
                if _INT64_MIN <= value <= _INT64_MAX:
                    add(f"{prefix}{value}i")
                    continue
                text = None
            elif type(value) is bool:
                add(prefix + ("true" if value else "false"))
                continue
            else:
                text = _field_value(value)
            if text is None:
                _report(problems, point, key, f"field value {value!r} cannot be written")
                continue
            add(prefix + text)
        if not fields:
            _report(problems, point, "", "no field left to write")
            continue
        append(f"{series} {','.join(fields)} {point.time_ns}\n")
    return "".join(lines).encode()
