"""What a route handler can ask for: ``Annotated`` aliases over FastAPI's ``Depends``.

- ``CurrentUser``: :class:`Principal`; ``.user`` is the :class:`~api.users.User` record
  (role, sites, unit), ``.actor`` the domain ``Actor``. No or a bad token: 401.
- ``Uow``: a fresh ``SqlUnitOfWork``, not yet entered: hand it to a
  ``maintenance.services`` use case, which opens and commits it.
- ``Session``: an ``AsyncSession`` on the writable pool, closed after the request;
  ``ReadSession`` one on the read-only pool. Both are for reads: every change goes
  through a ``Uow``. (The hottest reads open a bare Core connection of the read-only
  engine, ``AppServices.reader``, themselves: :mod:`api.routes.work_orders`.)
- ``Clock``: the injected clock (``now = clock()``, aware UTC).
- ``Settings``: :class:`~api.settings.ApiSettings`; ``Sla``: the ``SlaPolicy``.
- ``Influx``: an ``InfluxReader``; 503 when no InfluxDB is configured.
- ``Photos``: the :class:`~maintenance.photo_store.PhotoStore` of work-order photos.
- ``Page``: :class:`PageParams` from ``?limit=&offset=`` (limit at most ``page_size_max``,
  which the app writes into the OpenAPI document: :func:`takes_page`).
- ``AppServices``: the whole :class:`Services` (health checks, the live hub).

On SQLite every transaction takes the write lock at its start (see
:mod:`maintenance.db.engine`): finish with a ``Session`` (commit or close its transaction)
before a ``Uow`` use case runs, or the second waits for the first until busy_timeout.

Example (a resource route; the policy is declared with :func:`api.policy.allow`)::

    from functools import partial
    from fastapi import APIRouter
    from api.deps import Clock, CurrentUser, Uow, Sla
    from api.policy import allow
    from api.visibility import can_see_order
    from maintenance import services
    from maintenance.domain import commands as cmd

    router = APIRouter(prefix="/work-orders", tags=["work orders"])

    @router.post("/{order_id}/start", dependencies=[allow("manager", "technician")])
    async def start(order_id: str, me: CurrentUser, uow: Uow, clock: Clock,
                    sla: Sla) -> OrderOut:
        # someone else's order is a 404, decided in the transaction that changes it
        result = await services.perform(uow, cmd.Start(order_id), me.actor, clock, sla,
                                        visible=partial(can_see_order, me.user))
        return OrderOut.of(result.order)

Nothing here is built at import time: the app factory puts one :class:`Services` on
``app.state.services`` in its lifespan, and these dependencies read it from the request.

Every dependency here is ``async def``, even those that do not await: FastAPI runs a
plain ``def`` dependency in a worker thread and waits for it, a trip that cost more than
the rest of a small dependency's work several times over (a list request had five).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.auth import Authenticated, AuthFailure, VerifiedTokens, authenticate
from api.errors import Problem
from api.live import LiveHub
from api.settings import ApiSettings
from api.users import User
from estatewatch.clock import Clock as ClockFn
from estatewatch.influx.query import InfluxReader
from maintenance.db.errors import StorageError
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.actors import Actor
from maintenance.domain.sla import SlaPolicy
from maintenance.photo_store import PhotoStore

__all__ = [
    "AppServices",
    "Clock",
    "CurrentUser",
    "Influx",
    "Page",
    "PageParams",
    "Photos",
    "Principal",
    "Services",
    "Session",
    "Settings",
    "Sla",
    "Uow",
    "current_user",
    "services_of",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Services:
    """Everything the composition root built for this app's lifetime."""

    settings: ApiSettings
    clock: ClockFn
    sessions: async_sessionmaker[AsyncSession]
    readers: async_sessionmaker[AsyncSession]  # read-only: never waits for a writer
    reader: AsyncEngine  # the readers' engine, for bare Core connections
    sla_policy: SlaPolicy
    influx: InfluxReader | None
    photos: PhotoStore
    live: LiveHub
    tokens: VerifiedTokens  # recently accepted bearer tokens (see api.auth)


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller."""

    user: User

    @property
    def actor(self) -> Actor:
        return self.user.actor


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    offset: int


def services_of(request: Request) -> Services:
    """What the lifespan put on the app. The dependencies below call this instead of
    depending on :data:`AppServices`: FastAPI solves a dependency's dependencies anew for
    every use, even cached ones, and that solving was a sixth of a detail's time."""
    services = getattr(request.app.state, "services", None)
    if not isinstance(services, Services):
        raise RuntimeError("the API runs without its lifespan: use create_app() under a server")
    return services


