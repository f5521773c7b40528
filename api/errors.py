"""Every error answer is ``application/problem+json`` (RFC 9457), and none leaks internals.

Body: ``type`` (a ``urn:estatewatch:problem:*`` name, or ``about:blank`` for plain HTTP
statuses), ``title``, ``status``, ``detail`` (one sentence saying what was refused and
why), ``instance`` (the request path), and for validation ``errors: [{field, in,
message}]``.

What becomes what:

| raised | status |
|---|---|
| :class:`Problem` (routes raise it for their own refusals) | its own |
| Starlette/FastAPI ``HTTPException`` (unknown route, wrong method) | its own |
| ``RequestValidationError`` | 422 naming each field; 400 for a body that is not JSON |
| ``maintenance.domain.errors.NotFound`` | 404 |
| ``NotPermitted`` | 403 |
| ``IllegalTransition``, ``AlreadyOpen``, ``AlreadyAcknowledged``, ``CommitteeConflict`` | 409 |
| :class:`Conflict` (a username already taken...) | 409 |
| ``InvalidRequest``, ``PhotoRejected`` (not an image we take) | 422 |
| ``NotAssignable`` (an assignee who cannot take the order) | 422, ``not-assignable`` |
| ``AssetRefused`` (a new order's asset: malformed, elsewhere, unknown) | 422, ``asset-<code>`` |
| ``PhotoTooLarge`` (a photo over the size limit) | 413 |
| ``estatewatch.errors.ConfigError`` | 400 |
| ``maintenance.db.errors.StorageError``, other ``ServiceError`` | 503, generic detail |
| anything else | 500, generic detail; the traceback goes to the log only |

A route that calls a layer raising plain ``ValueError`` for a refused request (the
InfluxQL builders in :mod:`estatewatch.influx.query`) catches it and raises ``Problem(400, ...)``:
a ValueError anywhere else is a bug and must stay a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from estatewatch.errors import ConfigError, EstatewatchError, ServiceError
from maintenance.db.errors import StorageError
from maintenance.domain.errors import (
    AlreadyAcknowledged,
    AlreadyOpen,
    AssetRefused,
    CommitteeConflict,
    IllegalTransition,
    InvalidRequest,
    NotAssignable,
    NotFound,
    NotPermitted,
    PhotoRejected,
    PhotoTooLarge,
)

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "PROBLEM_RESPONSES",
    "CatchAllMiddleware",
    "Conflict",
    "FieldError",
    "Problem",
    "ProblemBody",
    "install_error_handlers",
    "internal_problem",
    "problem_response",
]

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"
_URN: Final = "urn:estatewatch:problem:"


class Conflict(EstatewatchError):  # noqa: N818 - a verdict, like the domain errors
    """The request clashes with what exists (a username already taken...): 409."""


class Problem(StarletteHTTPException):
    """Raise in a route to answer with a problem+json body.

    An HTTPException, so framework code that lets those through (body parsing) does.
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(status, detail, dict(headers or {}))
        self.status = status
        self.detail = detail
        self.kind = kind
        self.extra = dict(extra or {})


class FieldError(BaseModel):
    field: str
    where: str
    message: str


