"""``/invite/<secret>``: the page an invite or reset link opens. The person chooses a
username and name (invite) and a password; on success they are logged in."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response

from api import invites
from api.deps import AppServices, Clock, ReadSession
from api.errors import Conflict
from api.web.deps import Page, PageDep, page_public, page_router, set_session_cookie
from api.web.sessions import start_session
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.errors import InvalidRequest

__all__ = ["router"]

router = page_router()


def _form(
    page: Page, invite: invites.Invite, *, error: str = "", status: int = 200, **values: str
) -> Response:
    return page.render(
        "invite.html", {"invite": invite, "error": error, **values}, status_code=status
    )


@router.get("/invite/{secret}", dependencies=[page_public()])
async def invite_page(secret: str, page: PageDep, reader: ReadSession, clock: Clock) -> Response:
    return _form(page, await invites.find(reader, secret, clock()))


@router.post("/invite/{secret}", dependencies=[page_public()])
async def accept_invite(
    secret: str,
    request: Request,
    page: PageDep,
    services: AppServices,
    password: Annotated[str, Form(max_length=1000)],
    again: Annotated[str, Form(max_length=1000)],
    username: Annotated[str, Form(max_length=200)] = "",
    display_name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    now = services.clock()
    async with services.readers() as reader:
        invite = await invites.find(reader, secret, now)
    values = {"username": username, "display_name": display_name}
    if password != again:
        error = page.gettext("The two passwords differ.")
        return _form(page, invite, error=error, status=422, **values)
    try:
        user = await invites.accept(
            SqlUnitOfWork(services.sessions),
            secret,
            password=password,
            username=username.strip().lower() or None,
            display_name=display_name.strip() or None,
            at=now,
        )
    except InvalidRequest as exc:
        return _form(page, invite, error=page.gettext(str(exc)), status=422, **values)
    except Conflict:
        error = page.gettext("This username is taken; choose another.")
        return _form(page, invite, error=error, status=409, **values)
    session = await start_session(
        SqlUnitOfWork(services.sessions),
        user.id,
        user.username,
        now,
        services.settings.session_lifetime,
    )
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(response, request, services.settings, session.secret)
    return response
