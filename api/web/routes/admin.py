"""The admin pages: people (deactivate, reset links), invites, API tokens, sites.

Admins and managers manage people within :func:`api.users.may_manage`; only admins issue
and revoke API tokens. Every change goes through the service functions of
:mod:`api.users` and :mod:`api.invites` (units of work, audited)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from api import invites
from api.deps import Clock, ReadSession, Settings, Uow
from api.settings import ApiSettings
from api.users import (
    ROLES,
    User,
    change_user,
    get_user,
    issue_token,
    list_tokens,
    list_users,
    may_manage,
    revoke_token,
    set_active,
)
from api.web.deps import Page, PageDep, WebUser, page_allow, page_router
from api.web.i18n import N_
from api.web.qr import qr_svg
from maintenance.db.read.sites import SiteInfo, list_sites
from maintenance.domain.actors import Role
from maintenance.domain.errors import InvalidRequest, NotPermitted

__all__ = ["router"]

router = page_router(prefix="/admin")
_STAFF = page_allow("admin", "manager")
_ADMIN = page_allow("admin")
_CHECK_FIELDS = N_("Check the role, sites and home: a resident needs a unit.")


class PersonFields(BaseModel):
    """A person's role, sites and home as the invite and edit forms post them."""

    role: str
    sites: list[str] = []
    building: Annotated[str, Field(max_length=64)] = ""
    unit: Annotated[str, Field(max_length=64)] = ""

    def checked_role(self) -> Role:
        role = next((r for r in ROLES if r == self.role), None)
        if role is None:
            raise InvalidRequest(f"unknown role {self.role!r}")
        return role

    @property
    def home(self) -> tuple[str | None, str | None]:
        return self.building.strip() or None, self.unit.strip() or None


def base_url(request: Request, settings: ApiSettings) -> str:
    """Where links sent to people point: the configured public address, else this one."""
    return settings.public_base_url or str(request.base_url)


def _link_page(
    page: Page,
    link: invites.IssuedLink,
    request: Request,
    settings: ApiSettings,
    who: str | None = None,
) -> Response:
    url = link.url(base_url(request, settings))
    return page.render(
        "admin/link.html", {"link": link.invite, "url": url, "qr": qr_svg(url), "who": who}
    )


@router.get("/users", dependencies=[_STAFF])
async def users_page(me: WebUser, page: PageDep, reader: ReadSession) -> Response:
    people = await list_users(reader)
    manageable = {
        person.username
        for person in people
        if person.id != me.user.id and may_manage(me.user, person.role, person.sites)
    }
    return page.render("admin/users.html", {"people": people, "manageable": manageable})


@router.post("/users/{username}/active", dependencies=[_STAFF])
async def set_user_active(
    username: str, me: WebUser, uow: Uow, clock: Clock, active: Annotated[str, Form()]
) -> Response:
    await set_active(uow, me.user, username, active == "1", at=clock())
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/users/{username}/reset", dependencies=[_STAFF])
async def reset_link(
    username: str,
    request: Request,
    me: WebUser,
    page: PageDep,
    reader: ReadSession,
    uow: Uow,
    clock: Clock,
    settings: Settings,
) -> Response:
    target = await get_user(reader, username)
    link = await invites.create_reset(
        uow, me.user, target, at=clock(), lifetime=settings.invite_lifetime
    )
    return _link_page(page, link, request, settings, who=target.display_name)


def _invitable(me: User) -> list[Role]:
    return [role for role in ROLES if may_manage(me, role, list(me.sites))]


async def _their_sites(reader: ReadSession, me: User) -> list[SiteInfo]:
    """The sites ``me`` may give people: all for an admin or a manager of no site."""
    sites = await list_sites(reader)
    return [s for s in sites if me.role == "admin" or not me.sites or s.code in me.sites]


async def _user_page(
    page: Page,
    me: User,
    reader: ReadSession,
    person: User,
    *,
    error: str = "",
    status: int = 200,
    form: Mapping[str, object] | None = None,
) -> Response:
    shown = form or {
        "role": person.role,
        "sites": list(person.sites),
        "building": person.building,
        "unit": person.unit,
    }
    return page.render(
        "admin/user.html",
        {
            "person": person,
            "roles": _invitable(me),
            "sites": await _their_sites(reader, me),
            "form": shown,
            "error": error,
        },
        status_code=status,
    )