class ProblemBody(BaseModel):
    """The shape of every error body (for the OpenAPI document)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    errors: list[FieldError] | None = None


PROBLEM_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    status: {"model": ProblemBody, "description": HTTPStatus(status).phrase}
    for status in (400, 401, 403, 404, 409, 422)
}


def problem_response(
    request: Request | None,
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
    path: str | None = None,
) -> JSONResponse:
    phrase = HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": f"{_URN}{kind}" if kind else "about:blank",
        "title": kind.replace("-", " ").capitalize() if kind else phrase,
        "status": status,
        "detail": detail,
        "instance": path if path is not None else (request.url.path if request else ""),
    }
    body.update(extra or {})
    return JSONResponse(body, status, headers=dict(headers or {}), media_type=PROBLEM_MEDIA_TYPE)


# Domain errors whose message is already the answer: (status, problem kind).
_DOMAIN: Final[Sequence[tuple[type[Exception], int, str]]] = (
    (NotFound, 404, "not-found"),
    (NotPermitted, 403, "not-permitted"),
    (IllegalTransition, 409, "illegal-transition"),
    (AlreadyOpen, 409, "already-open"),
    (AlreadyAcknowledged, 409, "already-acknowledged"),
    (CommitteeConflict, 409, "conflict"),
    (Conflict, 409, "conflict"),
    (NotAssignable, 422, "not-assignable"),  # before its base class: the first match wins
    (AssetRefused, 422, "asset"),  # the kind gets the error's code: asset-site-mismatch...
    (InvalidRequest, 422, "invalid-request"),
    (PhotoTooLarge, 413, "photo-too-large"),  # before its base class: the first match wins
    (PhotoRejected, 422, "photo-rejected"),
    (ConfigError, 400, "invalid-configuration"),
)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers; :class:`CatchAllMiddleware` is added by the app factory."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(
            request, exc.status, exc.detail, kind=exc.kind, headers=exc.headers, extra=exc.extra
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route {request.url.path}"
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
        return problem_response(request, exc.status_code, detail, headers=exc.headers)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [_field_error(error) for error in exc.errors()]
        if any(error.get("type") == "json_invalid" for error in exc.errors()):
            return problem_response(
                request, 400, "the request body is not valid JSON", kind="malformed-body"
            )
        listed = "; ".join(f"{e.field}: {e.message}" for e in errors)
        return problem_response(
            request,
            422,
            f"invalid request: {listed}",
            kind="validation",
            extra={"errors": [e.model_dump() for e in errors]},
        )

    async def on_domain(request: Request, exc: Exception) -> JSONResponse:
        for cls, status, kind in _DOMAIN:
            if isinstance(exc, cls):
                extra = None
                if isinstance(exc, AssetRefused):
                    kind = f"{kind}-{exc.code}"
                    extra = {"errors": [{"field": "asset", "where": "body", "message": str(exc)}]}
                return problem_response(request, status, str(exc), kind=kind, extra=extra)
        return await on_unavailable(request, exc)

    async def on_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # Messages of storage and service errors may name hosts and databases.
        log.error("%s %s: %s", request.method, request.url.path, exc)
        return problem_response(
            request, 503, "a backing service is unavailable; try again later", kind="unavailable"
        )

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    for cls, _status, _kind in _DOMAIN:
        app.add_exception_handler(cls, on_domain)
    app.add_exception_handler(StorageError, on_unavailable)
    app.add_exception_handler(ServiceError, on_unavailable)


def _field_error(error: Mapping[str, Any]) -> FieldError:
    location = [str(part) for part in error.get("loc", ())]
    where, path = (location[0], location[1:]) if location else ("request", [])
    message = str(error.get("msg", "invalid"))
    return FieldError(field=".".join(path) or where, where=where, message=message)


async def internal_problem(request: Request) -> Response:
    """The generic 500 problem: says nothing of what failed (the log has it)."""
    return problem_response(
        None, 500, "internal error; it has been logged", kind="internal", path=request.url.path
    )


LastResort = Callable[[Request], Awaitable[Response]]


class CatchAllMiddleware:
    """Turns an unhandled exception into a generic 500 answer and logs the traceback.

    Starlette's own last-resort handler re-raises after answering, which servers then log
    a second time and test transports raise; this one answers and stops there. ``answer``
    makes the answer (default :func:`internal_problem`; the app factory passes the web
    app's, which answers pages with the error page).
    """

    def __init__(self, app: ASGIApp, answer: LastResort = internal_problem) -> None:
        self.app = app
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("%s %s failed", scope.get("method"), scope.get("path"))
            if started:
                raise  # the answer is half sent; only the server can end the connection
            response = await self.answer(Request(scope, receive))
            await response(scope, receive, send)
