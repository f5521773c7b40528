"""Outbound webhooks: signed JSON POSTs for the events people must act on.

Event types: ``work_order.created_p1`` (a life-safety order was opened), ``sla.breached``,
``approval.needed`` (spending waits for the committee), ``vote.needed`` (a proposal waits
for the owners' vote), ``regulator.report`` (a GB/T 24476 fault, event or alarm for a
city's lift platform: :mod:`maintenance.regulator_feed`). Each subscription names its
URL, its secret and the types it wants.

Wire format
    ``POST`` with the JSON body ``{"id", "type", "created_at", "data"}`` (``id`` is the
    same on every retry, so receivers drop duplicates) and the headers
    ``X-Estatewatch-Event: <type>``, ``X-Estatewatch-Timestamp: <unix seconds>`` and
    ``X-Estatewatch-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>``.
    The timestamp is taken at each attempt. Receivers check with :func:`verify_signature`:
    a constant-time comparison, and a replay window (5 minutes by default) so a captured
    request cannot be played again later.

Delivery (at least once while the process lives)
    :meth:`WebhookSender.publish` queues the event for every subscription that wants it
    and returns at once; one task per subscription delivers its queue in order, so a slow
    or failing receiver holds up no other. Network errors, timeouts, 429 and 5xx are
    retried with exponential backoff and equal jitter up to ``max_attempts`` (no sooner
    than a ``Retry-After`` in seconds asks, capped at ``backoff_max_s``); other
    answers (4xx, and 3xx: redirects are not followed) are not retried, since the same
    request would be refused again. Every failed attempt is logged (WARNING) with the URL
    and the reason; an event given up on is logged at ERROR and counted in
    :class:`WebhookCounters`. A full queue drops the new event (ERROR, counted). On exit
    the sender waits up to ``drain_timeout_s`` for the queues to empty, then abandons
    what is left (WARNING, counted). Events live in memory only: a crash loses what was
    queued. For durability, publish with ``on_settled`` and remember progress only once it
    is called: :class:`~maintenance.webhook_relay.WebhookRelay` does so over the audit trail.

Errors: :class:`WebhookError` (a :class:`~estatewatch.errors.ServiceError`) when
publishing to a sender that is not running or with data that is not JSON-able; bad
configuration is a :class:`~estatewatch.errors.ConfigError` naming file and field.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, Self, get_args
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_core import PydanticSerializationError, to_jsonable_python

from estatewatch.backoff import equal_jitter
from estatewatch.clock import Clock
from estatewatch.errors import ServiceError
from estatewatch.validation import load_yaml_model

__all__ = [
    "EVENT_HEADER",
    "EVENT_TYPES",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "EventType",
    "Subscription",
    "WebhookCounters",
    "WebhookError",
    "WebhookSender",
    "WebhookSettings",
    "sign",
    "verify_signature",
]

log = logging.getLogger(__name__)

EventType = Literal[
    "work_order.created_p1", "sla.breached", "approval.needed", "vote.needed", "regulator.report"
]
EVENT_TYPES: Final[tuple[EventType, ...]] = get_args(EventType)

EVENT_HEADER: Final = "X-Estatewatch-Event"
TIMESTAMP_HEADER: Final = "X-Estatewatch-Timestamp"
SIGNATURE_HEADER: Final = "X-Estatewatch-Signature"
_SCHEME: Final = "sha256="


class WebhookError(ServiceError):
    """An event could not be handed to the sender."""


class Subscription(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    secret: SecretStr
    events: frozenset[EventType] = Field(min_length=1)

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http(s) URL such as https://host/path, got {url!r}")
        return url

    @field_validator("secret")
    @classmethod
    def _non_empty(cls, secret: SecretStr) -> SecretStr:
        if not secret.get_secret_value().strip():
            raise ValueError("must not be empty: receivers verify signatures with it")
        return secret


class WebhookSettings(BaseModel):
    """Webhook configuration, e.g. ``webhooks.yaml``::

    subscriptions:
      - url: https://committee.example/hooks/estatewatch
        secret: a-long-random-string
        events: [approval.needed, vote.needed]
    max_attempts: 6
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    subscriptions: tuple[Subscription, ...] = ()
    max_attempts: int = Field(default=6, ge=1, le=30)
    backoff_initial_s: float = Field(default=1.0, gt=0)
    backoff_max_s: float = Field(default=300.0, gt=0)
    timeout_s: float = Field(default=10.0, gt=0)
    queue_size: int = Field(default=1000, ge=1)
    drain_timeout_s: float = Field(default=10.0, ge=0)
    proxy: str | None = None
    """Outbound HTTP proxy; environment proxy variables are not used."""

    @classmethod
    def load(cls, path: Path) -> WebhookSettings:
        return load_yaml_model(cls, path)


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``f"{timestamp}.{body}"`` under ``secret``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return _SCHEME + mac.hexdigest()


