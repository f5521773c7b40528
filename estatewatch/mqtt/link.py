"""One MQTT session that reconnects: the only module that talks to aiomqtt.

:class:`Link` is an async context manager owning one broker connection at a time and its
reconnect loop, in an ``asyncio.TaskGroup``. It builds the client (credentials, TLS, last
will, MQTT 3.1.1 or 5, a persistent session with Clean Start off and a Session Expiry
Interval, Receive Maximum, the in-flight window), subscribes, and after every (re)connect:

- hands each received message to ``on_message`` as a :class:`Message` whose ``ack()``
  sends its PUBACK: acknowledgement is always manual, so a caller acknowledges only what
  it has made safe (stored, queued on disk); what it never acknowledges the broker
  delivers again on the next connection of the same session;
- runs ``session(connection)``, if given, for as long as the connection lives: the
  caller's publishing loop. Its return ends the link (the caller is done, e.g. after the
  gateway's final "offline" status); a lost connection cancels it, and it runs again on
  the next one.

Callers say only what to subscribe and publish; they never see aiomqtt or paho.

Reconnection and logging: an unreachable or lost broker, or a refused subscription, is
one WARNING per outage naming the caller (``name``), the address and the reason, then
retries with :class:`~estatewatch.backoff.Backoff` (exponential, jittered) for as long as
it takes, each logged at DEBUG under the caller's logger; the reconnection is one INFO
line with the outage's length. ``on_outage(was_connected)`` is called once per outage,
for the caller's metrics. An exception of any other kind from ``on_message`` or
``session`` is logged as an ERROR (one line for an ``EstatewatchError`` such as a queue
that cannot be read, else with its traceback: a bug), then retried the same way, so one
bad message or queue hiccup does not end the process.

Errors raised to callers (``estatewatch.errors`` tree):

    ConfigError              constructor: values MQTT cannot carry
    ServiceError
    +-- LinkDownError        Connection.publish: the connection dropped (the link
                             reconnects by itself)
    EstatewatchError
    +-- PublishRefusedError  Connection.publish: the client refused the message itself (a
                             malformed topic, an oversized payload): retrying cannot help

**aiomqtt's private attributes, and aiomqtt 3.** aiomqtt 2.5 acknowledges every QoS 1
message as it arrives and has no public API to defer that (upstream empicano/aiomqtt#345,
draft PR #346). paho-mqtt 2 underneath has one (``manual_ack_set``, ``ack``), which we
reach through aiomqtt's private ``Client._client`` in :func:`_enable_manual_ack` and
:func:`_send_ack`. :func:`_already_received` reads the private ``Client._queue`` to take
messages already received without a task per message (+50 % messages/s under a backlog,
``bench/bench_ingest.py``). These three functions are the only places in the project that
touch aiomqtt's internals. aiomqtt 3 is a rewrite on its own MQTT 5 codec, without paho:
it has a public ``await client.puback(packet_id)`` (so ``_send_ack`` becomes a scheduled
coroutine and ``_enable_manual_ack`` goes), a different message iterator (so
``_already_received`` is re-measured or goes), keyword arguments instead of paho
``Properties``, and no MQTT 3.1.1, which the gateway's local smoke-alarm brokers may need.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Self

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from estatewatch.backoff import Backoff
from estatewatch.errors import ConfigError, EstatewatchError, ServiceError

__all__ = [
    "Ack",
    "Connection",
    "Link",
    "LinkDownError",
    "Message",
    "PublishRefusedError",
    "Will",
    "discard_session",
    "valid_filter",
]

Ack = Callable[[], None]

# Two- and four-byte integer properties of CONNECT (MQTT 5, 3.1.2.11).
_MAX_RECEIVE_MAXIMUM: Final = 65_535
_MAX_SESSION_EXPIRY_S: Final = 2**32 - 1
# paho rejects a malformed host at connect with ValueError.
_BROKER_ERRORS: Final = (aiomqtt.MqttError, OSError, ValueError)
# Longest stretch of handling received messages before the loop gets a turn. A backlog
# arrives faster than it is handled, and a handler that only awaits when it must wait
# would otherwise keep the loop to itself: ingest's writes to InfluxDB, the keepalive,
# the metrics endpoint and timers would all wait for the backlog's end or a full buffer.
_TURN_S: Final = 0.005


class LinkDownError(ServiceError):
    """The connection dropped under a publish; the link reconnects by itself."""


class PublishRefusedError(EstatewatchError):
    """The MQTT client refused a message outright (malformed topic, payload too large)."""


class _SubscriptionRefusedError(Exception):
    """The broker answered SUBACK with a failure code (ACLs, a bad filter)."""


@dataclass(frozen=True, slots=True)
class Will:
    """The last will the broker publishes if the connection ends without DISCONNECT."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True, slots=True)
