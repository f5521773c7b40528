"""A device's telemetry over a time range, downsampled, as JSON or CSV.

``GET /assets/{device_id}/telemetry?fields=speed,floor&from=...&to=...&every=1m``

Bounds, so one request cannot ask InfluxDB for a year of 1 Hz data: the range is at most
:data:`MAX_RANGE`, at most :data:`MAX_FIELDS` fields, and at most :data:`MAX_POINTS`
intervals per field; ``every`` defaults to the smallest whole second that keeps within
them. Field names must match :data:`estatewatch.influx.query.NAME_PATTERN`; together with the
register lookup (an unknown device id is a 404 before InfluxDB is asked) nothing a caller
sends reaches the query text unchecked. Times need a zone (``Z`` or ``+08:00``).
The parameters' patterns (:data:`FIELDS_PATTERN`, :data:`EVERY_PATTERN`) and zoned times
put these rules in the OpenAPI document; what a pattern cannot say (the range, the
points) is in the parameters' descriptions and checked here.
Charger ports: ``port=N`` reads the ``charger_port`` measurement for that port.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Annotated, Final

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import AwareDatetime

from api.deps import CurrentUser, Influx, ReadSession
from api.errors import Problem
from api.policy import allow
from api.routes.assets import SiteQuery, plain_value, visible_asset
from api.schemas.assets import TelemetryOut
from api.schemas.formats import FormatQuery, csv_response, wants_csv
from estatewatch.durations import parse_duration
from estatewatch.influx.query import NAME_PATTERN, Aggregate
from estatewatch.influx.schema import PORT_SUFFIX

__all__ = ["EVERY_PATTERN", "FIELDS_PATTERN", "MAX_FIELDS", "MAX_POINTS", "MAX_RANGE", "router"]

router = APIRouter(tags=["telemetry"])

MAX_RANGE: Final = timedelta(days=31)
MAX_FIELDS: Final = 20
MAX_POINTS: Final = 10_000
_BARE_NAME: Final = NAME_PATTERN.strip("^$")
FIELDS_PATTERN: Final = rf"^ *{_BARE_NAME} *(, *{_BARE_NAME} *){{0,{MAX_FIELDS - 1}}}$"
"""``fields`` as the document states it: 1 to :data:`MAX_FIELDS` names, commas between."""
EVERY_PATTERN: Final = r"^[1-9][0-9]{0,7}[smhdw]?$"
"""``every`` as the document states it: a whole number of one unit (no zero, no sign)."""


def _invalid(field: str, message: str) -> Problem:
    return Problem(
        422,
        f"invalid request: {field}: {message}",
        kind="validation",
        extra={"errors": [{"field": field, "where": "query", "message": message}]},
    )


def _fields(text: str) -> list[str]:
    """The names ``fields`` lists (:data:`FIELDS_PATTERN` checked them), each once."""
    return list(dict.fromkeys(name.strip() for name in text.split(",")))


def _every(text: str | None, span: timedelta) -> timedelta:
    if text is None:
        return timedelta(seconds=max(1, math.ceil(span.total_seconds() / MAX_POINTS)))
    every = timedelta(seconds=parse_duration(text))  # EVERY_PATTERN: whole, at least 1 s
    if span / every > MAX_POINTS:
        raise _invalid("every", f"{text} gives more than {MAX_POINTS} points in the range")
    return every


def _range(start: datetime, end: datetime) -> timedelta:
    if end <= start:
        raise _invalid("to", "must be after from")
    if end - start > MAX_RANGE:
        raise _invalid("to", f"the range is at most {MAX_RANGE.days} days")
    return end - start


@router.get(
    "/assets/{device_id}/telemetry",
    dependencies=[allow("admin", "manager", "committee", "supervisor", "technician")],
    response_model=TelemetryOut,
    responses={200: {"content": {"text/csv": {}}, "description": "JSON, or CSV when asked"}},
)
async def telemetry(
    request: Request,
    device_id: Annotated[str, Path(min_length=1, max_length=64)],
    fields: Annotated[
        str,
        Query(
            max_length=2000,
            pattern=FIELDS_PATTERN,
            description=f"comma-separated field names, at most {MAX_FIELDS}",
        ),
    ],
    start: Annotated[AwareDatetime, Query(alias="from", description="ISO 8601 with a zone")],
    end: Annotated[
        AwareDatetime,
        Query(
            alias="to",
            description=f"ISO 8601 with a zone, after from and at most {MAX_RANGE.days} days on",
        ),
    ],
    me: CurrentUser,
    session: ReadSession,
    reader: Influx,
    every: Annotated[
        str | None,
        Query(
            max_length=16,
            pattern=EVERY_PATTERN,
            description=(
                f"a whole number of s, m, h, d or w (default s), e.g. 10s, 1m, 1h; at most"
                f" {MAX_POINTS} intervals in the range (default: the fewest seconds within that)"
            ),
        ),
    ] = None,
    aggregate: Aggregate = "mean",
    port: Annotated[int | None, Query(ge=1, le=64, description="a charger port")] = None,
    site: SiteQuery = None,
    fmt: FormatQuery = None,
) -> TelemetryOut | Response:
    names = _fields(fields)
    step = _every(every, _range(start, end))
    asset = await visible_asset(session, me.user, device_id, site)
    if port is not None and asset.kind != "charger_cabinet":
        raise _invalid("port", f"{device_id} is a {asset.kind}, which has no ports")
    measurement = asset.device_type + (PORT_SUFFIX if port is not None else "")
    try:
        frame = await reader.series(
            measurement, asset.device_id, names, start, end,
            every=step, aggregate=aggregate, port=port, site=asset.site,
        )  # fmt: skip
    except ValueError as exc:  # the query builder's refusal: the request's fault
        raise _invalid("fields", str(exc)) from None
    frame["time"] = frame["time"].map(lambda t: t.isoformat())
    if wants_csv(request, fmt):
        return csv_response(
            frame.to_csv(index=False, lineterminator="\n"), f"{device_id}-telemetry.csv"
        )
    return TelemetryOut(
        device_id=asset.device_id,
        site=asset.site,
        measurement=measurement,
        fields=names,
        start=start,
        end=end,
        every_seconds=step.total_seconds(),
        aggregate=aggregate,
        points=[
            {str(k): plain_value(v) for k, v in row.items()} for row in frame.to_dict("records")
        ],
    )