def verify_signature(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: datetime,
    tolerance: timedelta = timedelta(minutes=5),
) -> bool:
    """For receivers: True when ``signature`` is genuine and ``timestamp`` is recent.

    ``timestamp`` and ``signature`` are the header values as received; a timestamp more
    than ``tolerance`` away from ``now`` (either way) is refused as a possible replay.
    """
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now.timestamp() - sent) > tolerance.total_seconds():
        return False
    return hmac.compare_digest(sign(secret, sent, body), signature)


@dataclass(slots=True)
class WebhookCounters:
    published: int = 0
    """Deliveries queued (one per event and interested subscription)."""
    delivered: int = 0
    retries: int = 0
    failed: int = 0
    """Given up on: refused (4xx) or out of attempts."""
    dropped: int = 0
    """Not queued: the subscription's queue was full."""
    abandoned: int = 0
    """Still queued or in flight when the drain time ran out at shutdown."""


@dataclass(frozen=True, slots=True)
class _Failure:
    reason: str
    retryable: bool
    retry_after: float | None = None


@dataclass(slots=True)
class _Settlement:
    """Calls ``callback`` once every subscription that queued the event is done with it."""

    callback: Callable[[], None]
    waiting: int = 0

    def one_done(self) -> None:
        self.waiting -= 1
        if self.waiting == 0:
            self.callback()


@dataclass(frozen=True, slots=True)
class _Event:
    id: str
    type: EventType
    body: bytes
    settlement: _Settlement | None = None


