"""How fast one ingest worker moves telemetry from MQTT into InfluxDB, next to how fast
InfluxDB itself takes the same points on this machine (the ceiling), in the same run.

**The traffic.** A city's worth of compounds as the gateway publishes them: ``SITES``
gateways, each with ``ELEVATORS`` cars and ``CHARGERS`` 8-port charger cabinets polled
every second. Field values come from the simulators read through the gateway's own read
plans, so messages have the real size and shape (an elevator reading is one point of
~37 fields, a charger reading nine points). Two variants: one reading per message (the
gateway's default ``batch_interval`` of 1 s) and ``BATCHED_READINGS`` per message (a
gateway set to ``batch_interval: 10``); the points are the same.

**The ceiling.** The traffic's own points, decoded to line protocol beforehand, POSTed in
5,000-line batches one after another through :class:`ingest.writers.Influx1Writer` to a
private InfluxDB 1.x, into a fresh database, once plain and once gzip-compressed.

**The worker.** The messages are published at QoS 1 to a private Mosquitto while the
worker's persistent session is offline, so the broker holds a backlog (what a restart
after an outage looks like); then ``estatewatch ingest run`` starts as its own process
and drains it. The rate is points stored per second between the first and the last batch
stored, read from the worker's Prometheus endpoint; the CPU shares of the worker, the
broker and InfluxDB over the drain come from /proc. Afterwards the points are counted
in InfluxDB: the benchmark fails rather than report a rate for data that did not arrive.
"""

from __future__ import annotations

import asyncio
import random
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import httpx

from bench.bench_gateway import cpu_seconds, stop_process
from estatewatch.catalogue import Profile, builtin_catalogue
from estatewatch.wire import Reading, TelemetryMessage, telemetry_topic
from gateway.derive import STOPPED_OUTSIDE_ZONE
from gateway.plan import ReadPlan, plan_device
from infra.local import InfluxInstance, MosquittoInstance, free_ports
from ingest.decode import Decoded, decode
from ingest.writers import Influx1Writer
from simulators.charger import ChargerCabinet
from simulators.elevator import Elevator

NAME = "ingest"
BATCH_POINTS = 5_000  # the worker's default batch
WARM_UP_BATCHES = 3

SITES = 8
ELEVATORS = 30  # per site
CHARGERS = 10  # per site
SECONDS = 300  # of traffic: 8 sites x 40 devices x 300 s = 96,000 messages, 288,000 points
START = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
# The same traffic again with gateways set to batch_interval: 10 s (ten readings a message).
BATCHED_READINGS = 10
DATABASE = "bench_ingest"


def ceiling_batches(messages: list[tuple[str, bytes]]) -> list[bytes]:
    """The traffic's own points as line protocol, in ``BATCH_POINTS``-line batches."""
    lines: list[bytes] = []
    for topic, payload in messages:
        decoded = decode(topic, payload)
        assert isinstance(decoded, Decoded), decoded
        lines.extend(decoded.lines.splitlines())
    return [b"\n".join(lines[i : i + BATCH_POINTS]) for i in range(0, len(lines), BATCH_POINTS)]


async def _ceiling(url: str, database: str, batches: list[bytes], *, gzip: bool) -> float:
    warm_up, timed = batches[:WARM_UP_BATCHES], batches[WARM_UP_BATCHES:]
    async with Influx1Writer(url, database, gzip=gzip, timeout=60.0) as writer:
        for body in warm_up:
            await writer.write(body, body.count(b"\n") + 1)
        points = 0
        start = time.perf_counter()
        for body in timed:
            points += body.count(b"\n") + 1
            await writer.write(body, body.count(b"\n") + 1)
        elapsed = time.perf_counter() - start
    return points / elapsed


# --- the worker's traffic -------------------------------------------------------------------


class _Device:
    """A simulated device read every second through the gateway's fast-group read plan."""

    def __init__(self, site: str, device_id: str, profile: Profile, seed: int) -> None:
        self.site, self.device_id, self.profile = site, device_id, profile
        rng = random.Random(seed)
        self.sim: Elevator | ChargerCabinet
        if profile.device_type == "elevator":
            self.sim = Elevator(device_id, profile, rng, 0.0, age_years=rng.uniform(2, 20))
        else:
            self.sim = ChargerCabinet(device_id, profile, rng, 0.0)
        self.plan: ReadPlan = plan_device(device_id, profile)
        self.topic = telemetry_topic(site, profile.device_type, device_id)

    def fields(self, t: float) -> dict[str, bool | int | float | str]:
        self.sim.step(t)
        fast = self.plan.group("fast")
        replies = [self.sim.read(r.table, r.address, r.count) for r in fast.requests]
        values: dict[str, bool | int | float | str] = dict(fast.decode(replies))
        if self.profile.device_type == "elevator":
            values[STOPPED_OUTSIDE_ZONE] = 0.0
        return values


