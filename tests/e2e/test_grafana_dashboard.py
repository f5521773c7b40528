"""The Grafana dashboard (infra/grafana/estatewatch.json) asks only for metrics the
services really expose: every PromQL expression's metric names are checked against what
real ``estatewatch`` processes (gateway, ingest, maintenance, API) serve on /metrics."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from metrics_scrape import Scrape, scrape
from process_support import serving, start, stop, until

from estatewatch.ports import free_ports
from infra.local import InfluxInstance, MosquittoInstance

pytestmark = pytest.mark.e2e

DASHBOARD = Path(__file__).parents[2] / "infra" / "grafana" / "estatewatch.json"

# PromQL words that are not metric names: aggregations, functions (followed by "("),
# and the keywords that may stand without one.
_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
     "bool", "offset"}
)  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges such as [$__rate_interval]
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"(?<![\w$.])[A-Za-z_:][A-Za-z0-9_:]*", text):
        if text[match.end() :].lstrip().startswith("(") or match.group() in _KEYWORDS:
            continue  # a function or an aggregation
        names.add(match.group())
    return names


def expressions(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) of every query, rows' nested panels included."""
    found = []
    for panel in dashboard["panels"]:
        for inner in [panel, *panel.get("panels", [])]:
            for target in inner.get("targets", []):
                found.append((inner["title"], target["expr"]))
    return found


def test_the_promql_reader_finds_the_names_and_nothing_else() -> None:
    expr = (
        'topk(10, histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{route!="x y"}'
        "[$__rate_interval])))) / on (job) group_left b_total + sum(increase(c[1h])) or d"
    )
    assert metric_names(expr) == {"a_bucket", "b_total", "c", "d"}


def test_the_dashboard_has_the_panels_an_operator_needs() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    titles = {panel["title"] for panel in dashboard["panels"]}
    needed = {
        "Ingest rate", "Ingest lag", "Dead letters by reason", "API latency p50 / p99",
        "Open work orders by priority", "Queue depths", "Notifications by channel",
    }  # fmt: skip
    assert needed <= titles
    for title, expr in expressions(dashboard):
        names = metric_names(expr)
        assert names, f"{title}: no metric in {expr}"
        assert all(name.startswith("estatewatch_") for name in names), (title, names)
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


async def test_every_metric_the_dashboard_queries_is_exposed_by_a_running_service(
    tmp_path: Path, mosquitto: MosquittoInstance, influxdb: InfluxInstance, influx_database: str
) -> None:
    site = f"g{uuid.uuid4().hex[:8]}"
    gateway_port, ingest_port, maintenance_port, api_port, api_metrics_port = free_ports(5)
    broker = ["--mqtt-host", mosquitto.host, "--mqtt-port", str(mosquitto.port)]
    (tmp_path / "site.yaml").write_text(
        yaml.safe_dump(
            {
                "site": site,
                "gateway_id": "gw-1",
                "uplink": {"host": mosquitto.host, "port": mosquitto.port},
                "buffer": {"path": str(tmp_path / "buffer.sqlite")},
                "metrics": {"port": gateway_port},
            }
        )
    )
    commands = {
        "gateway": ["gateway", "run", "--config", str(tmp_path / "site.yaml")],
        "ingest": [
            "ingest", "run", *broker, "--client-id", f"{site}-ingest", "--sites", site,
            "--influx-url", influxdb.url, "--influx-database", influx_database,
            "--spill-path", str(tmp_path / "spill.sqlite"),
            "--dead-letter-path", str(tmp_path / "dead.jsonl"),
            "--metrics-port", str(ingest_port),
        ],
        "maintenance": [
            "maintenance", "run", "--migrate", *broker, "--client-id", f"{site}-maint",
            "--sites", site, "--data-dir", str(tmp_path / "maintenance"),
            "--metrics-port", str(maintenance_port),
        ],
        "api": [
            "api", "--migrate", "--port", str(api_port), *broker,
            "--data-dir", str(tmp_path / "api"), "--metrics-port", str(api_metrics_port),
        ],
    }  # fmt: skip
    ports = {
        "gateway": gateway_port,
        "ingest": ingest_port,
        "maintenance": maintenance_port,
        "api": api_metrics_port,
    }
    processes = {
        name: start(args, tmp_path, tmp_path / f"{name}.log") for name, args in commands.items()
    }
    scrapes: dict[str, Scrape] = {}
    try:
        for name, port in ports.items():

            async def answered(name: str = name, port: int = port) -> bool:
                assert processes[name].poll() is None, (tmp_path / f"{name}.log").read_text()
                try:
                    scrapes[name] = await scrape(f"http://127.0.0.1:{port}/metrics")
                except httpx.HTTPError:
                    return False
                return True

            await until(answered, 60, f"{name}'s /metrics")
        # The API answers a request, so its histogram has series; its /metrics is not on
        # the public port. The metrics listener opens before the public one (the
        # migrations run between them), so the public port is waited for in its turn.
        public = f"http://127.0.0.1:{api_port}"
        await until(lambda: serving(public), 60, "the API's public port")
        async with httpx.AsyncClient(base_url=public) as client:
            # The first page an API renders (here its 404) compiles its templates: 0.75 s
            # on an idle host, 5.6 s seen under CI's load, past httpx's 5 s default.
            assert (await client.get("/metrics", timeout=60)).status_code == 404
        scrapes["api"] = await scrape(f"http://127.0.0.1:{api_metrics_port}/metrics")
    finally:
        for name, process in processes.items():
            assert stop(process) == 0, (tmp_path / f"{name}.log").read_text()
    exposed = set().union(*(s.names for s in scrapes.values()))
    for name, seen in scrapes.items():
        assert seen.value("estatewatch_build_info", service=name, version=_version()) == 1
    missing = {
        (title, name)
        for title, expr in expressions(json.loads(DASHBOARD.read_text()))
        for name in metric_names(expr)
        if name not in exposed
    }
    assert not missing, f"the dashboard asks for metrics no service exposes: {sorted(missing)}"


def _version() -> str:
    from estatewatch import __version__

    return __version__
