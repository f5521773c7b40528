"""Smoke-alarm messages to MQTT as the vendor's JSON: the simulator's only MQTT code.

``publish`` only queues: a background task sends the queue with QoS 1 in pipelined
batches whenever the broker is up, so the simulator's tick never waits on the network.
A broker that is unreachable, or goes away, never reaches the caller: the publisher logs
one warning per outage, keeps up to ``max_queued`` messages (dropping the oldest past
that, counted and reported), reconnects with exponential backoff and delivers the queue
when the broker is back. Delivery is at least once: a batch cut off mid-flight is sent
again, except the messages the broker had already acknowledged.

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

import aiomqtt

from estatewatch.backoff import Backoff
from estatewatch.catalogue import Profile, Value
from estatewatch.catalogue.payload import PayloadSchema
from estatewatch.errors import DeviceError

log = logging.getLogger(__name__)

_BROKER_ERRORS = (aiomqtt.MqttError, OSError)


class SmokePublisher:
    """Async context manager owning one MQTT connection and its background tasks."""

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
        self._backoff, self._timeout, self._close_timeout = backoff, timeout, close_timeout
        self._queue: deque[tuple[str, bytes]] = deque()
        self._in_flight = 0
        self._wake = asyncio.Event()  # something to send
        self._drained = asyncio.Event()  # nothing queued or in flight
        self._drained.set()
        self._attempted = asyncio.Event()  # the first connection attempt has finished
        self._tasks: asyncio.TaskGroup | None = None
        self._runner: asyncio.Task[None] | None = None
        self.connected = False
        self.published = 0
        self.dropped = 0
        self._dropped_in_outage = 0
        self._warned = False
        self._last_error: str | None = None
        self._closing = False

    @property
    def queued(self) -> int:
        """Messages not yet acknowledged by the broker."""
        return len(self._queue) + self._in_flight

    # --- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._tasks = asyncio.TaskGroup()
        await self._tasks.__aenter__()
        name = f"smoke-publisher {self.host}:{self.port}"
        self._runner = self._tasks.create_task(self._run(), name=name)
        # Connect before returning when the broker is there; never fail when it is not.
        try:
            async with asyncio.timeout(self._timeout):
                await self._attempted.wait()
        except TimeoutError:
            # A silent host: the attempt itself warns once it gives up.
            log.debug("smoke publisher: still connecting to %s:%d", self.host, self.port)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._tasks is not None
        assert self._runner is not None
        self._closing = True
        try:
            if exc_type is None and self.connected and self.queued:
                # A last chance for what is queued; the broker is there, so it is quick.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._close_timeout):
                        await self.flush()
        finally:
            if self.queued or self.dropped:
                log.warning(
                    "smoke publisher: closing with %d messages not delivered to %s:%d"
                    " and %d dropped%s",
                    self.queued,
                    self.host,
                    self.port,
                    self.dropped,
                    f" (last error: {self._last_error})" if self._last_error else "",
                )
            self._runner.cancel()
            await self._tasks.__aexit__(exc_type, exc, tb)

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
        if self._runner is None or self._closing:
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

    async def _run(self) -> None:
        backoff = Backoff(*self._backoff)
        while True:
            try:
                async with aiomqtt.Client(
                    self.host,
                    self.port,
                    identifier=self.client_id,
                    timeout=self._timeout,
                    max_inflight_messages=self._batch,
                ) as client:
                    # Batches are pipelined on purpose; aiomqtt warns past 10 by default.
                    client.pending_calls_threshold = self._batch
                    self._connected()
                    backoff.reset()
                    async with asyncio.TaskGroup() as tasks:
                        tasks.create_task(self._watch(client), name="smoke-publisher-watch")
                        tasks.create_task(self._send(client), name="smoke-publisher-send")
            except* _BROKER_ERRORS as group:
                self._lost(group.exceptions[0])
            finally:
                self.connected = False
                self._attempted.set()
            await asyncio.sleep(backoff.next())

    def _connected(self) -> None:
        self.connected = True
        self._attempted.set()
        if self._warned:
            log.info(
                "smoke publisher: reconnected to %s:%d; sending %d queued messages",
                self.host,
                self.port,
                self.queued,
            )
        if self._dropped_in_outage:
            log.warning(
                "smoke publisher: dropped %d messages while %s:%d was away",
                self._dropped_in_outage,
                self.host,
                self.port,
            )
        self._warned, self._dropped_in_outage = False, 0

    def _lost(self, error: BaseException) -> None:
        # aiomqtt's "Disconnected during message iteration" hides why in its cause.
        reason = f"{error}: {error.__cause__}" if error.__cause__ else str(error)
        self._last_error = reason
        if self._warned:
            log.debug("smoke publisher: %s:%d still unreachable: %s", self.host, self.port, reason)
            return
        self._warned = True
        verb = "lost" if self.connected else "cannot reach"
        log.warning(
            "smoke publisher: %s MQTT broker %s:%d (%s); queuing messages and retrying",
            verb,
            self.host,
            self.port,
            reason,
        )

    @staticmethod
    async def _watch(client: aiomqtt.Client) -> None:
        # Nothing is subscribed, so the iterator only ends, raising, when the link drops.
        async for _ in client.messages:
            pass
        raise aiomqtt.MqttError("the message stream ended")

    async def _send(self, client: aiomqtt.Client) -> None:
        while True:
            await self._wake.wait()
            while self._queue:
                await self._send_batch(client)
            self._wake.clear()
            self._drained.set()

    async def _send_batch(self, client: aiomqtt.Client) -> None:
        batch = [self._queue.popleft() for _ in range(min(self._batch, len(self._queue)))]
        acked = [False] * len(batch)
        self._in_flight = len(batch)

        async def send(index: int, topic: str, payload: bytes) -> None:
            await client.publish(topic, payload, qos=1)
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
