"""The outbox: readings and events in, wire messages on the durable queue out.

``Outbox`` is the gateway's :class:`gateway.sink.Sink`. It gathers each device's readings
for ``batch_interval`` (a message is closed early at ``max_readings_per_message``) and
``flush()`` writes everything gathered, telemetry, events and dead letters, to the queue in
one ``append``: one transaction, one fsync, consecutive sequence numbers. Callbacks given
to ``when_stored`` (an MQTT source's acknowledgements) run after the flush that stored
what was handed in before them, so a message is acknowledged to its broker only once it
is on the queue. ``run()`` flushes
on a fixed schedule, at once when a reading is marked urgent (a fault or alarm field
changed: see the catalogue's ``urgent`` flag), and once more when stopped or cancelled,
so SIGTERM leaves nothing in memory. Until a flush, readings live only in memory: a
SIGKILL or power cut loses at most what arrived since the last flush started (one
``batch_interval``).

**Wire version.** With ``wire_version`` 2 (the default) a flush puts the telemetry of all
devices into bundles (:class:`estatewatch.wire.TelemetryBundle`, at most
``BUNDLE_READINGS`` readings each, so mostly one per flush) on the gateway's own
telemetry topic: one message, one ``seq`` and one acknowledgement per interval instead
of one per device, which is what a central worker pays for most. Version 1 sends one
message per device (for central services older than version 2). What a flush stores, and
so what a crash can lose, is the same either way; events, dead letters and the status
stay version 1 messages.

The batching itself is synchronous and needs no event loop; only ``run()`` is async.

Errors: ``reading()`` and ``event()`` never raise into acquisition. Input the wire schema
rejects (a naive timestamp, no fields, a bad name) is logged and counted in
``GatewayMetrics.errors["outbox_invalid"]``, and dropped. ``flush()`` raises
:class:`estatewatch.errors.ServiceError` when the queue cannot be written; ``run()`` logs
that as an ERROR naming how many messages were lost, counts ``errors["buffer_write"]`` and
carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal, Protocol

from pydantic import BaseModel, ValidationError

from estatewatch.durable_queue import NewItem
from estatewatch.errors import ServiceError
from estatewatch.wire import (
    DeadLetter,
    EventKind,
    EventMessage,
    FieldValue,
    Reading,
    TelemetryBundle,
    TelemetryMessage,
    bundle_topic,
    dead_letter_topic,
    event_topic,
    telemetry_topic,
)
from gateway.metrics import GatewayMetrics
from gateway.sink import DeviceInfo

__all__ = ["MessageQueue", "Outbox"]

log = logging.getLogger(__name__)

# Readings per bundle: a few hundred KB of JSON (an elevator's reading is ~1 KB, an 8-port
# charger's ~2.5 KB), far below what the broker and the workers accept (4 MiB).
BUNDLE_READINGS: Final = 200


class MessageQueue(Protocol):
    """The part of :class:`estatewatch.durable_queue.DurableQueue` the outbox writes to."""

    def append(self, items: Sequence[NewItem]) -> list[int]: ...


@dataclass(slots=True)
class _DeviceBatch:
    device: DeviceInfo
    readings: list[Reading] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Ready:
    """A validated message waiting for its seq; ``model.seq`` is a placeholder."""

    ts: datetime  # orders the messages of one flush
    topic: str
    model: BaseModel

    def pending(self) -> NewItem:
        model = self.model

        def render(seq: int) -> bytes:
            # Validated when built; copying in the seq cannot make it invalid.
            return model.model_copy(update={"seq": seq}).model_dump_json().encode()

        return NewItem(self.topic, render)


async def _first(*waits: Coroutine[Any, Any, object]) -> None:
    """Return when the first of ``waits`` finishes; the others are cancelled."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


