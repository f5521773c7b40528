"""Writers map every HTTP outcome onto the ingest error tree, without real InfluxDB.

Influx1Writer is driven through ``httpx.MockTransport``. Influx2Writer goes through
influxdb-client and aiohttp, so it talks to a loopback HTTP/1.1 server that records each
request and replays canned responses; the success case replays the recorded v2 write
exchange in ``tests/fixtures/influx_v2_write_exchange.json`` (written from the InfluxDB v2
API docs: https://docs.influxdata.com/influxdb/v2/api/quick-start/).
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from estatewatch.errors import ConfigError, ServiceError
from ingest.influx_v2 import Influx2Writer
from ingest.writers import (
    Influx1Writer,
    InfluxWriter,
    WriteError,
    WriteRejected,
    WriteRetryable,
    WriteTooLarge,
    WriteUnauthorized,
    parse_retry_after,
)

EXCHANGE = Path(__file__).parents[1] / "fixtures" / "influx_v2_write_exchange.json"
BODY = b"m,device_id=d1 v=1i 1764000000000000000\nm,device_id=d2 v=2i 1764000000000000000"

# --- Influx1Writer over httpx.MockTransport ----------------------------------------------


def _v1(handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> Influx1Writer:
    return Influx1Writer(
        "http://influx.test:8086", "estatewatch", transport=httpx.MockTransport(handler), **kwargs
    )


def _error(status: int, text: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": text}, headers=headers)


async def test_v1_success_sends_database_precision_and_body() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    async with _v1(handler, retention_policy="autogen") as writer:
        await writer.write(BODY, 2)
    (request,) = seen
    assert request.method == "POST"
    assert request.url.path == "/write"
    assert dict(request.url.params) == {"db": "estatewatch", "rp": "autogen", "precision": "ns"}
    assert request.content == BODY
    assert "authorization" not in request.headers
    assert "content-encoding" not in request.headers


async def test_v1_credentials_go_in_basic_auth_not_the_url() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    async with _v1(handler, username="ingest", password="s3cret") as writer:
        await writer.write(BODY, 2)
    expected = "Basic " + base64.b64encode(b"ingest:s3cret").decode()
    assert seen[0].headers["authorization"] == expected
    assert "s3cret" not in str(seen[0].url)


async def test_v1_gzip_compresses_the_body() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    async with _v1(handler, gzip=True) as writer:
        await writer.write(BODY, 2)
    assert seen[0].headers["content-encoding"] == "gzip"
    assert gzip.decompress(seen[0].content) == BODY


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (_error(500, "timeout"), WriteRetryable),
        (_error(503, "overloaded", {"Retry-After": "7"}), WriteRetryable),
        (_error(429, "slow down", {"Retry-After": "2"}), WriteRetryable),
        (_error(413, "Request Entity Too Large"), WriteTooLarge),
        (_error(401, "authorization failed"), WriteUnauthorized),
        (_error(403, "forbidden"), WriteUnauthorized),
        (_error(400, "unable to parse 'm v=': missing field value"), WriteRejected),
        (_error(404, 'database not found: "estatewatch"'), WriteRejected),
    ],
)
async def test_v1_status_maps_to_error(
    response: httpx.Response, expected: type[WriteError]
) -> None:
    async with _v1(lambda _request: response) as writer:
        with pytest.raises(expected) as caught:
            await writer.write(BODY, 2)
    assert caught.value.status == response.status_code
    assert isinstance(caught.value, ServiceError)
    assert response.json()["error"] in str(caught.value)
    assert "estatewatch" in str(caught.value)


async def test_v1_retry_after_is_carried() -> None:
    async with _v1(lambda _r: _error(503, "busy", {"Retry-After": "7"})) as writer:
        with pytest.raises(WriteRetryable) as caught:
            await writer.write(BODY, 2)
    assert caught.value.retry_after == 7.0


async def test_v1_partial_write_is_flagged() -> None:
    text = 'partial write: field type conflict: input field "v" is type float, already integer'
    text += " dropped=1"
    async with _v1(lambda _r: _error(400, text)) as writer:
        with pytest.raises(WriteRejected) as caught:
            await writer.write(BODY, 2)
    assert caught.value.partial
    assert caught.value.reason == text
    assert "partial write" in str(caught.value)


async def test_v1_error_text_from_header_or_plain_body() -> None:
    def proxy(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, text="<html>bad request</html>")

    async with _v1(proxy) as writer:
        with pytest.raises(WriteRejected, match="bad request") as caught:
            await writer.write(BODY, 2)
    assert not caught.value.partial

    def header(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, headers={"X-Influxdb-Error": "unable to parse"})

    async with _v1(header) as writer:
        with pytest.raises(WriteRejected, match="unable to parse"):
            await writer.write(BODY, 2)


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.ReadError("[Errno 104] Connection reset by peer"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadTimeout("timed out"),
        httpx.ConnectTimeout("timed out"),
    ],
)
async def test_v1_transport_failures_are_retryable(failure: httpx.TransportError) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise failure

    async with _v1(handler) as writer:
        with pytest.raises(WriteRetryable) as caught:
            await writer.write(BODY, 2)
    assert caught.value.status is None
    assert caught.value.__cause__ is failure


async def test_v1_write_outside_async_with_is_a_bug() -> None:
    writer = _v1(lambda _r: httpx.Response(204))
    with pytest.raises(RuntimeError, match="async with"):
        await writer.write(BODY, 2)


@pytest.mark.parametrize("url", ["influx:8086", "ftp://influx", "http://"])
def test_bad_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="InfluxDB URL"):
        Influx1Writer(url, "db")
    with pytest.raises(ConfigError, match="InfluxDB URL"):
        Influx2Writer(url, "org", "bucket", "token")


def test_retry_after_forms() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after(" 3 ") == 3.0
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert parse_retry_after("soon") is None


# --- a loopback HTTP/1.1 server for Influx2Writer ----------------------------------------


@dataclass
class Recorded:
    method: str
    target: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.target).query))


@dataclass
class Canned:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class ReplayServer:
    """Answers each request with the next canned response (the last one repeats)."""

    responses: list[Canned]
    requests: list[Recorded] = field(default_factory=list)
    url: str = ""
    stall: bool = False  # read requests but never answer, to provoke a timeout
    handlers: set[asyncio.Task[None]] = field(default_factory=set)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Python 3.11's Server has no close_clients(): teardown cancels these instead.
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            while request := await _read_request(reader):
                self.requests.append(request)
                if self.stall:
                    await asyncio.sleep(3600)
                canned = self.responses[min(len(self.requests), len(self.responses)) - 1]
                writer.write(_render(canned))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def _read_request(reader: asyncio.StreamReader) -> Recorded | None:
    head = await reader.readuntil(b"\r\n\r\n") if not reader.at_eof() else b""
    if not head:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Recorded(method, target, headers, body)


def _render(canned: Canned) -> bytes:
    reason = {204: "No Content"}.get(canned.status, "Status")
    lines = [f"HTTP/1.1 {canned.status} {reason}", f"Content-Length: {len(canned.body)}"]
    lines += [f"{name}: {value}" for name, value in canned.headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + canned.body


@pytest.fixture
async def replay() -> AsyncIterator[ReplayServer]:
    state = ReplayServer(responses=[Canned(204)])
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    state.url = f"http://127.0.0.1:{port}"
    async with server:
        yield state
        server.close()
        for task in state.handlers:
            task.cancel()
        await asyncio.gather(*state.handlers, return_exceptions=True)


def _v2(url: str, **kwargs: Any) -> Influx2Writer:
    return Influx2Writer(url, "estatewatch", "telemetry", "example-token-not-a-secret", **kwargs)


def _json(status: int, code: str, message: str, **headers: str) -> Canned:
    body = json.dumps({"code": code, "message": message}).encode()
    return Canned(status, {"Content-Type": "application/json", **headers}, body)


async def test_v2_sends_the_recorded_request(replay: ReplayServer) -> None:
    exchange = json.loads(EXCHANGE.read_text())
    want, answer = exchange["request"], exchange["response"]
    replay.responses = [Canned(answer["status"], answer["headers"], answer["body"].encode())]
    auth = want["headers"]["Authorization"].removeprefix("Token ")
    body = want["body"].encode()
    query = want["query"]

    async with Influx2Writer(replay.url, query["org"], query["bucket"], auth) as writer:
        await writer.write(body, body.count(b"\n") + 1)

    (sent,) = replay.requests
    assert sent.method == want["method"]
    assert sent.path == want["path"]
    assert sent.query == query
    assert sent.headers["authorization"] == want["headers"]["Authorization"]
    # influxdb-client 1.50 sends plain "text/plain"; InfluxDB reads line protocol as UTF-8
    # whatever the charset parameter says, so only the media type has to match.
    media_type = want["headers"]["Content-Type"].split(";")[0]
    assert sent.headers["content-type"].split(";")[0].strip() == media_type
    sent_body = sent.body
    if sent.headers.get("content-encoding") == "gzip":
        sent_body = gzip.decompress(sent_body)
    assert sent_body == body


@pytest.mark.parametrize(
    ("canned", "expected", "retry_after"),
    [
        (_json(413, "request too large", "points batch is too large"), WriteTooLarge, None),
        (_json(429, "too many requests", "slow down", **{"Retry-After": "30"}), WriteRetryable, 30),
        (_json(503, "unavailable", "write queue full", **{"Retry-After": "5"}), WriteRetryable, 5),
        (_json(500, "internal error", "engine: cache full"), WriteRetryable, None),
        (_json(401, "unauthorized", "unauthorized access"), WriteUnauthorized, None),
        (_json(403, "forbidden", "insufficient permissions for write"), WriteUnauthorized, None),
        (_json(400, "invalid", "unable to parse 'm v=': missing field value"), WriteRejected, None),
        (_json(404, "not found", 'bucket "telemetry" not found'), WriteRejected, None),
        (_json(422, "unprocessable entity", "partial write of line protocol"), WriteRejected, None),
    ],
)
async def test_v2_status_maps_to_error(
    replay: ReplayServer, canned: Canned, expected: type[WriteError], retry_after: float | None
) -> None:
    replay.responses = [canned]
    async with _v2(replay.url) as writer:
        with pytest.raises(expected) as caught:
            await writer.write(BODY, 2)
    assert caught.value.status == canned.status
    assert json.loads(canned.body)["message"] in str(caught.value)
    assert "telemetry" in str(caught.value)
    if isinstance(caught.value, WriteRetryable):
        assert caught.value.retry_after == retry_after
    if isinstance(caught.value, WriteRejected):
        assert caught.value.partial == (canned.status == 422)


async def test_v2_same_writer_recovers_after_an_error(replay: ReplayServer) -> None:
    replay.responses = [_json(503, "unavailable", "starting"), Canned(204)]
    async with _v2(replay.url) as writer:
        with pytest.raises(WriteRetryable):
            await writer.write(BODY, 2)
        await writer.write(BODY, 2)
    assert len(replay.requests) == 2


async def test_v2_connection_refused_is_retryable() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with _v2(f"http://127.0.0.1:{port}") as writer:
        with pytest.raises(WriteRetryable, match="could not be reached"):
            await writer.write(BODY, 2)


async def test_v2_timeout_is_retryable(replay: ReplayServer) -> None:
    replay.stall = True
    async with _v2(replay.url, timeout=0.2) as writer:
        with pytest.raises(WriteRetryable, match="timed out"):
            await writer.write(BODY, 2)


async def test_v2_write_outside_async_with_is_a_bug() -> None:
    with pytest.raises(RuntimeError, match="async with"):
        await _v2("http://127.0.0.1:1").write(BODY, 2)


def test_both_writers_satisfy_the_interface() -> None:
    writers: list[InfluxWriter] = [
        Influx1Writer("http://127.0.0.1:8086", "db"),
        _v2("http://127.0.0.1:8086"),
    ]
    assert len(writers) == 2
