"""The city-scale model: 25 compounds' gateways, one broker, two ingest workers and the
maintenance worker on this box, each its own process as deployed, measured end to end.

**What runs.** ``ELEVATORS`` cars (``BENCH_CITY_ELEVATORS`` or the first argument) in
``GATEWAYS`` compounds (sites ``city-01`` ...), each compound registered in the
maintenance database first (the worker believes only registered senders); its gateway
replayed (:mod:`bench.city_replay`: recorded cars of the simulator's model, polled once
by the gateway's own poller, sent as wire version 2 bundles through the MQTT link, five
compounds a process); a private Mosquitto; two ``estatewatch ingest run`` workers, each
owning half the sites (*not* an MQTT shared subscription: workers own whole sites), into
a private InfluxDB; one ``estatewatch maintenance run`` for every site on a private
PostgreSQL. With ``--modbus`` (small counts only) the compounds' controllers are played
by ``SIMULATORS`` ``estatewatch simulate`` processes and each compound is polled by its
own ``estatewatch gateway run``.

**Warm-up**, up to ``WARM_UP_LIMIT_S``: until every car's points are in InfluxDB and the
maintenance worker judges the stream with no backlog, having laid out every new car's
plan and first visit (it does that beside the telemetry, 50 cars a transaction);
``city.warm_up_s`` and the worker's largest backlog meanwhile are figures.

**What is measured**, over ``MEASURE_S``:

- *reading taken -> point in InfluxDB*: every ``LAG_POLL_S`` the bench asks InfluxDB for
  the newest point of every tenth car (``LAG_SAMPLE``: the bench's queries are InfluxDB's
  work too); when a car's newest point is newer than last time, the lag is the reply's
  arrival minus the reading's timestamp (the gateway's clock, on this host). So a figure
  is an upper bound, high by up to one poll and one query;
- *fault reading -> work order*: ``FAULTS`` cars, one per compound, get a safety-circuit
  fault (E41, a level-5 fault: an order at once), spread over the window; from the fault
  reading's timestamp (a replayed gateway says it; a simulator's control port only when
  it was told, up to a poll earlier) until the order is visible in the database (one
  reader, every ``FAULT_POLL_S``);
- each process's CPU over the window from /proc (a process and everything under it:
  PostgreSQL's backends; gateways and simulators summed by kind), the readings stored
  and the messages each worker took per second, and so the readings each kind of
  process handles per core.

Other work on the box starves the chain (each process gets its share of the cores), so
the run records how busy the whole machine was and its load average. The run fails,
rather than report figures, when a car's points never arrive, the maintenance worker
never catches up, or a fault never becomes an order. ``docs/scaling.md`` turns the
per-core figures into sizes.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

import httpx
import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.bench_fault_to_order import FAULT_KIND, p50_p99, register_fleet
from bench.bench_gateway import (
    CARS_PER_PORT,
    simulator_command,
    stop_process,
    wait_for_inventory,
)
from bench.bench_ingest import counter
from gateway.config import SiteConfig
from gateway.inventory import site_config_from_inventory
from infra.local import InfluxInstance, MosquittoInstance, PostgresInstance, free_ports
from maintenance.db.engine import make_sessionmaker, open_engine
from maintenance.db.mapping import WORK_ORDER
from maintenance.domain.signals import DeviceRef
from simulators.control import send_control

NAME = "city"
# The issue's full model. After issue 17 part 3's cuts the 2-core benchmark box carries
# it (2026-12-07 19:45 UTC: 76 % busy, lag p99 3.75 s; README, docs/scaling.md); a box
# that others' work loads falls behind, and BENCH_CITY_ELEVATORS=2000 runs a smaller city.
ELEVATORS: Final = 5000
GATEWAYS: Final = 25
GATEWAY_PROCESSES: Final = 5  # replayed gateways: five compounds a process
SIMULATORS: Final = 5  # Modbus mode: each plays five compounds' controllers
INGEST_WORKERS: Final = 2
MEASURE_S: Final = 60.0
# 25 gateways and three workers starting on a shared box, and the maintenance worker
# laying out every new car's plan and first visit.
WARM_UP_LIMIT_S: Final = 420.0
WARM_UP_POLL_S: Final = 5.0  # each look asks InfluxDB for every car's newest point
LAG_POLL_S: Final = 0.5
LAG_SAMPLE: Final = "0$"  # the cars whose lag is looked at: every tenth (device ids)
FAULTS: Final = GATEWAYS
FAULT_POLL_S: Final = 0.2
FAULT_LIMIT_S: Final = 60.0
DATABASE: Final = "estatewatch"  # ingest's default database, which InfluxInstance creates

T = TypeVar("T")


def split(items: Sequence[T], parts: int) -> list[list[T]]:
    """``items`` in ``parts`` contiguous runs whose lengths differ by at most one."""
    size, extra = divmod(len(items), parts)
    runs, start = [], 0
    for part in range(parts):
        end = start + size + (1 if part < extra else 0)
        runs.append(list(items[start:end]))
        start = end
    return runs


@dataclass
class LagMeter:
    """Lags from successive looks at each car's newest point in InfluxDB."""

    newest: dict[str, float] = field(default_factory=dict)
    lags: list[float] = field(default_factory=list)

    def observe(self, newest: Mapping[str, float], seen_at: float) -> None:
        """``newest``: each car's newest reading's time (Unix seconds) as InfluxDB answered
        at ``seen_at``. A car's first look only sets where it stands: when its point
        arrived before that is unknown."""
        for car, taken in newest.items():
            before = self.newest.get(car)
            if before is not None and taken > before:
                self.lags.append(seen_at - taken)
            if before is None or taken > before:
                self.newest[car] = taken


