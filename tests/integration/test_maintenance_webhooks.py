"""WebhookSender against a real HTTP/1.1 server on a free local port.

The receiver is a few lines of ``asyncio.start_server``: it parses each request, checks
the signature with :func:`verify_signature` as a real receiver would (401 when it is
wrong), and answers from a per-path script of statuses (200 once the script runs out).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from maintenance.webhooks import (
    EventType,
    Subscription,
    WebhookSender,
    WebhookSettings,
    verify_signature,
)

pytestmark = pytest.mark.integration

SECRET = "s3cret-for-tests-only"


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool
    status: int
    at: float

    @property
    def document(self) -> dict[str, object]:
        result: dict[str, object] = json.loads(self.body)
        return result


@dataclass
class Receiver:
    port: int = 0
    script: dict[str, list[int]] = field(default_factory=dict)
    retry_after: str | None = None
    """Sent with every 429 and 503."""
    requests: list[Received] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while request_line := await reader.readline():  # keep-alive: many per connection
                _, path, _ = request_line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, value = line.decode().split(":", 1)
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                ok = verify_signature(
                    SECRET,
                    headers.get("x-estatewatch-timestamp", ""),
                    body,
                    headers.get("x-estatewatch-signature", ""),
                    now=now(),
                )
                planned = self.script.get(path)
                status = 401 if not ok else (planned.pop(0) if planned else 200)
                received = Received(
                    path, headers, body, ok, status, asyncio.get_running_loop().time()
                )
                self.requests.append(received)
                extra = ""
                if status in (429, 503) and self.retry_after is not None:
                    extra = f"Retry-After: {self.retry_after}\r\n"
                writer.write(
                    f"HTTP/1.1 {status} Scripted\r\n{extra}Content-Length: 0\r\n\r\n".encode()
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    receiver.port = server.sockets[0].getsockname()[1]
    async with server:
        yield receiver


def settings(*subscriptions: Subscription, **overrides: float) -> WebhookSettings:
    values: dict[str, object] = {
        "subscriptions": subscriptions,
        "max_attempts": 4,
        "backoff_initial_s": 0.02,
        "backoff_max_s": 0.05,
        "timeout_s": 5.0,
        "drain_timeout_s": 10.0,
    }
    return WebhookSettings.model_validate(values | overrides)


def subscription(url: str, *events: EventType) -> Subscription:
    return Subscription.model_validate(
        {"url": url, "secret": SECRET, "events": events or ["sla.breached"]}
    )


async def test_signed_event_is_delivered(receiver: Receiver) -> None:
    before = int(now().timestamp())
    async with WebhookSender(settings(subscription(receiver.url("/hook"))), now) as sender:
        event_id = sender.publish("sla.breached", {"work_order": "WO-2026-0007", "cost": 1.5})
    # Leaving the block drains the queue: the request has arrived.
    (request,) = receiver.requests
    assert request.signature_ok
    assert request.status == 200
    assert request.headers["x-estatewatch-event"] == "sla.breached"
    assert request.headers["content-type"] == "application/json"
    assert int(request.headers["x-estatewatch-timestamp"]) >= before
    document = request.document
    assert document["id"] == event_id
    assert document["type"] == "sla.breached"
    assert document["data"] == {"work_order": "WO-2026-0007", "cost": 1.5}
    assert datetime.fromisoformat(str(document["created_at"])).tzinfo is not None
    assert sender.counters.delivered == 1
    # The same body under another secret, or altered by one byte, does not verify.
    stamp, signature = (
        request.headers["x-estatewatch-timestamp"],
        request.headers["x-estatewatch-signature"],
    )
    assert not verify_signature("other", stamp, request.body, signature, now=now())
    assert not verify_signature(SECRET, stamp, request.body + b" ", signature, now=now())


async def test_503_is_retried_until_delivered(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.script["/flaky"] = [503, 503]
    with caplog.at_level(logging.WARNING, logger="maintenance.webhooks"):
        async with WebhookSender(settings(subscription(receiver.url("/flaky"))), now) as sender:
            sender.publish("sla.breached", {"n": 1})
    attempts = receiver.at("/flaky")
    assert [r.status for r in attempts] == [503, 503, 200]
    assert all(r.signature_ok for r in attempts)
    assert len({r.document["id"] for r in attempts}) == 1  # one event, so receivers dedupe
    counters = sender.counters
    assert (counters.delivered, counters.retries, counters.failed) == (1, 2, 0)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert all(receiver.url("/flaky") in w and "HTTP 503" in w for w in warnings)


async def test_400_is_not_retried(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    receiver.script["/bad"] = [400]
    with caplog.at_level(logging.ERROR, logger="maintenance.webhooks"):
        async with WebhookSender(settings(subscription(receiver.url("/bad"))), now) as sender:
            sender.publish("sla.breached", {"n": 1})
    assert [r.status for r in receiver.at("/bad")] == [400]
    assert (sender.counters.failed, sender.counters.retries) == (1, 0)
    (error,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert receiver.url("/bad") in error
    assert "not retried: HTTP 400" in error


async def test_attempts_are_bounded(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    receiver.script["/down"] = [503] * 10
    with caplog.at_level(logging.ERROR, logger="maintenance.webhooks"):
        async with WebhookSender(
            settings(subscription(receiver.url("/down")), max_attempts=3), now
        ) as sender:
            sender.publish("sla.breached", {"n": 1})
    assert len(receiver.at("/down")) == 3
    assert (sender.counters.failed, sender.counters.retries) == (1, 2)
    (error,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "given up after 3 attempts: HTTP 503" in error


async def test_network_errors_are_retried(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with caplog.at_level(logging.WARNING, logger="maintenance.webhooks"):
        async with WebhookSender(
            settings(subscription(f"http://127.0.0.1:{port}/x"), max_attempts=2), now
        ) as sender:
            sender.publish("sla.breached", {"n": 1})
    assert (sender.counters.failed, sender.counters.retries) == (1, 1)
    assert all("ConnectError" in r.getMessage() for r in caplog.records)


async def test_events_go_only_to_their_subscribers(receiver: Receiver) -> None:
    committee = subscription(receiver.url("/committee"), "vote.needed", "approval.needed")
    staff = subscription(receiver.url("/staff"), "work_order.created_p1", "sla.breached")
    async with WebhookSender(settings(committee, staff), now) as sender:
        sender.publish("work_order.created_p1", {"order": "WO-1"})
        sender.publish("vote.needed", {"proposal": "p7"})
        sender.publish("approval.needed", {"order": "WO-2"})
    assert [r.headers["x-estatewatch-event"] for r in receiver.at("/committee")] == [
        "vote.needed",
        "approval.needed",
    ]
    assert [r.headers["x-estatewatch-event"] for r in receiver.at("/staff")] == [
        "work_order.created_p1"
    ]
    assert sender.counters.published == 3


async def test_slow_receiver_does_not_hold_up_others_and_shutdown_is_bounded(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.script["/down"] = [503] * 100
    down = subscription(receiver.url("/down"))
    up = subscription(receiver.url("/up"))
    slow_retries = settings(
        down, up, max_attempts=10, backoff_initial_s=30.0, backoff_max_s=30.0, drain_timeout_s=0.5
    )
    loop = asyncio.get_running_loop()
    with caplog.at_level(logging.WARNING, logger="maintenance.webhooks"):
        async with WebhookSender(slow_retries, now) as sender:
            sender.publish("sla.breached", {"n": 1})
            sender.publish("sla.breached", {"n": 2})
            started = loop.time()
    assert loop.time() - started < 15  # the drain bound (0.5 s), not the 30 s backoff
    assert [r.document["data"] for r in receiver.at("/up")] == [{"n": 1}, {"n": 2}]
    assert len(receiver.at("/down")) == 1
    assert sender.counters.abandoned == 2  # one in its backoff, one still queued
    assert any("2 deliveries abandoned" in r.getMessage() for r in caplog.records)


async def test_429_waits_as_long_as_retry_after_asks(receiver: Receiver) -> None:
    receiver.script["/busy"] = [429]
    receiver.retry_after = "1"
    async with WebhookSender(
        settings(subscription(receiver.url("/busy")), max_attempts=2, backoff_max_s=5.0), now
    ) as sender:
        sender.publish("sla.breached", {"n": 1})
    first, second = receiver.at("/busy")
    assert (first.status, second.status) == (429, 200)
    # The backoff alone would wait at most 0.02 s; the server asked for a second.
    assert second.at - first.at >= 0.95
    assert sender.counters.delivered == 1