def _loggable(url: str) -> str:
    """The URL without credentials or query, which may carry tokens."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class WebhookSender:
    """Delivers events to subscriptions; use as ``async with WebhookSender(...) as s:``."""

    def __init__(self, settings: WebhookSettings, clock: Clock) -> None:
        self._settings = settings
        self._clock = clock
        self.counters = WebhookCounters()
        self._client: httpx.AsyncClient | None = None
        self._tasks: asyncio.TaskGroup | None = None
        self._queues: list[tuple[Subscription, asyncio.Queue[_Event]]] = []
        self._workers: list[asyncio.Task[None]] = []
        self._in_flight = 0

    def __repr__(self) -> str:
        return f"WebhookSender({len(self._settings.subscriptions)} subscriptions)"

    async def __aenter__(self) -> Self:
        settings = self._settings
        self._client = httpx.AsyncClient(
            timeout=settings.timeout_s,
            proxy=settings.proxy,
            trust_env=False,
            follow_redirects=False,
        )
        tasks = asyncio.TaskGroup()
        await tasks.__aenter__()
        self._tasks = tasks
        for index, subscription in enumerate(settings.subscriptions):
            queue: asyncio.Queue[_Event] = asyncio.Queue(settings.queue_size)
            self._queues.append((subscription, queue))
            self._workers.append(
                tasks.create_task(
                    self._work(subscription, queue),
                    name=f"webhook-{index}-{_loggable(subscription.url)}",
                )
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tasks, self._tasks = self._tasks, None
        if tasks is None:
            return
        try:
            if self._in_flight or any(queue.qsize() for _, queue in self._queues):
                async with asyncio.timeout(self._settings.drain_timeout_s):
                    await asyncio.gather(*(queue.join() for _, queue in self._queues))
        except TimeoutError:
            left = sum(queue.qsize() for _, queue in self._queues) + self._in_flight
            self.counters.abandoned += left
            log.warning(
                "webhooks: %d deliveries abandoned at shutdown after waiting %.1f s",
                left,
                self._settings.drain_timeout_s,
            )
        finally:
            for worker in self._workers:
                worker.cancel()
            try:
                await tasks.__aexit__(exc_type, exc, tb)
            finally:
                self._workers.clear()
                self._queues.clear()
                if self._client is not None:
                    await self._client.aclose()
                    self._client = None

    def publish(
        self,
        event_type: EventType,
        data: Mapping[str, Any],
        *,
        event_id: str | None = None,
        on_settled: Callable[[], None] | None = None,
    ) -> str:
        """Queue an event for every subscription that wants it; returns the event id.

        ``event_id`` (a fresh random id if None) is the body's ``id``: give the same one
        when publishing the same event again, so receivers can drop the repeat.
        ``on_settled`` is called once every subscription is done with the event:
        delivered, refused, given up on, or dropped because its queue was full (at once
        if no subscription wants it). It is never called for an event still queued or in
        flight at shutdown, so a caller that records progress in it re-sends those.
        It runs in a delivery task and must not raise.
        """
        if self._tasks is None:
            raise WebhookError(f"{self!r} is not running: publish inside 'async with'")
        if event_type not in EVENT_TYPES:
            raise WebhookError(f"unknown webhook event type {event_type!r}; known: {EVENT_TYPES}")
        event_id = event_id or uuid.uuid4().hex
        try:
            document = {
                "id": event_id,
                "type": event_type,
                "created_at": self._clock().isoformat(),
                "data": to_jsonable_python(data),
            }
        except PydanticSerializationError as exc:
            raise WebhookError(f"webhook {event_type}: data is not JSON-able: {exc}") from exc
        body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
        settlement = None if on_settled is None else _Settlement(on_settled)
        event = _Event(id=event_id, type=event_type, body=body, settlement=settlement)
        for subscription, queue in self._queues:
            if event_type not in subscription.events:
                continue
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self.counters.dropped += 1
                log.error(
                    "webhook %s %s to %s dropped: %d deliveries already queued",
                    event_type,
                    event_id,
                    _loggable(subscription.url),
                    queue.qsize(),
                )
            else:
                self.counters.published += 1
                if settlement is not None:
                    settlement.waiting += 1
        if settlement is not None and settlement.waiting == 0:
            settlement.callback()
        return event_id

    async def _work(self, subscription: Subscription, queue: asyncio.Queue[_Event]) -> None:
        while True:
            event = await queue.get()
            self._in_flight += 1
            try:
                await self._deliver(subscription, event)
            except Exception:
                # A bug must not silence this subscription for the rest of the process.
                self.counters.failed += 1
                log.exception(
                    "webhook %s %s to %s failed unexpectedly",
                    event.type,
                    event.id,
                    _loggable(subscription.url),
                )
            finally:
                self._in_flight -= 1
                queue.task_done()
            # Not reached when cancelled at shutdown: that delivery did not settle.
            if event.settlement is not None:
                event.settlement.one_done()

    async def _deliver(self, subscription: Subscription, event: _Event) -> None:
        settings = self._settings
        url = _loggable(subscription.url)
        for attempt in range(1, settings.max_attempts + 1):
            failure = await self._attempt(subscription, event)
            if failure is None:
                self.counters.delivered += 1
                return
            reason = failure.reason
            if not failure.retryable:
                self.counters.failed += 1
                log.error(
                    "webhook %s %s to %s refused, not retried: %s",
                    event.type,
                    event.id,
                    url,
                    reason,
                )
                return
            if attempt == settings.max_attempts:
                break
            delay = self._backoff(attempt, failure.retry_after)
            self.counters.retries += 1
            log.warning(
                "webhook %s %s to %s failed (attempt %d of %d): %s; retrying in %.2f s",
                event.type,
                event.id,
                url,
                attempt,
                settings.max_attempts,
                reason,
                delay,
            )
            await asyncio.sleep(delay)
        self.counters.failed += 1
        log.error(
            "webhook %s %s to %s given up after %d attempts: %s",
            event.type,
            event.id,
            url,
            settings.max_attempts,
            reason,
        )

    async def _attempt(self, subscription: Subscription, event: _Event) -> _Failure | None:
        """One POST; None when delivered."""
        assert self._client is not None  # set by __aenter__ before any worker runs
        timestamp = int(self._clock().timestamp())
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: event.type,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(subscription.secret.get_secret_value(), timestamp, event.body),
        }
        try:
            response = await self._client.post(
                subscription.url, content=event.body, headers=headers
            )
        except httpx.TransportError as exc:  # refused, reset, DNS, timeouts
            return _Failure(_describe(exc), retryable=True)
        except httpx.RequestError as exc:  # e.g. an undecodable answer: resending won't help
            return _Failure(_describe(exc), retryable=False)
        status = response.status_code
        if 200 <= status < 300:
            return None
        return _Failure(
            f"HTTP {status} {response.reason_phrase}".rstrip(),
            retryable=status == 429 or status >= 500,
            retry_after=_retry_after(response.headers.get("Retry-After")),
        )

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        settings = self._settings
        delay = equal_jitter(attempt, settings.backoff_initial_s, settings.backoff_max_s)
        if retry_after is not None:
            delay = max(delay, min(retry_after, settings.backoff_max_s))
        return delay


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` in delta-seconds; HTTP dates are ignored."""
    return float(value) if value is not None and value.strip().isdigit() else None
