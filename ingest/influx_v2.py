"""The v2 write API (InfluxDB 2.x, 3.x, Cloud) through influxdb-client's async client.

``POST /api/v2/write?org=..&bucket=..&precision=ns`` with ``Authorization: Token ..``;
204 is success. Errors are mapped onto the tree in :mod:`ingest.writers`: influxdb-client
raises ``ApiException`` with the status and InfluxDB's JSON ``message``, and lets aiohttp's
connection errors and timeouts through, so all three are caught here.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

import aiohttp
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from influxdb_client.client.write_api_async import WriteApiAsync
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException

from ingest.writers import Sent, WriteError, WriteRetryable, check_http_url, error_for_status

__all__ = ["Influx2Writer"]


class Influx2Writer:
    """Writes line protocol to a v2 bucket; open with ``async with``."""

    def __init__(
        self, url: str, org: str, bucket: str, token: str, *, timeout: float = 10.0
    ) -> None:
        self.url = check_http_url(url)
        self.org = org
        self.bucket = bucket
        self._token = token
        self._timeout = timeout
        self._client: InfluxDBClientAsync | None = None
        self._write_api: WriteApiAsync | None = None

    def __repr__(self) -> str:
        return f"Influx2Writer({self.url!r}, org={self.org!r}, bucket={self.bucket!r})"

    @property
    def _target(self) -> str:
        return f"{self.url} (org {self.org!r}, bucket {self.bucket!r})"

    async def __aenter__(self) -> Self:
        # Built here, not in __init__: the client opens an aiohttp session, which must
        # belong to the running event loop.
        self._client = InfluxDBClientAsync(
            url=self.url,
            token=self._token,
            org=self.org,
            timeout=int(self._timeout * 1000),  # influxdb-client counts milliseconds
        )
        self._write_api = self._client.write_api()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        client, self._client, self._write_api = self._client, None, None
        if client is not None:
            await client.close()  # type: ignore[no-untyped-call]

    async def write(self, body: bytes, points: int, sent: Sent | None = None) -> None:
        if self._write_api is None:
            raise RuntimeError(f"{self!r} is not open: use 'async with'")
        if sent is not None:
            # influxdb-client has no hook for a sent body.
            await sent()
        try:
            await self._write_api.write(
                bucket=self.bucket,
                org=self.org,
                record=body,
                # The enum's members are plain strings, typed as str by the library.
                write_precision=WritePrecision.NS,  # type: ignore[arg-type]
            )
        except ApiException as exc:
            raise _api_error(exc, target=self._target, points=points) from exc
        except TimeoutError as exc:
            raise WriteRetryable(
                f"InfluxDB at {self._target} timed out after {self._timeout:g} s "
                f"writing {points} points"
            ) from exc
        except aiohttp.ClientError as exc:
            # Connection refused or reset, server disconnected, broken payload: all
            # transient from the caller's point of view.
            raise WriteRetryable(
                f"InfluxDB at {self._target} could not be reached: {exc or type(exc).__name__}"
            ) from exc


def _api_error(exc: ApiException, *, target: str, points: int) -> WriteError:
    status = exc.status if isinstance(exc.status, int) else 0
    if status == 0:
        # influxdb-client's own refusal to build the request: a bug here, not InfluxDB.
        raise RuntimeError(f"influxdb-client could not send the write: {exc.reason}") from exc
    message = exc.message
    reason = message.decode(errors="replace") if isinstance(message, bytes) else str(message)
    return error_for_status(
        status,
        reason,
        target=target,
        points=points,
        retry_after=exc.retry_after if isinstance(exc.retry_after, str) else None,
    )
