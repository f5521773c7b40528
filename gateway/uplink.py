"""The uplink: the durable queue to the central MQTT broker, QoS 1, in sequence order.

``Uplink`` is an async context manager owning one MQTT connection (aiomqtt) and its
background tasks in an ``asyncio.TaskGroup``. While connected, the pump reads the queue in
``seq`` order and keeps up to ``max_inflight`` QoS 1 publishes in flight; a message leaves
the queue only after its PUBACK (acknowledged seqs are removed in batches). Every new
connection starts again at the oldest message still queued, so a backlog is replayed in
order and live data, appended meanwhile with higher seqs, follows it. Delivery is at least
once: what was in flight when a connection dropped, or acknowledged but not yet removed
when the process died, is sent again; consumers drop duplicates by ``seq``.

The connection carries an MQTT last will: a retained QoS 1 ``GatewayStatus`` "offline" on
the gateway's status topic. Each (re)connect first publishes a retained "online" status.
A clean exit keeps sending what is queued for up to half of ``close_timeout`` (so the
outbox's final flush usually goes out at once), waits a little for what is in flight,
publishes a retained "offline" and disconnects, so the broker discards the will; whatever
is still queued then is sent after the restart.

Errors: broker trouble never reaches callers. An unreachable or lost broker is one WARNING
per outage (broker address and reason; retries log at DEBUG), then reconnection with
exponential backoff and jitter, for as long as it takes, while producers keep appending
to the queue. A queue that cannot be read or written is logged as an ERROR and retried the
same way. A message the MQTT client refuses outright (a malformed topic) is logged as an
ERROR, counted in ``errors["uplink_rejected"]`` and removed, so it cannot block the rest.
``__aenter__`` raises :class:`estatewatch.errors.ServiceError` only for TLS files that
cannot be loaded. No aiomqtt or paho exception leaves this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Final, Literal, Self

import aiomqtt

from estatewatch.backoff import Backoff
from estatewatch.durable_queue import DurableQueue, QueuedItem
from estatewatch.errors import ServiceError
from estatewatch.wire import GatewayStatus, status_topic
from gateway.config import TlsConfig, UplinkConfig
from gateway.metrics import GatewayMetrics
from gateway.status import publish_every

__all__ = ["Uplink", "tls_context"]

log = logging.getLogger(__name__)

# paho rejects a malformed topic or payload with ValueError; at connect, a malformed host.
_BROKER_ERRORS: Final = (aiomqtt.MqttError, OSError, ValueError)
# Without a notification the pump still looks at the queue this often.
IDLE_POLL_S: Final = 1.0


def tls_context(tls: TlsConfig) -> ssl.SSLContext:
    """An SSL context for ``tls``; ServiceError names a file that cannot be loaded."""
    try:
        context = ssl.create_default_context(cafile=tls.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ServiceError(f"uplink TLS: cannot load CA file {tls.ca_file}: {exc}") from exc
    if tls.cert_file is not None:
        try:
            context.load_cert_chain(tls.cert_file, tls.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise ServiceError(
                f"uplink TLS: cannot load client certificate {tls.cert_file}"
                f" (key {tls.key_file}): {exc}"
            ) from exc
    if tls.insecure:
        context.check_hostname = False
    return context


class Uplink:
    """Publishes the durable queue to the uplink broker; see the module docstring."""

    def __init__(
        self,
        config: UplinkConfig,
        queue: DurableQueue,
        *,
        site: str,
        gateway_id: str,
        describe: Callable[[], GatewayStatus] | None = None,
        metrics: GatewayMetrics | None = None,
        backoff: tuple[float, float] = (0.5, 30.0),
        timeout: float = 10.0,
        close_timeout: float = 5.0,
    ) -> None:
        """``describe`` gives the status published on connect and every status_interval.

        ``timeout`` bounds a connection attempt and the wait for each PUBACK; a broker
        that does not acknowledge in time is treated as lost. ``close_timeout`` bounds
        the clean exit: sending what is queued (half of it), in-flight acknowledgements
        (a quarter), the "offline" status and the disconnect.
        """
        self.config = config
        self.site, self.gateway_id = site, gateway_id
        self.client_id = config.client_id or f"estatewatch-gw-{gateway_id}"
        self.address = f"{config.host}:{config.port}"
        self._queue = queue
        self._describe = describe
        self._metrics = metrics if metrics is not None else GatewayMetrics()
        self._timeout, self._close_timeout = timeout, close_timeout
        self._backoff = Backoff(*backoff)
        self._max_inflight = config.max_inflight
        self._peek_limit = max(100, 2 * config.max_inflight)
        self._commit_every = max(50, config.max_inflight)
        self._topic = status_topic(site, gateway_id)
        self._tls: ssl.SSLContext | None = None
        self._tasks: asyncio.TaskGroup | None = None
        self._runner: asyncio.Task[None] | None = None
        self._status_task: asyncio.Task[None] | None = None
        self._client: aiomqtt.Client | None = None
        self._wake = asyncio.Event()  # something to send or to commit, or stopping
        self._stop = asyncio.Event()
        self._attempted = asyncio.Event()  # the first connection attempt has finished
        self._acked: list[int] = []
        self._inflight = 0
        self._send_until = 0.0  # loop time; when stopping, the pump sends until then
        self._outage_since: float | None = None  # monotonic; set while we are warned
        self.connected = False
        self.connections = 0
        self.published = 0
        self.last_error: str | None = None

    def __repr__(self) -> str:
        state = "connected" if self.connected else "disconnected"
        return f"Uplink({self.address}, {self.client_id}, {state})"

    # --- life cycle ------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._tasks is not None:
            raise ServiceError(f"uplink to {self.address} is already running")
        if self.config.tls is not None:
            # Loading certificates reads files; done once here, not at every reconnect.
            self._tls = await asyncio.to_thread(tls_context, self.config.tls)
        self._stop.clear()  # an uplink may be entered again after it was closed
        self._attempted.clear()
        tasks = asyncio.TaskGroup()
        await tasks.__aenter__()
        self._tasks = tasks
        self._runner = tasks.create_task(self._run(), name=f"uplink {self.address}")
        if self._describe is not None:
            self._status_task = tasks.create_task(
                publish_every(self, self._describe, self.config.status_interval, self._stop),
                name="uplink status",
            )
        # Connected on return when the broker is there; never fail when it is not.
        try:
            async with asyncio.timeout(self._timeout):
                await self._attempted.wait()
        except TimeoutError:
            log.debug("uplink: still connecting to %s", self.address)
        except BaseException as exc:
            await self._shut(type(exc), exc, exc.__traceback__)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._shut(exc_type, exc, tb)

    async def _shut(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._tasks is not None
        assert self._runner is not None
        self._send_until = asyncio.get_running_loop().time() + self._close_timeout / 2
        self._stop.set()
        self._wake.set()
        if self._status_task is not None:
            self._status_task.cancel()
        # The runner drains what is in flight, says "offline" and disconnects.
        _, pending = await asyncio.wait({self._runner}, timeout=self._close_timeout)
        if pending:
            log.warning("uplink: %s did not close in %.1f s", self.address, self._close_timeout)
            self._runner.cancel()
        try:
            await self._tasks.__aexit__(exc_type, exc, tb)
        finally:
            self._tasks = self._runner = self._status_task = None
        if self._queue.depth:
            log.info(
                "uplink: closed with %d messages queued in %s; they are sent after restart",
                self._queue.depth,
                self._queue.path,
            )

    # --- what callers use ------------------------------------------------------------

    def notify(self) -> None:
        """Tell the pump that messages were appended (the outbox's ``on_flush``)."""
        self._wake.set()

    async def publish_status(self, status: GatewayStatus) -> bool:
        """Publish ``status`` retained, now and not queued; False if it could not be."""
        client = self._client
        if client is None:
            return False
        try:
            await self._publish_status(client, status)
        except _BROKER_ERRORS as exc:
            log.debug("uplink: status not published: %s", _reason(exc))
            return False
        return True

    # --- the connection --------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stop.is_set():
            connections = self.connections
            try:
                await self._session()
            except* _BROKER_ERRORS as group:
                self._lost(_first(group), was_connected=self.connections > connections)
            except* ServiceError as group:
                self._metrics.error("buffer_read")
                log.error("uplink: %s; retrying", _first(group))
            finally:
                self._attempted.set()
            if self._stop.is_set():
                break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._backoff.next()):
                    await self._stop.wait()

    def _mqtt_client(self) -> aiomqtt.Client:
        config = self.config
        client = aiomqtt.Client(
            config.host,
            config.port,
            identifier=self.client_id,
            username=config.username,
            password=config.password,
            will=aiomqtt.Will(self._topic, self._status_payload("offline"), qos=1, retain=True),
            keepalive=max(1, round(config.keepalive)),
            timeout=self._timeout,
            tls_context=self._tls,
            max_inflight_messages=self._max_inflight,
            logger=logging.getLogger(f"{__name__}.mqtt"),
        )
        # The window is pipelined on purpose; aiomqtt warns past 10 pending calls.
        client.pending_calls_threshold = self._max_inflight + 10
        return client

    async def _session(self) -> None:
        async with self._mqtt_client() as client:
            self._connected()
            try:
                await self._publish_status(client, self._status("online"))
                self._client = client
                async with asyncio.TaskGroup() as tasks:
                    watch = tasks.create_task(self._watch(client), name="uplink watch")
                    await self._pump(client)  # returns only when stopping
                    watch.cancel()
                self._client = None
                await self._publish_status(client, self._status("offline"))
            finally:
                self._client = None
                self.connected = False

    def _connected(self) -> None:
        self.connected = True
        self._attempted.set()
        self.connections += 1
        self._backoff.reset()
        backlog = self._queue.depth
        if self._outage_since is None:
            log.info(
                "uplink: connected to %s as %s; %d messages queued",
                self.address,
                self.client_id,
                backlog,
            )
            return
        log.info(
            "uplink: reconnected to %s after %.1f s; replaying %d queued messages from seq %s",
            self.address,
            time.monotonic() - self._outage_since,
            backlog,
            self._queue.oldest_seq,
        )
        self._outage_since = None

    def _lost(self, error: BaseException, *, was_connected: bool) -> None:
        reason = self.last_error = _reason(error)
        if self._outage_since is not None:
            log.debug("uplink: %s still unreachable: %s", self.address, reason)
            return
        self._outage_since = time.monotonic()
        self._metrics.error("uplink_lost" if was_connected else "uplink_unreachable")
        log.warning(
            "uplink: %s MQTT broker %s (%s); buffering to %s and retrying with backoff",
            "lost the connection to" if was_connected else "cannot reach",
            self.address,
            reason,
            self._queue.path,
        )

    @staticmethod
    async def _watch(client: aiomqtt.Client) -> None:
        # Nothing is subscribed: the iterator only ends, raising, when the link drops.
        async for _ in client.messages:
            pass
        raise aiomqtt.MqttError("the message stream ended")

    # --- the pump --------------------------------------------------------------------

    async def _pump(self, client: aiomqtt.Client) -> None:
        self._commit()  # acks of the last connection must not be replayed
        window = asyncio.Semaphore(self._max_inflight)
        sends: set[asyncio.Task[None]] = set()
        cursor = 0  # a new connection starts at the oldest message still queued
        self._inflight = 0
        try:
            async with asyncio.TaskGroup() as tasks:
                while not self._sending_over():
                    self._wake.clear()
                    if len(self._acked) >= self._commit_every or not self._inflight:
                        self._commit()
                    batch = self._queue.peek(cursor, self._peek_limit)
                    if not batch:
                        if self._stop.is_set():
                            break  # stopping, and everything queued has been sent
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(IDLE_POLL_S):
                                await self._wake.wait()
                        continue
                    for message in batch:
                        await window.acquire()
                        if self._sending_over():
                            window.release()
                            break
                        # Tasks start in creation order, so PUBLISHes leave in seq order.
                        self._inflight += 1
                        task = tasks.create_task(self._send(client, message, window))
                        sends.add(task)
                        task.add_done_callback(sends.discard)
                        cursor = message.seq
                await self._drain(sends)
        finally:
            self._inflight = 0
            self._commit(quiet=True)

    async def _send(
        self, client: aiomqtt.Client, message: QueuedItem, window: asyncio.Semaphore
    ) -> None:
        try:
            await client.publish(
                message.key,  # the topic
                message.payload,
                qos=1,
                timeout=self._timeout,
            )
        except ValueError as exc:
            self._metrics.error("uplink_rejected")
            log.error("uplink: dropped seq %d on %r: %s", message.seq, message.key, exc)
        finally:
            self._inflight -= 1
            window.release()
        self._acked.append(message.seq)
        if not self._inflight or len(self._acked) >= self._commit_every:
            self._wake.set()

    def _sending_over(self) -> bool:
        return self._stop.is_set() and asyncio.get_running_loop().time() >= self._send_until

    async def _drain(self, sends: set[asyncio.Task[None]]) -> None:
        """On a clean exit, give what is in flight a moment to be acknowledged."""
        try:
            async with asyncio.timeout(self._close_timeout / 4):
                while self._inflight:
                    self._wake.clear()
                    await self._wake.wait()
        except TimeoutError:
            log.info("uplink: %d publishes not acknowledged at close; resent later", len(sends))
            for task in sends:
                task.cancel()

    def _commit(self, *, quiet: bool = False) -> None:
        """Remove acknowledged messages from the queue."""
        if not self._acked:
            return
        acked = self._acked
        try:
            self._queue.remove(acked)
        except ServiceError as exc:
            if not quiet:
                raise
            # Still acknowledged; the next commit tries again, a restart resends them.
            log.error("uplink: %s", exc)
            return
        self._acked = []
        self.published += len(acked)
        self._metrics.published += len(acked)

    # --- status ----------------------------------------------------------------------

    def _status(self, state: Literal["online", "offline"]) -> GatewayStatus:
        now = datetime.now(UTC)
        if self._describe is None:
            return GatewayStatus(gateway_id=self.gateway_id, site=self.site, state=state, ts=now)
        return self._describe().model_copy(update={"state": state, "ts": now})

    def _status_payload(self, state: Literal["online", "offline"]) -> bytes:
        return self._status(state).model_dump_json().encode()

    async def _publish_status(self, client: aiomqtt.Client, status: GatewayStatus) -> None:
        payload = status.model_dump_json().encode()
        await client.publish(self._topic, payload, qos=1, retain=True, timeout=self._timeout)


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
