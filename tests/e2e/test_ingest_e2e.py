"""Ingest as an operator runs it: ``estatewatch ingest run`` processes between broker and InfluxDB.

Every worker, simulator and gateway is its own process; the test publishes on (or listens
to) the real broker like a gateway (or another central service) would, kills and restarts
workers, and reads InfluxDB over its HTTP API. Each test has sites, worker ids and a
database of its own and ends the persistent sessions its workers created, so a queue left
on the session-wide broker cannot leak into later tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import pytest
import yaml
from process_support import start, until

from estatewatch.durable_queue import DurableQueue, NewItem
from estatewatch.influx.query import InfluxQueryError, InfluxReader
from estatewatch.mqtt import discard_session
from estatewatch.wire import (
    FieldValue,
    Reading,
    TelemetryBundle,
    TelemetryMessage,
    telemetry_topic,
)
from gateway.config import UplinkConfig
from gateway.uplink import Uplink
from infra.local import InfluxInstance, MosquittoInstance, free_ports

pytestmark = pytest.mark.e2e

ESTATEWATCH = [sys.executable, "-m", "cli"]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
# The readings here are dated from T0, a fixed day in the past: a window back to 1926 lets
# them through the central checks' time window, which tests/unit/test_screen.py tests.
HISTORY = "36500d"
READY_MARKER = "ingest {client_id} (sites"  # logged once the worker is subscribed

# (measurement, sorted tag items, time in ns) -> fields
PointKey = tuple[str, tuple[tuple[str, str], ...], int]


# --- processes ---------------------------------------------------------------------------


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    """Signal ``process`` and reap it; one that ignores SIGTERM for 15 s is killed."""
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


@dataclass
class Worker:
    client_id: str
    process: subprocess.Popen[bytes]
    log: Path
    metrics_port: int

    def ready(self) -> bool:
        assert self.process.poll() is None, f"{self.client_id} exited:\n{self.log.read_text()}"
        return READY_MARKER.format(client_id=self.client_id) in self.log.read_text()

    async def metrics(self) -> dict[str, float]:
        async with httpx.AsyncClient() as client:
            reply = await client.get(f"http://127.0.0.1:{self.metrics_port}/metrics")
        reply.raise_for_status()
        samples = {}
        for line in reply.text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.split()
                samples[name] = float(value)
        return samples


@dataclass
class Ingest:
    """``estatewatch ingest run`` workers writing to one database."""

    tmp_path: Path
    mosquitto: MosquittoInstance
    influxdb: InfluxInstance
    database: str
    prefix: str = field(default_factory=lambda: f"g{uuid.uuid4().hex[:10]}")
    workers: list[Worker] = field(default_factory=list)
    max_age: str = HISTORY

    @property
    def dead_letter_path(self) -> Path:
        return self.tmp_path / "dead_letters.jsonl"

    async def start(self, name: str, *, metrics: bool = False, sites: str = "+") -> Worker:
        """Start worker ``name`` (same name, same session) and wait until it is subscribed."""
        client_id = f"{self.prefix}-{name}"
        (port,) = free_ports(1) if metrics else (0,)
        log = self.tmp_path / f"ingest-{name}-{len(self.workers)}.log"
        args = [
            "ingest", "run",
            "--mqtt-host", self.mosquitto.host, "--mqtt-port", str(self.mosquitto.port),
            "--client-id", client_id, "--sites", sites,
            "--influx-url", self.influxdb.url, "--influx-database", self.database,
            "--batch-delay", "0.2",
            "--spill-path", str(self.tmp_path / f"spill-{name}.sqlite"),
            "--dead-letter-path", str(self.dead_letter_path),
            "--metrics-port", str(port),
            "--max-age", self.max_age,
        ]  # fmt: skip
        worker = Worker(client_id, start(args, self.tmp_path, log), log, port)
        self.workers.append(worker)
        await until(worker.ready, 20, f"ingest worker {client_id} to subscribe")
        return worker

    def dead_letters(self, site: str) -> list[dict[str, str]]:
        """Dead letters of ``site``'s topics (not retained leftovers of earlier tests)."""
        if not self.dead_letter_path.exists():
            return []
        letters = [json.loads(line) for line in self.dead_letter_path.read_text().splitlines()]
        return [d for d in letters if d["topic"].split("/")[1:2] == [site]]

    async def close(self) -> None:
        try:
            for worker in self.workers:
                stop(worker.process)
        finally:
            for client_id in dict.fromkeys(w.client_id for w in self.workers):
                await discard_session(self.mosquitto.host, self.mosquitto.port, client_id)


