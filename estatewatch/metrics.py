"""Prometheus metrics for every process: one registry each and its ``/metrics`` endpoint.

Each composition root (gateway, ingest, maintenance, API) builds its registry with
:func:`process_registry`, registers what it counts and serves it with
:class:`MetricsEndpoint` on its own port (0: no endpoint). Registries are per process,
never prometheus_client's global one, so tests can run several services in one
interpreter without duplicate names.

A service counts in one of two ways, both exposed by prometheus_client:

- what only metrics need (a request's latency, a notification sent, a rule evaluated) is
  a prometheus_client ``Counter``, ``Gauge`` or ``Histogram`` registered on the registry;
- what a service keeps anyway (the consumer's received count, the batcher's points
  written, a queue's depth: what the log summary, the gateway's status message and tests
  already read) is read when Prometheus scrapes, through a :class:`StateCollector` of
  :class:`Reading` s. There is one count, not a second one kept beside it, so the
  exposed number is exactly the service's own.

The endpoint runs on the event loop's thread (asyncio streams), not on
prometheus_client's ``start_http_server`` thread: collectors then read the services'
plain state without locks, as the rest of the process does. It answers ``GET`` and
``HEAD /metrics`` (OpenMetrics when the scraper asks for it) and 404 otherwise.

Errors: :class:`MetricsEndpoint` raises :class:`~estatewatch.errors.ServiceError` naming
the address when it cannot listen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, Self

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Info,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from estatewatch import __version__
from estatewatch.errors import ServiceError

if TYPE_CHECKING:
    from estatewatch.dead_letters import DeadLetters
    from estatewatch.mqtt import WireConsumer

__all__ = [
    "LinkState",
    "MetricsEndpoint",
    "Reading",
    "StateCollector",
    "consumer_readings",
    "dead_letter_readings",
    "link_readings",
    "process_registry",
]

_REQUEST_LIMIT: Final = 16 * 1024
_READ_TIMEOUT_S: Final = 5.0

# A number, or numbers keyed by one label value (str) or several (a tuple of str).
Value = float | Mapping[Any, float]


def process_registry(service: str) -> CollectorRegistry:
    """A new registry with the process's CPU, memory, file descriptors and GC, and
    ``estatewatch_build_info{service, version}``."""
    registry = CollectorRegistry()
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(collector)
    Info(
        "estatewatch_build", "the running estatewatch service and version", registry=registry
    ).info({"service": service, "version": __version__})
    return registry


@dataclass(frozen=True, slots=True)
class Reading:
    """One metric read from a service's own state at scrape time.

    ``read`` returns a number, or, with ``labels``, a mapping from those labels' values to
    numbers: keyed by one value for one label (a ``collections.Counter`` of reasons, say),
    by a tuple of values for several.
    """

    name: str
    documentation: str
    read: Callable[[], Value]
    kind: Literal["counter", "gauge"] = "counter"
    labels: tuple[str, ...] = ()


class StateCollector(Collector):
    """Exposes :class:`Reading` s; register it on the process's registry."""

    def __init__(self, readings: Iterable[Reading]) -> None:
        self._readings = tuple(readings)

    def collect(self) -> Iterator[Metric]:
        for reading in self._readings:
            labels = list(reading.labels)
            family: CounterMetricFamily | GaugeMetricFamily
            if reading.kind == "counter":
                family = CounterMetricFamily(reading.name, reading.documentation, labels=labels)
            else:
                family = GaugeMetricFamily(reading.name, reading.documentation, labels=labels)
            value = reading.read()
            if isinstance(value, Mapping):
                for key, number in sorted(value.items()):
                    values = [str(v) for v in key] if isinstance(key, tuple) else [str(key)]
                    family.add_metric(values, number)
            else:
                family.add_metric([], value)
            yield family


def consumer_readings(prefix: str, consumer: WireConsumer[Any]) -> list[Reading]:
    """A central consumer's counts (ingest, maintenance) under ``prefix``."""
    return [
        Reading(f"{prefix}_messages_total", "MQTT messages received", lambda: consumer.received),
        Reading(
            f"{prefix}_replayed_total",
            "messages with a seq already seen (redeliveries, replayed gateway backlogs)",
            lambda: consumer.replayed,
        ),
        Reading(
            f"{prefix}_handler_errors_total",
            "messages whose handling failed (left unacknowledged, so delivered again)",
            lambda: consumer.handler_errors,
        ),
        Reading(
            f"{prefix}_mqtt_backlog",
            "messages received from the broker, waiting to be handled",
            lambda: consumer.link.backlog,
            kind="gauge",
        ),
        *link_readings(prefix, consumer.link),
    ]


class LinkState(Protocol):
    """What :func:`link_readings` reads: an :class:`~estatewatch.mqtt.Link`, or a part
    that owns one (the gateway's uplink)."""

    @property
    def connections(self) -> int: ...
    @property
    def connected(self) -> bool: ...


def link_readings(prefix: str, link: LinkState) -> list[Reading]:
    """An MQTT link's state: reconnections after the first connection, and up or down."""
    return [
        Reading(
            f"{prefix}_mqtt_reconnects_total",
            "MQTT connections made again after the first",
            lambda: max(link.connections - 1, 0),
        ),
        Reading(
            f"{prefix}_mqtt_connected",
            "1 while connected to the broker",
            lambda: 1.0 if link.connected else 0.0,
            kind="gauge",
        ),
    ]


def dead_letter_readings(prefix: str, dead: DeadLetters) -> list[Reading]:
    """Dead letters by reason code (:attr:`estatewatch.inbound.Rejected.code`)."""
    return [
        Reading(
            f"{prefix}_dead_letters_total",
            "messages or points refused, kept with the reason",
            lambda: dead.by_reason,
            labels=("reason",),
        )
    ]


class MetricsEndpoint:
    """Serves ``registry`` at ``http://host:port/metrics`` inside the ``async with``.

    ``port`` 0 serves nothing. ``service`` names the process in errors and the log.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        host: str,
        port: int,
        *,
        service: str,
        log: logging.Logger,
    ) -> None:
        self.registry, self.host, self.port = registry, host, port
        self._service, self._log = service, log
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str | None:
        return f"http://{self.host}:{self.port}/metrics" if self.port else None

    async def __aenter__(self) -> Self:
        if not self.port:
            return self
        try:
            self._server = await asyncio.start_server(
                self._answer, self.host, self.port, limit=_REQUEST_LIMIT
            )
        except OSError as exc:
            raise ServiceError(
                f"{self._service}: cannot serve metrics on {self.host}:{self.port}"
                f" (metrics_port): {exc.strerror or exc}"
            ) from exc
        self._log.info("%s: metrics on %s", self._service, self.url)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(
            ConnectionError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError
        ):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_TIMEOUT_S)
            method, _, rest = head.partition(b" ")
            path = rest.split(b" ", 1)[0].split(b"?", 1)[0]
            if method in (b"GET", b"HEAD") and path == b"/metrics":
                encoder, content_type = choose_encoder(_header(head, b"accept"))
                body, status = encoder(self.registry), b"200 OK"
            else:
                body, status, content_type = (
                    b"only GET /metrics here\n",
                    b"404 Not Found",
                    "text/plain",
                )
            writer.write(
                b"HTTP/1.1 " + status + b"\r\nContent-Type: " + content_type.encode()
                + b"\r\nContent-Length: " + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n" + (b"" if method == b"HEAD" else body)
            )  # fmt: skip
            await writer.drain()
        writer.close()


def _header(head: bytes, name: bytes) -> str:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip().decode("latin-1")
    return ""