class Message:
    """A received message; call ``ack`` once it is safe (see the module docstring).

    ``ack`` may be called from the event loop at any time; again, or after its connection
    has gone, it does nothing.
    """

    topic: str
    payload: bytes
    retain: bool
    ack: Ack


class _LostSocketIsDebug(logging.Filter):
    # paho logs a lost socket at ERROR; the link reports the same loss as its one
    # warning per outage, so paho's line is only detail.
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and str(record.msg).startswith("failed to receive"):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


_LOST_SOCKET_IS_DEBUG: Final = _LostSocketIsDebug()


# --- aiomqtt's private attributes (see the module docstring) -----------------------------


def _enable_manual_ack(client: aiomqtt.Client) -> None:
    # empicano/aiomqtt#345: no manual-ack API in aiomqtt 2.x; paho's, on aiomqtt's private
    # paho client. Must run before connecting: paho would PUBACK whatever arrives first.
    client._client.manual_ack_set(True)


def _send_ack(client: aiomqtt.Client, mid: int, qos: int) -> None:
    # empicano/aiomqtt#345; in aiomqtt 3: await client.puback(mid).
    client._client.ack(mid, qos)


def _already_received(client: aiomqtt.Client) -> Iterator[aiomqtt.Message]:
    # aiomqtt's message iterator creates a task and waits on it for every message, which
    # costs as much as decoding one; messages already in its (private) queue are taken
    # directly. Its size is public as len(client.messages).
    queue = client._queue
    while not queue.empty():
        yield queue.get_nowait()


# --- one connection ----------------------------------------------------------------------


