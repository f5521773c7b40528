"""The quarantine page (admins and managers): devices and gateways the maintenance
worker heard from but the asset register does not have, and the decision on each.

The same use cases as the JSON API (:mod:`api.routes.quarantine`): block keeps a sender
quarantined for good; register puts a gateway in its site at once, and a device after a
form with the facts a site file gives (its building, and for a car make, model,
installation date, rated load and speed, floors), validated by the site file's own model
(:mod:`maintenance.sites`), each refusal beside its field. Times are in each entry's
site's time zone.
"""

from __future__ import annotations

from typing import Final, Literal

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from api.deps import Clock, ReadSession, Uow
from api.web.deps import Page, PageDep, WebUser, page_allow, page_router
from api.web.forms import ANY, ErrorTable, field_errors
from api.web.i18n import N_
from api.web.routes.assets import KIND_NAMES
from maintenance.db.read.assets import DEVICE_TYPE_OF_KIND
from maintenance.db.read.quarantine import QuarantineEntry, quarantine_entries, quarantine_entry
from maintenance.db.read.sites import get_site, list_sites, site_places
from maintenance.domain.errors import InvalidRequest
from maintenance.services import quarantine
from maintenance.sites import ChargerCabinet, Elevator, SmokeAlarm

__all__ = ["router"]

router = page_router(prefix="/admin/quarantine")
_STAFF = page_allow("admin", "manager")
SHOWN: Final = 200
"""Entries the page lists at most, the most recently heard (the API pages through all)."""

_MODELS: Final = {
    DEVICE_TYPE_OF_KIND[model.kind]: model for model in (Elevator, ChargerCabinet, SmokeAlarm)
}
TYPE_NAMES: Final = {
    "gateway": N_("Gateway"),
    **{DEVICE_TYPE_OF_KIND[kind]: name for kind, name in KIND_NAMES.items()},
}
"""What an entry is, by its wire device type."""
_FACTS: Final[dict[str, tuple[str, ...]]] = {
    "elevator": (
        "make",
        "model",
        "install_date",
        "rated_load_kg",
        "rated_speed_mps",
        "floors_served",
    ),
    "charger": ("ports",),
    "smoke_alarm": (),
}
"""The facts the form asks of each device type, beyond its building and location."""
_FORM_FIELDS: Final = ("building", "location", *_FACTS["elevator"], *_FACTS["charger"])

_REQUIRED = N_("Required.")
_ERRORS: Final[ErrorTable] = {
    "building": {ANY: N_("Choose the building it is in.")},
    "location": {ANY: N_("At most %(max_length)s characters.")},
    "make": {"missing": _REQUIRED, ANY: N_("At most %(max_length)s characters.")},
    "model": {"missing": _REQUIRED, ANY: N_("At most %(max_length)s characters.")},
    "install_date": {"missing": _REQUIRED, ANY: N_("Enter a date.")},
    "rated_load_kg": {"missing": _REQUIRED, ANY: N_("A whole number from 1 to 10,000.")},
    "rated_speed_mps": {"missing": _REQUIRED, ANY: N_("A number above 0, at most 20.")},
    "floors_served": {"missing": _REQUIRED, ANY: N_("A whole number from 2 to 200.")},
    "ports": {"missing": _REQUIRED, ANY: N_("A whole number from 1 to 64.")},
}


@router.get("", dependencies=[_STAFF])
async def quarantine_page(
    page: PageDep, reader: ReadSession, done: Literal["registered", "blocked"] | None = None
) -> Response:
    """Held and blocked entries, the most recently heard first; ``done`` confirms the
    decision just taken."""
    entries = await quarantine_entries(reader, limit=SHOWN)
    zones = {site.code: site.timezone for site in await list_sites(reader)}
    return page.render(
        "admin/quarantine.html",
        {
            "entries": entries,
            "zones": zones,
            "type_names": TYPE_NAMES,
            "done": done,
            "shown": SHOWN if len(entries) == SHOWN else None,
        },
    )


@router.post("/{entry_id}/block", dependencies=[_STAFF])
async def block(entry_id: int, me: WebUser, uow: Uow, clock: Clock) -> Response:
    await quarantine.block(uow, entry_id, by=me.user.audit_name, clock=clock)
    return RedirectResponse("/admin/quarantine?done=blocked", status_code=303)


@router.get("/{entry_id}", dependencies=[_STAFF])
async def register_form(entry_id: int, page: PageDep, reader: ReadSession) -> Response:
    return await _form(page, reader, await quarantine_entry(reader, entry_id))


@router.post("/{entry_id}/register", dependencies=[_STAFF])
async def register(
    entry_id: int,
    request: Request,
    page: PageDep,
    me: WebUser,
    uow: Uow,
    reader: ReadSession,
    clock: Clock,
) -> Response:
    """A gateway registers at once; a device with the form's facts, validated by the
    site file's model (a refusal shows the form again, each reason beside its field)."""
    entry = await quarantine_entry(reader, entry_id)
    await reader.close()  # SQLite: the read's lock ends before the unit of work writes
    if entry.is_gateway:
        await quarantine.register(uow, entry_id, by=me.user.audit_name, clock=clock)
        return RedirectResponse("/admin/quarantine?done=registered", status_code=303)
    posted = await request.form()
    form = {
        name: value.strip()
        for name in _FORM_FIELDS
        if isinstance(value := posted.get(name), str) and value.strip()
    }
    model = _MODELS.get(entry.device_type)
    if model is None:
        raise InvalidRequest(f"no device type {entry.device_type} in the catalogue")
    wanted = {"location", *_FACTS[entry.device_type]}
    facts = {name: value for name, value in form.items() if name in wanted}
    errors: dict[str, str] = {}
    if "building" not in form:
        errors["building"] = page.gettext(_ERRORS["building"][ANY])
    try:
        device = model.model_validate({"name": entry.device_id, **facts})
    except ValidationError as exc:
        errors |= field_errors(page, exc, _ERRORS)
    if errors:
        return await _form(page, reader, entry, form=form, errors=errors, status_code=422)
    await quarantine.register(
        uow,
        entry_id,
        by=me.user.audit_name,
        clock=clock,
        building=form["building"],
        device=device,
    )
    return RedirectResponse("/admin/quarantine?done=registered", status_code=303)


async def _form(
    page: Page,
    reader: ReadSession,
    entry: QuarantineEntry,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    site = await get_site(reader, entry.site)
    page.site_tz = site.timezone
    return page.render(
        "admin/quarantine_register.html",
        {
            "entry": entry,
            "type_names": TYPE_NAMES,
            "buildings": await site_places(reader, entry.site),
            "facts": _FACTS.get(entry.device_type, ()),
            "form": form or {},
            "errors": errors or {},
        },
        status_code=status_code,
    )
