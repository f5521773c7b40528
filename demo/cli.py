"""``estatewatch demo``: the whole platform with a simulated compound, one command."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Final

_MAX_VISIT_DAYS: Final = 365


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="run the whole platform with a simulated compound and a scripted scenario",
        description=(
            "Start private Mosquitto and InfluxDB, a simulated compound (6 elevators, one 18"
            " years old; 2 charger cabinets; 60 smoke alarms in 3 buildings), its gateway,"
            " ingest, maintenance and the API, with a month of signed maintenance visits"
            " behind every elevator's plan, then play a scenario: doors slowing, an"
            " entrapment, a charger overheating, smoke in the bike shed, a resident's"
            " request, a maintenance visit and a rescue drill. Shows readings, alarms and"
            " work orders with their SLA clocks live."
            " Ctrl-C stops everything. All data lives in --work-dir and is recreated on"
            " every run."
        ),
        epilog=(
            "examples:\n"
            "  estatewatch demo\n"
            "  estatewatch demo --duration 60          # no terminal needed; exits 0\n"
            "  estatewatch demo --api-port 8080\n"
            "  estatewatch demo --db postgresql        # the central database on PostgreSQL"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--duration", type=float, help="stop after this many seconds")
    demo.add_argument("--api-port", type=int, default=8000, help="API port (default 8000)")
    demo.add_argument(
        "--work-dir", type=Path, default=Path("var/demo"), help="data and logs (var/demo)"
    )
    demo.add_argument(
        "--site-file", type=Path, help="the compound's site file (default: the demo compound)"
    )
    demo.add_argument(
        "--plain", action="store_true", help="summary lines instead of the live screen"
    )
    demo.add_argument(
        "--visit-days",
        type=_visit_days,
        default=30,
        help="days of maintenance visits played before the start (default 30; 0: none)",
    )
    demo.add_argument(
        "--db",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help=(
            "the maintenance database: an SQLite file in --work-dir (default), or a private"
            " PostgreSQL server started there (Debian's postgresql-15: 'make setup')"
        ),
    )
    demo.set_defaults(handler=_demo)


def _visit_days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        days = -1
    if not 0 <= days <= _MAX_VISIT_DAYS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days from 0 to 365")
    return days


def _demo(args: argparse.Namespace) -> int:
    from demo.console import is_terminal
    from demo.platform import DemoOptions
    from demo.session import run_demo
    from estatewatch.stopping import interrupt_on_signals

    options = DemoOptions(
        work_dir=args.work_dir,
        api_port=args.api_port,
        visit_days=args.visit_days,
        database=args.db,
    )
    if args.site_file is not None:
        options = replace(options, site_file=args.site_file)
    live = is_terminal() and not args.plain
    # SIGTERM while starting up stops what has started, as Ctrl-C does (the watch loop
    # handles both itself once everything runs).
    interrupt_on_signals()
    try:
        return run_demo(options, args.duration, live)
    except KeyboardInterrupt:
        # Ctrl-C while starting up: everything started so far has been stopped.
        print("demo interrupted while starting; everything it started has stopped")
        return 130
