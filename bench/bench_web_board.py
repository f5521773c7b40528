"""Web: the duty board (``GET /board``) and live fan-out, with 100,000 work orders.

**Data**: :mod:`bench.bench_api`'s seed (100,000 orders over two years, 8 sites, 40
technicians, the recent ones open in every state) and a manager with a password and a
token.

**Load**, against ``estatewatch api`` in a subprocess:

- ``web.board_p50_ms`` / ``web.board_p99_ms``: one logged-in client asks for the board
  ``REQUESTS`` times one after another (after ``WARMUP``), so each latency (request sent
  to body read, over loopback) is the server's time for the page: session lookup, the
  open orders by due time (up to 200), active alarms, the elevator register, the
  technicians, and rendering. Target p99 < 50 ms.
- ``web.assets_kb``: the JS and CSS files the board page loads (its ``<script src>`` and
  stylesheet links, vendor files included), each gzip-compressed (level 6, as a web
  server would), summed. Target <= 150 KB.
- ``web.sse_fanout_p50_s`` / ``web.sse_fanout_p99_s``: ``CLIENTS`` event streams are open
  (``/api/v1/events``, the same hub as the pages' ``/events``); this process commits an
  alarm ``ALARMS`` times through the maintenance service and each client notes when that
  alarm's ``alarm-changed`` reaches it; latency is arrival minus the moment the commit
  returned. The hub polls every 0.5 s (the default), so about half of that is the
  expected wait. Target p99 < 1 s. The 200 clients share this one process's event loop,
  so their own parsing is in the figure too.
"""

from __future__ import annotations

import asyncio
import gzip
import re
import tempfile
import time
from collections import defaultdict
from functools import partial
from pathlib import Path
from typing import Final

import httpx

from bench.bench_api import _estatewatch, _percentile, seed, serving
from bench.bench_web_tech import log_in, set_bench_password
from estatewatch.clock import utc_now
from maintenance.db.engine import default_url, make_engine, make_sessionmaker
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.signals import DeviceRef, Signal
from maintenance.services import handle_signal

NAME = "web_board"
MANAGER: Final = "bench-manager"
WARMUP: Final = 20
REQUESTS: Final = 200
CLIENTS: Final = 200
ALARMS: Final = 10
_ASSET = re.compile(r'<(?:script[^>]*\ssrc|link[^>]*rel="stylesheet"[^>]*\shref)="([^"]+)"')


def _board(base: str) -> tuple[list[float], float]:
    """The board's latencies (ms) and its JS+CSS, gzip-compressed (KB)."""
    latencies: list[float] = []
    with httpx.Client(base_url=base, headers={"Accept": "text/html"}, timeout=30) as client:
        log_in(client, MANAGER)
        page = client.get("/board")
        for n in range(WARMUP + REQUESTS):
            started = time.perf_counter()
            page = client.get("/board")
            elapsed = (time.perf_counter() - started) * 1000
            if page.status_code != 200:
                raise RuntimeError(f"/board answered {page.status_code}")
            if n >= WARMUP:
                latencies.append(elapsed)
        assets = sorted(set(_ASSET.findall(page.text)))
        compressed = 0
        for path in assets:
            body = client.get(path)
            if body.status_code != 200:
                raise RuntimeError(f"{path} answered {body.status_code}: run 'make setup'")
            compressed += len(gzip.compress(body.content, compresslevel=6))
    return latencies, compressed / 1024


class Tally:
    """When each alarm reached each client; ``everyone[alarm]`` is set once all have it."""

    def __init__(self) -> None:
        self.arrivals: dict[str, list[float]] = defaultdict(list)
        self.everyone: dict[str, asyncio.Event] = defaultdict(asyncio.Event)

    def arrived(self, alarm: str) -> None:
        times = self.arrivals[alarm]
        times.append(time.perf_counter())
        if len(times) == CLIENTS:
            self.everyone[alarm].set()


async def _listen(
    client: httpx.AsyncClient, token: str, ready: asyncio.Event, tally: Tally
) -> None:
    """One stream: tells the tally when each bench alarm arrives, until cancelled."""
    headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {token}"}
    seen: set[str] = set()
    async with client.stream("GET", "/api/v1/events", headers=headers) as response:
        async for line in response.aiter_lines():
            if line == "event: ready":
                ready.set()
            elif line.startswith("data: {") and '"id":"ALM-bench-' in line:
                alarm = line.split('"id":"', 1)[1].split('"', 1)[0]
                if alarm not in seen:
                    seen.add(alarm)
                    tally.arrived(alarm)


async def _fan_out(base: str, token: str, url: str) -> list[float]:
    limits = httpx.Limits(max_connections=CLIENTS + 10, max_keepalive_connections=0)
    engine = make_engine(url)
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        readies = [asyncio.Event() for _ in range(CLIENTS)]
        tally = Tally()
        listeners = [asyncio.create_task(_listen(client, token, ready, tally)) for ready in readies]
        try:
            async with asyncio.timeout(60):
                await asyncio.gather(*(ready.wait() for ready in readies))
            sessions = make_sessionmaker(engine)
            for n in range(ALARMS):
                alarm_id = f"ALM-bench-{n}"
                signal = Signal(
                    kind="raised",
                    rule=f"bench-fanout-{n}",
                    device=DeviceRef("site-01", "elevator", f"bench-car-{n}"),
                    at=utc_now(),
                    severity="notice",
                    priority=None,
                    fault_kind="bench_notice",
                    message="bench fan-out",
                )
                await handle_signal(
                    SqlUnitOfWork(sessions), signal, utc_now, partial(str, alarm_id)
                )
                committed = time.perf_counter()
                async with asyncio.timeout(30):
                    await tally.everyone[alarm_id].wait()
                latencies += [at - committed for at in tally.arrivals[alarm_id]]
                await asyncio.sleep(0.3)  # spread the commits over the hub's poll phase
        finally:
            for listener in listeners:
                listener.cancel()
            await asyncio.gather(*listeners, return_exceptions=True)
            await engine.dispose()
    return latencies


def run() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-board-") as tmp:
        work = Path(tmp)
        data = work / "data"
        where = ["--data-dir", str(data)]
        data.mkdir()
        url = default_url(data)
        asyncio.run(seed(url))
        _estatewatch("users", "add", MANAGER, "--role", "manager", *where, cwd=work)
        asyncio.run(set_bench_password(url, MANAGER))
        token = _estatewatch("tokens", "create", MANAGER, *where, cwd=work)
        with serving(work, data) as served:
            base = served.base
            board, assets_kb = _board(base)
            fan_out = asyncio.run(_fan_out(base, token, url))
    return {
        "web.board_p50_ms": _percentile(board, 0.50),
        "web.board_p99_ms": _percentile(board, 0.99),
        "web.assets_kb": round(assets_kb, 1),
        "web.sse_fanout_p50_s": _percentile(fan_out, 0.50),
        "web.sse_fanout_p99_s": _percentile(fan_out, 0.99),
    }
