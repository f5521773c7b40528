"""Writers: one interface to InfluxDB, two transports.

A writer takes ready line protocol (newline-separated, nanosecond timestamps) and either
stores all of it or raises one of the errors below. The batching layer decides what to do
from the class alone, so every transport maps its failures onto the same tree:

    ServiceError                 (estatewatch.errors)
    +-- WriteError               any failed write; ``status`` is the HTTP status or None
        +-- WriteRetryable       5xx, 429, timeouts, connection refused/reset: retry with
        |                        backoff, no sooner than ``retry_after`` seconds if set
        +-- WriteTooLarge        413: split the batch and write the halves
        +-- WriteRejected        other 4xx: the points themselves are bad (or the database
        |                        or bucket does not exist); ``message`` is InfluxDB's text,
        |                        ``partial`` says some points of the batch were stored
        +-- WriteUnauthorized    401/403: credentials or permissions are wrong; retrying
                                 will not help

Transports: :class:`Influx1Writer` here (the 1.x ``/write`` API over httpx) and
:class:`ingest.influx_v2.Influx2Writer` (the v2 write API through influxdb-client, for
InfluxDB 2.x, 3.x and Cloud). Neither lets an httpx, aiohttp or influxdb-client exception
escape.
"""

from __future__ import annotations

import email.utils
import gzip
import json
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Final, Protocol, Self
from urllib.parse import urlsplit

import httpx

from estatewatch.errors import ConfigError, ServiceError

__all__ = [
    "Influx1Writer",
    "InfluxWriter",
    "Sent",
    "WriteError",
    "WriteRejected",
    "WriteRetryable",
    "WriteTooLarge",
    "WriteUnauthorized",
    "error_for_status",
]

# Level 1: on line protocol it gets most of the ratio of level 9 for a fraction of the CPU.
_GZIP_LEVEL: Final = 1


class WriteError(ServiceError):
    """A write to InfluxDB failed; the subclass says what the caller should do."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


# The names say what the caller does next; an "Error" suffix would add nothing (N818).
class WriteRetryable(WriteError):  # noqa: N818
    """InfluxDB is down, overloaded or slow: the same batch may succeed later."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class WriteTooLarge(WriteError):  # noqa: N818
    """The request body exceeds InfluxDB's limit: split the batch."""


class WriteRejected(WriteError):  # noqa: N818
    """InfluxDB refused the points (bad line protocol, type conflict, unknown database)."""

    def __init__(
        self, message: str, *, status: int | None = None, reason: str = "", partial: bool = False
    ) -> None:
        super().__init__(message, status=status)
        self.reason = reason
        self.partial = partial


class WriteUnauthorized(WriteError):  # noqa: N818
    """Credentials are missing, wrong or lack write permission: a configuration error."""


Sent = Callable[[], Awaitable[None]]


