"""A request body larger than ``max_body_bytes`` is refused with 413 problem+json.

A ``multipart/form-data`` body (a form with photos) has its own, larger limit,
``upload_max_bytes``; each file in it is checked again by whoever reads it.

A declared ``Content-Length`` over the limit is refused before anything is read; a body
sent without one (chunked) is counted as it arrives and refused once it passes the limit,
so no request can make the server hold more than the limit in memory.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import Problem, problem_response

__all__ = ["BodyLimitMiddleware"]


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, upload_max_bytes: int | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_max_bytes = max_bytes if upload_max_bytes is None else upload_max_bytes

    @staticmethod
    def _too_large(limit: int) -> Problem:
        return Problem(413, f"the request body is larger than {limit} bytes", kind="too-large")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        multipart = headers.get("content-type", "").startswith("multipart/form-data")
        limit = self.upload_max_bytes if multipart else self.max_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            refusal = self._too_large(limit)
            response = problem_response(
                None, 413, refusal.detail, kind=refusal.kind, path=str(scope.get("path", ""))
            )
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise self._too_large(limit)  # answered by the Problem handler
            return message

        await self.app(scope, counting_receive, send)