@pytest.fixture
async def ingest(
    tmp_path: Path, mosquitto: MosquittoInstance, influxdb: InfluxInstance, influx_database: str
) -> AsyncIterator[Ingest]:
    workers = Ingest(tmp_path, mosquitto, influxdb, influx_database)
    try:
        yield workers
    finally:
        await workers.close()


@pytest.fixture
def site() -> str:
    return f"s{uuid.uuid4().hex[:10]}"


# --- InfluxDB, read over plain HTTP so the read side under test is not also the judge -----


async def influxql(influxdb: InfluxInstance, database: str, statement: str) -> list[Any]:
    """The series of ``statement``'s result; fails the test on an InfluxDB error."""
    async with httpx.AsyncClient() as client:
        reply = await client.post(
            f"{influxdb.url}/query", data={"db": database, "q": statement, "epoch": "ns"}
        )
    body = reply.json()
    assert reply.status_code == 200, body
    (result,) = body["results"]
    assert "error" not in result, result["error"]
    series: list[Any] = result.get("series", [])
    return series


async def stored_values(
    influxdb: InfluxInstance, database: str, site: str, field_name: str = "run_count"
) -> list[Any]:
    statement = f'SELECT "{field_name}" FROM "elevator" WHERE "site" = \'{site}\''
    series = await influxql(influxdb, database, statement)
    return [row[1] for s in series for row in s["values"]]


async def databases(influxdb: InfluxInstance) -> set[str]:
    series = await influxql(influxdb, "", "SHOW DATABASES")
    return {row[0] for row in series[0]["values"]}


async def stored_points(
    influxdb: InfluxInstance, database: str, site: str, measurements: Iterable[str]
) -> tuple[dict[PointKey, dict[str, Any]], dict[str, dict[str, str]]]:
    """Every point of ``site`` with its tags and non-null fields, and each field's type."""
    points: dict[PointKey, dict[str, Any]] = {}
    types: dict[str, dict[str, str]] = {}
    for measurement in measurements:
        statement = f'SELECT * FROM "{measurement}" WHERE "site" = \'{site}\' GROUP BY *'
        for series in await influxql(influxdb, database, statement):
            tags = tuple(sorted((k, v) for k, v in series["tags"].items() if v))
            columns = series["columns"]
            for row in series["values"]:
                values = dict(zip(columns, row, strict=True))
                ns = values.pop("time")
                fields = {k: v for k, v in values.items() if v is not None}
                points[(measurement, tags, ns)] = fields
        keys = await influxql(influxdb, database, f'SHOW FIELD KEYS FROM "{measurement}"')
        types[measurement] = {key: kind for s in keys for key, kind in s["values"]}
    return points, types


# --- what a gateway would send ------------------------------------------------------------


def telemetry(
    site: str, seq: int, *, device_id: str = "elev-01", tags: dict[str, str] | None = None
) -> tuple[str, bytes]:
    """One reading of ``elev-01`` at ``T0 + seq ms`` with ``run_count = seq`` (a profile
    field: the central checks take out any other)."""
    message = TelemetryMessage(
        gateway_id="gw-e2e",
        seq=seq,
        site=site,
        device_type="elevator",
        device_id=device_id,
        profile="elevator-nice3000",
        tags={"building": "B1"} if tags is None else tags,
        readings=[
            Reading(
                ts=T0 + timedelta(milliseconds=seq),
                fields={"run_count": seq, "speed": seq % 500 / 8},
            )
        ],
    )
    return telemetry_topic(site, "elevator", device_id), message.model_dump_json().encode()


