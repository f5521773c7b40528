"""The kernel's metrics: readings of a service's own state, and the /metrics endpoint."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

import httpx
import pytest
from metrics_scrape import Scrape, scrape
from prometheus_client import Counter as PromCounter

from estatewatch.errors import ServiceError
from estatewatch.metrics import MetricsEndpoint, Reading, StateCollector, process_registry
from estatewatch.ports import free_ports

log = logging.getLogger("test")


class Queue:
    def __init__(self) -> None:
        self.depth = 0
        self.refused: Counter[str] = Counter()


async def test_readings_show_the_state_as_it_is_when_scraped() -> None:
    registry = process_registry("test")
    queue = Queue()
    registry.register(
        StateCollector(
            [
                Reading("x_depth", "items waiting", lambda: queue.depth, kind="gauge"),
                Reading("x_refused_total", "refused", lambda: queue.refused, labels=("reason",)),
            ]
        )
    )
    sent = PromCounter("x_sent_total", "sent", registry=registry)
    (port,) = free_ports(1)
    async with MetricsEndpoint(registry, "127.0.0.1", port, service="test", log=log) as endpoint:
        assert endpoint.url == f"http://127.0.0.1:{port}/metrics"
        queue.depth = 7
        queue.refused.update(["schema"] * 3 + ["too_large"])
        for _ in range(5):
            sent.inc()
        first = await scrape(endpoint.url)
        queue.depth = 2
        queue.refused["schema"] += 1
        second = await scrape(endpoint.url)
    assert first.value("x_depth") == 7
    assert first.value("x_refused_total", reason="schema") == 3
    assert first.value("x_refused_total", reason="too_large") == 1
    assert first.value("x_sent_total") == 5
    assert second.value("x_depth") == 2
    assert second.value("x_refused_total", reason="schema") == 4
    assert second.value("estatewatch_build_info", service="test", version=_version()) == 1
    assert "process_cpu_seconds_total" in second.names


def _version() -> str:
    from estatewatch import __version__

    return __version__


async def test_the_endpoint_answers_only_metrics_and_speaks_openmetrics_on_request() -> None:
    registry = process_registry("test")
    (port,) = free_ports(1)
    base = f"http://127.0.0.1:{port}"
    async with (
        MetricsEndpoint(registry, "127.0.0.1", port, service="test", log=log),
        httpx.AsyncClient(timeout=5.0) as client,
    ):
        plain = await client.get(f"{base}/metrics")
        assert plain.status_code == 200
        assert plain.headers["content-type"].startswith("text/plain; version=0.0.4")
        Scrape(plain.text)  # parses
        open_metrics = await client.get(
            f"{base}/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )
        assert open_metrics.headers["content-type"].startswith("application/openmetrics-text")
        assert open_metrics.text.endswith("# EOF\n")
        head = await client.head(f"{base}/metrics")
        assert head.status_code == 200
        assert head.content == b""
        assert (await client.get(f"{base}/")).status_code == 404
        assert (await client.post(f"{base}/metrics")).status_code == 404
        # A client that sends garbage, or nothing, costs the endpoint nothing.
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"x" * 20_000)
        await writer.drain()
        writer.close()
        assert (await client.get(f"{base}/metrics")).status_code == 200


async def test_port_zero_serves_nothing_and_a_taken_port_is_named() -> None:
    registry = process_registry("test")
    async with MetricsEndpoint(registry, "127.0.0.1", 0, service="test", log=log) as endpoint:
        assert endpoint.url is None
    (port,) = free_ports(1)
    async with MetricsEndpoint(registry, "127.0.0.1", port, service="first", log=log):
        with pytest.raises(
            ServiceError, match=rf"second: cannot serve metrics on 127.0.0.1:{port}"
        ):
            async with MetricsEndpoint(registry, "127.0.0.1", port, service="second", log=log):
                pass
