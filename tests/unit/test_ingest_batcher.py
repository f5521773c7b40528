"""Batcher with a fake writer: batching, acks, spill and drain, 413 splits, rejections."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest

from estatewatch.durable_queue import DurableQueue
from ingest.batcher import Batcher, IngestCounters
from ingest.writers import (
    Sent,
    WriteError,
    WriteRejected,
    WriteRetryable,
    WriteTooLarge,
    WriteUnauthorized,
)

FAST = (0.001, 0.01)  # backoff: retries in milliseconds keep the tests quick


class FakeWriter:
    """Records stored bodies; ``fail`` decides an error per attempt, ``gate`` holds writes,
    ``sending`` holds them before their body is sent."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.attempts = 0
        self.fail: Callable[[bytes], WriteError | None] = lambda _body: None
        self.gate = asyncio.Event()
        self.gate.set()
        self.sending = asyncio.Event()
        self.sending.set()

    async def write(self, body: bytes, points: int, sent: Sent | None = None) -> None:
        assert points == len(body.splitlines())
        self.attempts += 1
        await self.sending.wait()
        if sent is not None:
            await sent()
        await self.gate.wait()
        error = self.fail(body)
        if error is not None:
            raise error
        self.bodies.append(body)

    def lines(self) -> list[bytes]:
        return [line for body in self.bodies for line in body.splitlines()]

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


@pytest.fixture
def spill(tmp_path: Path) -> Iterator[DurableQueue]:
    with DurableQueue(tmp_path / "spill.sqlite", max_bytes=10_000_000, fsync=False) as queue:
        yield queue


def line(i: int) -> bytes:
    return f"m,device_id=d{i % 3} v={i}i {1_000 + i}\n".encode()


class Acks:
    def __init__(self) -> None:
        self.done: list[int] = []

    def __call__(self, i: int) -> Callable[[], None]:
        return lambda: self.done.append(i)


async def eventually(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(5.0):
        # Polling: the conditions are about the fake's plain state, with no event to await.
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.002)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_batches_by_size(spill: DurableQueue) -> None:
    writer, acks = FakeWriter(), Acks()
    async with Batcher(writer, spill, max_points=3, max_delay=60, backoff=FAST) as batcher:
        for i in range(7):
            await batcher.submit(line(i), 1, acks(i))
        await eventually(lambda: len(writer.bodies) == 2)
        assert acks.done == list(range(6))
    # Closing flushes the last, partial batch.
    assert [len(body.splitlines()) for body in writer.bodies] == [3, 3, 1]
    assert writer.lines() == [line(i).rstrip() for i in range(7)]
    assert acks.done == list(range(7))
    assert batcher.metrics.points_written == 7
    assert batcher.metrics.batches_written == 3


async def test_batches_by_time(spill: DurableQueue) -> None:
    writer, acks = FakeWriter(), Acks()
    async with Batcher(writer, spill, max_points=1000, max_delay=0.02, backoff=FAST) as batcher:
        await batcher.submit(line(0), 1, acks(0))
        await batcher.submit(line(1) + line(2), 2, acks(1))
        await eventually(lambda: len(writer.bodies) == 1)
        assert writer.bodies == [line(0) + line(1) + line(2)]
        assert acks.done == [0, 1]
        assert len(batcher.metrics.batch_latency_s) == 1


async def test_acks_wait_for_the_write(spill: DurableQueue) -> None:
    writer, acks = FakeWriter(), Acks()
    writer.gate.clear()
    async with Batcher(writer, spill, max_points=2, max_delay=60, backoff=FAST) as batcher:
        await batcher.submit(line(0), 1, acks(0))
        await batcher.submit(line(1), 1, acks(1))
        await eventually(lambda: writer.attempts == 1)
        await settle()
        assert acks.done == []
        writer.gate.set()
        await eventually(lambda: acks.done == [0, 1])


async def test_outage_spills_acks_and_drains_in_order(spill: DurableQueue) -> None:
    writer, acks = FakeWriter(), Acks()
    down = True
    writer.fail = lambda _body: WriteRetryable("down") if down else None
    async with Batcher(writer, spill, max_points=2, max_delay=60, backoff=FAST) as batcher:
        for i in range(10):
            await batcher.submit(line(i), 1, acks(i))
        # Every batch is acknowledged once it is in the spill, though nothing is stored.
        await eventually(lambda: acks.done == list(range(10)))
        assert writer.bodies == []
        assert spill.depth == 5
        assert batcher.metrics.spilled_batches == 5
        down = False
        await eventually(lambda: spill.depth == 0)
        # Batches submitted after recovery follow the drained ones.
        for i in range(10, 12):
            await batcher.submit(line(i), 1, acks(i))
    assert writer.lines() == [line(i).rstrip() for i in range(12)]
    assert batcher.metrics.drained_batches == 5
    assert batcher.metrics.spill_depth == 0
    assert batcher.metrics.write_errors["retryable"] >= 1


