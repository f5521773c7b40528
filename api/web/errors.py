"""Errors on pages are pages: the JSON API's handlers (:mod:`api.errors`) stay as they
are for ``/api/v1`` and for clients that do not ask for HTML; a browser (``Accept:
text/html``) or htmx (``HX-Request``) gets the error page in its language, with the
same status (a 4xx, a 503 when a backing service is down). A bug (an exception nothing
handled) is logged with its traceback by :class:`api.errors.CatchAllMiddleware`, which
answers with :func:`internal_error`: the calm 500 page, with no trace of what failed.
The web app's own refusals: no session redirects to ``/login?next=<the page>`` (a
relative path only), a role not allowed and a form without its CSRF token get the 403
page."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Final
from urllib.parse import urlencode, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.app import API_PREFIX
from api.errors import internal_problem
from api.web.deps import CsrfRefusedError, LoginRequiredError, PageForbiddenError, page_for
from api.web.i18n import N_

__all__ = ["install_page_errors", "internal_error", "safe_next"]

log = logging.getLogger(__name__)

Handler = Callable[[Request, Exception], Awaitable[Response]]

_TITLES: Final = {
    400: N_("This request could not be understood."),
    403: N_("You may not open this page."),
    404: N_("This page does not exist, or you may not see it."),
    405: N_("This page does not accept that request."),
    409: N_("This was changed by someone else meanwhile; reload and try again."),
    413: N_("What you sent is too large."),
    422: N_("Some of what you entered is not valid."),
    500: N_("Something went wrong on our side. It has been noted; please try again."),
    503: N_("A service is unavailable; try again later."),
}
_CSRF_REFUSED: Final = N_("The form had expired. Go back, reload the page and try again.")


def safe_next(value: str | None) -> str:
    """``value`` when it is a path on this site, else ``/``: never an open redirect."""
    if (
        not value
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(char) < 32 for char in value)
    ):
        return "/"
    parts = urlsplit(value)
    return "/" if parts.scheme or parts.netloc else value


def _wants_page(request: Request) -> bool:
    if request.url.path.startswith(API_PREFIX + "/"):
        return False
    return "hx-request" in request.headers or "text/html" in request.headers.get("accept", "")


def _error_page(request: Request, status: int, message: str) -> Response:
    page = page_for(request, None, request.app.state.services.settings)
    return page.render(
        "error.html",
        {"status": status, "message": page.gettext(message)},
        status_code=status,
    )


async def internal_error(request: Request) -> Response:
    """The answer to a request whose handler raised (already logged): the 500 page for a
    page, the JSON problem for the rest, and for a page whose error page fails too."""
    if _wants_page(request):
        try:
            return _error_page(request, 500, _TITLES[500])
        except Exception:
            log.exception("the 500 page for %s failed too", request.url.path)
    return await internal_problem(request)


def install_page_errors(app: FastAPI) -> None:
    """Call after :func:`api.errors.install_error_handlers`: wraps its handlers."""

    def as_page(json_handler: Handler) -> Handler:
        async def handler(request: Request, exc: Exception) -> Response:
            response = await json_handler(request, exc)
            if not _wants_page(request):
                return response
            status = response.status_code
            return _error_page(request, status, _TITLES.get(status, _TITLES[400]))

        return handler

    for key, json_handler in list(app.exception_handlers.items()):
        if isinstance(key, type) and key is not Exception:
            app.exception_handlers[key] = as_page(json_handler)  # type: ignore[arg-type]

    async def on_login_required(request: Request, exc: Exception) -> Response:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target = "/login?" + urlencode({"next": safe_next(here)})
        if "hx-request" in request.headers:
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    async def on_forbidden(request: Request, exc: Exception) -> Response:
        return _error_page(request, 403, _TITLES[403])

    async def on_csrf(request: Request, exc: Exception) -> Response:
        return _error_page(request, 403, _CSRF_REFUSED)

    app.add_exception_handler(LoginRequiredError, on_login_required)
    app.add_exception_handler(PageForbiddenError, on_forbidden)
    app.add_exception_handler(CsrfRefusedError, on_csrf)
    assert StarletteHTTPException in app.exception_handlers, "install the JSON handlers first"
