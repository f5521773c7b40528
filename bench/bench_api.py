"""API: the work-order list and detail with 100,000 orders, on SQLite and on PostgreSQL.

**Data**: ``ORDERS`` work orders bulk-inserted through SQLAlchemy Core into a fresh
database (migrated to the newest revision; SQLite in a temporary directory, then a private
PostgreSQL from :mod:`infra.local`, analysed after the load as autovacuum soon would),
spread over two years, ``SITES`` compounds of ``BUILDINGS`` buildings and ``TECHNICIANS``
technicians: most old orders closed, a few cancelled, the recent ones open in every
state; priorities P1 5 %, P2 15 %, P3 50 %, P4 30 %.

**Load**: ``estatewatch api`` in a subprocess (the same app factory and settings), and the
load generator (:mod:`bench.api_load`) in another, so the two share the machine's cores
the way a server and its clients would and neither's Python slows the other's. A visit is
a filtered list (open orders of one site at one or two priorities, newest first, 50 per
page; every fourth follows the page's cursor) and the detail of an order it returned.
Three runs on each database (keys for PostgreSQL end in ``_postgres``):

- *closed loop* (``api.list_p50_ms``, ``api.list_p99_ms``, ``api.detail_p50_ms``,
  ``api.detail_p99_ms``, ``api.requests_per_s``): ``CLIENTS`` clients, each asking again
  as soon as answered, so the server is saturated and latency is mostly queueing;
- *paced* (``api.paced_*``): each of the ``CLIENTS`` opens a list and an order once every
  ``PACE_S`` seconds (20 people using the app at once);
- *capacity* (``api.capacity_rps_p99_50ms``): visits started at a fixed rate whatever the
  answers (latency counted from when each was due), in steps of ``RATE_STEP``
  requests/s; the figure is the highest rate answered in full with a p99 under
  ``P99_BOUND_MS``.

Each run also reports the server's and the generator's CPU (``*_cpu_percent``) and the
server's CPU time per request (``api.server_cpu_ms_per_request``), which depends far less
on what else the machine is doing than a throughput does.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from bench.api_load import SITES
from bench.bench_gateway import cpu_seconds
from estatewatch.ports import free_ports
from infra.local import PostgresInstance
from maintenance.db.engine import default_url, make_engine
from maintenance.db.mapping import WORK_ORDER, order_from_rows
from maintenance.db.migrations import upgrade
from maintenance.db.uow import COUNTER
from maintenance.domain.sla import SlaPolicy, order_due_at
from maintenance.domain.workorders import Status

NAME = "api"
ORDERS = 100_000
BUILDINGS = 10
TECHNICIANS = 40
CLIENTS = 20
WARMUP_S = 3.0
DURATION_S = 20.0
PACE_S = 1.0  # the paced run: each client opens a list and an order once a second
# The capacity search: offered rates RATE_STEP, 2 * RATE_STEP, ... up to RATE_MAX
# requests/s, STEP_S measured at each; a rate holds when its p99 is under P99_BOUND_MS
# and at least CAPACITY_ANSWERED of what was offered was answered within the step.
RATE_STEP = 50.0
RATE_MAX = 2000.0
STEP_S = 8.0
P99_BOUND_MS = 50.0
CAPACITY_ANSWERED = 0.97
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SPAN = timedelta(days=730)
_BATCH = 5_000

_PRIORITIES = (("P1", 5), ("P2", 15), ("P3", 50), ("P4", 30))
_OPEN = (
    (Status.NEW, 20),
    (Status.ASSIGNED, 20),
    (Status.ACKNOWLEDGED, 15),
    (Status.IN_PROGRESS, 20),
    (Status.ON_HOLD, 5),
    (Status.AWAITING_APPROVAL, 5),
    (Status.RESOLVED, 10),
    (Status.VERIFIED, 5),
)
_KINDS = (
    ("elevator", "door"),
    ("elevator", "levelling"),
    ("charger", "over_temperature"),
    ("smoke_alarm", "battery_low"),
    ("smoke_alarm", "offline"),
)


def _pick(rng: random.Random, weighted: tuple[tuple[Any, int], ...]) -> Any:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def _status(rng: random.Random, age: timedelta) -> Status:
    """Orders older than a month are done (closed, or now and then cancelled)."""
    if age > timedelta(days=30) or rng.random() < 0.5:
        return Status.CANCELLED if rng.random() < 0.03 else Status.CLOSED
    status: Status = _pick(rng, _OPEN)
    return status


def order_rows(count: int, seed: int = 1) -> Iterator[dict[str, Any]]:
    """``count`` work-order rows, oldest first, numbered by creation within each year."""
    rng = random.Random(seed)
    start = NOW - SPAN
    times = sorted(start + SPAN * rng.random() for _ in range(count))
    numbers: dict[int, int] = {}
    for n, created in enumerate(times):
        numbers[created.year] = numbers.get(created.year, 0) + 1
        site = f"site-{rng.randrange(SITES):02d}"
        building = f"B{rng.randrange(BUILDINGS) + 1}"
        device_type, fault = _KINDS[rng.randrange(len(_KINDS))]
        status = _status(rng, NOW - created)
        new = status is Status.NEW
        ack = (
            None
            if new or status is Status.ASSIGNED
            else created + timedelta(minutes=rng.uniform(2, 90))
        )
        done = status in (Status.RESOLVED, Status.VERIFIED, Status.CLOSED)
        resolved = ack + timedelta(hours=rng.uniform(1, 72)) if done and ack else None
        yield {
            "id": f"WO-{created.year:04d}-{numbers[created.year]:06d}",
            "title": f"{fault.replace('_', ' ')} on {device_type} in {building}",
            # Device n is unique per order, so the one-open-order-per-fault index holds.
            "asset": f"{site}/{device_type}/{device_type}-{n:06d}",
            "site": site,
            "location": building,
            "category": device_type,
            "fault_kind": fault,
            "priority": _pick(rng, _PRIORITIES),
            "source": "alarm",
            "status": status.value,
            "created_at": created,
            "created_by_user": None,
            "created_by_role": None,
            "requested_by": None,
            "description": None,
            "repeat_of": None,
            "assignee": None if new else f"tech-{rng.randrange(TECHNICIANS):02d}",
            "entered_at": {status.value: created.isoformat()},
            "acknowledged_at": ack,
            "first_feedback_at": ack + timedelta(minutes=5) if ack else None,
            "resolved_at": resolved,
            "resolvers": [],
            "closed_at": resolved + timedelta(hours=2)
            if resolved and status is Status.CLOSED
            else None,
            "cost_estimate": None,
            "cost_actual": None,
            "rating_by_user": None,
            "rating_by_role": None,
            "rating_at": None,
            "rating_stars": None,
            "rating_comment": None,
            "cancel_reason": "duplicate" if status is Status.CANCELLED else None,
            "resolution": None,
            "code": None,
        }


def with_due_times(rows: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Each row with the due time the unit of work would store (no holds in the seed)."""
    policy = SlaPolicy()
    for row in rows:
        order = order_from_rows(row, {})
        yield row | {"due_at": order_due_at(order, policy), "due_policy": policy.due_fingerprint}