async def test_spill_left_at_close_is_drained_by_the_next_batcher(spill: DurableQueue) -> None:
    writer, acks = FakeWriter(), Acks()
    writer.fail = lambda _body: WriteRetryable("down", retry_after=0.001)
    async with Batcher(writer, spill, max_points=2, max_delay=60, backoff=FAST) as batcher:
        for i in range(4):
            await batcher.submit(line(i), 1, acks(i))
    assert acks.done == [0, 1, 2, 3]
    assert spill.depth == 2
    assert writer.bodies == []

    writer.fail = lambda _body: None
    async with Batcher(writer, spill, max_points=2, max_delay=60, backoff=FAST):
        await eventually(lambda: spill.depth == 0)
    assert writer.lines() == [line(i).rstrip() for i in range(4)]


async def test_too_large_splits_down_to_single_lines(spill: DurableQueue) -> None:
    writer, acks = FakeWriter(), Acks()
    rejected: list[tuple[bytes, str]] = []
    huge = b"m,device_id=huge v=0i 1\n"

    def fail(body: bytes) -> WriteError | None:
        if len(body.splitlines()) > 2 or b"huge" in body:
            return WriteTooLarge("too large", status=413)
        return None

    writer.fail = fail
    batch = [line(i) for i in range(3)] + [huge] + [line(i) for i in range(4, 9)]
    async with Batcher(
        writer,
        spill,
        max_points=9,
        max_delay=60,
        on_rejected=lambda lines, reason: rejected.append((lines, reason)),
        backoff=FAST,
    ) as batcher:
        for i, body in enumerate(batch):
            await batcher.submit(body, 1, acks(i))
        await eventually(lambda: len(acks.done) == 9)
    assert all(len(body.splitlines()) <= 2 for body in writer.bodies)
    assert writer.lines() == [b.rstrip() for b in batch if b != huge]
    assert [lines for lines, _ in rejected] == [huge]
    assert "too large" in rejected[0][1]
    assert batcher.metrics.rejected_batches == 1


async def test_rejected_batch_is_dead_lettered_and_acked(
    spill: DurableQueue, caplog: pytest.LogCaptureFixture
) -> None:
    writer, acks = FakeWriter(), Acks()
    reason = "partial write: field type conflict"
    writer.fail = lambda _body: WriteRejected("bad", status=400, reason=reason, partial=True)
    rejected: list[tuple[bytes, str]] = []
    async with Batcher(
        writer,
        spill,
        max_points=2,
        max_delay=60,
        on_rejected=lambda lines, why: rejected.append((lines, why)),
        backoff=FAST,
    ) as batcher:
        await batcher.submit(line(0), 1, acks(0))
        await batcher.submit(line(1), 1, acks(1))
        await eventually(lambda: acks.done == [0, 1])
    assert rejected == [(line(0) + line(1), reason)]
    assert spill.depth == 0
    assert batcher.metrics.rejected_batches == 1
    assert batcher.metrics.write_errors["rejected"] == 1
    assert any(r.levelno == logging.WARNING and reason in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "error",
    [
        WriteUnauthorized("bad password", status=401),
        WriteRejected("no db", status=404, reason='database not found: "x"'),
    ],
)
async def test_configuration_error_spills_and_logs_once(
    spill: DurableQueue, caplog: pytest.LogCaptureFixture, error: WriteError
) -> None:
    writer, acks = FakeWriter(), Acks()
    broken = True
    writer.fail = lambda _body: error if broken else None
    async with Batcher(writer, spill, max_points=1, max_delay=60, backoff=FAST) as batcher:
        for i in range(3):
            await batcher.submit(line(i), 1, acks(i))
        await eventually(lambda: acks.done == [0, 1, 2] and writer.attempts >= 6)
        broken = False
        await eventually(lambda: spill.depth == 0)
    assert writer.lines() == [line(i).rstrip() for i in range(3)]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert batcher.metrics.rejected_batches == 0


async def test_backpressure_makes_submit_wait(spill: DurableQueue) -> None:
    writer, acks = FakeWriter(), Acks()
    writer.gate.clear()
    async with Batcher(
        writer, spill, max_points=2, max_delay=60, max_pending_points=4, backoff=FAST
    ) as batcher:
        for i in range(4):
            await batcher.submit(line(i), 1, acks(i))
        blocked = asyncio.create_task(batcher.submit(line(4), 1, acks(4)))
        await settle()
        assert not blocked.done()
        assert batcher.pending_points == 4
        writer.gate.set()
        await blocked
    assert writer.lines() == [line(i).rstrip() for i in range(5)]
    assert acks.done == list(range(5))


async def test_room_comes_back_once_the_next_body_is_sent(spill: DurableQueue) -> None:
    # A consumer woken as soon as a write ends would decode while the next request waits
    # for the event loop; it is let in once the next body is on its way.
    writer, acks = FakeWriter(), Acks()
    writer.gate.clear()
    async with Batcher(
        writer, spill, max_points=2, max_delay=60, max_pending_points=4, backoff=FAST
    ) as batcher:
        for i in range(4):
            await batcher.submit(line(i), 1, acks(i))
        blocked = asyncio.create_task(batcher.submit(line(4), 1, acks(4)))
        await eventually(lambda: writer.attempts == 1)
        writer.sending.clear()
        writer.gate.set()
        # The first batch is stored and acknowledged; the second is not sent yet.
        try:
            await eventually(lambda: writer.attempts == 2 and acks.done == [0, 1])
            await settle()
            assert not blocked.done()
        finally:
            writer.sending.set()
        await blocked
    assert writer.lines() == [line(i).rstrip() for i in range(5)]
    assert acks.done == list(range(5))


