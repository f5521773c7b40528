"""The compound's public pages: its notice board (公示, no login) and its QR sheet.

``/public/<site>`` shows :func:`maintenance.public_board.public_board` (figures only, no
person in them) as tables and small charts, phone first and print friendly, and each
elevator's inspection certificate with an expired one flagged. ``/qr``
lists the sites for staff; ``/qr/<site>`` is the printable sheet (A4) with one code per
building and per elevator car, each opening the resident's report form with the place
filled in (:mod:`api.web.qr`), labelled in Chinese and English whatever the page's
language, since the sticker in the lift serves everyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Final

from fastapi import Path, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from api.deps import AppServices, ReadSession
from api.web.deps import PageDep, page_allow, page_public, page_router
from api.web.i18n import DEFAULT_LOCALE, N_
from api.web.plan_reasons import PLAN_REASONS
from api.web.qr import QR_ROLES, qr_svg, report_url
from estatewatch.wire import NAME_PATTERN
from maintenance.db.read.sites import BuildingPlaces, Car, get_site, list_sites, site_places
from maintenance.domain.inspections import InspectionStatus
from maintenance.public_board import PublicBoard, public_board

__all__ = ["CATEGORY_NAMES", "CERTIFICATE_STATUS", "QrLabel", "router"]

router = page_router()

SiteCode = Annotated[str, Path(pattern=NAME_PATTERN)]

CATEGORY_NAMES: Final = {
    "elevator": N_("Elevators"),
    "ebike_charging": N_("E-bike charging"),
    "fire_safety": N_("Fire safety"),
    "connectivity": N_("Monitoring network"),
    "plumbing": N_("Plumbing"),
    "lighting": N_("Lighting"),
    "cleaning": N_("Cleaning"),
    "maintenance_visit": N_("Maintenance visits"),
    "rescue": N_("Rescues"),
    "electrical": N_("Electricity"),
    "door": N_("Doors and access"),
    "fire": N_("Fire safety"),
    "other": N_("Other"),
    "uncategorised": N_("Other"),
}
"""Order categories as people read them (msgids): those alarms make, the maintenance
visits', and those a resident picks (``resident.CATEGORIES``); an unknown code is shown
as it is."""

BASIS_NAMES: Final = {
    "statutory": N_("Every 15 days, as the rules require"),
    "longer": N_("Longer: remotely monitored and in good health"),
    "shorter": N_("Shorter: monitoring found problems"),
}
"""Why a car's maintenance interval is what it is (:class:`~maintenance.public_board.CarPlan`)."""


CERTIFICATE_STATUS: Final = {
    InspectionStatus.VALID: {"label": N_("Valid"), "badge": "ok"},
    InspectionStatus.DUE_30: {"label": N_("Expires within 30 days"), "badge": "wait"},
    InspectionStatus.DUE_7: {"label": N_("Expires within 7 days"), "badge": "wait"},
    InspectionStatus.EXPIRED: {"label": N_("Expired"), "badge": "bad"},
    InspectionStatus.UNRECORDED: {"label": N_("No certificate on record"), "badge": "wait"},
}
"""An inspection status as the board shows it: its words (msgid) and badge."""


def _percent(share: float | None) -> float | None:
    return None if share is None else round(share * 100, 1)


def _charts(board: PublicBoard) -> dict[str, Any]:
    """The 13 months as chart series (the template adds the translated labels)."""
    months = board.months
    return {
        "labels": [m.month for m in months],
        "response": [_percent(m.response_sla.share) for m in months],
        "feedback": [_percent(m.feedback_sla.share) for m in months],
        "rating": [m.rating_average for m in months],
        "spending": [m.spending_total for m in months],
        "faults": [sum(car.faults for car in m.faults_by_car) for m in months],
    }


def _year_totals(board: PublicBoard) -> dict[str, Any]:
    """Sums over the 13 months shown: spending per category, faults per car."""
    spending: dict[str, float] = {}
    faults: dict[str, int] = {}
    for month in board.months:
        for category, amount in month.spending_by_category.items():
            spending[category] = round(spending.get(category, 0.0) + amount, 2)
        for car in month.faults_by_car:
            faults[car.device_id] = faults.get(car.device_id, 0) + car.faults
    return {"spending": dict(sorted(spending.items())), "faults": faults}


@router.get("/public", dependencies=[page_public()])
async def boards(page: PageDep, reader: ReadSession) -> HTMLResponse:
    """Every compound's notice board."""
    return page.render("public/index.html", {"sites": await list_sites(reader)})


@router.get("/public/{site}", dependencies=[page_public()])
async def notice_board(
    site: SiteCode, page: PageDep, reader: ReadSession, services: AppServices
) -> HTMLResponse:
    board = await public_board(reader, site, now=services.clock(), policy=services.sla_policy)
    return page.render(
        "public/board.html",
        {
            "board": board,
            "current": board.months[-1],
            "totals": _year_totals(board),
            "charts": _charts(board),
            "category_names": CATEGORY_NAMES,
            "certificate_status": CERTIFICATE_STATUS,
            "basis_names": BASIS_NAMES,
            "plan_reasons": PLAN_REASONS,
            "site_tz": board.timezone,
            "compound_name": board.name,
        },
    )


@router.get("/qr", dependencies=[page_allow(*QR_ROLES)])
async def qr_sites(page: PageDep, reader: ReadSession) -> HTMLResponse:
    return page.render("public/qr_sites.html", {"sites": await list_sites(reader)})


@dataclass(frozen=True, slots=True)
class QrLabel:
    """One sticker: a building's (``car`` None) or an elevator car's."""

    building: BuildingPlaces
    car: Car | None
    url: str
    svg: Markup


def _both(page: PageDep, message: str) -> dict[str, str]:
    """``message`` in Chinese and in English, for a bilingual label."""
    return {"zh": page.templates.gettext(DEFAULT_LOCALE, message), "en": message}


@router.get("/qr/{site}", dependencies=[page_allow(*QR_ROLES)])
async def qr_sheet(
    site: SiteCode, request: Request, page: PageDep, reader: ReadSession
) -> HTMLResponse:
    info = await get_site(reader, site)
    base = page.settings.public_base_url or str(request.base_url)
    labels = []
    for building in await site_places(reader, site):
        for car in (None, *building.elevators):
            url = report_url(base, site, building.code, None if car is None else car.device_id)
            labels.append(QrLabel(building, car, url, qr_svg(url)))
    board = f"{base.rstrip('/')}/public/{site}"
    return page.render(
        "public/qr_sheet.html",
        {
            "site": info,
            "labels": labels,
            "board": {"url": board, "svg": qr_svg(board)},
            "text": {
                "scan": _both(page, N_("Scan to report a problem")),
                "building": _both(page, N_("Building")),
                "elevator": _both(page, N_("Elevator")),
                "rescue": _both(page, N_("Rescue code")),
                "board": _both(page, N_("Public notice board")),
                "read": _both(page, N_("Scan to read the service figures")),
            },
            "site_tz": info.timezone,
            "compound_name": info.name,
        },
    )