class InfluxWriter(Protocol):
    """Writes batches of line protocol; use as ``async with writer: await writer.write(...)``."""

    async def write(self, body: bytes, points: int, sent: Sent | None = None) -> None:
        """Store ``body`` (``points`` lines, precision ns) or raise a :class:`WriteError`.

        ``sent``, if given, is awaited once the body is on its way, before InfluxDB
        answers (a transport that cannot tell awaits it before sending): the caller
        lets other work run from then on without delaying the request.
        """
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def error_for_status(
    status: int, reason: str, *, target: str, points: int, retry_after: str | None = None
) -> WriteError:
    """The error for an unsuccessful HTTP status; ``reason`` is InfluxDB's own text and
    ``target`` names where the points were going (URL and database or bucket)."""
    what = f"InfluxDB at {target}"
    if status in (401, 403):
        return WriteUnauthorized(
            f"{what} refused the credentials ({status}): check the user, password or token "
            f"and its write permission: {reason}",
            status=status,
        )
    if status == 413:
        return WriteTooLarge(
            f"{what} refused {points} points as too large (413): {reason}", status=status
        )
    if status == 429 or status >= 500:
        return WriteRetryable(
            f"{what} could not take {points} points now ({status}): {reason}",
            status=status,
            retry_after=parse_retry_after(retry_after),
        )
    # InfluxDB 1.x says "partial write" when it stored the good points of a batch; the v3
    # write API answers 422 for the same situation.
    partial = "partial write" in reason or status == 422
    note = " (partial write: the other points were stored)" if partial else ""
    return WriteRejected(
        f"{what} rejected {points} points ({status}){note}: {reason}",
        status=status,
        reason=reason,
        partial=partial,
    )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def check_http_url(url: str) -> str:
    """``url`` without a trailing slash, or ConfigError if it is not an http(s) URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"InfluxDB URL must look like http://host:8086, got {url!r}")
    return url.rstrip("/")


def _when_sent(sent: Sent) -> Callable[[str, dict[str, Any]], Awaitable[None]]:
    async def trace(event: str, info: dict[str, Any]) -> None:
        if event == "http11.send_request_body.complete":
            await sent()

    return trace


def _influx1_reason(response: httpx.Response) -> str:
    # 1.x answers errors as {"error": "..."} and repeats the text in X-Influxdb-Error;
    # a proxy in front of it may answer with anything.
    try:
        document = json.loads(response.content)
    except ValueError:
        document = None
    error = document.get("error") if isinstance(document, dict) else None
    if isinstance(error, str):
        return error
    header = response.headers.get("X-Influxdb-Error")
    if isinstance(header, str) and header:
        return header
    return response.text.strip()[:500] or response.reason_phrase


class Influx1Writer:
    """The InfluxDB 1.x ``/write`` API: database, retention policy, user and password.

    One HTTP/1.1 connection pool per writer, opened by ``async with``; a refused
    connection is retried by the caller on the same writer, which reconnects by itself.
    ``gzip`` compresses request bodies: on loopback it costs more CPU than it saves (see
    ``bench/bench_ingest.py``), so it is off by default and meant for slow links.
    """

    def __init__(
        self,
        url: str,
        database: str,
        *,
        retention_policy: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        gzip: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = check_http_url(url)
        self.database = database
        self.retention_policy = retention_policy
        self.gzip = gzip
        self._username = username
        self._password = password
        self._timeout = timeout
        self._transport = transport  # tests pass an httpx.MockTransport
        self._params = {"db": database, "precision": "ns"}
        if retention_policy:
            self._params["rp"] = retention_policy
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"Influx1Writer({self.url!r}, {self.database!r})"

    @property
    def _target(self) -> str:
        rp = f", retention policy {self.retention_policy!r}" if self.retention_policy else ""
        return f"{self.url} (database {self.database!r}{rp})"

    async def __aenter__(self) -> Self:
        auth = None
        if self._username is not None:
            # Basic auth rather than u=/p= query parameters keeps the password out of
            # InfluxDB's and any proxy's access logs; 1.x accepts both.
            auth = httpx.BasicAuth(self._username, self._password or "")
        self._client = httpx.AsyncClient(
            base_url=self.url,
            auth=auth,
            timeout=self._timeout,
            transport=self._transport,
            # InfluxDB is usually on loopback or the LAN: proxy variables meant for the
            # internet must not reroute it.
            trust_env=False,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def write(self, body: bytes, points: int, sent: Sent | None = None) -> None:
        if self._client is None:
            raise RuntimeError(f"{self!r} is not open: use 'async with'")
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if self.gzip:
            body = gzip.compress(body, compresslevel=_GZIP_LEVEL)
            headers["Content-Encoding"] = "gzip"
        # httpcore's trace hook says when the body has been written to the socket.
        extensions = {"trace": _when_sent(sent)} if sent is not None else None
        try:
            response = await self._client.post(
                "/write", params=self._params, content=body, headers=headers,
                extensions=extensions,
            )  # fmt: skip
        except httpx.TimeoutException as exc:
            raise WriteRetryable(
                f"InfluxDB at {self._target} timed out after {self._timeout:g} s "
                f"writing {points} points: {type(exc).__name__}"
            ) from exc
        except httpx.TransportError as exc:
            raise WriteRetryable(
                f"InfluxDB at {self._target} could not be reached: {exc or type(exc).__name__}"
            ) from exc
        if response.is_success:  # 1.x answers 204; a proxy in front may say 200
            return
        raise error_for_status(
            response.status_code,
            _influx1_reason(response),
            target=self._target,
            points=points,
            retry_after=response.headers.get("Retry-After"),
        )
