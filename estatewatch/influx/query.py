"""The read side: InfluxQL over the InfluxDB 1.x HTTP API, answers as pandas DataFrames.

Used by maintenance and the API. Two layers:

- pure query builders (:func:`latest_query`, :func:`series_query`, :func:`quote_identifier`,
  :func:`quote_string`), unit-tested without a server;
- :class:`InfluxReader`, an async context manager around one ``httpx.AsyncClient`` that
  runs them and turns the JSON into DataFrames.

**No InfluxQL injection.** Nothing a caller passes reaches the query text unescaped:
identifiers are double-quoted (``"`` and ``\\`` escaped), tag values are single-quoted
string literals (``'``, ``\\`` and newlines escaped), measurement and field names must
also match :data:`NAME_PATTERN`, aggregates come from :data:`AGGREGATES`, and durations
and times are integers formatted here. A hostile device id therefore only ever matches
no series.

**Types.** InfluxDB's JSON writes the float ``54.0`` as ``54``, so column types come from
``SHOW FIELD KEYS`` (sent with every query), not from the JSON: integer fields are
``int64`` (``Int64`` if a column has gaps), floats ``float64``, booleans ``bool``
(``boolean`` with gaps), strings as pandas infers them. ``time`` is
``datetime64[ns, UTC]``; ``port`` (on ``*_port`` measurements) is an ``int64``.

Errors: :class:`InfluxQueryError` (a :class:`~estatewatch.errors.ServiceError`) when
InfluxDB cannot be reached, answers with an HTTP error, or reports an error for the
statement; :class:`ValueError` for a request we refuse to build (a bad name, aggregate,
duration or naive datetime).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Literal, Self

import httpx
import pandas as pd

from estatewatch.errors import ServiceError
from estatewatch.influx.schema import PORT_SUFFIX, time_ns

__all__ = [
    "AGGREGATES",
    "NAME_PATTERN",
    "Aggregate",
    "InfluxQueryError",
    "InfluxReader",
    "format_duration",
    "latest_query",
    "quote_identifier",
    "quote_string",
    "series_query",
]

# Catalogue keys and our measurement names; deliberately narrower than InfluxDB allows.
NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]{0,127}$"
_NAME = re.compile(NAME_PATTERN)

Aggregate = Literal["mean", "max", "min", "last", "count"]
AGGREGATES: tuple[Aggregate, ...] = ("mean", "max", "min", "last", "count")

_FIELD_DTYPES = {"integer": "int64", "float": "float64", "boolean": "bool", "string": None}
_WITH_GAPS = {"int64": "Int64", "bool": "boolean"}


class InfluxQueryError(ServiceError):
    """InfluxDB could not be reached, or refused or failed a query."""


def quote_identifier(name: str) -> str:
    """``name`` as an InfluxQL double-quoted identifier."""
    return '"' + _escape(name).replace('"', '\\"') + '"'


def quote_string(value: str) -> str:
    """``value`` as an InfluxQL single-quoted string literal."""
    return "'" + _escape(value).replace("'", "\\'") + "'"


def _escape(text: str) -> str:
    # InfluxQL's scanner ends a quoted token with an error at a raw newline, and
    # understands \n: escaping keeps a hostile value one literal, not a parse error. It
    # has no escape for a carriage return; dropping it would match another name.
    if "\r" in text:
        raise ValueError(f"InfluxQL cannot express a carriage return, in {text!r}")
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _check_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"{what} {name!r} is not a valid name (expected {NAME_PATTERN})")
    return name


def format_duration(every: timedelta) -> str:
    """A positive ``timedelta`` as an InfluxQL duration literal (``60s``, ``250ms``)."""
    if not isinstance(every, timedelta):
        raise ValueError(f"every must be a timedelta, not {type(every).__name__}")
    micros = every // timedelta(microseconds=1)
    if micros <= 0:
        raise ValueError(f"every must be positive, not {every}")
    if micros % 1_000_000 == 0:
        return f"{micros // 1_000_000}s"
    if micros % 1_000 == 0:
        return f"{micros // 1_000}ms"
    raise ValueError(f"every must be a whole number of milliseconds, not {every}")


def _time_literal(when: datetime, what: str) -> str:
    if not isinstance(when, datetime) or when.tzinfo is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, not {when!r}")
    # A bare integer in a time comparison is nanoseconds since the epoch.
    return str(time_ns(when))


def _is_port_measurement(measurement: str) -> bool:
    return measurement.endswith(PORT_SUFFIX)


def _group_tags(measurement: str) -> list[str]:
    return ["device_id", "port"] if _is_port_measurement(measurement) else ["device_id"]


def _show_fields(measurement: str) -> str:
    return f"SHOW FIELD KEYS FROM {quote_identifier(measurement)}"


def latest_query(
    measurement: str, *, site: str | None = None, device_ids: Iterable[str] | None = None
) -> str:
    """Three statements: each field's last value, the latest reading's time, field types.

    Fields are polled at different rates (a slow group every minute), so the latest
    reading alone would leave slow fields empty: every field is its own ``LAST``.
    """
    _check_name(measurement, "measurement")
    conditions = []
    if site is not None:
        conditions.append(f'"site" = {quote_string(site)}')
    if device_ids is not None:
        ids = list(device_ids)
        if not ids:
            raise ValueError("device_ids is empty: pass None for every device")
        conditions.append("(" + " OR ".join(f'"device_id" = {quote_string(i)}' for i in ids) + ")")
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    group = ", ".join(quote_identifier(t) for t in _group_tags(measurement))
    source = f"FROM {quote_identifier(measurement)}{where} GROUP BY {group}"
    return (
        f"SELECT LAST(*) {source}; "
        f"SELECT * {source} ORDER BY time DESC LIMIT 1; "
        f"{_show_fields(measurement)}"
    )


def series_query(
    measurement: str,
    device_id: str,
    fields: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    every: timedelta | None = None,
    aggregate: Aggregate = "mean",
    port: int | None = None,
    site: str | None = None,
) -> str:
    """Two statements: the range ``[start, end)`` (raw or per ``every``), field types.

    ``site`` narrows to one site's device where two sites share a device id."""
    _check_name(measurement, "measurement")
    if isinstance(fields, str) or not fields:
        raise ValueError("fields must be a non-empty sequence of field names")
    names = [_check_name(f, "field") for f in fields]
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate {aggregate!r} is not one of {', '.join(AGGREGATES)}")
    if port is not None and (type(port) is not int or port < 1):
        raise ValueError(f"port must be a positive integer, not {port!r}")
    conditions = [f'"device_id" = {quote_string(device_id)}']
    if site is not None:
        conditions.append(f'"site" = {quote_string(site)}')
    if port is not None:
        conditions.append(f'"port" = {quote_string(str(port))}')
    conditions.append(f"time >= {_time_literal(start, 'start')}")
    conditions.append(f"time < {_time_literal(end, 'end')}")
    if every is None:
        columns = ", ".join(quote_identifier(n) for n in names)
    else:
        columns = ", ".join(
            f"{aggregate}({quote_identifier(n)}) AS {quote_identifier(n)}" for n in names
        )
    group = []
    if every is not None:
        group.append(f"time({format_duration(every)})")
    if port is None and _is_port_measurement(measurement):
        group.append('"port"')
    text = f"SELECT {columns} FROM {quote_identifier(measurement)} WHERE {' AND '.join(conditions)}"
    if group:
        text += f" GROUP BY {', '.join(group)}"
    if every is not None:
        # Empty intervals are left out rather than filled with nulls, so columns keep
        # their types; a chart sees a gap as a missing timestamp.
        text += " fill(none)"
    return f"{text}; {_show_fields(measurement)}"