@dataclass
class City:
    """The processes of a running city, by name, and where to reach its parts."""

    processes: dict[str, int]  # name -> pid, the servers' included
    sites: dict[str, list[str]]  # site -> its cars
    control: dict[str, dict[str, Any]]  # site -> its simulator's control port
    influx_url: str
    database_url: str
    metrics: dict[str, int]  # worker -> its Prometheus port


# --- starting it ----------------------------------------------------------------------------


def _start(stack: ExitStack, logs: Path, name: str, command: list[str]) -> subprocess.Popen[bytes]:
    """``command`` as process ``name``, its log in ``logs``, stopped when ``stack``
    closes."""
    log = (logs / f"{name}.log").open("wb")
    stack.callback(log.close)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
    stack.callback(stop_process, process)
    return process


def _cli(stack: ExitStack, logs: Path, name: str, arguments: list[str]) -> subprocess.Popen[bytes]:
    """``estatewatch ARGUMENTS`` as process ``name`` (:func:`_start`)."""
    command = [sys.executable, "-m", "cli", "--log-level", "WARNING", *arguments]
    return _start(stack, logs, name, command)


def compound_inventory(cars: int, port: int) -> dict[str, Any]:
    """A compound of ``cars`` elevators as a simulator's inventory describes it, on TCP
    ports from ``port`` (never dialled: its cars are replayed)."""
    devices = [
        {
            "device_id": f"elev-{n + 1:03d}",
            "profile": "elevator-nice3000",
            "building": f"B{n % 3 + 1}",
            "unit": n % CARS_PER_PORT + 1,
            "transport": "tcp",
            "host": "127.0.0.1",
            "port": port + n // CARS_PER_PORT,
        }
        for n in range(cars)
    ]
    return {"devices": devices}


def replayed_site(cars: int, number: int = 1, port: int = 1000) -> SiteConfig:
    """Compound ``number``'s gateway configuration for ``cars`` replayed elevators, as the
    in-process benchmarks and tests record them (no broker or buffer is ever opened)."""
    raw = site_config_from_inventory(
        compound_inventory(cars, port),
        site=f"city-{number:02d}",
        gateway_id=f"gw-{number:02d}",
        uplink=("127.0.0.1", 1883),
        buffer_path="unused.sqlite",
    )
    return SiteConfig.model_validate(raw)


