"""``/login``, ``/logout``, ``/logout/everywhere`` and the language switch."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.deps import AppServices, Uow
from api.passwords import verify
from api.users import ROLES, set_locale
from api.web.deps import (
    OptionalLogin,
    Page,
    PageDep,
    WebUser,
    page_allow,
    page_public,
    page_router,
    set_session_cookie,
)
from api.web.errors import safe_next
from api.web.i18n import LANGUAGE_COOKIE, LOCALES
from api.web.sessions import SESSION_COOKIE, end_sessions, password_of, start_session
from api.web.templating import localtime
from api.web.throttle import blocked_until, record_failure
from maintenance.db.uow import SqlUnitOfWork

__all__ = ["router"]

log = logging.getLogger(__name__)

router = page_router()


def _login_form(
    page: Page, next_path: str, username: str = "", error: str = "", status: int = 200
) -> Response:
    return page.render(
        "login.html",
        {"next": next_path, "username": username, "error": error},
        status_code=status,
    )


@router.get("/login", dependencies=[page_public()])
async def login_form(page: PageDep, login: OptionalLogin, next: str = "/") -> Response:
    if login is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_form(page, safe_next(next))


@router.post("/login", dependencies=[page_public()])
async def login_submit(
    request: Request,
    page: PageDep,
    services: AppServices,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    now = services.clock()
    name = username.strip().lower()
    address = request.client.host if request.client else "unknown"
    target = safe_next(next)
    async with services.readers() as reader:
        until = await blocked_until(reader, name, address, now)
        found = None if until is not None else await password_of(reader, name)
    if until is None:
        user, stored = found if found is not None else (None, None)
        if await run_in_threadpool(verify, password, stored) and user is not None:
            uow = SqlUnitOfWork(services.sessions)
            session = await start_session(
                uow, user.id, name, now, services.settings.session_lifetime
            )
            response = RedirectResponse(target, status_code=303)
            set_session_cookie(response, request, services.settings, session.secret)
            return response
        log.info("web login refused for %r from %s", name, address)
        await record_failure(SqlUnitOfWork(services.sessions), name, address, now)
        async with services.readers() as reader:
            until = await blocked_until(reader, name, address, now)
        if until is None:
            error = page.gettext("Wrong username or password.")
            return _login_form(page, target, username, error, status=401)
    log.warning("web login throttled for %r from %s until %s", name, address, until.isoformat())
    error = page.gettext(
        "Too many failed attempts. Try again after %(time)s.",
        time=localtime(until, page.site_tz, page.locale, "HH:mm"),
    )
    return _login_form(page, target, username, error, status=429)


def _to_login() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/logout", dependencies=[page_allow(*ROLES)])
async def logout(me: WebUser, login: OptionalLogin, uow: Uow, services: AppServices) -> Response:
    assert login is not None  # WebUser answered: the session is live
    await end_sessions(uow, me.user.id, services.clock(), only=login.session_id)
    return _to_login()


@router.post("/logout/everywhere", dependencies=[page_allow(*ROLES)])
async def logout_everywhere(me: WebUser, uow: Uow, services: AppServices) -> Response:
    await end_sessions(uow, me.user.id, services.clock())
    return _to_login()


@router.post("/language", dependencies=[page_public()])
async def choose_language(
    request: Request,
    login: OptionalLogin,
    uow: Uow,
    locale: Annotated[str, Form()],
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    chosen = locale if locale in LOCALES else None
    response = RedirectResponse(safe_next(next), status_code=303)
    if chosen is None:
        return response
    if login is not None:
        await set_locale(uow, login.user.id, chosen)
    response.set_cookie(
        LANGUAGE_COOKIE, chosen, max_age=365 * 24 * 3600, samesite="lax", httponly=True, path="/"
    )
    return response
