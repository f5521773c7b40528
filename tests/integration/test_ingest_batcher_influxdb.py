"""Batcher against the real InfluxDB 1.x: an outage under load loses and doubles nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from estatewatch.durable_queue import DurableQueue
from infra.local import InfluxInstance
from ingest.batcher import Batcher
from ingest.writers import Influx1Writer

pytestmark = pytest.mark.integration

T0 = 1_764_000_000_000_000_000
POINTS_PER_MESSAGE = 10


def _message(number: int) -> bytes:
    first = number * POINTS_PER_MESSAGE
    return b"".join(
        f"elevator,site=north,device_id=elev-{i % 7} floor={i}i {T0 + i}\n".encode()
        for i in range(first, first + POINTS_PER_MESSAGE)
    )


def _count(influx: InfluxInstance, database: str) -> int:
    with httpx.Client(base_url=influx.url, trust_env=False) as http:
        response = http.get(
            "/query", params={"db": database, "q": "SELECT count(floor) FROM elevator"}
        )
    response.raise_for_status()
    (result,) = response.json()["results"]
    series = result.get("series", [])
    return 0 if not series else int(series[0]["values"][0][1])


async def test_outage_under_load_stores_every_point_once(
    influxdb: InfluxInstance, influx_database: str, tmp_path: Path
) -> None:
    acked = 0

    def ack() -> None:
        nonlocal acked
        acked += 1

    sent = 0

    async def produce(until: asyncio.Event) -> None:
        nonlocal sent
        while not until.is_set():
            await batcher.submit(_message(sent), POINTS_PER_MESSAGE, ack)
            sent += 1
            await asyncio.sleep(0.002)

    with DurableQueue(tmp_path / "spill.sqlite", max_bytes=50_000_000, fsync=False) as spill:
        async with (
            Influx1Writer(influxdb.url, influx_database, timeout=2.0) as writer,
            Batcher(writer, spill, max_points=500, max_delay=0.1, backoff=(0.05, 0.5)) as batcher,
        ):
            stop = asyncio.Event()
            producer = asyncio.create_task(produce(stop))
            await asyncio.sleep(0.5)
            await asyncio.to_thread(influxdb.stop)
            await asyncio.sleep(2.0)
            # Messages kept being acknowledged while InfluxDB was down: they are in the spill.
            assert spill.depth > 0
            await asyncio.to_thread(influxdb.start)
            await asyncio.sleep(0.5)
            stop.set()
            await producer
            async with asyncio.timeout(10):
                while spill.depth:  # noqa: ASYNC110 (the queue has no event to await)
                    await asyncio.sleep(0.05)
            assert batcher.metrics.drained_batches > 0

        assert spill.depth == 0
    assert acked == sent
    # Same series and timestamp for every copy of a point: a count equal to what was sent
    # means nothing was lost and no point was stored twice.
    assert _count(influxdb, influx_database) == sent * POINTS_PER_MESSAGE
