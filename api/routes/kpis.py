"""``GET /kpis?from=&to=``: the maintenance KPIs of a period (at most a year and a day).

Per-elevator trips come from InfluxDB when it answers (``trips: ok``); otherwise the KPIs
are computed without them and ``trips`` says why.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Final

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from api.deps import AppServices, Clock, ReadSession
from api.errors import Problem
from api.policy import allow
from api.routes.assets import with_telemetry
from api.schemas.committee import KpisOut
from estatewatch.influx.query import InfluxReader
from maintenance.db.read.kpi_frames import kpi_frames
from maintenance.domain.kpis import KpiFrames, compute_kpis

__all__ = ["MAX_PERIOD", "router"]

router = APIRouter(tags=["kpis"])

MAX_PERIOD: Final = timedelta(days=366)


def _invalid(field: str, message: str) -> Problem:
    return Problem(
        422,
        f"invalid request: {field}: {message}",
        kind="validation",
        extra={"errors": [{"field": field, "where": "query", "message": message}]},
    )


@router.get("/kpis", dependencies=[allow("admin", "manager", "committee", "supervisor")])
async def kpis(
    start: Annotated[AwareDatetime, Query(alias="from", description="ISO 8601 with a zone")],
    end: Annotated[
        AwareDatetime,
        Query(
            alias="to",
            description=(
                f"ISO 8601 with a zone, exclusive; after from, at most {MAX_PERIOD.days} days on"
            ),
        ),
    ],
    session: ReadSession,
    services: AppServices,
    clock: Clock,
) -> KpisOut:
    if end <= start:
        raise _invalid("to", "must be after from")
    if end - start > MAX_PERIOD:
        raise _invalid("to", f"the period is at most {MAX_PERIOD.days} days")

    async def frames(reader: InfluxReader | None) -> KpiFrames:
        return await kpi_frames(session, start, end, policy=services.sla_policy, reader=reader)

    inputs, trips = await with_telemetry(services.influx, frames)
    return KpisOut(kpis=compute_kpis(inputs, start, end, as_of=clock()), trips=trips)