class Outbox:
    """Batches readings per device into telemetry messages on the durable queue."""

    def __init__(
        self,
        queue: MessageQueue,
        *,
        site: str,
        gateway_id: str,
        batch_interval: float = 1.0,
        max_readings_per_message: int = 60,
        wire_version: Literal[1, 2] = 2,
        on_flush: Callable[[], None] | None = None,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        if batch_interval <= 0 or max_readings_per_message < 1:
            raise ValueError("batch_interval must be positive, max_readings at least 1")
        self._queue = queue
        self.site = site
        self.gateway_id = gateway_id
        self.batch_interval = batch_interval
        self.max_readings = max_readings_per_message
        self.wire_version = wire_version
        self._on_flush = on_flush
        self._metrics = metrics if metrics is not None else GatewayMetrics()
        self._batches: dict[str, _DeviceBatch] = {}
        # Set by an urgent reading: run() flushes at once instead of at the next slot.
        self._hurry = asyncio.Event()
        self._ready: list[_Ready] = []
        self._held_readings = 0
        self._when_stored: list[Callable[[], None]] = []

    @property
    def pending_readings(self) -> int:
        """Readings held in memory, not yet on the queue."""
        return self._held_readings

    @property
    def pending_messages(self) -> int:
        """Closed messages (full batches, events, dead letters) not yet on the queue."""
        return len(self._ready)

    # --- Sink ------------------------------------------------------------------------

    def reading(
        self,
        device: DeviceInfo,
        ts: datetime,
        fields: Mapping[str, FieldValue],
        *,
        urgent: bool = False,
    ) -> None:
        try:
            reading = Reading(ts=ts, fields=dict(fields))
        except ValidationError as exc:
            self._invalid(f"reading of {device.device_id}", exc)
            return
        batch = self._batches.get(device.device_id)
        if batch is None:
            batch = self._batches[device.device_id] = _DeviceBatch(device)
        batch.device = device  # tags or units may have changed; the newest win
        batch.readings.append(reading)
        self._held_readings += 1
        if len(batch.readings) >= self.max_readings:
            self._close(batch)
            del self._batches[device.device_id]
        if urgent:
            self._hurry.set()

    def event(
        self,
        device: DeviceInfo,
        ts: datetime,
        kind: EventKind,
        detail: Mapping[str, FieldValue],
    ) -> None:
        try:
            message = EventMessage(
                gateway_id=self.gateway_id,
                seq=0,
                site=self.site,
                device_type=device.device_type,
                device_id=device.device_id,
                tags=dict(device.tags),
                ts=ts,
                kind=kind,
                detail=dict(detail),
            )
        except ValidationError as exc:
            self._invalid(f"{kind} event of {device.device_id}", exc)
            return
        topic = event_topic(self.site, device.device_type, device.device_id)
        self._ready.append(_Ready(message.ts, topic, message))

    # --- beyond the Sink -------------------------------------------------------------

    def when_stored(self, callback: Callable[[], None]) -> None:
        """``StoringSink``: call ``callback`` after the next flush that succeeds."""
        self._when_stored.append(callback)

    def dead_letter(self, letter: DeadLetter) -> None:
        """Queue a rejected payload on the gateway's dead-letter topic.

        Counting it (``GatewayMetrics.dead_letters``) is the caller's job: the caller knows
        whether it is a dead letter or a resend.
        """
        topic = dead_letter_topic(self.site, self.gateway_id)
        self._ready.append(_Ready(letter.ts, topic, letter))

    def flush(self) -> int:
        """Write everything gathered to the queue in one append; returns messages written.

        Raises ServiceError when the queue cannot be written; what was gathered is then
        gone (the error says how much), since keeping it would grow memory for as long as
        the disk stays broken.
        """
        for batch in self._batches.values():
            self._close(batch)
        self._batches.clear()
        # Time order across devices and kinds; sort is stable, so ties keep arrival order.
        ready = sorted(self._ready, key=lambda r: r.ts)
        if self.wire_version == 2:
            ready = self._bundled(ready)
        readings = self._held_readings
        stored = self._when_stored
        self._ready, self._held_readings, self._when_stored = [], 0, []
        if ready:
            try:
                self._queue.append([r.pending() for r in ready])
            except ServiceError as exc:
                # The callbacks are not called: their messages come again from the broker.
                raise ServiceError(
                    f"{exc}: {len(ready)} messages ({readings} readings) were lost"
                ) from exc
            if self._on_flush is not None:
                self._on_flush()
        for callback in stored:
            callback()
        return len(ready)

    async def run(self, stop: asyncio.Event) -> None:
        """Flush every ``batch_interval`` until ``stop`` is set, then flush once more.

        The schedule is fixed: a slow flush shortens the next wait instead of shifting
        every later one, and missed slots are skipped, not caught up.
        """
        loop = asyncio.get_running_loop()
        due = loop.time() + self.batch_interval
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout_at(due):
                        await _first(stop.wait(), self._hurry.wait())
                hurried = self._hurry.is_set()
                self._hurry.clear()
                self._flush_logged()
                now = loop.time()
                if hurried and now < due:
                    continue  # an early flush for an urgent reading; the schedule stands
                due += self.batch_interval
                if due <= now:
                    due = now + self.batch_interval
        finally:
            # Also on cancellation: whatever is in memory goes to disk before we exit.
            self._flush_logged()

    # --- internals -------------------------------------------------------------------

    def _close(self, batch: _DeviceBatch) -> None:
        readings = sorted(batch.readings, key=lambda r: r.ts)
        device = batch.device
        try:
            message = TelemetryMessage(
                gateway_id=self.gateway_id,
                seq=0,
                site=self.site,
                device_type=device.device_type,
                device_id=device.device_id,
                profile=device.profile,
                tags=dict(device.tags),
                units=dict(device.units),
                readings=readings,
            )
        except ValidationError as exc:
            self._held_readings -= len(readings)
            self._invalid(f"{len(readings)} readings of {device.device_id}", exc)
            return
        topic = telemetry_topic(self.site, device.device_type, device.device_id)
        self._ready.append(_Ready(readings[0].ts, topic, message))

    def _bundled(self, ready: list[_Ready]) -> list[_Ready]:
        """``ready`` with its telemetry messages in bundles, in the same time order."""
        others: list[_Ready] = []
        bundles: list[_Ready] = []
        members: list[TelemetryMessage] = []
        readings = 0

        def close() -> None:
            bundle = TelemetryBundle.of(self.gateway_id, 0, self.site, members)
            topic = bundle_topic(self.site, self.gateway_id)
            bundles.append(_Ready(members[0].readings[0].ts, topic, bundle))

        for item in ready:
            message = item.model
            if not isinstance(message, TelemetryMessage):
                others.append(item)
                continue
            if members and readings + len(message.readings) > BUNDLE_READINGS:
                close()
                members, readings = [], 0
            members.append(message)
            readings += len(message.readings)
        if members:
            close()
        # Both lists are in time order; sorted() is stable, so ties keep bundles first.
        return sorted(bundles + others, key=lambda r: r.ts)

    def _flush_logged(self) -> None:
        try:
            self.flush()
        except ServiceError as exc:
            self._metrics.error("buffer_write")
            log.error("outbox: %s", exc)

    def _invalid(self, what: str, exc: ValidationError) -> None:
        self._metrics.error("outbox_invalid")
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()
        )
        log.error("outbox: dropped %s, rejected by the wire schema: %s", what, problems)
