"""Ingest as a whole: wire messages published on a real Mosquitto end up in a real InfluxDB."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import httpx
import pytest
from metrics_scrape import scrape

from estatewatch.ports import free_ports
from estatewatch.wire import Reading, TelemetryMessage, telemetry_topic
from infra.local import InfluxInstance, MosquittoInstance
from ingest.service import running_ingest
from ingest.settings import IngestSettings

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
HISTORY = 100 * 365 * 86400.0


def settings(
    tmp_path: Path, mosquitto: MosquittoInstance, influxdb: InfluxInstance, database: str
) -> IngestSettings:
    return IngestSettings(
        mqtt_host=mosquitto.host,
        mqtt_port=mosquitto.port,
        client_id=f"ingest-{tmp_path.name}",
        influx_url=influxdb.url,
        influx_database=database,
        batch_delay=0.2,
        spill_path=tmp_path / "spill.sqlite",
        dead_letter_path=tmp_path / "dead.jsonl",
        metrics_port=0,
        # The readings are dated from START, a fixed day in the past; the time window is
        # tests/unit/test_screen.py's to test.
        max_age=HISTORY,
    )


def message(seq: int, device: str, site: str) -> TelemetryMessage:
    return TelemetryMessage(
        gateway_id="gw-1",
        seq=seq,
        site=site,
        device_type="elevator",
        device_id=device,
        profile="elevator-nice3000",
        tags={"building": "B1"},
        units={"floor": "", "speed": "m/s"},
        readings=[
            Reading(ts=START + timedelta(seconds=seq), fields={"floor": seq % 18, "speed": 1.5})
        ],
    )


async def count(influxdb: InfluxInstance, database: str, site: str) -> int:
    query = f"SELECT COUNT(floor) FROM elevator WHERE site = '{site}'"
    async with httpx.AsyncClient() as client:
        reply = await client.get(f"{influxdb.url}/query", params={"db": database, "q": query})
    series = reply.json()["results"][0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


async def until_stored(
    influxdb: InfluxInstance, database: str, site: str, points: int, seconds: float
) -> None:
    deadline = time.monotonic() + seconds
    while (stored := await count(influxdb, database, site)) != points:
        if time.monotonic() > deadline:
            pytest.fail(f"{stored} points stored, expected {points}")
        await asyncio.sleep(0.2)


async def test_published_telemetry_is_stored_once_even_when_replayed(
    tmp_path: Path, mosquitto: MosquittoInstance, influxdb: InfluxInstance, influx_database: str
) -> None:
    site = f"s{tmp_path.name[-6:]}"
    config = settings(tmp_path, mosquitto, influxdb, influx_database)
    async with running_ingest(config), aiomqtt.Client(mosquitto.host, mosquitto.port) as gw:
        await asyncio.sleep(0.5)  # subscribed
        for seq in range(1, 201):
            msg = message(seq, "elev-01", site)
            topic = telemetry_topic(site, "elevator", "elev-01")
            await gw.publish(topic, msg.model_dump_json(), qos=1)
        # QoS 1 redelivery or a gateway replay: the same messages again change nothing.
        for seq in range(1, 51):
            msg = message(seq, "elev-01", site)
            await gw.publish(
                telemetry_topic(site, "elevator", "elev-01"), msg.model_dump_json(), qos=1
            )
        await gw.publish(telemetry_topic(site, "elevator", "elev-01"), b"{not json", qos=1)
        await until_stored(influxdb, influx_database, site, 200, 15)
        await asyncio.sleep(0.5)
        assert await count(influxdb, influx_database, site) == 200
    dead = [json.loads(line) for line in (tmp_path / "dead.jsonl").read_text().splitlines()]
    assert len(dead) == 1
    assert "invalid JSON" in dead[0]["reason"]


async def test_influxdb_down_then_back_loses_nothing(
    tmp_path: Path, mosquitto: MosquittoInstance, influxdb: InfluxInstance, influx_database: str
) -> None:
    site = f"o{tmp_path.name[-6:]}"
    config = settings(tmp_path, mosquitto, influxdb, influx_database)
    topic = telemetry_topic(site, "elevator", "elev-02")
    async with running_ingest(config), aiomqtt.Client(mosquitto.host, mosquitto.port) as gw:
        await asyncio.sleep(0.5)
        for seq in range(1, 101):
            await gw.publish(topic, message(seq, "elev-02", site).model_dump_json(), qos=1)
        influxdb.stop()
        for seq in range(101, 301):
            await gw.publish(topic, message(seq, "elev-02", site).model_dump_json(), qos=1)
            await asyncio.sleep(0.005)
        await asyncio.sleep(1.0)
        influxdb.start()
        await until_stored(influxdb, influx_database, site, 300, 30)


async def test_ingest_restarted_stores_what_was_published_meanwhile(
    tmp_path: Path, mosquitto: MosquittoInstance, influxdb: InfluxInstance, influx_database: str
) -> None:
    site = f"r{tmp_path.name[-6:]}"
    config = settings(tmp_path, mosquitto, influxdb, influx_database)
    topic = telemetry_topic(site, "elevator", "elev-03")
    async with running_ingest(config):
        await asyncio.sleep(0.5)  # the persistent session and its subscription exist
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as gw:
        for seq in range(1, 101):
            await gw.publish(topic, message(seq, "elev-03", site).model_dump_json(), qos=1)
    async with running_ingest(config):
        await until_stored(influxdb, influx_database, site, 100, 15)


async def test_metrics_count_exactly_what_was_received_stored_and_refused(
    tmp_path: Path, mosquitto: MosquittoInstance, influxdb: InfluxInstance, influx_database: str
) -> None:
    site = f"m{tmp_path.name[-6:]}"
    (port,) = free_ports(1)
    config = settings(tmp_path, mosquitto, influxdb, influx_database).model_copy(
        update={"metrics_port": port}
    )
    url = f"http://127.0.0.1:{port}/metrics"
    topic = telemetry_topic(site, "elevator", "elev-03")
    good, not_json, mismatched = 137, 11, 5
    async with running_ingest(config), aiomqtt.Client(mosquitto.host, mosquitto.port) as gw:
        await asyncio.sleep(0.5)
        before = await scrape(url)
        assert before.value("estatewatch_ingest_mqtt_connected") == 1
        for seq in range(1, good + 1):
            await gw.publish(topic, message(seq, "elev-03", site).model_dump_json(), qos=1)
        for _ in range(not_json):
            await gw.publish(topic, b"{not json", qos=1)
        for seq in range(mismatched):
            # Speaks for another car than the topic names.
            await gw.publish(topic, message(seq, "elev-99", site).model_dump_json(), qos=1)
        await until_stored(influxdb, influx_database, site, good, 15)
        await asyncio.sleep(0.5)
        after = await scrape(url)

    def grew(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert grew("estatewatch_ingest_messages_total") == good + not_json + mismatched
    assert grew("estatewatch_ingest_points_written_total") == good
    assert grew("estatewatch_ingest_dead_letters_total", reason="schema") == not_json
    assert grew("estatewatch_ingest_dead_letters_total", reason="mismatch") == mismatched
    assert after.total("estatewatch_ingest_write_errors_total") == 0
    assert after.value("estatewatch_ingest_pending_points") == 0
    assert after.value("estatewatch_ingest_mqtt_reconnects_total") == 0
