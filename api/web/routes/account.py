"""``/``: each role's home page; ``/account``: who I am, my language, my password, log
out everywhere."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.deps import AppServices
from api.passwords import verify
from api.users import ROLES, set_password
from api.web.deps import Page, PageDep, WebUser, page_allow, page_router, set_session_cookie
from api.web.nav import home_of
from api.web.sessions import password_of, start_session
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.errors import InvalidRequest

__all__ = ["router"]

router = page_router()


@router.get("/", dependencies=[page_allow(*ROLES)])
async def home(me: WebUser) -> Response:
    return RedirectResponse(home_of(me.user.role), status_code=303)


def _account(
    page: Page, me: WebUser, *, error: str = "", notice: str = "", status: int = 200
) -> Response:
    return page.render(
        "account.html", {"me": me.user, "error": error, "notice": notice}, status_code=status
    )


@router.get("/account", dependencies=[page_allow(*ROLES)])
async def account(me: WebUser, page: PageDep, changed: bool = False) -> Response:
    notice = page.gettext("Your password was changed; other devices were logged out.")
    return _account(page, me, notice=notice if changed else "")


@router.post("/account/password", dependencies=[page_allow(*ROLES)])
async def change_password(
    request: Request,
    me: WebUser,
    page: PageDep,
    services: AppServices,
    current: Annotated[str, Form(max_length=1000)],
    password: Annotated[str, Form(max_length=1000)],
    again: Annotated[str, Form(max_length=1000)],
) -> Response:
    """A new password for the logged-in person: every session ends (a password changed
    because it leaked locks the old holder out), and this browser gets a new one."""
    async with services.readers() as reader:
        found = await password_of(reader, me.user.username)
    stored = found[1] if found is not None else None
    if not await run_in_threadpool(verify, current, stored):
        error = page.gettext("The current password is wrong.")
        return _account(page, me, error=error, status=422)
    if password != again:
        return _account(page, me, error=page.gettext("The two passwords differ."), status=422)
    now = services.clock()
    try:
        await set_password(
            SqlUnitOfWork(services.sessions),
            me.user.username,
            password,
            actor=me.user.audit_name,
            at=now,
        )
    except InvalidRequest as exc:
        return _account(page, me, error=page.gettext(str(exc)), status=422)
    session = await start_session(
        SqlUnitOfWork(services.sessions),
        me.user.id,
        me.user.username,
        now,
        services.settings.session_lifetime,
    )
    response = RedirectResponse("/account?changed=1", status_code=303)
    set_session_cookie(response, request, services.settings, session.secret)
    return response