def _site_file(work: Path, number: int, inventory: dict[str, Any], broker: Any) -> tuple[str, Path]:
    site, gateway = f"city-{number:02d}", f"gw-{number:02d}"
    config = site_config_from_inventory(
        inventory,
        site=site,
        gateway_id=gateway,
        uplink=(broker.host, broker.port),
        buffer_path=str(work / gateway / "buffer.sqlite"),
    )
    config_file = work / f"{gateway}.yaml"
    config_file.write_text(yaml.safe_dump(config))
    return site, config_file


def _replayed_gateways(
    stack: ExitStack, work: Path, elevators: int, broker: Any, database_url: str
) -> tuple[dict[str, int], dict[str, list[str]], dict[str, dict[str, Any]]]:
    """The compounds' gateways, ``GATEWAYS // GATEWAY_PROCESSES`` to a process, fed by
    recorded cars (:mod:`bench.city_replay`): processes, sites' cars, control ports."""
    logs = work / "logs"
    pids: dict[str, int] = {}
    sites: dict[str, list[str]] = {}
    control: dict[str, dict[str, Any]] = {}
    numbers = range(1, GATEWAYS + 1)
    cars = split(range(elevators), GATEWAYS)
    ports = free_ports(GATEWAY_PROCESSES)
    waiting = []
    for number, (group, port) in enumerate(
        zip(split(numbers, GATEWAY_PROCESSES), ports, strict=True), 1
    ):
        files = []
        for compound in group:
            inventory = compound_inventory(len(cars[compound - 1]), 1000 + 10 * compound)
            site, config_file = _site_file(work, compound, inventory, broker)
            # The worker believes only registered senders: each compound in the register.
            asyncio.run(register_fleet(database_url, site, f"gw-{compound:02d}", inventory))
            sites[site] = [d["device_id"] for d in inventory["devices"]]
            control[site] = {"host": "127.0.0.1", "port": port, "site": site}
            files.append(str(config_file))
        name = f"gateways-{number}"
        ready = work / f"{name}.ready"
        spec = work / f"{name}.json"
        spec.write_text(
            json.dumps({"site_files": files, "control_port": port, "ready_file": str(ready)})
        )
        process = _start(stack, logs, name, [sys.executable, "-m", "bench.city_replay", str(spec)])
        pids[name] = process.pid
        waiting.append((name, process, ready))
    for name, process, ready in waiting:
        deadline = time.monotonic() + WARM_UP_LIMIT_S
        while not ready.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start: {_tail(logs, name)}")
            time.sleep(0.2)
    return pids, sites, control


