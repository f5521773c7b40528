"""Running the API in-process for tests: a real SQLite file, a settable clock, real users.

async with running_api(tmp_path, clock) as api:
    token = await api.user("wang", "technician", sites=["demo"])
    response = await api.client.get("/api/v1/me", headers=bearer(token))
"""

from __future__ import annotations

import re
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
from api.users import NewUser, create_user, issue_token, set_password
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


WEB_PASSWORD = "correct horse battery"


async def web_login(api: RunningApi, username: str, role: Role, **fields: Any) -> None:
    """Create ``username`` with :data:`WEB_PASSWORD` and log ``api.client`` in through the
    login form, as a browser does (its session cookie stays on the client)."""
    now = api.services.clock()
    sessions = api.services.sessions
    new = NewUser(username=username, role=role, **fields)
    await create_user(SqlUnitOfWork(sessions), new, actor="cli:test", at=now)
    await set_password(SqlUnitOfWork(sessions), username, WEB_PASSWORD, actor="cli:test", at=now)
    form = await api.client.get("/login", headers={"Accept": "text/html"})
    answer = await api.client.post(
        "/login",
        data={"csrf_token": csrf_of(form.text), "username": username, "password": WEB_PASSWORD},
        headers={"Accept": "text/html"},
    )
    assert answer.status_code == 303, answer.text[answer.text.find("<main") :][:600]


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)
