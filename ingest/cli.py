"""``estatewatch ingest run``: telemetry from the broker into InfluxDB."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from estatewatch.cli_settings import add_screen_options, name_environment

if TYPE_CHECKING:
    from ingest.settings import IngestSettings

# IngestSettings' fields with no option: secrets, kept out of process listings, and the
# spill's size limit.
ENVIRONMENT_ONLY = (
    "mqtt_username",
    "mqtt_password",
    "influx_username",
    "influx_password",
    "influx_token",
    "influx_retention_policy",
    "spill_max_bytes",
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ingest = subparsers.add_parser(
        "ingest",
        help="move telemetry from the broker into InfluxDB",
        description=(
            "Consume gateway telemetry from the central broker (MQTT 5, a persistent session;"
            " workers split the load by owning different sites) and write it to InfluxDB in"
            " batches. A"
            " message is acknowledged only once stored or spilled to disk. Every option can"
            " also be set as ESTATEWATCH_INGEST_<OPTION> (e.g. ESTATEWATCH_INGEST_INFLUX_TOKEN)."
        ),
        epilog=(
            "examples:\n"
            "  estatewatch ingest run --mqtt-port 1883 --influx-url http://127.0.0.1:8086\n"
            "  estatewatch ingest run --client-id ingest-2 --sites north,east   # a second worker"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = ingest.add_subparsers(dest="action", metavar="<action>", required=True)
    run = actions.add_parser(
        "run",
        help="run until SIGTERM or Ctrl-C",
        description=(
            "Store the telemetry of this worker's sites in InfluxDB until SIGTERM or Ctrl-C."
            " Each option can also be set by the environment variable named after it;"
            " options win."
        ),
    )
    for option, kind, text in (
        ("--mqtt-host", str, "central broker host (127.0.0.1)"),
        ("--mqtt-port", int, "central broker port (1883)"),
        ("--client-id", str, "this worker's id; names its persistent session"),
        ("--sites", str, "sites this worker stores, separated by commas (+: every site)"),
        ("--influx-version", int, "1 (HTTP /write, default) or 2 (v2 API: org, bucket, token)"),
        ("--influx-url", str, "InfluxDB URL (http://127.0.0.1:8086)"),
        ("--influx-database", str, "1.x database (estatewatch)"),
        ("--influx-org", str, "2.x organisation"),
        ("--influx-bucket", str, "2.x bucket"),
        ("--batch-points", int, "points per write (5000)"),
        ("--batch-delay", float, "seconds a batch may wait to fill (1.0)"),
        ("--spill-path", Path, "on-disk buffer while InfluxDB is down"),
        ("--dead-letter-path", Path, "JSON lines of refused messages"),
        ("--metrics-host", str, "address of the /metrics endpoint (127.0.0.1)"),
        ("--metrics-port", int, "Prometheus /metrics port (9108; 0: off)"),
        ("--session-expiry-s", int, "seconds the broker keeps a stopped worker's queue (86400)"),
    ):
        run.add_argument(option, type=kind, help=text)
    add_screen_options(run)
    name_environment(run, "ESTATEWATCH_INGEST_", ENVIRONMENT_ONLY)
    run.set_defaults(handler=_run)


def _settings(args: argparse.Namespace) -> IngestSettings:
    from estatewatch.cli_settings import settings_from_args
    from ingest.settings import IngestSettings

    return settings_from_args(IngestSettings, args, "ingest")


def _run(args: argparse.Namespace) -> int:
    from estatewatch.stopping import run_until_signalled
    from ingest.service import run_ingest

    settings = _settings(args)

    return run_until_signalled(lambda stop: run_ingest(settings, stop))
