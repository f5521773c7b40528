"""The ingest consumer: wire messages from the broker to a handler, acknowledged manually.

``Consumer`` is an async context manager owning one MQTT 5 connection (aiomqtt) and its
reconnect loop in an ``asyncio.TaskGroup``. It subscribes, at QoS 1, to the shared
subscriptions ``$share/{group}/`` + the telemetry, event and status filters of
:mod:`estatewatch.wire`, so every ingest process of one group gets a share of the stream
and each message goes to one of them. Its session is persistent: a fixed client id,
Clean Start off and a Session Expiry Interval on CONNECT, so what is published while the
process restarts is queued by the broker and delivered afterwards. MQTT 5 (4.8.2) says
retained messages are not sent on a shared subscription, but Mosquitto 2.0 sends them on
every subscribe: each worker receives every gateway's retained status when it (re)connects.
That is harmless here: a status is a state, and storing or judging it again changes
nothing (same series and time in InfluxDB; the same verdict in the rule engine).

Each message is decoded in arrival order by the ``decoder`` given (ingest's is
:func:`ingest.decode.decode`, maintenance's :func:`estatewatch.inbound.parse`). A
decoded message is passed to ``await handler(decoded, ack)``; ``ack``
sends the message's PUBACK and is to be called once the points are written to InfluxDB
or to a durable buffer, from the event loop. Calling it again, or after its connection
has gone, does nothing: the broker redelivers an unacknowledged message on the next
connection of the same session. A :class:`~estatewatch.inbound.Rejected` goes to
``on_rejected`` and is acknowledged at once: dead-lettered, counted, never retried.
A handler that takes its time pauses reading; the broker stops sending once
``receive_maximum`` messages are unacknowledged (MQTT 5 flow control), so a slow
InfluxDB bounds what is in flight here instead of filling memory.

**Manual acknowledgement.** aiomqtt 2.5 acknowledges every QoS 1 message as it arrives,
before the application has seen it, and has no public API to defer that (upstream
empicano/aiomqtt#345, draft PR #346). paho-mqtt 2, underneath, has one:
``manual_ack_set(True)`` and ``ack(mid, qos)``. We call those on aiomqtt's paho client
(``aiomqtt.Client._client``, created in its ``__init__``), each in one small function
below (:func:`_enable_manual_ack`, :func:`_send_ack`), which go when aiomqtt gains the API.
The integration tests check the point of it against a real Mosquitto: a message that was
never acknowledged is delivered again to the next connection with the same client id.

**Decommissioning a worker.** A persistent session in a share group keeps receiving its
share while its process is away (Mosquitto queues it) until the session expires, when
the queue is dropped. A worker taken away for good should end its session with
:func:`discard_session` once its queue is drained.

Counters (plain attributes, for the metrics module): ``received``, ``rejected``,
``handler_errors``, ``replayed`` (a ``seq`` not above the highest this process has seen
from that gateway: redeliveries and replayed gateway backlogs; InfluxDB absorbs them,
see :mod:`ingest.points`), ``connections``.

Errors: broker trouble never reaches callers. An unreachable or lost broker (or a refused
subscription) is one WARNING per outage with the address and reason, then reconnection
with exponential backoff and jitter for as long as it takes; retries log at DEBUG. An
exception from ``handler`` or ``on_rejected`` is logged as an ERROR with its traceback
and the message is left unacknowledged: redelivered on the next connection, and holding
one ``receive_maximum`` slot until then. No aiomqtt or paho exception leaves this module;
the constructor raises :class:`~estatewatch.errors.ConfigError` for settings MQTT cannot
carry, :func:`discard_session` :class:`~estatewatch.errors.ServiceError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from types import TracebackType
from typing import Final, Generic, Protocol, Self, TypeVar

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from estatewatch.backoff import Backoff
from estatewatch.errors import ConfigError, ServiceError
from estatewatch.inbound import Rejected
from estatewatch.wire import EVENT_FILTER, STATUS_FILTER, TELEMETRY_FILTER

__all__ = [
    "Ack",
    "Consumer",
    "Decoder",
    "Handler",
    "Sequenced",
    "discard_session",
    "shared_filters",
]

log = logging.getLogger(__name__)

Ack = Callable[[], None]


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

QOS: Final = 1
# Two- and four-byte integer properties of CONNECT (MQTT 5, 3.1.2.11).
_MAX_RECEIVE_MAXIMUM: Final = 65_535
_MAX_SESSION_EXPIRY_S: Final = 2**32 - 1
# paho rejects a malformed topic or a bad host with ValueError.
_BROKER_ERRORS: Final = (aiomqtt.MqttError, OSError, ValueError)


class _SubscriptionRefusedError(Exception):
    """The broker answered SUBACK with a failure code (no shared subscriptions, ACLs)."""


def shared_filters(group: str) -> list[str]:
    """The consumer's subscriptions: each wire filter shared by ``group``."""
    return [f"$share/{group}/{f}" for f in (TELEMETRY_FILTER, EVENT_FILTER, STATUS_FILTER)]


