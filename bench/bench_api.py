"""API: latency of the work-order list and detail with 100,000 orders in the database.

**Data**: ``ORDERS`` work orders bulk-inserted through SQLAlchemy Core into a fresh SQLite
database (migrated to the newest revision) in a temporary directory, spread over two
years, ``SITES`` compounds of ``BUILDINGS`` buildings and ``TECHNICIANS`` technicians:
most old orders closed, a few cancelled, the recent ones open in every state; priorities
P1 5 %, P2 15 %, P3 50 %, P4 30 %.

**Load**: the API (``create_app``) under uvicorn in a subprocess (``estatewatch api``
semantics: the same app factory and settings from the environment), and ``CLIENTS``
concurrent httpx clients for ``DURATION_S`` seconds each run, alternating a filtered list
(open orders of one site at one or two priorities, newest first, 50 per page; every
fourth request follows the page's cursor) and the detail of an order the list returned.
Latency is from request sent to body read, per request, after a warm-up. Two runs:

- *closed loop* (``api.list_p50_ms``, ``api.list_p99_ms``, ``api.detail_p50_ms``,
  ``api.detail_p99_ms``, ``api.requests_per_s``): each client sends its next request as
  soon as the last one is answered, so the server is saturated and latency is mostly
  queueing (20 clients / throughput);
- *paced* (``api.paced_*``): each client opens a list and an order once every
  ``PACE_S`` seconds (20 people using the app at once), the load the target describes.

**What bounds it** (2026-11-24, the 2-core CI-class VM, shared with the load generator):
one uvicorn process serves about 125 requests/s (a list ~8 ms, a detail ~12 ms of
Python: FastAPI, pydantic, SQLAlchemy and aiosqlite's thread hop per query; SQLite
itself is ~0.1 ms for the list). Paced, p99 is ~33 ms for both, under the 50 ms target;
saturated, it is ~200-270 ms, which is 20 clients queueing for one core. Reads run on a
read-only engine (deferred transactions on ``query_only`` connections), so they never
wait for a writer's lock; before that the saturated p99 was 1.6 s. More throughput needs
more server processes (``uvicorn --workers``, or several ``estatewatch api`` behind a
proxy) and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from estatewatch.ports import free_ports
from maintenance.db.engine import default_url, make_engine
from maintenance.db.mapping import WORK_ORDER, order_from_rows
from maintenance.db.migrations import upgrade
from maintenance.db.uow import COUNTER
from maintenance.domain.sla import SlaPolicy, order_due_at
from maintenance.domain.workorders import Status

NAME = "api"
ORDERS = 100_000
SITES = 8
BUILDINGS = 10
TECHNICIANS = 40
CLIENTS = 20
WARMUP_S = 3.0
DURATION_S = 20.0
PACE_S = 1.0  # the paced run: each client opens a list and an order once a second
PAGE = 50
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
_OPEN_STATUSES = [s.value for s in Status if s not in (Status.CLOSED, Status.CANCELLED)]
_PRIORITY_SETS = (["P1", "P2"], ["P3"], ["P2", "P3"], ["P4"])


Params = list[tuple[str, str | int | float | bool | None]]


@dataclass
class Latencies:
    list_ms: list[float] = field(default_factory=list)
    detail_ms: list[float] = field(default_factory=list)


def _list_params(rng: random.Random, cursor: str | None) -> Params:
    params: Params = [("status", s) for s in _OPEN_STATUSES]
    params += [("site", f"site-{rng.randrange(SITES):02d}"), ("limit", PAGE)]
    params += [("priority", p) for p in _PRIORITY_SETS[rng.randrange(len(_PRIORITY_SETS))]]
    if cursor:
        params.append(("cursor", cursor))
    return params


async def _client(
    base: str,
    token: str,
    seed: int,
    measure_from: float,
    until: float,
    out: Latencies,
    pace_s: float | None,
) -> None:
    """One client: a filtered list page, then the detail of one of its orders; again at
    once (closed loop), or every ``pace_s`` seconds from a random start (paced)."""
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {token}"}
    cursor: str | None = None
    n = 0
    next_at = time.perf_counter() + (rng.uniform(0, pace_s) if pace_s else 0.0)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        while True:
            if pace_s:
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                next_at += pace_s
            if (started := time.perf_counter()) >= until:
                break
            use_cursor = cursor if n % 4 == 3 else None
            page = await client.get("/api/v1/work-orders", params=_list_params(rng, use_cursor))
            page.raise_for_status()
            body = page.json()
            listed = time.perf_counter()
            if started >= measure_from:
                out.list_ms.append((listed - started) * 1000)
            cursor = body["next_cursor"]
            n += 1
            if not body["items"]:
                continue
            order_id = body["items"][rng.randrange(len(body["items"]))]["id"]
            detail = await client.get(f"/api/v1/work-orders/{order_id}")
            detail.raise_for_status()
            if listed >= measure_from:
                out.detail_ms.append((time.perf_counter() - listed) * 1000)


async def _load(base: str, token: str, pace_s: float | None) -> tuple[Latencies, float]:
    out = Latencies()
    now = time.perf_counter()
    measure_from, until = now + WARMUP_S, now + WARMUP_S + DURATION_S
    await asyncio.gather(
        *(_client(base, token, n, measure_from, until, out, pace_s) for n in range(CLIENTS))
    )
    return out, DURATION_S


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


@contextmanager
def serving(work: Path, data: Path) -> Iterator[str]:
    """``estatewatch api`` on ``data`` in a subprocess (its log in ``work/api.log``): its
    base URL once it answers, stopped (SIGTERM) at exit."""
    (port,) = free_ports(1)
    base = f"http://127.0.0.1:{port}"
    with (
        (work / "api.log").open("wb") as log,
        subprocess.Popen(
            [*_ESTATEWATCH, "api", "--port", str(port), "--data-dir", str(data)],
            cwd=work,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ | {"ESTATEWATCH_API_MQTT_PORT": "1"},
        ) as server,
    ):
        try:
            _wait_serving(base, server)
            yield base
        finally:
            server.terminate()
            server.wait(timeout=30)


def run() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        work = Path(tmp)
        data = work / "data"
        where = ["--data-dir", str(data)]
        data.mkdir()
        asyncio.run(seed(default_url(data)))
        _estatewatch("users", "add", "bench-manager", "--role", "manager", *where, cwd=work)
        token = _estatewatch("tokens", "create", "bench-manager", *where, cwd=work)
        with serving(work, data) as base:
            latencies, seconds = asyncio.run(_load(base, token, None))
            paced, _ = asyncio.run(_load(base, token, PACE_S))
    lists, details = latencies.list_ms, latencies.detail_ms
    return {
        "api.list_p50_ms": _percentile(lists, 0.50),
        "api.list_p99_ms": _percentile(lists, 0.99),
        "api.detail_p50_ms": _percentile(details, 0.50),
        "api.detail_p99_ms": _percentile(details, 0.99),
        "api.requests_per_s": round((len(lists) + len(details)) / seconds, 1),
        "api.paced_list_p50_ms": _percentile(paced.list_ms, 0.50),
        "api.paced_list_p99_ms": _percentile(paced.list_ms, 0.99),
        "api.paced_detail_p99_ms": _percentile(paced.detail_ms, 0.99),
    }
