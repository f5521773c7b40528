"""Smoke-alarm messages to MQTT as the vendor's JSON: the simulator's only MQTT code.

``publish`` only queues: while the kernel's :class:`estatewatch.mqtt.Link` is connected,
its session sends the queue with QoS 1 in pipelined batches, so the simulator's tick
never waits on the network. A broker that is unreachable, or goes away, never reaches
the caller: the link logs one warning per outage and reconnects with backoff; the
publisher keeps up to ``max_queued`` messages (dropping the oldest past that, counted and
reported) and delivers the queue when the broker is back. Delivery is at least once: a
batch cut off mid-flight is sent again, except the messages the broker had already
acknowledged.

Broker trouble is logged, never raised. What callers can see, both subclasses of
``estatewatch.errors.EstatewatchError`` (no aiomqtt or paho exception escapes):

    catalogue.payload.PayloadError   publish(): a message the profile rejects (a model bug)
    errors.DeviceError               publish() outside ``async with``: it would be lost
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from types import TracebackType
from typing import Self

from estatewatch.catalogue import Profile, Value
from estatewatch.catalogue.payload import PayloadSchema
from estatewatch.errors import DeviceError
from estatewatch.mqtt import Connection, Link

log = logging.getLogger(__name__)


class SmokePublisher:
    """Async context manager owning one MQTT link and the queue it sends."""

    def __init__(
        self,
        host: str,
        port: int,
        profile: Profile,
        *,
        client_id: str = "estatewatch-sim-smoke",
        max_queued: int = 100_000,
        batch: int = 100,
        backoff: tuple[float, float] = (0.5, 30.0),
        timeout: float = 5.0,
        close_timeout: float = 5.0,
    ) -> None:
        if max_queued < 1 or batch < 1:
            raise ValueError("max_queued and batch must be at least 1")
        self.host, self.port = host, port
        self.client_id = client_id
        self._schema = PayloadSchema(profile)
        assert profile.topic is not None  # an MQTT profile always names its topic
        self._topic = profile.topic
        self._max_queued, self._batch = max_queued, batch
        self._close_timeout = close_timeout
        self._queue: deque[tuple[str, bytes]] = deque()
        self._in_flight = 0
        self._wake = asyncio.Event()  # something to send
        self._drained = asyncio.Event()  # nothing queued or in flight
        self._drained.set()
        self._link = Link(
            host,
            port,
            name="smoke publisher",
            log=log,
            client_id=client_id,
            mqtt5=False,
            max_inflight=batch,
            session=self._send,
            while_away="queuing messages",
            backoff=backoff,
            connect_timeout=timeout,
            # On close, what could be sent was sent (see __aexit__): stop at once.
            close_timeout=0.0,
        )
        self._running = False
        self.published = 0
        self.dropped = 0
        self._dropped_in_outage = 0

    @property
    def connected(self) -> bool:
        return self._link.connected

    @property
    def queued(self) -> int:
        """Messages not yet acknowledged by the broker."""
        return len(self._queue) + self._in_flight

    # --- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self._link.__aenter__()
        self._running = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._running = False
        try:
            if exc_type is None and self.connected and self.queued:
                # A last chance for what is queued; the broker is there, so it is quick.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._close_timeout):
                        await self.flush()
        finally:
            if self.queued or self.dropped:
                last_error = self._link.last_error
                log.warning(
                    "smoke publisher: closing with %d messages not delivered to %s:%d"
                    " and %d dropped%s",
                    self.queued,
                    self.host,
                    self.port,
                    self.dropped,
                    f" (last error: {last_error})" if last_error else "",
                )
            await self._link.__aexit__(exc_type, exc, tb)

    # --- what callers use ------------------------------------------------------------

    async def publish(self, message: dict[str, Value]) -> None:
        """Queue one alarm message (normalised names) as vendor JSON on its topic."""
        payload = self._schema.build(message)
        self._enqueue(self._topic.format(device_id=message["device_id"]), payload)

    async def publish_raw(self, topic: str, payload: bytes) -> None:
        """Queue bytes as they are, for tests that need a malformed vendor payload."""
        self._enqueue(topic, payload)

    async def flush(self) -> None:
        """Wait until the broker has acknowledged every queued message.

        Waits as long as the broker is away; bound it with ``asyncio.timeout``.
        """
        await self._drained.wait()

    # --- the queue -------------------------------------------------------------------

    def _enqueue(self, topic: str, payload: bytes) -> None:
        if not self._running:
            raise DeviceError(
                f"smoke publisher for {self.host}:{self.port} is not running:"
                " publish inside 'async with'"
            )
        self._queue.append((topic, payload))
        self._trim()
        self._drained.clear()
        self._wake.set()

    def _trim(self) -> None:
        while len(self._queue) > self._max_queued:
            self._queue.popleft()
            self.dropped += 1
            self._dropped_in_outage += 1
            if self._dropped_in_outage == 1:
                log.warning(
                    "smoke publisher: queue full (%d messages); dropping the oldest",
                    self._max_queued,
                )

    # --- the connection --------------------------------------------------------------

    async def _send(self, connection: Connection) -> None:
        """The link's session: send the queue whenever there is something to send."""
        if self._dropped_in_outage:
            log.warning(
                "smoke publisher: dropped %d messages while %s:%d was away",
                self._dropped_in_outage,
                self.host,
                self.port,
            )
            self._dropped_in_outage = 0
        while True:
            await self._wake.wait()
            while self._queue:
                await self._send_batch(connection)
            self._wake.clear()
            self._drained.set()

    async def _send_batch(self, connection: Connection) -> None:
        batch = [self._queue.popleft() for _ in range(min(self._batch, len(self._queue)))]
        acked = [False] * len(batch)
        self._in_flight = len(batch)

        async def send(index: int, topic: str, payload: bytes) -> None:
            await connection.publish(topic, payload)
            acked[index] = True

        try:
            async with asyncio.TaskGroup() as tasks:
                for index, (topic, payload) in enumerate(batch):
                    tasks.create_task(send(index, topic, payload))
        finally:
            unsent = [m for m, ok in zip(batch, acked, strict=True) if not ok]
            self._queue.extendleft(reversed(unsent))
            self._trim()
            self.published += len(batch) - len(unsent)
            self._in_flight = 0
