"""What a page handler can ask for, beside :mod:`api.deps` (``Uow``, ``Clock``, ...).

- ``WebUser``: the logged-in person as the JSON API's :class:`api.deps.Principal`
  (``.user``, ``.actor``); no live session: the browser is sent to
  ``/login?next=<this page>`` (htmx requests get an ``HX-Redirect``).
- ``OptionalLogin``: the :class:`~api.web.sessions.WebLogin` or None (public pages).
- ``PageDep``: :class:`Page`, which renders a template in the request's language with the
  layout's context (user, nav, CSRF token, locale) and the pages' security headers.
- :func:`page_allow` / :func:`page_public`: the role gate, the same semantics as
  :func:`api.policy.allow` (roles checked by :func:`api.policy.role_set`); a role not
  listed gets the 403 page. Every page route declares exactly one (a test checks).
- :func:`page_router`: an ``APIRouter`` for pages: not in the OpenAPI document, HTML
  responses, and :func:`verify_csrf` on every POST/PUT/PATCH/DELETE: the form's hidden
  ``csrf_token`` field or the ``X-CSRF-Token`` header (htmx sends it from ``hx-headers``
  on ``<body>``) must equal the session's token (before login: the login cookie's).

Example::

    router = page_router()

    @router.get("/tech", dependencies=[page_allow("technician")])
    async def my_orders(me: WebUser, page: PageDep, reader: ReadSession) -> HTMLResponse:
        orders = await read.my_orders(reader, me.user)
        return page.render("tech/list.html", {"orders": orders})
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import AppServices, Principal
from api.policy import role_set
from api.settings import ApiSettings
from api.web.i18n import LOCALES, negotiate
from api.web.nav import ROLE_NAMES, nav_for, order_path
from api.web.sessions import (
    CSRF_FIELD,
    CSRF_HEADER,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    WebLogin,
    csrf_matches,
    lookup,
    new_csrf_token,
)
from api.web.templating import DEFAULT_TIMEZONE, Templates
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.actors import Role

__all__ = [
    "CsrfRefusedError",
    "LoginRequiredError",
    "OptionalLogin",
    "Page",
    "PageDep",
    "PageForbiddenError",
    "PageGate",
    "PagePublic",
    "WebState",
    "WebUser",
    "cookie_is_secure",
    "page_allow",
    "page_public",
    "page_router",
    "set_session_cookie",
    "verify_csrf",
]

_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})

# No inline script or style anywhere: a stored <script> that escaping missed still runs
# nowhere. htmx's own indicator style is turned off in the layout (htmx-config).
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self';"
        " connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True, slots=True)
class WebState:
    """What the app factory built for the pages (on ``app.state.web``)."""

    templates: Templates
    vendor_dir: Path


class LoginRequiredError(Exception):
    """No live session on a page that needs one: answered with a redirect to /login."""


class PageForbiddenError(Exception):
    """A logged-in person whose role the page's gate does not list: the 403 page."""


class CsrfRefusedError(Exception):
    """A form without its session's CSRF token: the 403 page, nothing changed."""


def _state(request: Request) -> WebState:
    state = getattr(request.app.state, "web", None)
    if not isinstance(state, WebState):
        raise RuntimeError("the web pages run without api.web.install_web(app)")
    return state


def cookie_is_secure(request: Request, settings: ApiSettings) -> bool:
    """Secure cookies over https (see :mod:`api.settings`)."""
    if settings.cookie_secure is not None:
        return settings.cookie_secure
    base = settings.public_base_url or ""
    return request.url.scheme == "https" or base.startswith("https://")


def set_session_cookie(
    response: Response, request: Request, settings: ApiSettings, secret: str
) -> None:
    """The ``ew_session`` cookie: HttpOnly, SameSite=Lax, Secure over https."""
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=int(settings.session_lifetime.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=cookie_is_secure(request, settings),
        path="/",
    )


async def _login(request: Request, services: AppServices) -> WebLogin | None:
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        return None
    now = services.clock()
    async with services.readers() as reader:
        found = await lookup(reader, secret, now, idle=services.settings.session_idle)
    if found is not None and found.stale:
        async with SqlUnitOfWork(services.sessions) as uow:
            await uow.accounts.touch_session(found.session_id, now)
            await uow.commit()
    return found


OptionalLogin = Annotated[WebLogin | None, Depends(_login)]


async def web_user(login: OptionalLogin) -> Principal:
    if login is None:
        raise LoginRequiredError
    return Principal(login.user)