# --- manual acknowledgement through paho (aiomqtt#345) -----------------------------------


def _enable_manual_ack(client: aiomqtt.Client) -> None:
    # aiomqtt has no manual-ack API yet (empicano/aiomqtt#345, draft PR #346); paho's is
    # used on aiomqtt's private paho client. Remove when aiomqtt gains the API. Must run
    # before connecting: paho would PUBACK whatever arrives first.
    client._client.manual_ack_set(True)


def _send_ack(client: aiomqtt.Client, mid: int, qos: int) -> None:
    # See _enable_manual_ack (empicano/aiomqtt#345): goes when aiomqtt can acknowledge.
    client._client.ack(mid, qos)


def _already_received(client: aiomqtt.Client) -> Iterator[aiomqtt.Message]:
    # aiomqtt's message iterator creates a task and waits on it for every message, which
    # costs as much as decoding one. Messages already in its queue are taken directly
    # (the queue is private; its size is public as len(client.messages)). Measured by
    # bench/bench_ingest.py: +50 % messages/s under a backlog.
    queue = client._queue
    while not queue.empty():
        yield queue.get_nowait()


class _Link:
    """One connection: acks are sent on it only while it is open (mids are per link)."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.open = True

    def ack_for(self, mid: int, qos: int) -> Ack:
        sent = False

        def ack() -> None:
            nonlocal sent
            if sent or not self.open:
                return
            sent = True
            try:
                _send_ack(self.client, mid, qos)
            except _BROKER_ERRORS as exc:  # the link broke under us: it is redelivered
                log.debug("ingest: ack of mid %d not sent: %s", mid, exc)

        return ack


def _connect_properties(session_expiry_s: int, receive_maximum: int | None = None) -> Properties:
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho
    properties.SessionExpiryInterval = session_expiry_s
    if receive_maximum is not None:
        properties.ReceiveMaximum = receive_maximum
    return properties


class Consumer(Generic[T]):
    """Shared, persistent, manually acknowledged consumption; see the module docstring."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        decoder: Decoder[T],
        handler: Handler[T],
        on_rejected: Callable[[Rejected], None],
        client_id: str = "estatewatch-ingest-1",
        group: str = "ingest",
        session_expiry_s: int = 86_400,
        receive_maximum: int = 10_000,
        username: str | None = None,
        password: str | None = None,
        keepalive: int = 30,
        backoff: tuple[float, float] = (0.5, 30.0),
        connect_timeout: float = 10.0,
    ) -> None:
        """``receive_maximum`` bounds unacknowledged messages; make it cover a batch.

        Raises :class:`~estatewatch.errors.ConfigError` for values MQTT cannot carry.
        """
        if not 1 <= receive_maximum <= _MAX_RECEIVE_MAXIMUM:
            raise ConfigError(
                f"consumer: receive_maximum must be 1..{_MAX_RECEIVE_MAXIMUM},"
                f" not {receive_maximum}"
            )
        if not 0 <= session_expiry_s <= _MAX_SESSION_EXPIRY_S:
            raise ConfigError(
                f"consumer: session_expiry_s must be 0..{_MAX_SESSION_EXPIRY_S},"
                f" not {session_expiry_s}"
            )
        self.address = f"{host}:{port}"
        self.client_id, self.group = client_id, group
        self._host, self._port = host, port
        self._decoder, self._handler, self._on_rejected = decoder, handler, on_rejected
        self._session_expiry_s, self._receive_maximum = session_expiry_s, receive_maximum
        self._username, self._password, self._keepalive = username, password, keepalive
        self._backoff, self._timeout = backoff, connect_timeout
        self._tasks: asyncio.TaskGroup | None = None
        self._runner: asyncio.Task[None] | None = None
        self._attempted = asyncio.Event()
        self._outage_since: float | None = None  # monotonic, while warned
        self.connected = False
        self.connections = 0
        self.received = 0
        self.rejected = 0
        self.handler_errors = 0
        # Messages whose seq is not above the highest this process has seen from their
        # gateway: redeliveries after a reconnect, or a gateway's replayed backlog.
        self.replayed = 0
        self._highest_seq: dict[str, int] = {}
        self.last_error: str | None = None

    def __repr__(self) -> str:
        state = "connected" if self.connected else "disconnected"
        return f"Consumer({self.address}, {self.client_id}, $share/{self.group}, {state})"

    # --- life cycle ------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._attempted.clear()
        tasks = asyncio.TaskGroup()
        await tasks.__aenter__()
        self._tasks = tasks
        self._runner = tasks.create_task(self._run(), name=f"ingest consumer {self.address}")
        # Subscribed on return when the broker is there; never fail when it is not.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._timeout):
                await self._attempted.wait()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._tasks is not None, "exit without enter"
        assert self._runner is not None
        tasks, self._tasks = self._tasks, None
        # Cancelling the runner ends its session with a DISCONNECT; the session stays.
        self._runner.cancel()
        # Not given the caller's exception: the TaskGroup would wrap it in a group.
        await tasks.__aexit__(None, None, None)

    # --- the connection --------------------------------------------------------------

    async def _run(self) -> None:
        backoff = Backoff(*self._backoff)
        while True:
            try:
                await self._session()
            except* (*_BROKER_ERRORS, _SubscriptionRefusedError) as group:
                self._lost(group.exceptions[0])
            finally:
                if self.connected:
                    backoff.reset()
                self.connected = False
                self._attempted.set()
            await asyncio.sleep(backoff.next())

    def _client(self) -> aiomqtt.Client:
        client = aiomqtt.Client(
            self._host,
            self._port,
            identifier=self.client_id,
            username=self._username,
            password=self._password,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,
            properties=_connect_properties(self._session_expiry_s, self._receive_maximum),
            keepalive=self._keepalive,
            timeout=self._timeout,
            logger=logging.getLogger(f"{__name__}.mqtt"),
        )
        _enable_manual_ack(client)
        return client

    async def _session(self) -> None:
        async with self._client() as client:
            link = _Link(client)
            try:
                for topic in shared_filters(self.group):
                    granted = await client.subscribe(topic, qos=QOS)
                    _check_granted(topic, granted)
                self._connected()
                async for message in client.messages:
                    await self._handle(link, message)
                    for queued in _already_received(client):
                        await self._handle(link, queued)
            finally:
                link.open = False
        raise aiomqtt.MqttError("the message stream ended")

    def _connected(self) -> None:
        self.connected = True
        self.connections += 1
        self._attempted.set()
        if self._outage_since is None:
            log.info(
                "ingest: consuming from %s as %s in share group %r",
                self.address,
                self.client_id,
                self.group,
            )
            return
        log.info(
            "ingest: reconnected to %s after %.1f s",
            self.address,
            time.monotonic() - self._outage_since,
        )
        self._outage_since = None

    def _lost(self, error: BaseException) -> None:
        # aiomqtt's "Disconnected during message iteration" hides why in its cause.
        reason = f"{error}: {error.__cause__}" if error.__cause__ else str(error)
        self.last_error = reason
        if self._outage_since is not None:
            log.debug("ingest: %s still unreachable: %s", self.address, reason)
            return
        self._outage_since = time.monotonic()
        log.warning(
            "ingest: %s MQTT broker %s (%s); retrying with backoff",
            "lost the connection to" if self.connected else "cannot consume from",
            self.address,
            reason,
        )

    # --- messages --------------------------------------------------------------------

    async def _handle(self, link: _Link, message: aiomqtt.Message) -> None:
        self.received += 1
        payload = message.payload
        if not isinstance(payload, bytes):
            payload = b"" if payload is None else str(payload).encode()
        result = self._decoder(message.topic.value, payload)
        ack = link.ack_for(message.mid, message.qos)
        try:
            if isinstance(result, Rejected):
                self.rejected += 1
                self._on_rejected(result)
                ack()
            else:
                if result.seq is not None:
                    # Gateway ids are unique within a site only.
                    site = result.topic.split("/", 2)[1]
                    self._count_replay(f"{site}/{result.gateway_id}", result.seq)
                await self._handler(result, ack)
        except Exception:
            # Unacknowledged, so the broker sends it again on the next connection.
            self.handler_errors += 1
            log.exception("ingest: handling a message on %s failed", message.topic.value)

    def _count_replay(self, gateway: str, seq: int) -> None:
        highest = self._highest_seq.get(gateway, -1)
        if seq <= highest:
            self.replayed += 1
        else:
            self._highest_seq[gateway] = seq