class Connection:
    """One open connection: publish on it; acks are sent on it only while it is open."""

    def __init__(self, client: aiomqtt.Client, timeout: float) -> None:
        self._client, self._timeout = client, timeout
        self.open = True

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Publish and, at QoS 1, wait for the PUBACK.

        Raises :class:`PublishRefusedError` or :class:`LinkDownError` (see the module docstring).
        """
        try:
            await self._client.publish(
                topic, payload, qos=qos, retain=retain, timeout=self._timeout
            )
        except ValueError as exc:
            raise PublishRefusedError(f"{topic!r}: {exc}") from exc
        except (aiomqtt.MqttError, OSError) as exc:
            raise LinkDownError(_reason(exc)) from exc

    def _message(self, message: aiomqtt.Message) -> Message:
        payload = message.payload
        if not isinstance(payload, bytes):
            payload = b"" if payload is None else str(payload).encode()
        return Message(message.topic.value, payload, message.retain, self._ack(message))

    def _ack(self, message: aiomqtt.Message) -> Ack:
        mid, qos, sent = message.mid, message.qos, False

        def ack() -> None:
            nonlocal sent
            if sent or not self.open:
                return  # message ids are per connection: the broker redelivers it instead
            sent = True
            # The link broke under us: the message is redelivered, which is harmless.
            with contextlib.suppress(*_BROKER_ERRORS):
                _send_ack(self._client, mid, qos)

        return ack


# --- the link ----------------------------------------------------------------------------


class Link:
    """One reconnecting MQTT session; see the module docstring."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        name: str,
        log: logging.Logger,
        client_id: str,
        username: str | None = None,
        password: str | None = None,
        tls: ssl.SSLContext | None = None,
        mqtt5: bool = True,
        session_expiry_s: int | None = None,
        receive_maximum: int | None = None,
        max_inflight: int | None = None,
        keepalive: float = 30.0,
        will: Callable[[], Will] | None = None,
        subscriptions: Sequence[str] = (),
        on_message: Callable[[Message], Awaitable[None]] | None = None,
        session: Callable[[Connection], Awaitable[None]] | None = None,
        on_outage: Callable[[bool], None] | None = None,
        on_connection: Callable[[bool], None] | None = None,
        while_away: str = "",
        backoff: tuple[float, float] = (0.5, 30.0),
        connect_timeout: float = 10.0,
        close_timeout: float = 5.0,
    ) -> None:
        """``session_expiry_s``: None for a clean session, else how long the broker keeps
        the session (subscriptions and queued QoS 1 messages) while we are away; MQTT 3.1.1
        knows no expiry and keeps it until a clean connect. ``while_away`` completes the
        outage warning ("buffering to x"). ``will`` is built at every connect.
        ``on_connection(True)`` runs once subscribed, ``on_connection(False)`` when that
        connection has ended.
        """
        if receive_maximum is not None and not 1 <= receive_maximum <= _MAX_RECEIVE_MAXIMUM:
            raise ConfigError(
                f"{name}: receive_maximum must be 1..{_MAX_RECEIVE_MAXIMUM}, not {receive_maximum}"
            )
        if session_expiry_s is not None and not 0 <= session_expiry_s <= _MAX_SESSION_EXPIRY_S:
            raise ConfigError(
                f"{name}: session_expiry_s must be 0..{_MAX_SESSION_EXPIRY_S},"
                f" not {session_expiry_s}"
            )
        if subscriptions and on_message is None:
            raise ValueError("subscriptions need on_message")
        self.name, self.address, self.client_id = name, f"{host}:{port}", client_id
        self.subscriptions = tuple(subscriptions)
        self._host, self._port = host, port
        self._log = log
        self._client_log = log.getChild("mqtt")
        self._client_log.addFilter(_LOST_SOCKET_IS_DEBUG)  # once per logger: one instance
        self._username, self._password, self._tls = username, password, tls
        self._mqtt5, self._session_expiry_s = mqtt5, session_expiry_s
        self._receive_maximum, self._max_inflight = receive_maximum, max_inflight
        self._keepalive, self._will = max(1, round(keepalive)), will
        self._on_message, self._session, self._on_outage = on_message, session, on_outage
        self._on_connection = on_connection
        self._while_away = while_away
        self._backoff = Backoff(*backoff)
        self._timeout, self._close_timeout = connect_timeout, close_timeout
        self._tasks: asyncio.TaskGroup | None = None
        self._runner: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._attempted = asyncio.Event()  # the first connection attempt has finished
        self._outage_since: float | None = None  # monotonic, while warned
        self.connected = False
        self.connections = 0
        self.last_error: str | None = None
        self._client_now: aiomqtt.Client | None = None  # the open connection's, for backlog

    @property
    def backlog(self) -> int:
        """Messages received from the broker and not yet handed to ``on_message``."""
        client = self._client_now
        return len(client.messages) if client is not None else 0

    def __repr__(self) -> str:
        state = "connected" if self.connected else "disconnected"
        return f"Link({self.name}, {self.address}, {self.client_id}, {state})"

    # --- life cycle ------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._tasks is not None:
            raise ServiceError(f"{self.name}: the link to {self.address} is already open")
        self._stop.clear()
        self._attempted.clear()
        tasks = asyncio.TaskGroup()
        await tasks.__aenter__()
        self._tasks = tasks
        self._runner = tasks.create_task(self._run(), name=f"{self.name} {self.address}")
        # Connected (and subscribed) on return when the broker is there; never fail when
        # it is not: the outage is logged and retried.
        try:
            async with asyncio.timeout(self._timeout):
                await self._attempted.wait()
        except TimeoutError:
            self._log.debug("%s: still connecting to %s", self.name, self.address)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._tasks is not None, "exit without enter"
        assert self._runner is not None
        tasks, runner = self._tasks, self._runner
        self._stop.set()
        # Without a session function the runner ends at once with a DISCONNECT (the
        # session stays on the broker); a session function gets close_timeout to return.
        _, pending = await asyncio.wait({runner}, timeout=self._close_timeout)
        if pending:
            runner.cancel()
        try:
            # Not given the caller's exception: the TaskGroup would wrap it in a group.
            await tasks.__aexit__(None, None, None)
        finally:
            self._tasks = self._runner = None

    # --- the connection loop ---------------------------------------------------------

    async def _run(self) -> None:
        while True:
            connections = self.connections
            try:
                await self._connection()
                return  # stopping, or the session function is done
            except* (*_BROKER_ERRORS, LinkDownError, _SubscriptionRefusedError) as group:
                self._lost(_first(group), was_connected=self.connections > connections)
            except* Exception as group:
                self._failed(_first(group))
            finally:
                if self.connected and self._on_connection is not None:
                    self._on_connection(False)
                self.connected = False
                self._attempted.set()
            if self._stop.is_set():
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._backoff.next()):
                    await self._stop.wait()
            if self._stop.is_set():
                return

    async def _connection(self) -> None:
        async with self._client() as client:
            connection = Connection(client, self._timeout)
            self._client_now = client
            try:
                async with asyncio.TaskGroup() as tasks:
                    # Reading first: a persistent session's backlog comes as soon as the
                    # broker accepts the connection, before the subscriptions' answers,
                    # and would otherwise wait in memory for them (0.8 s of 288,000
                    # points in the ingest benchmark).
                    reader = tasks.create_task(
                        self._read(client, connection), name=f"{self.name} reader"
                    )
                    for topic in self.subscriptions:
                        self._check_granted(topic, await client.subscribe(topic, qos=1))
                    self._connected()
                    if self._session is not None:
                        await self._session(connection)
                    else:
                        await self._stop.wait()
                    reader.cancel()
            finally:
                connection.open = False
                self._client_now = None

    def _client(self) -> aiomqtt.Client:
        will = None
        if self._will is not None:
            w = self._will()
            will = aiomqtt.Will(w.topic, w.payload, qos=w.qos, retain=w.retain)
        persistent = self._session_expiry_s is not None
        properties = None
        if self._mqtt5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho
            properties.SessionExpiryInterval = self._session_expiry_s or 0
            if self._receive_maximum is not None:
                properties.ReceiveMaximum = self._receive_maximum
        client = aiomqtt.Client(
            self._host,
            self._port,
            identifier=self.client_id,
            username=self._username,
            password=self._password,
            protocol=aiomqtt.ProtocolVersion.V5 if self._mqtt5 else aiomqtt.ProtocolVersion.V311,
            # 3.1.1 has clean_session, 5 clean_start; aiomqtt refuses the other one.
            clean_session=None if self._mqtt5 else not persistent,
            clean_start=not persistent if self._mqtt5 else 3,  # 3: paho's "first only"
            properties=properties,
            will=will,
            keepalive=self._keepalive,
            timeout=self._timeout,
            tls_context=self._tls,
            max_inflight_messages=self._max_inflight,
            logger=self._client_log,
        )
        if self._max_inflight is not None:
            # The window is pipelined on purpose; aiomqtt warns past 10 pending calls.
            client.pending_calls_threshold = self._max_inflight + 10
        _enable_manual_ack(client)
        return client

    async def _read(self, client: aiomqtt.Client, connection: Connection) -> None:
        # Also for a link that subscribes nothing: the iterator ends, raising, when the
        # connection drops, which is how a publisher learns it.
        turn_ends = time.monotonic() + _TURN_S
        async for message in client.messages:
            await self._deliver(connection, message)
            for queued in _already_received(client):
                await self._deliver(connection, queued)
                if time.monotonic() > turn_ends:
                    await asyncio.sleep(0)
                    turn_ends = time.monotonic() + _TURN_S
        raise aiomqtt.MqttError("the message stream ended")

    async def _deliver(self, connection: Connection, message: aiomqtt.Message) -> None:
        if self._on_message is not None:
            await self._on_message(connection._message(message))

    def _check_granted(self, topic: str, granted: object) -> None:
        codes = granted if isinstance(granted, list | tuple) else []
        code = codes[0] if codes else 0x80
        value = code if isinstance(code, int) else getattr(code, "value", 0x80)
        if value >= 0x80:
            raise _SubscriptionRefusedError(
                f"the broker refused the subscription to {topic!r} ({code})"
            )
        if value < 1:
            self._log.warning(
                "%s: the broker granted QoS %d for %r, not 1: messages sent while we are"
                " away will be lost",
                self.name,
                value,
                topic,
            )

    # --- what is logged --------------------------------------------------------------

    def _connected(self) -> None:
        self.connected = True
        self.connections += 1
        self._backoff.reset()
        self._attempted.set()
        if self._on_connection is not None:
            self._on_connection(True)
        if self._outage_since is None:
            self._log.info("%s: connected to %s as %s", self.name, self.address, self.client_id)
            return
        self._log.info(
            "%s: reconnected to %s after %.1f s",
            self.name,
            self.address,
            time.monotonic() - self._outage_since,
        )
        self._outage_since = None

    def _failed(self, error: BaseException) -> None:
        # The caller's own failure (its queue, a bug in its handler), not the broker's: one
        # clear line for the project's errors, a traceback for anything else.
        if isinstance(error, EstatewatchError):
            self._log.error("%s: %s; retrying", self.name, error)
        else:
            self._log.error("%s: failed; retrying", self.name, exc_info=error)

    def _lost(self, error: BaseException, *, was_connected: bool) -> None:
        reason = self.last_error = _reason(error)
        if self._outage_since is not None:
            self._log.debug("%s: %s still unreachable: %s", self.name, self.address, reason)
            return
        self._outage_since = time.monotonic()
        if self._on_outage is not None:
            self._on_outage(was_connected)
        self._log.warning(
            "%s: %s MQTT broker %s (%s); %sretrying with backoff",
            self.name,
            "lost the connection to" if was_connected else "cannot reach",
            self.address,
            reason,
            f"{self._while_away} and " if self._while_away else "",
        )


