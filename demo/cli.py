"""``estatewatch demo``: the whole platform with a simulated compound, one command."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="run the whole platform with a simulated compound and a scripted scenario",
        description=(
            "Start private Mosquitto and InfluxDB, a simulated compound (6 elevators, one 18"
            " years old; 2 charger cabinets; 60 smoke alarms in 3 buildings), its gateway,"
            " ingest, maintenance and the API, then play a scenario: doors slowing, an"
            " entrapment, a charger overheating, smoke in the bike shed, a resident's"
            " request. Shows readings, alarms and work orders with their SLA clocks live."
            " Ctrl-C stops everything. All data lives in --work-dir and is recreated on"
            " every run."
        ),
        epilog=(
            "examples:\n"
            "  estatewatch demo\n"
            "  estatewatch demo --duration 60          # no terminal needed; exits 0\n"
            "  estatewatch demo --api-port 8080"
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
    demo.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    from demo.console import is_terminal
    from demo.platform import DemoOptions
    from demo.session import run_demo
    from estatewatch.stopping import interrupt_on_signals

    options = DemoOptions(work_dir=args.work_dir, api_port=args.api_port)
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