async def _services(request: Request) -> Services:
    return services_of(request)


AppServices = Annotated[Services, Depends(_services)]

_bearer = HTTPBearer(
    auto_error=False,
    description="A token from 'estatewatch tokens create' or POST /api/v1/users/{username}/tokens",
)

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="estatewatch"'}
_INVALID = {"WWW-Authenticate": 'Bearer realm="estatewatch", error="invalid_token"'}


async def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller behind the ``Authorization: Bearer`` header; 401 without a valid one."""
    services = services_of(request)
    if credentials is None:
        raise Problem(
            401,
            "authentication required: send 'Authorization: Bearer <token>'",
            kind="unauthenticated",
            headers=_CHALLENGE,
        )
    now = services.clock()
    secret = credentials.credentials
    if (accepted := services.tokens.get(secret, now)) is not None:
        return Principal(accepted.user)
    async with services.readers() as reader:
        found = await authenticate(reader, secret, now)
    if isinstance(found, Authenticated):
        if found.stale and services.tokens.start_marking(found.token_id):
            try:
                await _mark_used(services, found.token_id, now)
            finally:
                services.tokens.done_marking(found.token_id)
        services.tokens.put(secret, found, now)
    if isinstance(found, AuthFailure):
        log.info("bearer token refused: %s", found.reason)
        raise Problem(
            401,
            "the bearer token is invalid, expired or revoked",
            kind="invalid-token",
            headers=_INVALID,
        )
    return Principal(found.user)


async def _mark_used(services: Services, token_id: int, now: datetime) -> None:
    """Write a token's last use: bookkeeping, so a database too busy to take it (SQLite's
    write lock held past its timeout) costs a warning, not the caller's request; a later
    request marks it."""
    try:
        async with SqlUnitOfWork(services.sessions) as uow:
            await uow.accounts.touch(token_id, now)
            await uow.commit()
    except (OperationalError, StorageError) as exc:
        log.warning("token %d: its last use not recorded, the database is busy: %s", token_id, exc)


CurrentUser = Annotated[Principal, Depends(current_user)]


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with services_of(request).sessions() as session:
        yield session


Session = Annotated[AsyncSession, Depends(_session)]


async def _read_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with services_of(request).readers() as session:
        yield session


ReadSession = Annotated[AsyncSession, Depends(_read_session)]
"""A read-only session (SQLite: a deferred transaction on a query_only connection): for
routes that only read, so they never queue behind a writer's lock."""


async def _uow(request: Request) -> SqlUnitOfWork:
    services = services_of(request)
    return SqlUnitOfWork(services.sessions, sla=services.sla_policy)


Uow = Annotated[SqlUnitOfWork, Depends(_uow)]


async def _clock(request: Request) -> ClockFn:
    return services_of(request).clock


Clock = Annotated[ClockFn, Depends(_clock)]


async def _settings(request: Request) -> ApiSettings:
    return services_of(request).settings


Settings = Annotated[ApiSettings, Depends(_settings)]


async def _sla(request: Request) -> SlaPolicy:
    return services_of(request).sla_policy


Sla = Annotated[SlaPolicy, Depends(_sla)]


async def _influx(request: Request) -> InfluxReader:
    services = services_of(request)
    if services.influx is None:
        raise Problem(
            503,
            "telemetry is not available: the API has no InfluxDB configured"
            " (ESTATEWATCH_API_INFLUX_URL)",
            kind="telemetry-unavailable",
        )
    return services.influx


Influx = Annotated[InfluxReader, Depends(_influx)]


async def _page(
    request: Request,
    limit: Annotated[int, Query(ge=1, description="items per page (at most page_size_max)")] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="items to skip")] = 0,
) -> PageParams:
    bound = services_of(request).settings.page_size_max
    if limit > bound:
        raise Problem(
            422,
            f"invalid request: limit: at most {bound} items per page",
            kind="validation",
            extra={"errors": [{"field": "limit", "where": "query", "message": f"at most {bound}"}]},
        )
    return PageParams(limit, offset)


Page = Annotated[PageParams, Depends(_page)]


def takes_page(dependant: Dependant) -> bool:
    """Whether a route takes a :data:`Page` (the app writes ``page_size_max`` into its
    OpenAPI document as the ``maximum`` of ``limit``)."""
    return any(d.call is _page or takes_page(d) for d in dependant.dependencies)


async def _photos(request: Request) -> PhotoStore:
    return services_of(request).photos


Photos = Annotated[PhotoStore, Depends(_photos)]
