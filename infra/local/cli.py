"""``estatewatch services ...``: run the private Mosquitto and InfluxDB by hand."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)

_WATCH_INTERVAL_S = 0.5


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    services = subparsers.add_parser(
        "services",
        help="run private Mosquitto and InfluxDB servers for development",
        description=(
            "Run private Mosquitto and InfluxDB 1.x servers on free loopback ports, "
            "separate from any system-wide instance (needs the Debian packages "
            "mosquitto and influxdb: 'make setup')."
        ),
    )
    commands = services.add_subparsers(dest="services_command", metavar="<action>")
    commands.required = True
    up = commands.add_parser(
        "up",
        help="start both servers and keep them running until Ctrl-C",
        description=(
            "Start Mosquitto and InfluxDB (with database 'estatewatch') on free ports of "
            "127.0.0.1, print their URLs, one per line, and keep them running until Ctrl-C "
            "or SIGTERM, then stop both cleanly."
        ),
    )
    up.add_argument(
        "--dir",
        type=Path,
        metavar="DIR",
        help=(
            "keep configs, data and logs in DIR (DIR/mosquitto, DIR/influxdb) so they "
            "survive between runs; default: a temporary directory deleted on exit"
        ),
    )
    up.set_defaults(handler=_up)


def _up(args: argparse.Namespace) -> int:
    from estatewatch.errors import ServiceError
    from estatewatch.stopping import interrupt_on_signals
    from infra.local.services import LocalServices

    services = LocalServices(args.dir.resolve() if args.dir is not None else None)
    previous = interrupt_on_signals()
    try:
        with services:
            print(f"mosquitto  {services.mosquitto.url}", flush=True)
            print(f"influxdb   {services.influxdb.url} db={services.influxdb.database}", flush=True)
            log.info("data and logs in %s; press Ctrl-C to stop", services.root)
            while True:
                for instance in (services.mosquitto, services.influxdb):
                    if not instance.running:
                        raise ServiceError(
                            f"{instance.name} stopped unexpectedly; see {instance.log_path}"
                        )
                time.sleep(_WATCH_INTERVAL_S)
    except KeyboardInterrupt:
        # The context manager has stopped both servers by the time we get here.
        print("services stopped", file=sys.stderr)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