def build_traffic(readings_per_message: int) -> tuple[list[tuple[str, bytes]], dict[str, int]]:
    """Messages in publishing order, and how many points each measurement should get."""
    catalogue = builtin_catalogue()
    elevator, charger = catalogue.profiles["elevator-nice3000"], catalogue.profiles["charger-8port"]
    sites = []
    for s in range(SITES):
        site = f"site-{s + 1:02d}"
        devices = [
            _Device(site, f"elev-{n + 1:02d}", elevator, s * 1000 + n) for n in range(ELEVATORS)
        ]
        devices += [
            _Device(site, f"charger-{n + 1:02d}", charger, s * 1000 + 500 + n)
            for n in range(CHARGERS)
        ]
        sites.append((site, devices))
    messages: list[tuple[str, bytes]] = []
    expected = {"elevator": 0, "charger": 0, "charger_port": 0}
    seq = [0] * SITES
    for first in range(1, SECONDS + 1, readings_per_message):
        seconds = range(first, min(first + readings_per_message, SECONDS + 1))
        for s, (site, devices) in enumerate(sites):
            for device in devices:
                seq[s] += 1
                readings = [
                    Reading(ts=START + timedelta(seconds=t), fields=device.fields(float(t)))
                    for t in seconds
                ]
                message = TelemetryMessage(
                    gateway_id=f"gw-{site}",
                    seq=seq[s],
                    site=site,
                    device_type=device.profile.device_type,
                    device_id=device.device_id,
                    profile=device.profile.name,
                    tags={"building": f"b{int(device.device_id[-2:]) % 3 + 1}"},
                    readings=readings,
                )
                messages.append((device.topic, message.model_dump_json().encode()))
                for reading in readings:
                    if device.profile.device_type == "elevator":
                        expected["elevator"] += 1
                    else:
                        expected["charger"] += 1
                        expected["charger_port"] += sum(
                            1 for k in reading.fields if k.endswith(".state")
                        )
    return messages, expected


# --- the worker's run -----------------------------------------------------------------------


def _start_worker(
    broker: MosquittoInstance, influx: InfluxInstance, work: Path, metrics_port: int
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "cli",
        "--log-level",
        "WARNING",
        "ingest",
        "run",
        "--mqtt-port",
        str(broker.port),
        "--client-id",
        "bench-ingest",
        "--influx-url",
        influx.url,
        "--influx-database",
        DATABASE,
        "--spill-path",
        str(work / "spill.sqlite"),
        "--dead-letter-path",
        str(work / "dead.jsonl"),
        "--metrics-port",
        str(metrics_port),
        # The traffic is dated from START, a fixed day: past the default 30-day window.
        "--max-age",
        "36500d",
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _points_written(metrics_port: int) -> int | None:
    try:
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2.0).text
    except httpx.HTTPError:
        return None
    match = re.search(r"^estatewatch_ingest_points_written_total (\d+)", text, re.M)
    return int(match[1]) if match else None


def _wait_for(
    metrics_port: int, worker: subprocess.Popen[bytes], points: int, seconds: float
) -> list[tuple[float, int]]:
    """(time, points written) samples until ``points`` are written."""
    samples: list[tuple[float, int]] = []
    deadline = time.monotonic() + seconds
    while not samples or samples[-1][1] < points:
        if worker.poll() is not None:
            err = worker.stderr.read().decode() if worker.stderr else ""
            raise RuntimeError(f"the ingest worker exited: {err[-2000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {samples[-1][1] if samples else 0} of {points} points")
        written = _points_written(metrics_port)
        if written is not None:
            samples.append((time.monotonic(), written))
        time.sleep(0.1)
    return samples


async def _publish(broker: MosquittoInstance, messages: list[tuple[str, bytes]]) -> None:
    async with aiomqtt.Client(broker.host, broker.port, max_queued_outgoing_messages=0) as client:
        for topic, payload in messages:
            await client.publish(topic, payload, qos=1)


