"""The API's Prometheus metrics: request latency by route template, on a port of its own."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from api_support import bearer, running_api
from metrics_scrape import scrape

from estatewatch.ports import free_ports

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("api_db")]

DURATION = "estatewatch_api_request_duration_seconds"


async def test_requests_are_timed_by_route_template_method_and_status_class(
    tmp_path: Path,
) -> None:
    (port,) = free_ports(1)
    async with running_api(tmp_path, metrics_port=port) as api:
        url = f"http://127.0.0.1:{port}/metrics"
        token = await api.user("li", "manager", sites=["demo"])
        before = await scrape(url)
        for _ in range(3):
            assert (await api.client.get("/api/v1/me", headers=bearer(token))).status_code == 200
        for order in ("WO-2026-990001", "WO-2026-990002"):
            missing = await api.client.get(f"/api/v1/work-orders/{order}", headers=bearer(token))
            assert missing.status_code == 404
        assert (await api.client.get("/api/v1/me")).status_code == 401
        assert (await api.client.get("/static/app.css")).status_code == 200
        for path in ("/wp-login.php", "/.env", "/metrics"):
            # /metrics is not served on the API's own (public) port.
            assert (await api.client.get(path)).status_code == 404
        after = await scrape(url)

    def count(route: str, status: str, method: str = "GET") -> float:
        labels = {"route": route, "method": method, "status": status}
        return after.value(f"{DURATION}_count", **labels) - before.value(
            f"{DURATION}_count", **labels
        )

    assert count("/api/v1/me", "2xx") == 3
    assert count("/api/v1/me", "4xx") == 1
    assert count("/api/v1/work-orders/{order_id}", "4xx") == 2
    assert count("unmatched", "4xx") == 3
    assert count("/static/{path}", "2xx") == 1
    routes = {
        dict(labels).get("route") for (name, labels) in after.samples if name.startswith(DURATION)
    }
    assert not any("99000" in str(route) or "wp-login" in str(route) for route in routes)
    # Buckets are cumulative and end in +Inf, which equals the count (Prometheus semantics).
    labels = {"route": "/api/v1/me", "method": "GET", "status": "2xx"}
    assert after.value(f"{DURATION}_bucket", le="+Inf", **labels) == after.value(
        f"{DURATION}_count", **labels
    )
    assert after.value("estatewatch_api_live_streams") == 0
    assert after.value("estatewatch_build_info", service="api", version=_version()) == 1


def _version() -> str:
    from estatewatch import __version__

    return __version__


async def test_no_metrics_listener_unless_a_port_is_given(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    async with running_api(tmp_path):
        with pytest.raises(httpx.ConnectError):
            await scrape(f"http://127.0.0.1:{port}/metrics")
