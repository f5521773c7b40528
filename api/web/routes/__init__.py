"""The page routers ``install_web`` mounts at the root: add yours to ``PAGE_ROUTERS``
(build it with :func:`api.web.deps.page_router`, so it gets the CSRF check)."""

from __future__ import annotations

from fastapi import APIRouter

from api.web import orders
from api.web.routes import (
    account,
    admin,
    assets,
    board,
    committee,
    invite,
    live,
    login,
    public,
    quarantine,
    resident,
    staff_orders,
    supervise,
    tech,
    visits,
)

__all__ = ["PAGE_ROUTERS"]

PAGE_ROUTERS: list[APIRouter] = [
    login.router,
    account.router,
    invite.router,
    admin.router,
    quarantine.router,
    public.router,
    committee.router,
    tech.router,
    resident.router,
    orders.photo_router,
    live.router,
    board.router,
    assets.router,
    supervise.router,
    visits.router,
    staff_orders.router,
]