WebUser = Annotated[Principal, Depends(web_user)]


class PageGate:
    """The dependency behind :func:`page_allow`."""

    def __init__(self, roles: frozenset[Role]) -> None:
        self.roles = roles

    def __repr__(self) -> str:
        return f"page_allow({', '.join(sorted(self.roles))})"

    async def __call__(self, principal: WebUser) -> Principal:
        if principal.user.role not in self.roles:
            raise PageForbiddenError
        return principal


class PagePublic:
    def __repr__(self) -> str:
        return "page_public()"

    async def __call__(self) -> None:
        return None


def page_allow(*roles: Role) -> Any:
    """``dependencies=[page_allow("manager", ...)]``: only these roles see the page."""
    return Depends(PageGate(role_set(*roles)))


def page_public() -> Any:
    """No login needed (the login page, the public notice board)."""
    return Depends(PagePublic())


async def verify_csrf(request: Request, login: OptionalLogin) -> None:
    if request.method in _SAFE_METHODS:
        return
    expected = login.csrf if login is not None else request.cookies.get(LOGIN_CSRF_COOKIE)
    sent: object = request.headers.get(CSRF_HEADER)
    if sent is None:
        sent = (await request.form()).get(CSRF_FIELD)
    if not csrf_matches(expected, sent):
        raise CsrfRefusedError


def page_router(**kwargs: Any) -> APIRouter:
    """A router for pages (see the module docstring)."""
    dependencies = [Depends(verify_csrf), *kwargs.pop("dependencies", ())]
    return APIRouter(
        include_in_schema=False,
        default_response_class=HTMLResponse,
        dependencies=dependencies,
        **kwargs,
    )


@dataclass(slots=True)
class Page:
    """Renders templates for one request."""

    request: Request
    login: WebLogin | None
    locale: str
    templates: Templates
    settings: ApiSettings
    site_tz: str = DEFAULT_TIMEZONE
    _new_login_csrf: str | None = field(default=None)

    @property
    def csrf_token(self) -> str:
        """The token this page's forms carry; before login a new one goes into a cookie."""
        if self.login is not None:
            return self.login.csrf
        existing = self.request.cookies.get(LOGIN_CSRF_COOKIE)
        if existing:
            return existing
        if self._new_login_csrf is None:
            self._new_login_csrf = new_csrf_token()
        return self._new_login_csrf

    def gettext(self, message: str, **variables: Any) -> str:
        """``message`` translated into the page's language (``%(name)s`` filled in)."""
        return self.templates.gettext(self.locale, message, **variables)

    def render(
        self,
        name: str,
        context: Mapping[str, Any] | None = None,
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        user = self.login.user if self.login is not None else None
        body = self.templates.get(self.locale, name).render(
            {
                "request": self.request,
                "user": user,
                "nav": nav_for(user.role) if user is not None else [],
                # order_url(id): where this person opens an order (api.web.nav.order_path)
                "order_url": partial(order_path, user.role) if user is not None else None,
                "csrf_token": self.csrf_token,
                "csrf_field": CSRF_FIELD,
                "csrf_header": CSRF_HEADER,
                "locales": LOCALES,
                "role_names": ROLE_NAMES,
                "site_tz": self.site_tz,
                "path": self.request.url.path,
                # This page with its query: where the language switch comes back to.
                "here": self.request.url.path
                + (f"?{self.request.url.query}" if self.request.url.query else ""),
                **(context or {}),
            }
        )
        response = HTMLResponse(
            body, status_code=status_code, headers={**SECURITY_HEADERS, **(headers or {})}
        )
        if self._new_login_csrf is not None:
            response.set_cookie(
                LOGIN_CSRF_COOKIE,
                self._new_login_csrf,
                httponly=True,
                samesite="strict",
                secure=cookie_is_secure(self.request, self.settings),
                path="/",
            )
        return response


def page_for(request: Request, login: WebLogin | None, settings: ApiSettings) -> Page:
    """A :class:`Page` outside a route's dependencies (the error handlers)."""
    locale = negotiate(
        login.user.locale if login is not None else None,
        request.cookies,
        request.headers.get("accept-language"),
    )
    return Page(request, login, locale, _state(request).templates, settings)


async def _page(request: Request, login: OptionalLogin, services: AppServices) -> Page:
    return page_for(request, login, services.settings)


PageDep = Annotated[Page, Depends(_page)]
