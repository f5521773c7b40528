"""``/``: each role's home page; ``/account``: who I am, my language, my notification
settings, my password, log out everywhere."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Annotated, Any, Final

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api.deps import AppServices, ReadSession, Services
from api.passwords import verify
from api.schemas.notify_settings import NotifySettingsIn
from api.users import ROLES, notify_settings, set_notify_settings, set_password
from api.web.deps import Page, PageDep, WebUser, page_allow, page_router, set_session_cookie
from api.web.forms import ANY, ErrorTable, field_errors
from api.web.i18n import N_
from api.web.nav import home_of
from api.web.sessions import password_of, start_session
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.errors import InvalidRequest

__all__ = ["router"]

router = page_router()


@router.get("/", dependencies=[page_allow(*ROLES)])
async def home(me: WebUser) -> Response:
    return RedirectResponse(home_of(me.user.role), status_code=303)


NOTIFY_ERRORS: Final[ErrorTable] = {
    "email": {ANY: N_("Write an email address like wang@example.com.")},
    "channels": {ANY: N_("Choose at least one way to reach you.")},
    "chat_handle": {
        "value_error": N_("Chat needs your chat handle."),
        ANY: N_("A chat handle is up to 64 letters, digits and . _ @ + -"),
    },
    "quiet_hours": {
        "value_error": N_("Quiet hours must end at a different time than they start."),
        ANY: N_("Give both times of your quiet hours, as HH:MM."),
    },
}


def _shown(settings: NotifySettingsIn) -> dict[str, Any]:
    """The form's fields from stored settings."""
    quiet = settings.quiet_hours
    return {
        "email": settings.email or "",
        "channels": list(settings.channels),
        "chat_handle": settings.chat_handle or "",
        "quiet_start": quiet.start if quiet else "",
        "quiet_end": quiet.end if quiet else "",
    }


async def _account(
    page: Page,
    me: WebUser,
    reader: ReadSession,
    *,
    error: str = "",
    notice: str = "",
    status: int = 200,
    notify: Mapping[str, Any] | None = None,
    notify_errors: Mapping[str, str] | None = None,
) -> Response:
    if notify is None:
        notify = _shown(NotifySettingsIn.of(await notify_settings(reader, me.user.username)))
    context = {
        "me": me.user,
        "error": error,
        "notice": notice,
        "notify": notify,
        "errors": notify_errors or {},
    }
    return page.render("account.html", context, status_code=status)


_SAVED: Final = {
    "password": N_("Your password was changed; other devices were logged out."),
    "notify": N_("Your notification settings were saved."),
}


@router.get("/account", dependencies=[page_allow(*ROLES)])
async def account(
    me: WebUser,
    page: PageDep,
    reader: ReadSession,
    changed: bool = False,
    saved: str | None = None,
) -> Response:
    done = "password" if changed else saved
    notice = page.gettext(_SAVED[done]) if done in _SAVED else ""
    return await _account(page, me, reader, notice=notice)


@router.post("/account/notifications", dependencies=[page_allow(*ROLES)])
async def save_notifications(
    request: Request, me: WebUser, page: PageDep, services: AppServices
) -> Response:
    """The JSON API's ``PUT /me/notifications`` from a form (the language stays as the
    Language buttons set it); a refusal shows each reason beside its field."""
    posted = await request.form()
    form = {
        name: value.strip() if isinstance(value := posted.get(name), str) else ""
        for name in ("email", "chat_handle", "quiet_start", "quiet_end")
    }
    channels = [value for value in posted.getlist("channels") if isinstance(value, str)]
    fields: dict[str, Any] = {
        "email": form["email"] or None,
        "channels": channels,
        "chat_handle": form["chat_handle"] or None,
    }
    if form["quiet_start"] or form["quiet_end"]:
        fields["quiet_hours"] = {"start": form["quiet_start"], "end": form["quiet_end"]}
    try:
        settings = NotifySettingsIn.model_validate(fields)
    except ValidationError as exc:
        errors = field_errors(page, exc, NOTIFY_ERRORS)
        shown = form | {"channels": channels}
        async with services.readers() as reader:
            return await _account(page, me, reader, notify=shown, notify_errors=errors, status=422)
    user = me.user
    preferences = replace(settings.preferences, locale=user.locale)
    await set_notify_settings(
        SqlUnitOfWork(services.sessions),
        user.username,
        preferences,
        actor=user.audit_name,
        at=services.clock(),
    )
    return RedirectResponse("/account?saved=notify#notifications", status_code=303)


async def _password_refused(page: Page, me: WebUser, services: Services, error: str) -> Response:
    # Its own reader, opened after the password check's: a route's ReadSession would hold
    # a read transaction across the password's change.
    async with services.readers() as reader:
        return await _account(page, me, reader, error=error, status=422)


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
        return await _password_refused(page, me, services, error)
    if password != again:
        return await _password_refused(
            page, me, services, page.gettext("The two passwords differ.")
        )
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
        return await _password_refused(page, me, services, page.gettext(str(exc)))
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