def _modbus_gateways(
    stack: ExitStack, work: Path, elevators: int, broker: Any, database_url: str
) -> tuple[dict[str, int], dict[str, list[str]], dict[str, dict[str, Any]]]:
    """The compounds' controllers played by ``SIMULATORS`` simulator processes, each
    compound polled over Modbus by its own ``estatewatch gateway run``."""
    logs = work / "logs"
    pids: dict[str, int] = {}
    simulators = []
    for number, cars in enumerate(split(range(elevators), SIMULATORS), start=1):
        name = f"sim-{number}"
        (work / name).mkdir()
        command, inventory_path = simulator_command(len(cars), work / name)
        process = _start(stack, logs, name, command)
        pids[name] = process.pid
        simulators.append((name, process, inventory_path, len(cars)))
    sites: dict[str, list[str]] = {}
    control: dict[str, dict[str, Any]] = {}
    compounds = []
    for name, process, inventory_path, count in simulators:
        try:
            wait_for_inventory(process, inventory_path, count, WARM_UP_LIMIT_S)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}{_tail(logs, name)}") from None
        inventory = json.loads(inventory_path.read_text())
        for devices in split(inventory["devices"], GATEWAYS // SIMULATORS):
            compounds.append(({**inventory, "devices": devices}, inventory["control"]))
    for number, (inventory, simulator_control) in enumerate(compounds, start=1):
        site, config_file = _site_file(work, number, inventory, broker)
        sites[site] = [d["device_id"] for d in inventory["devices"]]
        control[site] = simulator_control
        asyncio.run(register_fleet(database_url, site, f"gw-{number:02d}", inventory))
        gateway = f"gw-{number:02d}"
        process = _cli(stack, logs, gateway, ["gateway", "run", "--config", str(config_file)])
        pids[gateway] = process.pid
    return pids, sites, control


@contextmanager
def running_city(elevators: int, work: Path, *, modbus: bool = False) -> Iterator[City]:
    """Every process of the model running (not yet warmed up); all stopped on the way out,
    newest first, then the servers. ``modbus``: simulators and polling gateways instead
    of replayed ones (small counts only)."""
    logs = work / "logs"
    logs.mkdir()
    with (
        InfluxInstance(work / "influx") as influx,
        MosquittoInstance(work / "mqtt") as broker,
        PostgresInstance(work / "postgres") as postgres,
        ExitStack() as stack,
    ):
        database_url = postgres.url()
        pids: dict[str, int] = {}
        for server, pid in (
            ("broker", broker.pid),
            ("influxdb", influx.pid),
            ("postgres", postgres.pid),
        ):
            if pid is None:  # started, so never; but its CPU is a figure
                raise RuntimeError(f"no process id for the {server}")
            pids[server] = pid
        start = _modbus_gateways if modbus else _replayed_gateways
        gateways, sites, control = start(stack, work, elevators, broker, database_url)
        pids |= gateways
        ports = free_ports(INGEST_WORKERS + 1)
        metrics: dict[str, int] = {}
        for number, owned in enumerate(split(sorted(sites), INGEST_WORKERS), start=1):
            name = f"ingest-{number}"
            metrics[name] = ports[number - 1]
            process = _cli(
                stack,
                logs,
                name,
                [
                    "ingest", "run", "--mqtt-port", str(broker.port), "--client-id", name,
                    "--sites", ",".join(owned), "--influx-url", influx.url,
                    "--spill-path", str(work / name / "spill.sqlite"),
                    "--dead-letter-path", str(work / name / "dead_letters.jsonl"),
                    "--metrics-port", str(metrics[name]),
                ],
            )  # fmt: skip
            pids[name] = process.pid
        metrics["maintenance"] = ports[-1]
        process = _cli(
            stack,
            logs,
            "maintenance",
            [
                "maintenance", "run", "--mqtt-port", str(broker.port),
                "--client-id", "city-maintenance", "--data-dir", str(work / "maintenance"),
                "--db", database_url, "--migrate", "--metrics-port", str(metrics["maintenance"]),
            ],
        )  # fmt: skip
        pids["maintenance"] = process.pid
        yield City(
            processes=pids,
            sites=sites,
            control=control,
            influx_url=influx.url,
            database_url=database_url,
            metrics=metrics,
        )


# --- measuring it ---------------------------------------------------------------------------


async def _newest_points(
    client: httpx.AsyncClient, url: str, *, sample: bool = False
) -> dict[str, float]:
    """Each car's newest elevator point in InfluxDB (Unix seconds), by ``site/car``;
    ``sample``: only the cars of :data:`LAG_SAMPLE`, in the last few seconds (the bench's
    own queries are InfluxDB's work too)."""
    where = "time > now() - 10s"
    if sample:
        where = f'time > now() - 5s AND "device_id" =~ /{LAG_SAMPLE}/'
    query = f'SELECT last("floor") FROM "elevator" WHERE {where} GROUP BY "site", "device_id"'
    reply = await client.get(
        f"{url}/query", params={"db": DATABASE, "q": query, "epoch": "ms"}, timeout=10.0
    )
    reply.raise_for_status()
    series = reply.json()["results"][0].get("series", [])
    return {
        f"{s['tags']['site']}/{s['tags']['device_id']}": s["values"][0][0] / 1000 for s in series
    }


def _tail(logs: Path, name: str) -> str:
    log = logs / f"{name}.log"
    return log.read_text(errors="replace")[-2000:] if log.exists() else ""


def _check_running(city: City, logs: Path) -> None:
    for name, pid in city.processes.items():
        if not Path(f"/proc/{pid}").exists():
            raise RuntimeError(f"{name} exited: {_tail(logs, name)}")


@dataclass
class WarmUp:
    seconds: float  # from the workers' start until the chain kept up and every plan was out
    backlog_max: float  # the most messages the maintenance worker had waiting meanwhile


async def _warm_up(city: City, client: httpx.AsyncClient, logs: Path) -> WarmUp:
    """Until every car's points reach InfluxDB and the maintenance worker judges them with
    no backlog, having laid out every new car's maintenance plan and first visit (in
    batches, beside the telemetry: the backlog meanwhile says whether it kept up)."""
    cars = sum(len(c) for c in city.sites.values())
    started = time.monotonic()
    deadline = started + WARM_UP_LIMIT_S
    backlog_max = 0.0
    while True:
        _check_running(city, logs)
        stored = await _newest_points(client, city.influx_url)
        judged = await asyncio.to_thread(_metric, city, "maintenance", "rule_observations_total")
        backlog = await asyncio.to_thread(_metric, city, "maintenance", "mqtt_backlog")
        backlog_max = max(backlog_max, backlog)
        # Every car's plan opens its first (yearly) visit at the worker's start.
        visits = await asyncio.to_thread(_metric, city, "maintenance", "visits_opened_total")
        laid_out = visits >= cars
        if len(stored) == cars and judged >= 3 * cars and laid_out and backlog < GATEWAYS:
            return WarmUp(time.monotonic() - started, backlog_max)
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"after {WARM_UP_LIMIT_S:.0f} s: {len(stored)} of {cars} cars in InfluxDB,"
                f" the maintenance worker judged {judged:.0f} readings, {backlog:.0f} messages"
                f" waiting, opened {visits:.0f} first visits (nan: its metrics did not"
                f" answer)\nits log ends:\n{_tail(logs, 'maintenance')}"
            )
        await asyncio.sleep(WARM_UP_POLL_S)