# A field every point of the measurement has, to count the points by.
_COUNTED = {"elevator": "floor", "charger": "mains_voltage", "charger_port": "state"}


def _count(influx: InfluxInstance, measurement: str) -> int:
    query = f'SELECT COUNT("{_COUNTED[measurement]}") FROM "{measurement}"'
    reply = httpx.get(f"{influx.url}/query", params={"db": DATABASE, "q": query}, timeout=60.0)
    series = reply.json()["results"][0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


def _worker_rate(
    broker: MosquittoInstance,
    influx: InfluxInstance,
    work: Path,
    messages: list[tuple[str, bytes]],
    expected: dict[str, int],
) -> dict[str, float]:
    total = sum(expected.values())
    influx.create_database(DATABASE)
    (metrics_port,) = free_ports(1)
    # First run: creates the persistent session and its subscriptions, then goes away.
    worker = _start_worker(broker, influx, work, metrics_port)
    try:
        _wait_for(metrics_port, worker, 0, 30.0)
    finally:
        stop_process(worker)
    print(f"  publishing {len(messages):,} messages ({total:,} points) ...", file=sys.stderr)
    asyncio.run(_publish(broker, messages))
    worker = _start_worker(broker, influx, work, metrics_port)
    pids = {"worker": worker.pid, "broker": broker.pid, "influxdb": influx.pid}
    try:
        _wait_for(metrics_port, worker, 0, 30.0)
        cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items() if pid}
        samples = _wait_for(metrics_port, worker, total, 600.0)
        cpu = {name: cpu_seconds(pid) - cpu0[name] for name, pid in pids.items() if pid}
    finally:
        stop_process(worker)
    stored = {m: _count(influx, m) for m in expected}
    if stored != expected or samples[-1][1] != total:
        raise RuntimeError(f"stored {stored} ({samples[-1][1]} reported), expected {expected}")
    influx.drop_database(DATABASE)
    # From the first sample with points stored (the end of the first batch) to the last.
    first = next(i for i, (_, n) in enumerate(samples) if n > 0)
    (t_first, n_first), (t_last, n_last) = samples[first], samples[-1]
    rate = (n_last - n_first) / (t_last - t_first)
    wall = t_last - samples[0][0]
    figures = {
        "points_per_s": round(rate),
        "messages_per_s": round(rate * len(messages) / total),
        "points_per_message": round(total / len(messages), 2),
    }
    for name, seconds in cpu.items():
        figures[f"{name}_cpu_percent"] = round(100.0 * seconds / wall, 1)
    return figures


def run() -> dict[str, float]:
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        work = Path(tmp)
        with InfluxInstance(work / "influx") as influx, MosquittoInstance(work / "mqtt") as broker:
            print("  building the traffic from the simulators ...", file=sys.stderr)
            traffic = {n: build_traffic(n) for n in (1, BATCHED_READINGS)}
            batches = ceiling_batches(traffic[1][0])
            for gzip, key in (
                (False, "influx_ceiling_points_per_s"),
                (True, "influx_ceiling_gzip_points_per_s"),
            ):
                database = f"bench_{'gzip' if gzip else 'plain'}"
                influx.create_database(database)
                rate = asyncio.run(_ceiling(influx.url, database, batches, gzip=gzip))
                influx.drop_database(database)
                figures[f"{NAME}.{key}"] = round(rate)
                print(f"  {key}: {rate:,.0f} points/s", file=sys.stderr)
            del batches
            for prefix, readings in (("", 1), ("batched_", BATCHED_READINGS)):
                messages, expected = traffic.pop(readings)
                for key, value in _worker_rate(broker, influx, work, messages, expected).items():
                    figures[f"{NAME}.{prefix}{key}"] = value
                    print(f"  {prefix}{key}: {value:,}", file=sys.stderr)
    ceiling = figures[f"{NAME}.influx_ceiling_points_per_s"]
    figures[f"{NAME}.ratio_to_ceiling"] = round(figures[f"{NAME}.points_per_s"] / ceiling, 3)
    figures[f"{NAME}.batched_ratio_to_ceiling"] = round(
        figures[f"{NAME}.batched_points_per_s"] / ceiling, 3
    )
    return figures


if __name__ == "__main__":
    print(run())