def valid_filter(topic: str) -> str | None:
    """None if ``topic`` is a valid MQTT topic filter, else what is wrong with it."""
    try:
        aiomqtt.Wildcard(topic)
    except ValueError as exc:
        return str(exc)
    return None


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first leaf exception of a (nested) group."""
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


def _reason(error: BaseException) -> str:
    # aiomqtt's "Disconnected during message iteration" keeps the reason in its cause.
    text = str(error) or type(error).__name__
    cause = error.__cause__
    return f"{text}: {cause}" if cause is not None else text


async def discard_session(
    host: str,
    port: int,
    client_id: str,
    *,
    username: str | None = None,
    password: str | None = None,
    tls: ssl.SSLContext | None = None,
    connect_timeout: float = 10.0,
) -> None:
    """End the persistent MQTT 5 session of ``client_id`` and drop what the broker queued.

    For a worker removed for good, whose queue would otherwise grow until the session
    expires. Raises :class:`~estatewatch.errors.ServiceError` if the broker cannot be
    reached.
    """
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho
    properties.SessionExpiryInterval = 0
    client = aiomqtt.Client(
        host,
        port,
        identifier=client_id,
        protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=True,
        properties=properties,
        timeout=connect_timeout,
        username=username,
        password=password,
        tls_context=tls,
    )
    try:
        async with client:
            pass
    except _BROKER_ERRORS as exc:
        raise ServiceError(f"cannot discard session {client_id} on {host}:{port}: {exc}") from exc
