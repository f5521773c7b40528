"""``/healthz`` (the process answers) and ``/readyz`` (its database, broker and InfluxDB do).

``/readyz`` runs the three checks at once, each bounded by ``readiness_timeout``:
a ``SELECT 1`` on the database, a TCP connect to the central MQTT broker, and InfluxDB's
``/ping`` (skipped when no InfluxDB is configured). 200 when all pass; otherwise 503
problem+json whose ``checks`` say which failed and why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import httpx
from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from api.deps import AppServices, Services, Settings
from api.errors import problem_response
from api.policy import public

__all__ = ["router"]

router = APIRouter(tags=["system"])


class Check(BaseModel):
    ok: bool
    detail: str


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, Check]


@router.get("/healthz", dependencies=[public()])
async def healthz() -> Health:
    """Liveness: the process serves requests."""
    return Health(status="ok")


@router.get(
    "/readyz",
    dependencies=[public()],
    responses={503: {"description": "a dependency is down; 'checks' says which"}},
)
async def readyz(settings: Settings, services: AppServices) -> Any:
    """Readiness: the database, the broker and InfluxDB answer."""
    timeout = settings.readiness_timeout
    probes: dict[str, Awaitable[str]] = {
        "database": _database(services),
        "broker": _broker(settings.mqtt_host, settings.mqtt_port),
    }
    if settings.influx_url:
        probes["influxdb"] = _influx_ping(settings.influx_url)
    results = await asyncio.gather(*(_bounded(p, timeout) for p in probes.values()))
    checks = dict(zip(probes, results, strict=True))
    if all(check.ok for check in checks.values()):
        return Readiness(status="ready", checks=checks)
    down = ", ".join(name for name, check in checks.items() if not check.ok)
    return problem_response(
        None,
        503,
        f"not ready: {down} unavailable",
        kind="not-ready",
        path="/readyz",
        extra={"checks": {name: check.model_dump() for name, check in checks.items()}},
    )


async def _bounded(probe: Awaitable[str], seconds: float) -> Check:
    try:
        async with asyncio.timeout(seconds):
            return Check(ok=True, detail=await probe)
    except TimeoutError:
        return Check(ok=False, detail=f"no answer within {seconds:g} s")
    except Exception as exc:  # any failure of a probe is the answer, not an error
        return Check(ok=False, detail=f"{type(exc).__name__}: {exc}".rstrip(": "))


async def _database(services: Services) -> str:
    async with services.sessions() as session:
        await session.execute(text("SELECT 1"))
    return "answers"


async def _broker(host: str, port: int) -> str:
    _reader, writer = await asyncio.open_connection(host, port)
    writer.close()
    await writer.wait_closed()
    return f"{host}:{port} accepts connections"


async def _influx_ping(url: str) -> str:
    async with httpx.AsyncClient(trust_env=False) as client:
        response = await client.get(f"{url.rstrip('/')}/ping")
    if response.status_code != 204:
        raise RuntimeError(f"/ping answered {response.status_code}")
    return f"version {response.headers.get('X-Influxdb-Version', 'unknown')}"