async def test_submit_waits_while_a_body_goes_out(spill: DurableQueue) -> None:
    # With room to spare, a message still waits while a batch's body is being sent: the
    # body goes out with the event loop to itself, InfluxDB waiting for all of it.
    writer, acks = FakeWriter(), Acks()
    writer.sending.clear()
    async with Batcher(
        writer, spill, max_points=2, max_delay=60, max_pending_points=100, backoff=FAST
    ) as batcher:
        for i in range(2):
            await batcher.submit(line(i), 1, acks(i))
        await eventually(lambda: writer.attempts == 1)
        waiting = asyncio.create_task(batcher.submit(line(2), 1, acks(2)))
        try:
            await settle()
            assert not waiting.done()
        finally:
            writer.sending.set()
        await waiting
    assert writer.lines() == [line(i).rstrip() for i in range(3)]
    assert acks.done == list(range(3))


async def test_submit_outside_context_fails(spill: DurableQueue) -> None:
    batcher = Batcher(FakeWriter(), spill)
    with pytest.raises(Exception, match="not running"):
        await batcher.submit(line(0), 1, lambda: None)


async def test_metrics_object_is_shared(spill: DurableQueue) -> None:
    metrics = IngestCounters()
    async with Batcher(FakeWriter(), spill, metrics=metrics, max_delay=0, backoff=FAST) as batcher:
        await batcher.submit(line(0), 1, lambda: None)
    assert metrics.points_written == 1
    assert metrics.avg_batch_latency_s >= 0


async def test_split_batch_spills_only_the_unwritten_part(spill: DurableQueue) -> None:
    writer, acks = FakeWriter(), Acks()
    down = True

    def fail(body: bytes) -> WriteError | None:
        if len(body.splitlines()) > 4:
            return WriteTooLarge("too large", status=413)
        if down and line(6) in body:
            return WriteRetryable("down")
        return None

    writer.fail = fail
    async with Batcher(writer, spill, max_points=8, max_delay=60, backoff=FAST) as batcher:
        for i in range(8):
            await batcher.submit(line(i), 1, acks(i))
        await eventually(lambda: len(acks.done) == 8)
        assert spill.peek(0, 10)[0].payload == b"".join(line(i) for i in range(4, 8))
        down = False
        await eventually(lambda: spill.depth == 0)
    # The first half was stored directly and is not written again.
    assert writer.lines() == [line(i).rstrip() for i in range(8)]


async def test_drainer_joins_small_spilled_batches(spill: DurableQueue) -> None:
    writer, acks = FakeWriter(), Acks()
    down = True
    writer.fail = lambda _body: WriteRetryable("down") if down else None
    async with Batcher(writer, spill, max_points=4, max_delay=0, backoff=FAST) as batcher:
        for i in range(6):
            await batcher.submit(line(i), 1, acks(i))
            await eventually(lambda: spill.depth == i + 1)  # noqa: B023 (awaited at once)
        down = False
        await eventually(lambda: spill.depth == 0)
    assert [len(body.splitlines()) for body in writer.bodies] == [4, 2]
    assert writer.lines() == [line(i).rstrip() for i in range(6)]
    assert batcher.metrics.drained_batches == 6


async def test_failing_ack_does_not_stop_the_batcher(
    spill: DurableQueue, caplog: pytest.LogCaptureFixture
) -> None:
    writer, acks = FakeWriter(), Acks()

    def broken_ack() -> None:
        raise ConnectionError("broker gone")

    async with Batcher(writer, spill, max_points=2, max_delay=60, backoff=FAST) as batcher:
        await batcher.submit(line(0), 1, broken_ack)
        await batcher.submit(line(1), 1, acks(1))
        await batcher.submit(line(2), 1, acks(2))
    assert acks.done == [1, 2]
    assert writer.lines() == [line(i).rstrip() for i in range(3)]
    assert any("acknowledging" in r.getMessage() for r in caplog.records)


def test_backoff_grows_to_its_cap_with_jitter_and_honours_retry_after(
    spill: DurableQueue,
) -> None:
    batcher = Batcher(FakeWriter(), spill, backoff=(0.5, 30.0))
    down = WriteRetryable("down")
    for attempt, ceiling in [(0, 0.5), (1, 1.0), (3, 4.0), (10, 30.0), (500, 30.0)]:
        delays = [batcher._retry_delay(attempt, down) for _ in range(50)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
    slow_down = WriteRetryable("busy", status=429, retry_after=45.0)
    assert batcher._retry_delay(0, slow_down) == 45.0
