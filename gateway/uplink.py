"""The uplink: the durable queue to the central MQTT broker, QoS 1, in sequence order.

``Uplink`` is an async context manager around one :class:`estatewatch.mqtt.Link` (the
kernel's reconnecting session) and the periodic status task. On every connection it first
publishes a retained "online" status, then the pump reads the queue in ``seq`` order and
keeps up to ``max_inflight`` QoS 1 publishes in flight; a message leaves the queue only
after its PUBACK (acknowledged seqs are removed in batches). Every new connection starts
again at the oldest message still queued, so a backlog is replayed in order and live
data, appended meanwhile with higher seqs, follows it. Delivery is at least once: what
was in flight when a connection dropped, or acknowledged but not yet removed when the
process died, is sent again; consumers drop duplicates by ``seq``.

The connection carries an MQTT last will: a retained QoS 1 ``GatewayStatus`` "offline" on
the gateway's status topic. A clean exit keeps sending what is queued for up to half of
``close_timeout`` (so the outbox's final flush usually goes out at once), waits a little
for what is in flight, publishes a retained "offline" and disconnects, so the broker
discards the will; whatever is still queued then is sent after the restart.

Errors: broker trouble never reaches callers. An unreachable or lost broker is one WARNING
per outage (broker address and reason; retries log at DEBUG), then reconnection with
exponential backoff and jitter, for as long as it takes, while producers keep appending
to the queue (the link's logging, under this module's logger). A queue that cannot be
read or written is counted in ``errors["buffer_read"]``, logged as an ERROR and retried
the same way. A message the MQTT client refuses outright (a malformed topic) is logged as
an ERROR, counted in ``errors["uplink_rejected"]`` and removed, so it cannot block the
rest. ``__aenter__`` raises :class:`estatewatch.errors.ConfigError` only for TLS files
that cannot be loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Final, Literal, Self

from estatewatch.durable_queue import DurableQueue, QueuedItem
from estatewatch.errors import ServiceError
from estatewatch.mqtt import (
    Connection,
    Link,
    LinkDownError,
    PublishRefusedError,
    Will,
    tls_context,
)
from estatewatch.wire import GatewayStatus, status_topic
from gateway.config import UplinkConfig
from gateway.metrics import GatewayMetrics
from gateway.status import publish_every

__all__ = ["Uplink"]

log = logging.getLogger(__name__)

# Without a notification the pump still looks at the queue this often.
IDLE_POLL_S: Final = 1.0


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
        self._backoff, self._timeout, self._close_timeout = backoff, timeout, close_timeout
        self._max_inflight = config.max_inflight
        self._peek_limit = max(100, 2 * config.max_inflight)
        self._commit_every = max(50, config.max_inflight)
        self._topic = status_topic(site, gateway_id)
        self._link: Link | None = None
        self._tasks: asyncio.TaskGroup | None = None
        self._status_task: asyncio.Task[None] | None = None
        self._connection: Connection | None = None
        self._wake = asyncio.Event()  # something to send or to commit, or stopping
        self._stop = asyncio.Event()
        self._acked: list[int] = []
        self._inflight = 0
        self._send_until = 0.0  # loop time; when stopping, the pump sends until then
        self.published = 0

    def __repr__(self) -> str:
        state = "connected" if self.connected else "disconnected"
        return f"Uplink({self.address}, {self.client_id}, {state})"

    @property
    def connected(self) -> bool:
        return self._link is not None and self._link.connected

    @property
    def connections(self) -> int:
        return 0 if self._link is None else self._link.connections

    @property
    def last_error(self) -> str | None:
        return None if self._link is None else self._link.last_error

    # --- life cycle ------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._tasks is not None:
            raise ServiceError(f"uplink to {self.address} is already running")
        config = self.config
        # Loading certificates reads files; done once here, not at every reconnect.
        tls = None
        if config.tls is not None:
            tls = await asyncio.to_thread(tls_context, config.tls, "uplink.tls")
        self._stop.clear()  # an uplink may be entered again after it was closed
        self._link = Link(
            config.host,
            config.port,
            name="uplink",
            log=log,
            client_id=self.client_id,
            username=config.username,
            password=config.password,
            tls=tls,
            mqtt5=False,
            max_inflight=self._max_inflight,
            keepalive=config.keepalive,
            will=lambda: Will(self._topic, self._status_payload("offline")),
            session=self._session,
            on_outage=self._outage,
            while_away=f"buffering to {self._queue.path}",
            backoff=self._backoff,
            connect_timeout=self._timeout,
            close_timeout=self._close_timeout,
        )
        tasks = asyncio.TaskGroup()
        await tasks.__aenter__()
        self._tasks = tasks
        try:
            # Connected on return when the broker is there; never fails when it is not.
            await self._link.__aenter__()
        except BaseException as exc:
            self._tasks = None
            await tasks.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        if self._describe is not None:
            self._status_task = tasks.create_task(
                publish_every(self, self._describe, config.status_interval, self._stop),
                name="uplink status",
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._tasks is not None
        assert self._link is not None
        self._send_until = asyncio.get_running_loop().time() + self._close_timeout / 2
        self._stop.set()
        self._wake.set()
        if self._status_task is not None:
            self._status_task.cancel()
        try:
            # The session drains what is in flight, says "offline" and returns; the link
            # then disconnects (or cancels it after close_timeout).
            await self._link.__aexit__(exc_type, exc, tb)
        finally:
            tasks, self._tasks, self._status_task = self._tasks, None, None
            await tasks.__aexit__(exc_type, exc, tb)
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
        connection = self._connection
        if connection is None:
            return False
        try:
            await self._publish_status(connection, status)
        except (LinkDownError, PublishRefusedError) as exc:
            log.debug("uplink: status not published: %s", exc)
            return False
        return True

    # --- one connection --------------------------------------------------------------

    async def _session(self, connection: Connection) -> None:
        backlog = self._queue.depth
        if backlog:
            log.info(
                "uplink: sending %d queued messages from seq %s", backlog, self._queue.oldest_seq
            )
        try:
            await self._publish_status(connection, self._status("online"))
            self._connection = connection
            await self._pump(connection)  # returns only when stopping
            self._connection = None
            await self._publish_status(connection, self._status("offline"))
        except ServiceError as exc:
            if not isinstance(exc, LinkDownError):
                self._metrics.error("buffer_read")
            raise
        finally:
            self._connection = None

    def _outage(self, was_connected: bool) -> None:
        self._metrics.error("uplink_lost" if was_connected else "uplink_unreachable")

    # --- the pump --------------------------------------------------------------------

    async def _pump(self, connection: Connection) -> None:
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
                        task = tasks.create_task(self._send(connection, message, window))
                        sends.add(task)
                        task.add_done_callback(sends.discard)
                        cursor = message.seq
                await self._drain(sends)
        finally:
            self._inflight = 0
            self._commit(quiet=True)

    async def _send(
        self, connection: Connection, message: QueuedItem, window: asyncio.Semaphore
    ) -> None:
        try:
            await connection.publish(message.key, message.payload)  # the key is the topic
        except PublishRefusedError as exc:
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

    async def _publish_status(self, connection: Connection, status: GatewayStatus) -> None:
        payload = status.model_dump_json().encode()
        await connection.publish(self._topic, payload, retain=True)