def tree_cpu_seconds(pid: int, proc: Path = Path("/proc")) -> float:
    """CPU seconds of ``pid`` and every process under it, those it has reaped included
    (PostgreSQL's work is in its backends, children of the postmaster)."""
    parents: dict[int, int] = {}
    seconds: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone since the listing
            continue
        parents[int(entry.name)] = int(fields[1])
        # utime, stime, and the children's it has waited for
        seconds[int(entry.name)] = sum(int(f) for f in fields[11:15]) / tick
    tree, grew = {pid}, True
    while grew:
        more = {child for child, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(seconds.get(p, 0.0) for p in tree)


def _metric(city: City, worker: str, name: str) -> float:
    """A worker's metric; NaN (never equal to or above anything) while its endpoint does
    not answer, which a busy worker's may not within the scrape's timeout."""
    prefix = "estatewatch_maintenance" if worker == "maintenance" else "estatewatch_ingest"
    value = counter(city.metrics[worker], f"{prefix}_{name}")
    return math.nan if value is None else float(value)


def _messages(city: City, worker: str) -> float:
    return _metric(city, worker, "messages_total")


async def _lags(city: City, client: httpx.AsyncClient, until: float) -> list[float]:
    meter = LagMeter()
    while time.monotonic() < until:
        newest = await _newest_points(client, city.influx_url, sample=True)
        meter.observe(newest, time.time())
        await asyncio.sleep(LAG_POLL_S)
    return meter.lags


async def _faults(
    city: City, sessions: async_sessionmaker[AsyncSession], spread_s: float
) -> list[float]:
    """One fault in a car of each compound, ``spread_s`` apart in all; the time from each
    fault's reading (replayed gateways say when they took it; a simulator, when it was
    told) until its order is visible in the database."""
    targets = [(site, cars[len(cars) // 2]) for site, cars in sorted(city.sites.items())]
    targets = targets[:FAULTS]
    injected: dict[str, float] = {}
    latencies: list[float] = []

    async def inject() -> None:
        for site, car in targets:
            control = city.control[site]
            request = {"cmd": "inject", "device": car, "fault": "safety_circuit"}
            if "site" in control:  # one replaying process plays several compounds
                request["site"] = site
            reply = await send_control(control["host"], control["port"], request)
            if not reply.get("ok"):
                raise RuntimeError(f"cannot inject a fault in {site}/{car}: {reply}")
            injected[str(DeviceRef(site, "elevator", car))] = reply.get("taken_at", time.time())
            await asyncio.sleep(spread_s / len(targets))

    async def watch() -> None:
        found: set[str] = set()
        query = select(WORK_ORDER.c.asset).where(WORK_ORDER.c.fault_kind == FAULT_KIND)
        while len(found) < len(targets):
            async with sessions() as session:
                assets = (await session.execute(query)).scalars().all()
            now = time.time()
            for asset in assets:
                if asset in injected and asset not in found:
                    found.add(asset)
                    latencies.append(now - injected[asset])
            late = [a for a, at in injected.items() if a not in found and now - at > FAULT_LIMIT_S]
            if late:
                raise RuntimeError(f"no work order {FAULT_LIMIT_S:.0f} s after a fault: {late}")
            await asyncio.sleep(FAULT_POLL_S)

    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(inject())
        tasks.create_task(watch())
    return latencies


def box_cpu_ticks(stat: Path = Path("/proc/stat")) -> tuple[int, int]:
    """The whole machine's (busy, total) CPU ticks since boot, every core."""
    ticks = [int(t) for t in stat.read_text().splitlines()[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return sum(ticks) - idle, sum(ticks)


async def _worst_poll_p99_ms(client: httpx.AsyncClient, url: str) -> float | None:
    """The highest p99 poll lateness a gateway reported in its status during the window:
    whether the gateways kept their 1 s schedule."""
    query = f'SELECT max("poll_p99_ms") FROM "gateway" WHERE time > now() - {MEASURE_S:.0f}s'
    reply = await client.get(f"{url}/query", params={"db": DATABASE, "q": query}, timeout=10.0)
    reply.raise_for_status()
    series = reply.json()["results"][0].get("series", [])
    value = series[0]["values"][0][1] if series else None
    return None if value is None else float(value)


@dataclass
class Window:
    seconds: float
    cpu: dict[str, float]  # process -> CPU seconds in the window
    messages: dict[str, float]  # worker -> messages taken in the window
    points: float  # readings stored by the ingest workers in the window
    lags: list[float]
    faults: list[float]
    box_busy: float  # of the whole machine, every core: 1.0 = all busy
    poll_p99_ms: float | None  # None: no gateway polled (replayed cars)
    warm_up: WarmUp


async def _measure(city: City, logs: Path) -> Window:
    async with (
        httpx.AsyncClient() as client,
        open_engine(city.database_url, read_only=True) as engine,
    ):
        warm_up = await _warm_up(city, client, logs)
        sessions = make_sessionmaker(engine)
        cpu0 = {name: tree_cpu_seconds(pid) for name, pid in city.processes.items()}
        box0 = box_cpu_ticks()
        messages0 = {w: await asyncio.to_thread(_messages, city, w) for w in city.metrics}
        points0 = await asyncio.to_thread(_points, city)
        started = time.monotonic()
        lags = asyncio.create_task(_lags(city, client, started + MEASURE_S))
        faults = await _faults(city, sessions, MEASURE_S * 0.8)
        lag_samples = await lags
        seconds = time.monotonic() - started
        _check_running(city, logs)
        cpu = {name: tree_cpu_seconds(pid) - cpu0[name] for name, pid in city.processes.items()}
        box1 = box_cpu_ticks()
        box_busy = (box1[0] - box0[0]) / max(1, box1[1] - box0[1])
        poll_p99_ms = await _worst_poll_p99_ms(client, city.influx_url)
        messages = {
            w: await asyncio.to_thread(_messages, city, w) - messages0[w] for w in city.metrics
        }
        points = await asyncio.to_thread(_points, city) - points0
    return Window(
        seconds, cpu, messages, points, lag_samples, faults, box_busy, poll_p99_ms, warm_up
    )


def _points(city: City) -> float:
    return sum(_metric(city, w, "points_written_total") for w in city.metrics if w != "maintenance")


def figures(window: Window, elevators: int) -> dict[str, float]:
    """The run's figures: lags, each kind of process's CPU (percent of one core) and the
    readings it handles per core-second."""
    lag_p50, lag_p99 = p50_p99(window.lags, "readings taken -> in InfluxDB")
    fault_p50, fault_p99 = p50_p99(window.faults, "faults -> work orders")
    kinds = {
        "simulators": [n for n in window.cpu if n.startswith("sim-")],
        "gateways": [n for n in window.cpu if n.startswith(("gw-", "gateways-"))],
        "broker": ["broker"],
        "ingest": [n for n in window.cpu if n.startswith("ingest-")],
        "maintenance": ["maintenance"],
        "influxdb": ["influxdb"],
        "postgres": ["postgres"],
    }
    ingest_messages = sum(v for w, v in window.messages.items() if w.startswith("ingest-"))
    readings_per_s = window.points / window.seconds
    result = {
        f"{NAME}.elevators": float(elevators),
        f"{NAME}.gateways": float(GATEWAYS),
        f"{NAME}.readings_per_s": round(readings_per_s, 1),
        f"{NAME}.ingest_messages_per_s": round(ingest_messages / window.seconds, 1),
        f"{NAME}.maintenance_messages_per_s": round(
            window.messages["maintenance"] / window.seconds, 1
        ),
        f"{NAME}.lag_p50_s": lag_p50,
        f"{NAME}.lag_p99_s": lag_p99,
        f"{NAME}.fault_to_order_p50_s": fault_p50,
        f"{NAME}.fault_to_order_p99_s": fault_p99,
        f"{NAME}.warm_up_s": round(window.warm_up.seconds, 1),
        f"{NAME}.maintenance_backlog_max_warm_up": window.warm_up.backlog_max,
        # Others' work shares this box: how busy it was says how far to trust the lags.
        f"{NAME}.box_cpu_busy_percent": round(100 * window.box_busy, 1),
        f"{NAME}.load_average_1m": round(os.getloadavg()[0], 2),
        f"{NAME}.all_processes_cpu_percent": round(
            100 * sum(window.cpu.values()) / window.seconds, 1
        ),
    }
    if window.poll_p99_ms is not None:
        result[f"{NAME}.gateway_poll_late_p99_ms"] = round(window.poll_p99_ms, 1)
    for kind, names in kinds.items():
        if not names:
            continue
        cores = sum(window.cpu[n] for n in names) / window.seconds
        result[f"{NAME}.{kind}_cpu_percent"] = round(100 * cores, 1)
        if kind != "simulators" and cores > 0:
            result[f"{NAME}.{kind}_readings_per_core_s"] = round(readings_per_s / cores)
        print(f"  {kind}: {100 * cores:.1f} % of a core", file=sys.stderr)
    return result


def run(elevators: int | None = None, *, modbus: bool = False) -> dict[str, float]:
    """``elevators``: by default ``BENCH_CITY_ELEVATORS``, else :data:`ELEVATORS`."""
    if elevators is None:
        elevators = int(os.environ.get("BENCH_CITY_ELEVATORS", ELEVATORS))
    with tempfile.TemporaryDirectory(prefix="bench-city-") as tmp:
        work = Path(tmp)
        with running_city(elevators, work, modbus=modbus) as city:
            print(
                f"  {elevators} cars, {GATEWAYS} gateways, {INGEST_WORKERS} ingest workers",
                file=sys.stderr,
            )
            window = asyncio.run(_measure(city, work / "logs"))
    return figures(window, elevators)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # so a stopped run still stops every process it started


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)
    arguments = [a for a in sys.argv[1:] if a != "--modbus"]
    print(run(int(arguments[0]) if arguments else None, modbus="--modbus" in sys.argv))
