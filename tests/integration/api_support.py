"""Running the API in-process for tests: a real SQLite file, a settable clock, real users.

async with running_api(tmp_path, clock) as api:
    token = await api.user("wang", "technician", sites=["demo"])
    response = await api.client.get("/api/v1/me", headers=bearer(token))
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI

from api.app import create_app
from api.deps import Services
from api.settings import ApiSettings
from api.users import NewUser, create_user, issue_token
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.actors import Role

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


class SettableClock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class RunningApi:
    app: FastAPI
    client: httpx.AsyncClient

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    async def user(
        self,
        username: str,
        role: Role,
        *,
        sites: Sequence[str] = (),
        unit: str | None = None,
        expires_in: timedelta = timedelta(days=30),
    ) -> str:
        """Create a user (as the CLI does) and return a bearer token for them."""
        now = self.services.clock()
        sessions = self.services.sessions
        new = NewUser(username=username, role=role, sites=list(sites), unit=unit)
        await create_user(SqlUnitOfWork(sessions), new, actor="cli:test", at=now)
        issued = await issue_token(
            SqlUnitOfWork(sessions),
            username,
            expires_at=now + expires_in,
            label=None,
            actor="cli:test",
            at=now,
        )
        return issued.secret


@asynccontextmanager
async def running_api(
    tmp_path: Path,
    clock: SettableClock | None = None,
    *,
    routers: Sequence[APIRouter] | None = None,
    **settings: Any,
) -> AsyncIterator[RunningApi]:
    # A fresh database per test, which this API is the one process to migrate.
    fields: dict[str, Any] = {"data_dir": tmp_path / "data", "mqtt_port": 1, "migrate": True}
    fields |= settings
    app = create_app(ApiSettings(**fields), clock=clock or SettableClock(), routers=routers)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api") as client,
    ):
        yield RunningApi(app, client)