async def publish(broker: MosquittoInstance, messages: Iterable[tuple[str, bytes]]) -> None:
    async with aiomqtt.Client(
        broker.host, broker.port, identifier=f"gw-{uuid.uuid4().hex[:8]}"
    ) as client:
        for topic, payload in messages:
            await client.publish(topic, payload, qos=1)


# --- 1. simulator -> gateway -> broker -> ingest -> InfluxDB ------------------------------


@pytest.fixture
def compound(tmp_path: Path, mosquitto: MosquittoInstance, site: str) -> Iterator[Path]:
    """A simulated compound (two lifts, one charger) and a site file for its gateway."""
    inventory = tmp_path / "inventory.json"
    simulator = start(
        [
            "simulate", "--elevators", "2", "--chargers", "1", "--smoke", "0",
            "--mqtt", f"127.0.0.1:{mosquitto.port}", "--base-port", "0", "--control-port", "0",
            "--inventory", str(inventory),
        ],
        tmp_path,
        tmp_path / "simulator.log",
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not inventory.exists():
            assert simulator.poll() is None, (tmp_path / "simulator.log").read_text()
            assert time.monotonic() < deadline, "the simulator did not start"
            time.sleep(0.1)
        site_file = tmp_path / "site.yaml"
        drafted = subprocess.run(
            [
                *ESTATEWATCH, "gateway", "config-from-inventory", str(inventory),
                "--site", site, "--gateway-id", "gw-e2e",
                "--uplink", f"127.0.0.1:{mosquitto.port}",
                "--buffer", str(tmp_path / "buffer.sqlite"), "-o", str(site_file),
            ],
            capture_output=True,
            text=True,
        )  # fmt: skip
        assert drafted.returncode == 0, drafted.stderr
        yield site_file
    finally:
        stop(simulator)


@contextlib.asynccontextmanager
async def recording(
    broker: MosquittoInstance, site: str
) -> AsyncIterator[dict[int, list[TelemetryMessage]]]:
    """Every telemetry message of ``site`` by seq, heard on a subscription of our own; a
    bundle (wire version 2, the gateway's default) as its devices' messages."""
    heard: dict[int, list[TelemetryMessage]] = {}
    subscribed = asyncio.Event()

    async def listen() -> None:
        async with aiomqtt.Client(broker.host, broker.port) as client:
            await client.subscribe(f"estatewatch/{site}/+/+/telemetry", qos=1)
            subscribed.set()
            async for message in client.messages:
                payload = bytes(message.payload)
                if message.topic.value.split("/")[2] == "gateway":
                    bundle = TelemetryBundle.model_validate_json(payload)
                    heard[bundle.seq] = bundle.messages()
                else:
                    telemetry = TelemetryMessage.model_validate_json(payload)
                    heard[telemetry.seq] = [telemetry]

    task = asyncio.create_task(listen())
    try:
        async with asyncio.timeout(10):
            await subscribed.wait()
        yield heard
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def expected_points(
    messages: Iterable[TelemetryMessage], device_tags: dict[str, dict[str, str]]
) -> dict[PointKey, dict[str, FieldValue]]:
    """The README's schema, applied by hand: ``portN.x`` to ``charger_port`` with port N."""
    points: dict[PointKey, dict[str, FieldValue]] = {}
    for message in messages:
        tags = {"site": message.site, "device_id": message.device_id}
        tags |= device_tags[message.device_id]
        for reading in message.readings:
            ns = (reading.ts - EPOCH) // timedelta(microseconds=1) * 1000
            for key, value in reading.fields.items():
                port = re.fullmatch(r"port(\d+)\.(.+)", key)
                if port is None:
                    measurement, point_tags, name = message.device_type, tags, key
                else:
                    measurement = f"{message.device_type}_port"
                    point_tags, name = {**tags, "port": port[1]}, port[2]
                point = (measurement, tuple(sorted(point_tags.items())), ns)
                points.setdefault(point, {})[name] = value
    return points


def influx_type(value: FieldValue) -> str:
    if isinstance(value, bool):
        return "boolean"
    return {int: "integer", float: "float", str: "string"}[type(value)]


async def test_simulated_readings_reach_influxdb_unchanged(
    compound: Path,
    ingest: Ingest,
    mosquitto: MosquittoInstance,
    influxdb: InfluxInstance,
    influx_database: str,
    site: str,
    tmp_path: Path,
) -> None:
    worker = await ingest.start("1")
    gateway_log = tmp_path / "gateway.log"
    async with recording(mosquitto, site) as heard:
        gateway = start(["gateway", "run", "--config", str(compound)], tmp_path, gateway_log)
        try:
            await until(
                lambda: sum(map(len, heard.values())) >= 12, 30, "a dozen devices' telemetry"
            )
        finally:
            assert stop(gateway) == 0, gateway_log.read_text()
        # In flight when the gateway exited: the broker forwards it to us at once.
        await asyncio.sleep(1.0)
    messages = [message for messages in heard.values() for message in messages]
    assert {m.device_id for m in messages} == {"elev-01", "elev-02", "charger-01"}

    site_file = yaml.safe_load(compound.read_bytes())  # noqa: ASYNC240 (a small file)
    device_tags = {
        device["name"]: device.get("tags", {})
        for endpoint in site_file["modbus"]["endpoints"]
        for device in endpoint["devices"]
    }
    assert all(device_tags.values()), "the drafted site file tags each device's building"
    expected = expected_points(messages, device_tags)
    readings = sum(len(m.readings) for m in messages)
    port_points = sum(1 for measurement, _, _ in expected if measurement == "charger_port")
    assert port_points >= 8, "the charger's ports were read"
    assert len(expected) == readings + port_points, "no two readings share a series and time"
    published = [v for fields in expected.values() for v in fields.values()]
    assert {influx_type(v) for v in published} >= {"integer", "float", "boolean"}

    measurements = ("elevator", "charger", "charger_port")

    async def all_stored() -> bool:
        points, _ = await stored_points(influxdb, influx_database, site, measurements)
        return len(points) >= len(expected)

    await until(all_stored, 15, f"{len(expected)} points in InfluxDB")
    stored, types = await stored_points(influxdb, influx_database, site, measurements)

    problems = [f"missing {key}" for key in expected.keys() - stored.keys()]
    problems += [f"unexpected {key}" for key in stored.keys() - expected.keys()]
    for key in expected.keys() & stored.keys():
        sent, kept, kinds = expected[key], stored[key], types[key[0]]
        problems += [
            f"{key} {name}: sent {value!r}, stored {kept.get(name)!r} as {kinds.get(name)}"
            for name, value in sent.items()
            if kept.get(name) != value or kinds.get(name) != influx_type(value)
        ]
        problems += [f"{key}: extra field {name}" for name in kept.keys() - sent.keys()]
    assert not problems, f"{len(problems)} differences, e.g.:\n" + "\n".join(problems[:10])
    assert ingest.dead_letters(site) == []
    assert worker.process.poll() is None
    assert "Traceback" not in worker.log.read_text() + gateway_log.read_text()


# --- 2. two workers split the stream by site ----------------------------------------------


async def test_two_workers_owning_different_sites_store_every_point_once(
    ingest: Ingest,
    mosquitto: MosquittoInstance,
    influxdb: InfluxInstance,
    influx_database: str,
    site: str,
) -> None:
    count = 400
    other = f"{site}b"
    first = await ingest.start("1", metrics=True, sites=site)
    second = await ingest.start("2", metrics=True, sites=other)
    baseline = [await first.metrics(), await second.metrics()]
    await publish(mosquitto, (telemetry((site, other)[seq % 2], seq) for seq in range(count)))

    async def stored() -> bool:
        got = await stored_values(influxdb, influx_database, site)
        return len(got) + len(await stored_values(influxdb, influx_database, other)) >= count

    await until(stored, 20, f"{count} points")
    await asyncio.sleep(0.5)  # a duplicate delivery or a late batch would land about now
    assert sorted(await stored_values(influxdb, influx_database, site)) == list(range(0, count, 2))
    assert sorted(await stored_values(influxdb, influx_database, other)) == list(range(1, count, 2))
    after = [await first.metrics(), await second.metrics()]

    def shares(name: str) -> list[float]:
        return [a[name] - b[name] for a, b in zip(after, baseline, strict=True)]

    received = shares("estatewatch_ingest_messages_total")
    assert received == [count / 2, count / 2], f"each worker got its own site only: {received}"
    # Each worker wrote the points of what it received, one per message.
    assert shares("estatewatch_ingest_points_written_total") == received
    assert ingest.dead_letters(site) == []
    for worker in (first, second):
        assert stop(worker.process) == 0, worker.log.read_text()
        assert "Traceback" not in worker.log.read_text()


# --- 3. a worker killed mid-stream --------------------------------------------------------


async def test_a_killed_worker_restarted_stores_everything_once(
    ingest: Ingest,
    mosquitto: MosquittoInstance,
    influxdb: InfluxInstance,
    influx_database: str,
    site: str,
) -> None:
    count = 600
    worker = await ingest.start("1")
    stored_at_kill: list[int] = []

    async def publish_slowly() -> None:
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as gateway:
            for seq in range(count):
                await gateway.publish(*telemetry(site, seq), qos=1)
                await asyncio.sleep(0.004)

    publisher = asyncio.create_task(publish_slowly())
    try:

        async def some_stored() -> bool:
            return len(await stored_values(influxdb, influx_database, site)) >= 100

        await until(some_stored, 15, "the first points")
        stop(worker.process, signal.SIGKILL)
        stored_at_kill.extend(await stored_values(influxdb, influx_database, site))
        await publisher
    finally:
        publisher.cancel()
    assert len(stored_at_kill) < count, "killed mid-stream, not after the last message"

    restarted = await ingest.start("1", metrics=True)

    async def all_stored() -> bool:
        return len(await stored_values(influxdb, influx_database, site)) >= count

    await until(all_stored, 20, f"{count} points after the restart")
    await asyncio.sleep(0.5)
    values = await stored_values(influxdb, influx_database, site)
    assert sorted(values) == list(range(count)), "every message stored, once"
    assert set(stored_at_kill) <= set(values), "nothing stored before the kill went missing"
    # What was not stored at the kill, including what the killed worker had received but
    # not yet written (so not acknowledged), was delivered to its restarted session.
    received = (await restarted.metrics())["estatewatch_ingest_messages_total"]
    assert received >= count - len(stored_at_kill)
    assert stop(restarted.process) == 0, restarted.log.read_text()
    assert "Traceback" not in restarted.log.read_text()


# --- 3b. the broker restarted while a gateway replays its backlog -------------------------


async def test_a_broker_restart_while_a_gateway_replays_its_backlog_loses_no_reading(
    ingest: Ingest,
    mosquitto: MosquittoInstance,
    influxdb: InfluxInstance,
    influx_database: str,
    site: str,
    tmp_path: Path,
) -> None:
    # The fault run of issue 12: a gateway replays its buffer, the broker restarts
    # (SIGTERM) in the middle, the gateway is back at once and ingest only much later
    # (there 29 s: independent backoffs race; here ingest is frozen until the gateway is
    # done). Whatever the gateway replays meanwhile, and deletes on PUBACK, must wait in
    # ingest's persistent session on the broker: a plain subscription, which Mosquitto
    # restores after a restart, not a shared one, which it does not.
    count = 3000
    worker = await ingest.start("1", sites=site)
    config = UplinkConfig(host=mosquitto.host, port=mosquitto.port, max_inflight=20)
    with DurableQueue(tmp_path / "buffer.sqlite", max_bytes=1 << 26, fsync=False) as queue:
        # The backlog: readings the gateway buffered during an earlier outage.
        backlog = (telemetry(site, seq) for seq in range(count))
        queue.append([NewItem.of(payload, key=topic) for topic, payload in backlog])
        async with Uplink(config, queue, site=site, gateway_id="gw-e2e", backoff=(0.05, 0.2)):
            async with asyncio.timeout(30):
                while queue.depth > count * 3 // 4:  # noqa: ASYNC110  # the uplink's task
                    await asyncio.sleep(0.01)
            worker.process.send_signal(signal.SIGSTOP)
            try:
                await asyncio.to_thread(mosquitto.stop)  # SIGTERM: it saves its sessions
                await asyncio.to_thread(mosquitto.start)
                async with asyncio.timeout(30):
                    while queue.depth:  # noqa: ASYNC110
                        await asyncio.sleep(0.05)
                replayed_without_ingest = count - len(
                    await stored_values(influxdb, influx_database, site)
                )
            finally:
                worker.process.send_signal(signal.SIGCONT)
        assert queue.dropped == 0
    assert replayed_without_ingest >= count // 2, "most of the backlog went out meanwhile"

    async def all_stored() -> bool:
        return len(await stored_values(influxdb, influx_database, site)) >= count

    await until(all_stored, 60, f"{count} points after the broker restart")
    await asyncio.sleep(0.5)
    assert sorted(await stored_values(influxdb, influx_database, site)) == list(range(count))
    assert stop(worker.process) == 0, worker.log.read_text()
    log = worker.log.read_text()
    assert "Traceback" not in log
    assert log.count("lost the connection to MQTT broker") == 1, log


# --- 4. injection through names -----------------------------------------------------------


async def test_hostile_device_ids_are_dead_lettered_and_harm_nothing(
    ingest: Ingest,
    mosquitto: MosquittoInstance,
    influxdb: InfluxInstance,
    influx_database: str,
    site: str,
) -> None:
    other = f"{site}o"
    worker = await ingest.start("1")
    await publish(mosquitto, [telemetry(site, 1), telemetry(other, 2)])

    async def honest_stored() -> bool:
        return len(await series_keys(influxdb, influx_database)) >= 2

    await until(honest_stored, 10, "the honest points")
    honest_keys = {
        f"elevator,building=B1,device_id=elev-01,site={site}",
        f"elevator,building=B1,device_id=elev-01,site={other}",
    }
    series_before = await series_keys(influxdb, influx_database)
    # Besides ours, only the retained statuses of earlier tests' gateways (see test 2).
    assert {k for k in series_before if not k.startswith("gateway,")} == honest_keys
    before = await influxql(influxdb, influx_database, "SELECT * FROM /.*/ GROUP BY *")

    hostile = [
        "x' OR '1'='1",
        f"elev-01,site={other}",
        f'a" ; DROP DATABASE "{influx_database}"',
        f"elev-01\nelevator,site={other} n=666i",
    ]
    attempts: list[tuple[str, bytes]] = []
    for seq, device_id in enumerate(hostile, start=10):
        topic, payload = telemetry(site, seq)
        body = json.loads(payload)
        body["device_id"] = device_id
        # In the payload alone (the topic is honest), and in both the topic and payload.
        attempts.append((topic, json.dumps(body).encode()))
        if "\n" not in device_id:  # a control character is malformed UTF-8 to Mosquitto
            attempts.append(
                (telemetry_topic(site, "elevator", device_id), json.dumps(body).encode())
            )
    # An honest header but a topic naming another device: the payload must not be believed.
    attempts.append((telemetry_topic(site, "elevator", hostile[1]), telemetry(site, 20)[1]))
    await publish(mosquitto, attempts)
    await until(lambda: len(ingest.dead_letters(site)) >= len(attempts), 10, "the dead letters")

    letters = ingest.dead_letters(site)
    assert [(d["topic"], d["payload"]) for d in letters] == [(t, p.decode()) for t, p in attempts]
    for letter in letters[:-1]:
        assert letter["reason"].startswith("schema error: device_id: String should match")
    assert letters[-1]["reason"].startswith("topic/payload mismatch: device_id")

    # InfluxDB is untouched: the database is there, with the same series and values.
    assert influx_database in await databases(influxdb)
    assert await series_keys(influxdb, influx_database) == series_before
    assert await influxql(influxdb, influx_database, "SELECT * FROM /.*/ GROUP BY *") == before

    # The read side the API uses: a hostile id matches nothing; a hostile name is refused.
    start_at, end_at = T0 - timedelta(days=1), T0 + timedelta(days=1)
    async with InfluxReader(influxdb.url, influx_database) as reader:
        for device_id in [*hostile, "elev-01\r"]:
            latest = await reader.latest("elevator", device_ids=[device_id])
            assert latest.empty, device_id
            series = await reader.series("elevator", device_id, ["run_count"], start_at, end_at)
            assert series.empty, device_id
        for name in (f'n" FROM elevator; DROP DATABASE "{influx_database}" --', "n\nx"):
            with pytest.raises(ValueError, match="not a valid name"):
                await reader.series("elevator", "elev-01", [name], start_at, end_at)
            with pytest.raises(ValueError, match="not a valid name"):
                await reader.latest(name)
        honest = await reader.latest("elevator", site=other)
        assert honest["device_id"].tolist() == ["elev-01"]
        assert honest["run_count"].tolist() == [2]
    async with InfluxReader(influxdb.url, f"{influx_database}_none") as reader:
        with pytest.raises(InfluxQueryError, match="database"):
            await reader.latest("elevator")
    assert influx_database in await databases(influxdb)
    assert worker.process.poll() is None


async def series_keys(influxdb: InfluxInstance, database: str) -> set[str]:
    return {
        row[0] for s in await influxql(influxdb, database, "SHOW SERIES") for row in s["values"]
    }


# --- 5. malformed messages among good ones ------------------------------------------------


async def test_malformed_messages_are_dead_lettered_and_the_worker_carries_on(
    ingest: Ingest,
    mosquitto: MosquittoInstance,
    influxdb: InfluxInstance,
    influx_database: str,
    site: str,
) -> None:
    worker = await ingest.start("1")
    topic = telemetry_topic(site, "elevator", "elev-01")
    no_readings = json.loads(telemetry(site, 3)[1]) | {"readings": []}
    bad = [
        (topic, b'{"gateway_id": "gw-e2e", "seq": 2'),
        (topic, json.dumps(no_readings).encode()),
        (telemetry_topic(site, "elevator", "elev-02"), telemetry(site, 4)[1]),
    ]
    started = datetime.now(UTC)
    await publish(
        mosquitto,
        [telemetry(site, 1), bad[0], bad[1], telemetry(site, 5), bad[2], telemetry(site, 6)],
    )

    async def good_stored() -> bool:
        return len(await stored_values(influxdb, influx_database, site)) >= 3

    await until(good_stored, 10, "the good points")
    await until(lambda: len(ingest.dead_letters(site)) >= len(bad), 10, "the dead letters")
    assert sorted(await stored_values(influxdb, influx_database, site)) == [1, 5, 6]
    letters = ingest.dead_letters(site)
    assert [d["topic"] for d in letters] == [t for t, _ in bad]
    assert letters[0]["reason"].startswith("invalid JSON")
    assert letters[1]["reason"].startswith("schema error: readings:")
    assert letters[2]["reason"] == (
        "topic/payload mismatch: device_id is 'elev-02' in the topic, 'elev-01' in the payload"
    )
    for letter in letters:
        assert started - timedelta(seconds=1) <= datetime.fromisoformat(letter["time"])
        assert datetime.fromisoformat(letter["time"]) <= datetime.now(UTC)

    # Still running and still storing.
    assert worker.process.poll() is None
    await publish(mosquitto, [telemetry(site, 7)])

    async def later_stored() -> bool:
        return 7 in await stored_values(influxdb, influx_database, site)

    await until(later_stored, 10, "a point published after the bad ones")
    assert stop(worker.process) == 0, worker.log.read_text()
    assert "Traceback" not in worker.log.read_text()
