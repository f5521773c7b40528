"""Web: the technician's list page (``GET /tech``) with 100,000 work orders.

**Data**: :mod:`bench.bench_api`'s seed (100,000 orders over two years, 8 sites, 40
technicians, the recent ones open in every state) and one of those technicians,
``tech-07``, working at ``site-03``, with a password; the page lists their open work
(assigned to them anywhere, or unassigned at site-03), due first, up to 100 cards.

**Load**: ``estatewatch api`` in a subprocess; one logged-in client (session cookie)
asks for the page ``REQUESTS`` times one after another, after ``WARMUP`` requests, so
each latency (request sent to body read, over loopback) is the server's time for the
page: session lookup, the scoped list query, and rendering the template.
Figures: ``web.tech_list_p50_ms``, ``web.tech_list_p99_ms`` (target p99 < 50 ms) and
``web.tech_list_orders`` (cards on the page, so a change in the data shows).
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import time
from pathlib import Path

import httpx

from api.users import set_password
from bench.bench_api import _estatewatch, _percentile, seed, serving
from estatewatch.clock import utc_now
from maintenance.db.engine import default_url, make_engine, make_sessionmaker
from maintenance.db.uow import SqlUnitOfWork

NAME = "web_tech"
TECHNICIAN = "tech-07"
SITE = "site-03"
PASSWORD = "bench-password-2026"
WARMUP = 20
REQUESTS = 300


async def set_bench_password(url: str, username: str) -> None:
    """Give ``username`` the benchmarks' :data:`PASSWORD`."""
    engine = make_engine(url)
    try:
        uow = SqlUnitOfWork(make_sessionmaker(engine))
        await set_password(uow, username, PASSWORD, actor="cli:bench", at=utc_now())
    finally:
        await engine.dispose()


def log_in(client: httpx.Client, username: str) -> None:
    """Log ``client`` in through the login form (it keeps the session cookie)."""
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    if token is None:
        raise RuntimeError("the login page has no form token")
    answer = client.post(
        "/login",
        data={"csrf_token": token.group(1), "username": username, "password": PASSWORD},
    )
    if answer.status_code != 303:
        raise RuntimeError(f"logging in answered {answer.status_code}")


def _measure(base: str) -> tuple[list[float], int]:
    latencies: list[float] = []
    with httpx.Client(base_url=base, headers={"Accept": "text/html"}, timeout=30) as client:
        log_in(client, TECHNICIAN)
        cards = 0
        for n in range(WARMUP + REQUESTS):
            started = time.perf_counter()
            page = client.get("/tech")
            elapsed = (time.perf_counter() - started) * 1000
            if page.status_code != 200:
                raise RuntimeError(f"/tech answered {page.status_code}")
            if n >= WARMUP:
                latencies.append(elapsed)
            cards = page.text.count('class="order-card')
    return latencies, cards


def run() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        work = Path(tmp)
        data = work / "data"
        where = ["--data-dir", str(data)]
        data.mkdir()
        asyncio.run(seed(default_url(data)))
        _estatewatch(
            "users", "add", TECHNICIAN, "--role", "technician", "--site", SITE, *where, cwd=work
        )
        asyncio.run(set_bench_password(default_url(data), TECHNICIAN))
        with serving(work, data) as served:
            base = served.base
            latencies, cards = _measure(base)
    return {
        "web.tech_list_p50_ms": _percentile(latencies, 0.50),
        "web.tech_list_p99_ms": _percentile(latencies, 0.99),
        "web.tech_list_orders": cards,
    }