class InfluxReader:
    """Queries one InfluxDB 1.x database; ``async with InfluxReader(...) as reader:``.

    Pass ``client`` to share an ``httpx.AsyncClient`` (it is then not closed here);
    otherwise one is opened on enter and closed on exit.
    """

    def __init__(
        self,
        url: str,
        database: str,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.database = database
        self._auth = (username, password or "") if username is not None else None
        self._timeout = timeout
        self._client = client
        self._owns_client = client is None

    def __repr__(self) -> str:
        return f"InfluxReader({self.url!r}, {self.database!r})"

    async def __aenter__(self) -> Self:
        if self._owns_client:
            self._client = httpx.AsyncClient(timeout=self._timeout)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def latest(
        self,
        measurement: str,
        *,
        site: str | None = None,
        device_ids: Iterable[str] | None = None,
    ) -> pd.DataFrame:
        """One row per device (and port): ``device_id``, [``port``,] ``time``, fields.

        Each field is its own latest value; ``time`` is that of the device's latest point.
        Columns are every field of the measurement (empty where a device has none).
        ``device_ids=[]`` asks for no device and gets an empty frame.
        """
        tags = _group_tags(measurement)
        ids = None if device_ids is None else [i for i in device_ids if _expressible(i)]
        if ids == [] or (site is not None and not _expressible(site)):
            return _frame([], tags, {}, [])
        text = latest_query(measurement, site=site, device_ids=ids)
        values, times, fields = await self._statements(text, 3)
        types = _field_types(fields)
        times_by_key = {_series_key(s, tags): row[0] for s in times for row in s["values"][:1]}
        rows: list[dict[str, Any]] = []
        for series in values:
            key = _series_key(series, tags)
            columns = [c.removeprefix("last_") for c in series["columns"]]
            record = dict(zip(columns, series["values"][0], strict=True))
            record.pop("time", None)
            rows.append({**dict(zip(tags, key, strict=True)), "time": times_by_key.get(key)})
            rows[-1].update(record)
        return _frame(rows, tags, types, list(types))

    async def series(
        self,
        measurement: str,
        device_id: str,
        fields: Sequence[str],
        start: datetime,
        end: datetime,
        *,
        every: timedelta | None = None,
        aggregate: Aggregate = "mean",
        port: int | None = None,
        site: str | None = None,
    ) -> pd.DataFrame:
        """``time`` and ``fields`` of one device (of ``site``, if given) in ``[start, end)``,
        oldest first.

        Raw points, or one row per ``every`` interval with ``aggregate`` of each field
        (empty intervals left out). On a ``*_port`` measurement without ``port``, a
        ``port`` column tells the ports apart.
        """
        tags = ["port"] if port is None and _is_port_measurement(measurement) else []
        matchable = _expressible(device_id) and (site is None or _expressible(site))
        text = series_query(
            measurement,
            device_id if matchable else "",
            fields,
            start,
            end,
            every=every,
            aggregate=aggregate,
            port=port,
            site=site if matchable else None,
        )
        if not matchable:
            return _frame([], tags, {}, fields)
        values, field_series = await self._statements(text, 2)
        stored = _field_types(field_series)
        types: dict[str, str | None] = {}
        for name in fields:
            if every is not None and aggregate == "mean":
                types[name] = "float64"
            elif every is not None and aggregate == "count":
                types[name] = "int64"
            else:
                types[name] = stored.get(name)
        rows: list[dict[str, Any]] = []
        for series in values:
            key = _series_key(series, tags)
            head = dict(zip(tags, key, strict=True))
            columns = series["columns"]
            rows.extend(
                {**head, **dict(zip(columns, row, strict=True))} for row in series["values"]
            )
        frame = _frame(rows, tags, types, fields)
        sort = ["time", *tags]
        return frame.sort_values(sort, kind="stable", ignore_index=True) if len(frame) else frame

    async def _statements(self, text: str, count: int) -> list[list[dict[str, Any]]]:
        """Run ``text`` and return each statement's list of series."""
        client = self._client
        if client is None:
            raise RuntimeError(f"{self!r} is used outside 'async with'")
        try:
            response = await client.post(
                f"{self.url}/query",
                data={"db": self.database, "q": text, "epoch": "ns"},
                auth=self._auth if self._auth is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.HTTPError as exc:
            raise InfluxQueryError(f"InfluxDB at {self.url} unreachable: {exc!r}") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            detail = body.get("error") if isinstance(body, dict) else response.text[:200]
            raise InfluxQueryError(
                f"InfluxDB at {self.url} answered HTTP {response.status_code}: {detail}"
            )
        if "error" in body:
            raise InfluxQueryError(f"InfluxDB at {self.url} refused the query: {body['error']}")
        results = body.get("results", [])
        # After a failed statement the rest report "not executed"; with several statements
        # InfluxDB 1.6 reports a missing database only as "not executed".
        errors = [r["error"] for r in results if "error" in r and r["error"] != "not executed"]
        if not errors and any("error" in r for r in results):
            errors = [f"not executed (does database {self.database!r} exist?)"]
        if errors:
            reason = "; ".join(dict.fromkeys(errors))
            raise InfluxQueryError(f"InfluxDB at {self.url} failed the query: {reason}")
        if len(results) != count:
            raise InfluxQueryError(
                f"InfluxDB at {self.url} answered {len(results)} results for {count} statements"
            )
        statements = []
        for result in results:
            series = result.get("series", [])
            if result.get("partial") or any(s.get("partial") for s in series):
                raise InfluxQueryError(
                    f"InfluxDB at {self.url} truncated the result (max-row-limit): narrow the query"
                )
            statements.append(series)
        return statements


def _expressible(value: str) -> bool:
    """Whether ``value`` can be a tag value at all: the encoder never writes a CR."""
    return "\r" not in value


def _series_key(series: Mapping[str, Any], tags: Sequence[str]) -> tuple[str, ...]:
    series_tags = series.get("tags") or {}
    return tuple(str(series_tags.get(t, "")) for t in tags)


def _field_types(series: Sequence[Mapping[str, Any]]) -> dict[str, str | None]:
    types: dict[str, str | None] = {}
    for s in series:
        for key, kind in s.get("values", []):
            types.setdefault(key, _FIELD_DTYPES.get(kind))
    return types


def _frame(
    rows: Sequence[Mapping[str, Any]],
    tags: Sequence[str],
    types: Mapping[str, str | None],
    fields: Sequence[str],
) -> pd.DataFrame:
    """Columns ``tags``, ``time``, ``fields``, each typed as the module docstring says."""
    columns: dict[str, pd.Series[Any] | pd.Index[Any]] = {}
    for tag in tags:
        values = [row.get(tag) for row in rows]
        columns[tag] = (
            pd.Series([int(str(v)) for v in values], dtype="int64")
            if tag == "port"
            else pd.Series(values, dtype=object)
        )
    columns["time"] = pd.Series(
        pd.to_datetime(
            pd.Series([row.get("time") for row in rows], dtype="Int64"), unit="ns", utc=True
        )
        if rows
        else pd.Series([], dtype="datetime64[ns, UTC]")
    )
    for name in fields:
        columns[name] = _typed([row.get(name) for row in rows], types.get(name))
    return pd.DataFrame(columns)


def _typed(values: list[Any], dtype: str | None) -> pd.Series[Any]:
    if dtype is None:
        return pd.Series(values, dtype=object) if not values else pd.Series(values)
    if any(v is None for v in values):
        dtype = _WITH_GAPS.get(dtype, dtype)
    return pd.Series(values, dtype=dtype)
