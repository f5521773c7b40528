"""The routers the app mounts: add yours to ``ROUTERS`` (mounted under ``/api/v1``).

One explicit list, so the route table is what this file says; the authorisation-matrix
test (tests/integration/test_api_authorization_matrix.py) covers whatever is listed.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.routes import (
    alarms,
    assets,
    committee,
    events,
    inspections,
    kpis,
    photos,
    plans,
    quarantine,
    requests,
    rescues,
    system,
    telemetry,
    users,
    work_orders,
)

__all__ = ["ROOT_ROUTERS", "ROUTERS"]

# Served at the root, outside the versioned API: /healthz and /readyz.
ROOT_ROUTERS: list[APIRouter] = [system.router]

ROUTERS: list[APIRouter] = [
    users.router,
    work_orders.router,
    photos.router,
    alarms.router,
    requests.router,
    rescues.router,
    committee.router,
    kpis.router,
    assets.router,
    inspections.router,
    telemetry.router,
    events.router,
    plans.router,
    quarantine.router,
]
