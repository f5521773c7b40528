"""The outbox batches readings into wire messages on a real queue; the status builder."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from estatewatch.durable_queue import DurableQueue, NewItem, QueuedItem
from estatewatch.errors import ServiceError
from estatewatch.wire import (
    DeadLetter,
    EventMessage,
    GatewayStatus,
    TelemetryBundle,
    TelemetryMessage,
    bundle_topic,
)
from gateway.metrics import DeviceState, GatewayMetrics
from gateway.outbox import BUNDLE_READINGS, Outbox
from gateway.sink import DeviceInfo, Sink
from gateway.status import build_status, publish_every

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
LIFT = DeviceInfo(
    "elev-01",
    "elevator",
    "elevator",
    tags={"building": "b1"},
    units={"speed": "m/s", "load": "kg"},
)
CHARGER = DeviceInfo("chg-07", "charger", "charger-cabinet", units={"port1.power": "W"})


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[DurableQueue]:
    with DurableQueue(tmp_path / "buffer.sqlite", max_bytes=1024**2, fsync=False) as q:
        yield q


@pytest.fixture
def metrics() -> GatewayMetrics:
    return GatewayMetrics()


@pytest.fixture
def outbox(queue: DurableQueue, metrics: GatewayMetrics) -> Outbox:
    # Wire version 1 (one message per device): these tests read each device's message;
    # the bundles of version 2 are tested at the end.
    return Outbox(queue, site="site-a", gateway_id="gw-1", metrics=metrics, wire_version=1)


def queued(queue: DurableQueue) -> list[QueuedItem]:
    return queue.peek(0, 10_000)


def telemetry(message: QueuedItem) -> TelemetryMessage:
    parsed = TelemetryMessage.model_validate_json(message.payload)
    assert parsed.seq == message.seq
    return parsed


def test_the_outbox_is_a_sink(outbox: Outbox) -> None:
    sink: Sink = outbox
    assert sink is outbox


def test_readings_are_batched_per_device_in_time_order(outbox: Outbox, queue: DurableQueue) -> None:
    outbox.reading(LIFT, at(1), {"speed": 1.5, "load": 300})
    outbox.reading(CHARGER, at(0.5), {"port1.power": 220.0})
    outbox.reading(LIFT, at(0), {"speed": 0.0, "load": 320})  # late arrival
    outbox.reading(LIFT, at(2), {"speed": 1.6, "load": 300, "door": "closed"})
    assert outbox.pending_readings == 4
    assert queue.depth == 0  # nothing reaches disk before a flush

    assert outbox.flush() == 2
    assert outbox.pending_readings == 0
    first, second = queued(queue)
    assert first.key == "estatewatch/site-a/elevator/elev-01/telemetry"
    assert second.key == "estatewatch/site-a/charger/chg-07/telemetry"
    lift, charger = telemetry(first), telemetry(second)
    assert (lift.seq, charger.seq) == (1, 2)
    assert [r.ts for r in lift.readings] == [at(0), at(1), at(2)]
    assert lift.readings[0].fields == {"speed": 0.0, "load": 320}
    assert lift.units == {"speed": "m/s", "load": "kg"}
    assert lift.tags == {"building": "b1"}
    assert (lift.gateway_id, lift.site, lift.profile) == ("gw-1", "site-a", "elevator")
    assert charger.readings[0].fields == {"port1.power": 220.0}
    assert outbox.flush() == 0


def test_a_full_batch_is_closed_at_max_readings(queue: DurableQueue) -> None:
    outbox = Outbox(
        queue, site="site-a", gateway_id="gw-1", max_readings_per_message=2, wire_version=1
    )
    for n in range(5):
        outbox.reading(LIFT, at(n), {"speed": float(n)})
    assert outbox.pending_messages == 2  # two full batches closed, one reading open
    assert outbox.flush() == 3
    messages = [telemetry(m) for m in queued(queue)]
    assert [m.seq for m in messages] == [1, 2, 3]
    assert [[r.fields["speed"] for r in m.readings] for m in messages] == [
        [0.0, 1.0],
        [2.0, 3.0],
        [4.0],
    ]


def test_events_and_readings_share_one_time_ordered_seq(
    outbox: Outbox, queue: DurableQueue
) -> None:
    outbox.reading(LIFT, at(5), {"speed": 1.0})
    outbox.event(LIFT, at(3), "device_online", {})
    outbox.event(LIFT, at(6), "door_cycle", {"open_s": 4.5, "reversals": 1})
    outbox.flush()
    online, reading, door = queued(queue)
    assert online.key == door.key == "estatewatch/site-a/elevator/elev-01/event"
    assert reading.key.endswith("/telemetry")
    event = EventMessage.model_validate_json(door.payload)
    assert (event.seq, event.kind, event.ts) == (3, "door_cycle", at(6))
    assert event.detail == {"open_s": 4.5, "reversals": 1}
    assert event.tags == {"building": "b1"}
    assert EventMessage.model_validate_json(online.payload).seq == 1


def test_seqs_continue_across_flushes_and_outboxes(queue: DurableQueue) -> None:
    first = Outbox(queue, site="site-a", gateway_id="gw-1", wire_version=1)
    first.reading(LIFT, at(0), {"speed": 0.0})
    first.flush()
    second = Outbox(queue, site="site-a", gateway_id="gw-1", wire_version=1)
    for n in range(3):
        second.reading(LIFT, at(n), {"speed": 0.0})
        second.reading(CHARGER, at(n), {"port1.power": 1.0})
        second.flush()
    assert [telemetry(m).seq for m in queued(queue)] == list(range(1, 8))


def test_dead_letters_go_to_the_gateway_topic(outbox: Outbox, queue: DurableQueue) -> None:
    letter = DeadLetter(
        gateway_id="gw-1",
        site="site-a",
        ts=at(0),
        source_topic="vendor/smoke/s1/up",
        reason="msgType: unknown value 'boom'",
        payload='{"msgType": "boom"}',
    )
    outbox.dead_letter(letter)
    outbox.reading(LIFT, at(1), {"speed": 0.0})
    outbox.flush()
    dead, reading = queued(queue)
    assert dead.key == "estatewatch/site-a/gateway/gw-1/dead_letter"
    assert DeadLetter.model_validate_json(dead.payload) == letter.model_copy(update={"seq": 1})
    assert telemetry(reading).seq == 2  # one counter for every message of the gateway


def test_input_the_schema_rejects_is_logged_counted_and_dropped(
    outbox: Outbox, queue: DurableQueue, metrics: GatewayMetrics, caplog: pytest.LogCaptureFixture
) -> None:
    bad_name = DeviceInfo("no spaces allowed", "elevator", "elevator")
    with caplog.at_level(logging.ERROR, logger="gateway.outbox"):
        outbox.reading(LIFT, datetime(2026, 3, 1, 8, 0), {"speed": 0.0})
        outbox.reading(LIFT, at(0), {})
        outbox.reading(bad_name, at(0), {"speed": 0.0})
        outbox.event(bad_name, at(0), "device_offline", {})
        outbox.reading(LIFT, at(1), {"speed": 1.0})
        assert outbox.flush() == 1
    assert metrics.errors["outbox_invalid"] == 4
    assert len(caplog.records) == 4
    assert "time zone" in caplog.records[0].getMessage()
    assert "no spaces allowed" in caplog.records[2].getMessage()
    assert "device_id" in caplog.records[2].getMessage()
    (only,) = queued(queue)
    assert [r.ts for r in telemetry(only).readings] == [at(1)]


def test_flush_tells_the_uplink(queue: DurableQueue) -> None:
    calls: list[int] = []
    outbox = Outbox(
        queue, site="site-a", gateway_id="gw-1", on_flush=lambda: calls.append(queue.depth)
    )
    outbox.flush()
    assert calls == []  # nothing written, nothing to say
    outbox.reading(LIFT, at(0), {"speed": 0.0})
    outbox.flush()
    assert calls == [1]


class BrokenQueue:
    def append(self, items: Sequence[NewItem]) -> list[int]:
        raise ServiceError("buffer /x: cannot append to it: database or disk is full")


def test_a_queue_that_cannot_be_written_says_what_was_lost(
    metrics: GatewayMetrics, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = Outbox(
        BrokenQueue(), site="site-a", gateway_id="gw-1", metrics=metrics, wire_version=1
    )
    outbox.reading(LIFT, at(0), {"speed": 0.0})
    outbox.reading(LIFT, at(1), {"speed": 0.0})
    with pytest.raises(ServiceError, match=r"disk is full: 1 messages \(2 readings\) were lost"):
        outbox.flush()
    assert outbox.pending_readings == 0


async def test_run_flushes_on_schedule_and_on_stop(queue: DurableQueue) -> None:
    flushed = asyncio.Event()
    outbox = Outbox(
        queue, site="site-a", gateway_id="gw-1", batch_interval=0.05, on_flush=flushed.set
    )
    stop = asyncio.Event()
    runner = asyncio.create_task(outbox.run(stop))
    for n in range(3):
        outbox.reading(LIFT, at(n), {"speed": 0.0})
        async with asyncio.timeout(5):
            await flushed.wait()
        flushed.clear()
        assert queue.depth == n + 1
    stop.set()
    await runner

    slow = Outbox(queue, site="site-a", gateway_id="gw-1", batch_interval=3600.0, wire_version=1)
    stop = asyncio.Event()
    runner = asyncio.create_task(slow.run(stop))
    slow.reading(LIFT, at(9), {"speed": 0.0})
    await asyncio.sleep(0)
    stop.set()
    await runner
    assert queue.depth == 4


async def test_an_urgent_reading_is_flushed_at_once_and_the_schedule_stands(
    queue: DurableQueue,
) -> None:
    flushed = asyncio.Event()
    outbox = Outbox(
        queue,
        site="site-a",
        gateway_id="gw-1",
        batch_interval=3600.0,
        on_flush=flushed.set,
        wire_version=1,
    )
    stop = asyncio.Event()
    runner = asyncio.create_task(outbox.run(stop))
    outbox.reading(LIFT, at(0), {"speed": 0.0})
    await asyncio.sleep(0.05)
    assert queue.depth == 0  # an ordinary reading waits for the hour's slot
    outbox.reading(LIFT, at(1), {"fault_code": 41}, urgent=True)
    async with asyncio.timeout(5):  # far inside the hour: it was not the schedule
        await flushed.wait()
    assert queue.depth == 1
    assert [len(telemetry(m).readings) for m in queued(queue)] == [2]
    stop.set()
    await runner


async def test_run_flushes_when_cancelled_and_survives_a_broken_queue(
    queue: DurableQueue, metrics: GatewayMetrics, caplog: pytest.LogCaptureFixture
) -> None:
    broken = Outbox(
        BrokenQueue(),
        site="s",
        gateway_id="g",
        batch_interval=0.01,
        metrics=metrics,
        wire_version=1,
    )
    broken.reading(LIFT, at(0), {"speed": 0.0})
    outbox = Outbox(queue, site="site-a", gateway_id="gw-1", batch_interval=3600.0, wire_version=1)
    outbox.reading(LIFT, at(0), {"speed": 0.0})
    stop = asyncio.Event()
    with caplog.at_level(logging.ERROR, logger="gateway.outbox"):
        async with asyncio.TaskGroup() as tasks:
            broken_task = tasks.create_task(broken.run(stop))
            task = tasks.create_task(outbox.run(stop))
            await asyncio.sleep(0.1)
            assert not broken_task.done()
            task.cancel()
            stop.set()
    assert queue.depth == 1
    assert metrics.errors["buffer_write"] == 1
    assert "1 messages (1 readings) were lost" in caplog.records[0].getMessage()


# --- the status message (gateway.status) ---------------------------------------------


def test_status_reports_devices_buffer_lateness_and_errors(queue: DurableQueue) -> None:
    metrics = GatewayMetrics()
    metrics.device_states.update(
        {"e2": DeviceState.OFFLINE, "e1": DeviceState.ONLINE, "e3": DeviceState.OFFLINE}
    )
    metrics.device_states["c1"] = DeviceState.DEGRADED
    for ms in range(1, 101):
        metrics.poll_done(ms / 1000)
    metrics.overruns = 2
    metrics.error("modbus_timeout")
    metrics.error("modbus_timeout")
    metrics.dead_letters = 3
    queue.append([NewItem("t", lambda _seq: b"12345")])
    status = build_status(
        site="site-a",
        gateway_id="gw-1",
        metrics=metrics,
        queue=queue,
        version="0.1.0",
        started_at=at(0),
        now=at(90.5),
    )
    assert isinstance(status, GatewayStatus)
    assert (status.state, status.version, status.uptime_s) == ("online", "0.1.0", 90.5)
    assert (status.devices_online, status.devices_degraded, status.devices_offline) == (1, 1, 2)
    assert status.offline_devices == ["e2", "e3"]
    assert (status.buffer_depth, status.buffer_bytes, status.buffer_dropped) == (1, 5, 0)
    assert status.poll_lateness is not None
    assert status.poll_lateness.max_ms == 100.0
    assert status.poll_overruns == 2
    assert status.errors == {"modbus_timeout": 2}
    assert status.dead_letters == 3
    assert GatewayStatus.model_validate_json(status.model_dump_json()) == status


class RecordingPublisher:
    def __init__(self) -> None:
        self.sent: list[GatewayStatus] = []

    async def publish_status(self, status: GatewayStatus) -> bool:
        self.sent.append(status)
        return len(self.sent) % 2 == 0  # every other one "fails": the loop carries on


async def test_the_status_loop_publishes_on_schedule_until_stopped() -> None:
    publisher = RecordingPublisher()
    stop = asyncio.Event()
    status = GatewayStatus(gateway_id="gw-1", site="site-a", state="online", ts=T0)
    loop = asyncio.create_task(publish_every(publisher, lambda: status, 0.01, stop))
    async with asyncio.timeout(5):
        while len(publisher.sent) < 4:  # noqa: ASYNC110 -- a test polling a fake
            await asyncio.sleep(0.005)
    stop.set()
    async with asyncio.timeout(5):
        await loop
    assert publisher.sent[0] == status


# --- wire version 2: one bundle per flush -------------------------------------------------


def _readings(outbox: Outbox) -> None:
    outbox.reading(LIFT, at(1), {"speed": 1.5, "load": 300})
    outbox.reading(CHARGER, at(0.5), {"port1.power": 220.0})
    outbox.reading(LIFT, at(0), {"speed": 0.0, "load": 320})
    outbox.event(LIFT, at(0.7), "trip", {"from_floor": 1, "to_floor": 3})


def test_version_2_bundles_the_telemetry_of_a_flush_saying_what_version_1_says(
    queue: DurableQueue, tmp_path: Path
) -> None:
    bundling = Outbox(queue, site="site-a", gateway_id="gw-1")
    assert bundling.wire_version == 2  # the default
    _readings(bundling)
    assert bundling.flush() == 2  # one bundle for both devices, and the event
    bundle_item, event_item = queued(queue)
    assert bundle_item.key == bundle_topic("site-a", "gw-1")
    bundle = TelemetryBundle.model_validate_json(bundle_item.payload)
    assert bundle.seq == bundle_item.seq == 1
    assert EventMessage.model_validate_json(event_item.payload).seq == 2
    with DurableQueue(tmp_path / "v1.sqlite", max_bytes=1024**2, fsync=False) as v1_queue:
        one_by_one = Outbox(v1_queue, site="site-a", gateway_id="gw-1", wire_version=1)
        _readings(one_by_one)
        one_by_one.flush()
        v1 = [telemetry(m) for m in queued(v1_queue) if m.key.endswith("/telemetry")]
    # The same messages, but for their seq (one per bundle instead of one per device).
    assert [m.model_copy(update={"seq": 0}) for m in bundle.messages()] == [
        m.model_copy(update={"seq": 0}) for m in v1
    ]


def test_a_bundle_holds_at_most_bundle_readings(queue: DurableQueue) -> None:
    outbox = Outbox(queue, site="site-a", gateway_id="gw-1")
    devices = [DeviceInfo(f"elev-{n:03d}", "elevator", "elevator") for n in range(150)]
    for second in range(2):
        for device in devices:
            outbox.reading(device, at(second), {"speed": 0.0})
    assert outbox.flush() == 2  # 300 readings: 200 and 100
    bundles = [TelemetryBundle.model_validate_json(m.payload) for m in queued(queue)]
    assert [sum(len(d.readings) for d in b.devices) for b in bundles] == [
        BUNDLE_READINGS,
        300 - BUNDLE_READINGS,
    ]
    assert [b.seq for b in bundles] == [1, 2]


async def test_version_2_still_flushes_an_urgent_reading_at_once(queue: DurableQueue) -> None:
    flushed = asyncio.Event()
    outbox = Outbox(
        queue, site="site-a", gateway_id="gw-1", batch_interval=3600.0, on_flush=flushed.set
    )
    stop = asyncio.Event()
    runner = asyncio.create_task(outbox.run(stop))
    outbox.reading(CHARGER, at(0), {"port1.power": 1.0})
    await asyncio.sleep(0.05)
    assert queue.depth == 0
    outbox.reading(LIFT, at(1), {"fault_code": 41}, urgent=True)
    async with asyncio.timeout(5):
        await flushed.wait()
    (item,) = queued(queue)
    bundle = TelemetryBundle.model_validate_json(item.payload)
    assert [d.device_id for d in bundle.devices] == ["chg-07", "elev-01"]
    stop.set()
    await runner