@router.get("/users/{username}", dependencies=[_STAFF])
async def user_page(username: str, me: WebUser, page: PageDep, reader: ReadSession) -> Response:
    person = await get_user(reader, username)
    if person.id == me.user.id or not may_manage(me.user, person.role, person.sites):
        raise NotPermitted(f"{me.user.username} may not change {username}")
    return await _user_page(page, me.user, reader, person)


@router.post("/users/{username}", dependencies=[_STAFF])
async def save_user(
    username: str,
    me: WebUser,
    page: PageDep,
    reader: ReadSession,
    uow: Uow,
    clock: Clock,
    fields: Annotated[PersonFields, Form()],
) -> Response:
    person = await get_user(reader, username)
    building, unit = fields.home
    try:
        await change_user(
            uow,
            me.user,
            username,
            role=fields.checked_role(),
            sites=fields.sites,
            building=building,
            unit=unit,
            at=clock(),
        )
    except InvalidRequest:
        error = page.gettext(_CHECK_FIELDS)
        return await _user_page(
            page, me.user, reader, person, error=error, status=422, form=fields.model_dump()
        )
    return RedirectResponse("/admin/users", status_code=303)


async def _invites_page(
    page: Page,
    me: User,
    reader: ReadSession,
    clock: Clock,
    *,
    error: str = "",
    status: int = 200,
    form: Mapping[str, object] | None = None,
) -> Response:
    return page.render(
        "admin/invites.html",
        {
            "pending": await invites.list_invites(reader, clock()),
            "roles": _invitable(me),
            "sites": await _their_sites(reader, me),
            "now": clock(),
            "invite_days": page.settings.invite_lifetime.days,
            "error": error,
            "form": form or {},
        },
        status_code=status,
    )


@router.get("/invites", dependencies=[_STAFF])
async def invites_page(me: WebUser, page: PageDep, reader: ReadSession, clock: Clock) -> Response:
    return await _invites_page(page, me.user, reader, clock)


@router.post("/invites", dependencies=[_STAFF])
async def create_invite(
    request: Request,
    me: WebUser,
    page: PageDep,
    reader: ReadSession,
    uow: Uow,
    clock: Clock,
    settings: Settings,
    fields: Annotated[PersonFields, Form()],
) -> Response:
    building, unit = fields.home
    try:
        link = await invites.create_invite(
            uow,
            me.user,
            role=fields.checked_role(),
            sites=fields.sites,
            building=building,
            unit=unit,
            at=clock(),
            lifetime=settings.invite_lifetime,
        )
    except (InvalidRequest, NotPermitted):
        error = page.gettext(_CHECK_FIELDS)
        form = fields.model_dump()
        return await _invites_page(page, me.user, reader, clock, error=error, status=422, form=form)
    return _link_page(page, link, request, settings)


@router.get("/tokens", dependencies=[_ADMIN])
async def tokens_page(page: PageDep, reader: ReadSession, user: str | None = None) -> Response:
    people = await list_users(reader)
    chosen = user if user in {p.username for p in people} else None
    tokens = await list_tokens(reader, chosen) if chosen else []
    return page.render("admin/tokens.html", {"people": people, "chosen": chosen, "tokens": tokens})


@router.post("/tokens", dependencies=[_ADMIN])
async def issue(
    me: WebUser,
    page: PageDep,
    uow: Uow,
    clock: Clock,
    username: Annotated[str, Form()],
    label: Annotated[str, Form(max_length=200)] = "",
    days: Annotated[int, Form(ge=1, le=365)] = 30,
) -> Response:
    now = clock()
    issued = await issue_token(
        uow,
        username,
        expires_at=now + timedelta(days=days),
        label=label.strip() or None,
        actor=me.user.audit_name,
        at=now,
    )
    return page.render("admin/token_issued.html", {"issued": issued})


@router.post("/tokens/{token_id}/revoke", dependencies=[_ADMIN])
async def revoke(token_id: int, me: WebUser, uow: Uow, clock: Clock) -> Response:
    info = await revoke_token(uow, token_id, actor=me.user.audit_name, at=clock())
    return RedirectResponse(f"/admin/tokens?user={info.username}", status_code=303)


@router.get("/sites", dependencies=[_STAFF])
async def sites_page(page: PageDep, reader: ReadSession) -> Response:
    return page.render("admin/sites.html", {"sites": await list_sites(reader)})