def _check_granted(topic: str, granted: object) -> None:
    codes = granted if isinstance(granted, list | tuple) else []
    code = codes[0] if codes else 0x80
    value = code if isinstance(code, int) else getattr(code, "value", 0x80)
    if value >= 0x80:
        raise _SubscriptionRefusedError(
            f"the broker refused the subscription to {topic!r} ({code})"
        )
    if value < QOS:
        raise _SubscriptionRefusedError(f"the broker granted QoS {value} for {topic!r}, not {QOS}")


async def discard_session(
    host: str,
    port: int,
    client_id: str,
    *,
    username: str | None = None,
    password: str | None = None,
    connect_timeout: float = 10.0,
) -> None:
    """End the persistent session of ``client_id`` and drop what the broker queued for it.

    For a worker removed for good (its share would otherwise wait for it until the
    session expires). Raises :class:`~estatewatch.errors.ServiceError` if the broker
    cannot be reached.
    """
    client = aiomqtt.Client(
        host,
        port,
        identifier=client_id,
        protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=True,
        properties=_connect_properties(0),
        timeout=connect_timeout,
        username=username,
        password=password,
    )
    try:
        async with client:
            pass
    except _BROKER_ERRORS as exc:
        raise ServiceError(
            f"ingest: cannot discard session {client_id} on {host}:{port}: {exc}"
        ) from exc
