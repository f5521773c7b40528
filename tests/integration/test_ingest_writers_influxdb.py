"""Influx1Writer against the real private InfluxDB 1.6: writes land, failures map."""

from __future__ import annotations

import httpx
import pytest

from infra.local import InfluxInstance
from ingest.writers import Influx1Writer, WriteRejected, WriteRetryable

pytestmark = pytest.mark.integration

T0 = 1_764_000_000_000_000_000


def _lines(count: int, measurement: str = "elevator") -> bytes:
    return "\n".join(
        f"{measurement},site=north,device_id=elev-{i % 10:02d} floor={i}i,load_kg={i / 2} "
        f"{T0 + i * 1_000_000}"
        for i in range(count)
    ).encode()


def _query(influx: InfluxInstance, database: str, statement: str) -> list[list[object]]:
    with httpx.Client(base_url=influx.url, trust_env=False) as http:
        response = http.get("/query", params={"db": database, "q": statement})
    response.raise_for_status()
    (result,) = response.json()["results"]
    series = result.get("series", [])
    return [] if not series else series[0]["values"]


@pytest.mark.parametrize("gzip", [False, True])
async def test_batch_is_stored_and_reads_back(
    influxdb: InfluxInstance, influx_database: str, gzip: bool
) -> None:
    async with Influx1Writer(influxdb.url, influx_database, gzip=gzip) as writer:
        await writer.write(_lines(1000), 1000)

    assert _query(influxdb, influx_database, "SELECT count(floor) FROM elevator")[0][1] == 1000
    rows = _query(
        influxdb,
        influx_database,
        "SELECT floor, load_kg FROM elevator WHERE device_id = 'elev-07' ORDER BY time LIMIT 2",
    )
    # Integers stay integers; the reading's own nanosecond timestamp is kept.
    assert [row[1:] for row in rows] == [[7, 3.5], [17, 8.5]]
    assert [type(row[1]) for row in rows] == [int, int]


@pytest.mark.parametrize("gzip", [False, True])
async def test_sent_is_awaited_once_the_body_is_out(
    influxdb: InfluxInstance, influx_database: str, gzip: bool
) -> None:
    # The batcher hands room back to the consumer on it (see ingest.batcher).
    events: list[str] = []

    async def sent() -> None:
        events.append("sent")

    async with Influx1Writer(influxdb.url, influx_database, gzip=gzip) as writer:
        await writer.write(_lines(1000), 1000, sent)
        events.append("answered")
        await writer.write(_lines(10), 10)
    assert events == ["sent", "answered"]


async def test_retention_policy_is_used(influxdb: InfluxInstance, influx_database: str) -> None:
    async with Influx1Writer(influxdb.url, influx_database, retention_policy="autogen") as writer:
        await writer.write(_lines(3), 3)
    rows = _query(influxdb, influx_database, 'SELECT count(floor) FROM "autogen"."elevator"')
    assert rows[0][1] == 3


async def test_malformed_line_is_rejected_with_influx_message(
    influxdb: InfluxInstance, influx_database: str
) -> None:
    body = _lines(2) + b"\nelevator,site=north floor= 1\n"
    async with Influx1Writer(influxdb.url, influx_database) as writer:
        with pytest.raises(WriteRejected, match="unable to parse") as caught:
            await writer.write(body, 3)
    assert caught.value.status == 400
    assert "unable to parse 'elevator,site=north floor= 1'" in caught.value.reason
    assert influx_database in str(caught.value)
    # 1.6 stores the lines that parse and says "partial write": a retry would not help.
    assert caught.value.partial
    assert _query(influxdb, influx_database, "SELECT count(floor) FROM elevator")[0][1] == 2


async def test_type_conflict_is_a_partial_write(
    influxdb: InfluxInstance, influx_database: str
) -> None:
    async with Influx1Writer(influxdb.url, influx_database) as writer:
        await writer.write(_lines(1), 1)
        conflicting = f'elevator,site=north,device_id=x floor="three" {T0 + 5}\n'.encode()
        with pytest.raises(WriteRejected) as caught:
            await writer.write(_lines(3, "charger") + b"\n" + conflicting, 4)
    assert caught.value.partial
    assert "field type conflict" in caught.value.reason
    # The good points of the batch were stored: the caller dead-letters, never retries.
    assert _query(influxdb, influx_database, "SELECT count(floor) FROM charger")[0][1] == 3


async def test_stopped_server_is_retryable_and_the_writer_recovers(
    influxdb: InfluxInstance, influx_database: str
) -> None:
    async with Influx1Writer(influxdb.url, influx_database, timeout=5.0) as writer:
        await writer.write(_lines(5), 5)
        influxdb.stop()
        try:
            with pytest.raises(WriteRetryable, match="could not be reached"):
                await writer.write(_lines(5), 5)
        finally:
            influxdb.start()
        await writer.write(_lines(10), 10)
    assert _query(influxdb, influx_database, "SELECT count(floor) FROM elevator")[0][1] == 10


async def test_missing_database_is_rejected_by_name(influxdb: InfluxInstance) -> None:
    async with Influx1Writer(influxdb.url, "no_such_db") as writer:
        with pytest.raises(WriteRejected, match="no_such_db") as caught:
            await writer.write(_lines(1), 1)
    assert caught.value.status == 404
    assert "database not found" in caught.value.reason
