"""The API's composition root: ``create_app(settings)`` builds the FastAPI application.

Nothing is created at import time. The lifespan opens the maintenance database (checks
that it is at the code's revision, or migrates it when ``settings.migrate``: see
:func:`maintenance.db.migrations.prepare_schema`), the InfluxDB reader when ``influx_url``
is set and the live hub (:mod:`api.live`), and puts them on ``app.state.services``
(:class:`api.deps.Services`) for the dependencies in :mod:`api.deps`. The API sends no
webhooks: the maintenance worker relays them from the audit trail
(:mod:`maintenance.webhook_relay`). Resource routers come from :data:`api.routes.ROUTERS`
and are mounted under ``/api/v1``; the OpenAPI document is at ``/openapi.json``, its pages
at ``/docs``. The web app for people (:mod:`api.web`) is mounted at ``/`` by
:func:`api.web.install_web`. Prometheus metrics (:mod:`api.metrics`) are served on a port
of their own (``metrics_port``), never on the application's.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from api.auth import ForgetVerifiedOnWrites, VerifiedTokens
from api.deps import Services, takes_page
from api.errors import PROBLEM_RESPONSES, CatchAllMiddleware, install_error_handlers
from api.limits import BodyLimitMiddleware
from api.live import LiveHub
from api.metrics import RequestMetricsMiddleware, register_live
from api.policy import PUBLIC, api_routes, route_policies
from api.settings import ApiSettings
from estatewatch import __version__
from estatewatch.clock import Clock, utc_now
from estatewatch.influx.query import InfluxReader
from estatewatch.metrics import MetricsEndpoint, process_registry
from maintenance.config_files import load_sla_policy
from maintenance.db.engine import make_sessionmaker, open_engine
from maintenance.db.migrations import prepare_schema
from maintenance.db.uow import SqlUnitOfWork
from maintenance.photo_store import PhotoStore
from maintenance.services import refresh_due_times

__all__ = ["API_PREFIX", "create_app", "end_live_streams"]

API_PREFIX = "/api/v1"


def create_app(
    settings: ApiSettings,
    *,
    clock: Clock = utc_now,
    routers: Sequence[APIRouter] | None = None,
) -> FastAPI:
    """The application; ``routers`` defaults to :data:`api.routes.ROUTERS`."""
    from api.routes import ROOT_ROUTERS, ROUTERS
    from api.web.app import install_web
    from api.web.errors import internal_error

    # Read the files now, so a bad one stops the command before the server starts.
    sla_policy = load_sla_policy(settings.sla_policy_path)
    registry = process_registry("api")
    tokens = VerifiedTokens()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(
                MetricsEndpoint(
                    registry,
                    settings.metrics_host,
                    settings.metrics_port,
                    service="api",
                    log=logging.getLogger("estatewatch.api"),
                )
            )
            engine = await stack.enter_async_context(open_engine(settings.database_url))
            await prepare_schema(engine, migrate=settings.migrate)
            reader = await stack.enter_async_context(
                open_engine(settings.database_url, read_only=True)
            )
            influx = (
                await stack.enter_async_context(
                    InfluxReader(
                        settings.influx_url,
                        settings.influx_database,
                        username=settings.influx_username,
                        password=settings.influx_password,
                    )
                )
                if settings.influx_url
                else None
            )
            sessions = make_sessionmaker(engine)
            readers = make_sessionmaker(reader)
            live = await stack.enter_async_context(
                LiveHub(
                    readers,
                    interval=settings.live_poll_interval,
                    queue_bytes=settings.live_queue_bytes,
                )
            )
            # Due times are stored under a policy: recompute those another one computed.
            await refresh_due_times(SqlUnitOfWork(sessions, sla=sla_policy))
            app.state.services = Services(
                settings,
                clock,
                sessions,
                readers,
                reader,
                sla_policy,
                influx,
                PhotoStore(settings.photo_root),
                live,
                tokens,
            )
            # FastAPI builds its routes' dependency models on first use; building the
            # OpenAPI document builds them all now, so the first caller after a restart
            # does not wait for it (a first 404 took 0.75 s on an idle host, 5.6 s under
            # load) and /docs is ready.
            app.openapi()
            yield

    app = FastAPI(
        title="estatewatch",
        version=__version__,
        description=(
            "Building sensors and facility maintenance for residential compounds: assets,"
            " telemetry, alarms, work orders, resident requests and the owners' committee."
            " Authenticate with 'Authorization: Bearer <token>'. Errors are"
            " application/problem+json."
        ),
        lifespan=lifespan,
        docs_url=None,  # FastAPI's own loads Swagger UI from a CDN: served below instead
        redoc_url=None,  # one page of documentation is enough
    )
    _swagger_ui(app)
    install_error_handlers(app)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        upload_max_bytes=settings.upload_max_bytes,
    )
    app.add_middleware(CatchAllMiddleware, answer=internal_error)
    # Outside the catch-all, so that its 500 answers forget the tokens too.
    app.add_middleware(ForgetVerifiedOnWrites, tokens=tokens)
    # Outermost, so refusals by the middlewares above (413, 500) are timed too.
    app.add_middleware(RequestMetricsMiddleware, registry=registry)
    register_live(registry, lambda: _live_clients(app))
    for router in ROOT_ROUTERS:
        app.include_router(router)
    for router in ROUTERS if routers is None else routers:
        app.include_router(router, prefix=API_PREFIX, responses=PROBLEM_RESPONSES)
    install_web(app, settings)
    _document(app, settings)
    return app


def _swagger_ui(app: FastAPI) -> None:
    """``/docs``: Swagger UI over ``/openapi.json``, its script and style from the npm
    package ``swagger-ui-dist`` (:data:`api.web.app.VENDOR_FILES`), so it works on a
    site's LAN with no way out to a CDN."""

    async def docs(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url="/static/vendor/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui.css",
            swagger_favicon_url="/static/vendor/swagger-favicon.png",
        )

    app.add_route("/docs", docs, include_in_schema=False)


def end_live_streams(app: FastAPI) -> None:
    """End the open event streams, which would otherwise hold a stopping server open."""
    services = getattr(app.state, "services", None)
    if isinstance(services, Services):
        services.live.close()


def _live_clients(app: FastAPI) -> int:
    services = getattr(app.state, "services", None)
    return services.live.clients if isinstance(services, Services) else 0


def _document(app: FastAPI, settings: ApiSettings) -> None:
    """Show each operation's allowed roles in the OpenAPI document as ``x-allowed-roles``,
    and the page size this app's settings allow."""
    plain_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        schema = plain_openapi()
        for (method, path), policy in route_policies(app).items():
            operation = schema.get("paths", {}).get(path, {}).get(method.lower())
            if operation is not None and policy is not None:
                operation["x-allowed-roles"] = [PUBLIC] if policy == PUBLIC else sorted(policy)
        for entry in api_routes(app):
            if takes_page(entry.dependant):
                for method in entry.methods:
                    operation = schema["paths"][entry.path][method.lower()]
                    for parameter in operation.get("parameters", []):
                        if (parameter["in"], parameter["name"]) == ("query", "limit"):
                            parameter["schema"]["maximum"] = settings.page_size_max
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
