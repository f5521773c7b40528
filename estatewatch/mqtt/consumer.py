"""Central consumption of the gateways' wire topics, shared by ingest and maintenance.

:class:`WireConsumer` is an async context manager around one :class:`~estatewatch.mqtt.Link`
(MQTT 5, QoS 1, manual acknowledgement). It subscribes to the telemetry, event and status
topics of the sites it owns (``sites``; ``+`` is every site), through **plain, not
shared, subscriptions on a persistent session** (a fixed client id, Clean Start off, a
Session Expiry Interval). The difference matters: Mosquitto 2.0 restores a persistent
session's plain subscriptions after a restart, but not its shared (``$share/...``) ones,
so what gateways replay right after a broker restart would reach nobody until the worker
re-subscribes. Work is split between workers by giving each its own sites; two workers
owning the same site both get all of its messages. A session outlives a change of
``sites``: a worker restarted under the same client id without a site still holds that
site's subscription, so its messages keep arriving; they are acknowledged unread (the
site's new owner handles them) and logged once per site, since handling them would judge
or store the site twice.

Each message is decoded in arrival order by ``decoder`` (ingest's
:func:`ingest.decode.decode`, maintenance's :func:`estatewatch.inbound.parse`); a decoded
message goes to ``await handler(decoded, ack)``, and ``ack`` is called by the handler once
the message's effect is durable (points in InfluxDB or the spill, a committed
transaction). A :class:`~estatewatch.inbound.Rejected` goes to ``on_rejected`` and is
acknowledged at once: dead-lettered, counted, never retried. A handler that takes its
time pauses reading; the broker stops sending once ``receive_maximum`` messages are
unacknowledged (MQTT 5 flow control), so a slow store bounds what is in flight here.
Retained messages (the gateways' status) are delivered again on every subscribe;
storing or judging a state again changes nothing.

Counters (plain attributes, for metrics): ``received``, ``rejected``, ``handler_errors``,
``replayed`` (a ``seq`` not above the highest this process has seen from that gateway:
redeliveries and replayed gateway backlogs), and the link's ``connections``.

Errors: broker trouble never reaches callers (see :mod:`estatewatch.mqtt.link`). An
exception from ``handler`` or ``on_rejected`` is logged as an ERROR with its traceback
and the message is left unacknowledged: redelivered on the next connection, and holding
one ``receive_maximum`` slot until then. The constructor raises
:class:`~estatewatch.errors.ConfigError` for settings MQTT cannot carry.

**Decommissioning a worker.** Its persistent session keeps receiving while the process
is away until the session expires; a worker removed for good should end it with
:func:`~estatewatch.mqtt.discard_session` once its sites are owned by another.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Generic, Protocol, Self, TypeVar

from estatewatch.errors import ConfigError
from estatewatch.inbound import Rejected
from estatewatch.mqtt.link import Ack, Link, Message
from estatewatch.wire import TOPIC_ROOT

__all__ = [
    "ALL_SITES",
    "Decoder",
    "Handler",
    "Sequenced",
    "WireConsumer",
    "parse_sites",
    "site_filters",
]

ALL_SITES = ("+",)


class Sequenced(Protocol):
    """What the consumer reads of a decoded message: who sent it, in which order."""

    @property
    def topic(self) -> str: ...
    @property
    def gateway_id(self) -> str: ...
    @property
    def seq(self) -> int | None: ...


T = TypeVar("T", bound=Sequenced)
Decoder = Callable[[str, bytes], T | Rejected]
Handler = Callable[[T, Ack], Awaitable[None]]


def parse_sites(value: object) -> tuple[str, ...]:
    """A site list from settings: a sequence, or text separated by commas ("a,b").

    Each is a site name or ``+`` (every site); raises ValueError otherwise, for pydantic
    to name the setting.
    """
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, Sequence):
        raise ValueError("a list of sites, or sites separated by commas")
    names = tuple(str(item).strip() for item in items)
    if not names or any(not name for name in names):
        raise ValueError("an empty site name; give sites separated by commas, or + for all")
    bad = [name for name in names if name != "+" and any(c in name for c in "/+#$")]
    if bad:
        raise ValueError(f"not a site name: {', '.join(bad)} (/, +, #, $ are not allowed)")
    return names


def site_filters(owned: Sequence[str]) -> list[str]:
    """The telemetry, event and status filters of each owned site."""
    return [
        topic
        for site in owned
        for topic in (
            f"{TOPIC_ROOT}/{site}/+/+/telemetry",
            f"{TOPIC_ROOT}/{site}/+/+/event",
            f"{TOPIC_ROOT}/{site}/gateway/+/status",
        )
    ]


class WireConsumer(Generic[T]):
    """Persistent, manually acknowledged consumption of owned sites; see the docstring."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        name: str,
        log: logging.Logger,
        client_id: str,
        decoder: Decoder[T],
        handler: Handler[T],
        on_rejected: Callable[[Rejected], None],
        sites: Sequence[str] = ALL_SITES,
        session_expiry_s: int = 86_400,
        receive_maximum: int = 10_000,
        username: str | None = None,
        password: str | None = None,
        keepalive: int = 30,
        backoff: tuple[float, float] = (0.5, 30.0),
        connect_timeout: float = 10.0,
    ) -> None:
        """``receive_maximum`` bounds unacknowledged messages; make it cover a batch."""
        try:
            self.sites = parse_sites(sites)
        except ValueError as exc:
            raise ConfigError(f"{name}: sites: {exc}") from exc
        self.name, self._log = name, log
        self._decoder, self._handler, self._on_rejected = decoder, handler, on_rejected
        self.link = Link(
            host,
            port,
            name=name,
            log=log,
            client_id=client_id,
            username=username,
            password=password,
            session_expiry_s=session_expiry_s,
            receive_maximum=receive_maximum,
            keepalive=keepalive,
            subscriptions=site_filters(self.sites),
            on_message=self._handle,
            backoff=backoff,
            connect_timeout=connect_timeout,
        )
        self.address, self.client_id = self.link.address, client_id
        self.received = 0
        self.rejected = 0
        self.handler_errors = 0
        # Messages whose seq is not above the highest this process has seen from their
        # gateway: redeliveries after a reconnect, or a gateway's replayed backlog.
        self.replayed = 0
        self._highest_seq: dict[str, int] = {}
        self._warned_sites: set[str] = set()

    def __repr__(self) -> str:
        return f"WireConsumer({self.link!r}, sites {','.join(self.sites)})"

    @property
    def connected(self) -> bool:
        return self.link.connected

    @property
    def connections(self) -> int:
        return self.link.connections

    @property
    def last_error(self) -> str | None:
        return self.link.last_error

    async def __aenter__(self) -> Self:
        await self.link.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.link.__aexit__(exc_type, exc, tb)

    async def _handle(self, message: Message) -> None:
        site = _site_of(message.topic)
        if "+" not in self.sites and site not in self.sites:
            self._given_up(site)
            message.ack()
            return
        self.received += 1
        result = self._decoder(message.topic, message.payload)
        try:
            if isinstance(result, Rejected):
                self.rejected += 1
                self._on_rejected(result)
                message.ack()
                return
            if result.seq is not None:
                # Gateway ids are unique within a site only.
                self._count_replay(f"{site}/{result.gateway_id}", result.seq)
            await self._handler(result, message.ack)
        except Exception:
            # Unacknowledged, so the broker sends it again on the next connection.
            self.handler_errors += 1
            self._log.exception("%s: handling a message on %s failed", self.name, message.topic)

    def _given_up(self, site: str) -> None:
        if site in self._warned_sites:
            return
        self._warned_sites.add(site)
        self._log.warning(
            "%s: messages of site %s arrive, which this worker does not own: its MQTT"
            " session %s kept the subscription of an earlier sites setting. They are"
            " acknowledged unread; to stop them, end that session or use a new client id",
            self.name,
            site,
            self.client_id,
        )

    def _count_replay(self, gateway: str, seq: int) -> None:
        if seq <= self._highest_seq.get(gateway, -1):
            self.replayed += 1
        else:
            self._highest_seq[gateway] = seq


def _site_of(topic: str) -> str:
    """The site segment of a wire topic (``estatewatch/<site>/...``)."""
    parts = topic.split("/", 2)
    return parts[1] if len(parts) > 1 else ""