async def seed(url: str, count: int = ORDERS) -> None:
    """Migrate a fresh database at ``url`` and insert ``count`` orders."""
    engine = make_engine(url)
    try:
        await upgrade(engine)
        rows = with_due_times(order_rows(count))
        last: dict[int, int] = {}
        async with engine.begin() as connection:
            while batch := [row for _, row in zip(range(_BATCH), rows, strict=False)]:
                await connection.execute(insert(WORK_ORDER), batch)
                for row in batch:
                    last[row["created_at"].year] = int(row["id"].rsplit("-", 1)[1])
            await connection.execute(
                insert(COUNTER), [{"year": y, "last": n} for y, n in sorted(last.items())]
            )
    finally:
        await engine.dispose()


# -- the load ------------------------------------------------------------------------------

_ESTATEWATCH = [sys.executable, "-m", "cli"]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def _estatewatch(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        [*_ESTATEWATCH, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=120
    )
    if done.returncode != 0:
        raise RuntimeError(f"estatewatch {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def _wait_serving(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"estatewatch api exited with {server.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("estatewatch api did not answer /healthz within 60 s")


@dataclass(frozen=True, slots=True)
class Served:
    base: str
    port: int
    pid: int


@contextmanager
def serving(work: Path, data: Path, db_url: str | None = None) -> Iterator[Served]:
    """``estatewatch api`` on ``data`` (or the database at ``db_url``) in a subprocess, its
    log in ``work/api.log``: its address once it answers, stopped (SIGTERM) at exit."""
    (port,) = free_ports(1)
    base = f"http://127.0.0.1:{port}"
    env = os.environ | {"ESTATEWATCH_API_MQTT_PORT": "1"}
    if db_url is not None:
        env["ESTATEWATCH_API_DB_URL"] = db_url
    with (
        (work / "api.log").open("wb") as log,
        subprocess.Popen(
            [*_ESTATEWATCH, "api", "--port", str(port), "--data-dir", str(data)],
            cwd=work,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        ) as server,
    ):
        try:
            _wait_serving(base, server)
            yield Served(base, port, server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)


@dataclass(frozen=True, slots=True)
class Load:
    """What one run of the load generator (:mod:`bench.api_load`) measured."""

    list_ms: list[float]
    detail_ms: list[float]
    errors: int
    requests_per_s: float
    server_cpu_percent: float
    generator_cpu_percent: float
    server_cpu_ms_per_request: float

    @property
    def p99_ms(self) -> float:
        return _percentile(self.list_ms + self.detail_ms, 0.99)


def generate(served: Served, token: str, mode: str, **spec: float) -> Load:
    """Run the load generator in its own process against ``served``; ``spec`` as
    :class:`bench.api_load.Spec` takes it (``rate``, ``clients``, ``pace_s``...)."""
    spec = {"warmup_s": WARMUP_S, "duration_s": DURATION_S} | spec
    args = json.dumps({"host": "127.0.0.1", "port": served.port, "token": token, "mode": mode})
    args = args[:-1] + ", " + json.dumps(spec)[1:]
    cpu = cpu_seconds(served.pid)
    done = subprocess.run(
        [sys.executable, "-m", "bench.api_load", args],
        capture_output=True,
        text=True,
        check=False,
        timeout=spec["warmup_s"] + spec["duration_s"] + 120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed: {done.stderr.strip()[-2000:]}")
    cpu = cpu_seconds(served.pid) - cpu
    out = json.loads(done.stdout)
    answered = len(out["list_ms"]) + len(out["detail_ms"])
    return Load(
        out["list_ms"],
        out["detail_ms"],
        out["errors"],
        round(answered / spec["duration_s"], 1),
        round(100 * cpu / out["wall_s"], 1),
        round(100 * out["cpu_s"] / out["wall_s"], 1),
        round(1000 * cpu / max(1, out["requests"]), 2),
    )


def capacity(served: Served, token: str) -> tuple[float, Load | None]:
    """The highest offered rate (requests/s, in :data:`RATE_STEP` steps) that the server
    answered in full with a p99 under :data:`P99_BOUND_MS`, and what was measured there.

    A step that fails is tried once more before the search stops: the benchmark shares its
    two cores with whatever else runs, and one burst of someone else's work should not end
    the search."""
    held: tuple[float, Load | None] = (0.0, None)
    rate = RATE_STEP
    while rate <= RATE_MAX:
        for _ in range(2):
            load = generate(served, token, "rate", rate=rate, warmup_s=2.0, duration_s=STEP_S)
            print(
                f"  {rate:.0f}/s offered: {load.requests_per_s}/s answered, p99 {load.p99_ms} ms,"
                f" server {load.server_cpu_ms_per_request} ms CPU a request",
                file=sys.stderr,
            )
            if _holds(load, rate):
                break
        else:
            return held
        held = (rate, load)
        rate += RATE_STEP
    return held


def _holds(load: Load, rate: float) -> bool:
    return (
        load.errors == 0
        and load.p99_ms < P99_BOUND_MS
        and load.requests_per_s >= CAPACITY_ANSWERED * rate
    )


def _figures(served: Served, token: str, suffix: str) -> dict[str, float]:
    closed = generate(served, token, "closed", clients=CLIENTS)
    paced = generate(served, token, "paced", clients=CLIENTS, pace_s=PACE_S)
    rate, at_capacity = capacity(served, token)
    figures = {
        "api.list_p50_ms": _percentile(closed.list_ms, 0.50),
        "api.list_p99_ms": _percentile(closed.list_ms, 0.99),
        "api.detail_p50_ms": _percentile(closed.detail_ms, 0.50),
        "api.detail_p99_ms": _percentile(closed.detail_ms, 0.99),
        "api.requests_per_s": closed.requests_per_s,
        "api.server_cpu_percent": closed.server_cpu_percent,
        "api.generator_cpu_percent": closed.generator_cpu_percent,
        "api.server_cpu_ms_per_request": closed.server_cpu_ms_per_request,
        "api.paced_list_p50_ms": _percentile(paced.list_ms, 0.50),
        "api.paced_list_p99_ms": _percentile(paced.list_ms, 0.99),
        "api.paced_detail_p99_ms": _percentile(paced.detail_ms, 0.99),
        "api.capacity_rps_p99_50ms": rate,
    }
    if at_capacity is not None:
        figures |= {
            "api.capacity_p99_ms": at_capacity.p99_ms,
            "api.capacity_server_cpu_percent": at_capacity.server_cpu_percent,
            "api.capacity_generator_cpu_percent": at_capacity.generator_cpu_percent,
        }
    return {f"{key}{suffix}": value for key, value in figures.items()}


def _measure(work: Path, data: Path, db_url: str, suffix: str) -> dict[str, float]:
    """Seed ``db_url``, give a manager a token, serve it and measure."""
    asyncio.run(seed(db_url))
    where = ["--db", db_url]
    _estatewatch("users", "add", "bench-manager", "--role", "manager", *where, cwd=work)
    token = _estatewatch("tokens", "create", "bench-manager", *where, cwd=work)
    with serving(work, data, db_url) as served:
        return _figures(served, token, suffix)


def run() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        work = Path(tmp)
        data = work / "data"
        data.mkdir()
        figures = _measure(work, data, default_url(data), "")
        with PostgresInstance(work / "services") as postgres:
            figures |= _measure(work, data, postgres.url(), "_postgres")
    return figures
