"""The one command-line entry point: ``estatewatch <subcommand> ...`` (``python -m cli``).

Each service package contributes its subcommands through a ``register(subparsers)``
function in its own ``cli`` module; those modules import their heavy dependencies only
inside the handlers, so ``estatewatch --help`` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Protocol

from estatewatch import __version__
from estatewatch.errors import EstatewatchError

Handler = Callable[[argparse.Namespace], int]


class _Registrar(Protocol):
    def __call__(self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None: ...


def _registrars() -> list[_Registrar]:
    from api import cli as api_cli
    from cli import catalogue as catalogue_cli
    from cli import simulate as simulate_cli
    from demo import cli as demo_cli
    from gateway import cli as gateway_cli
    from infra.local import cli as services_cli
    from ingest import cli as ingest_cli
    from maintenance import cli as maintenance_cli

    return [
        demo_cli.register,
        catalogue_cli.register,
        simulate_cli.register,
        gateway_cli.register,
        ingest_cli.register,
        maintenance_cli.register,
        api_cli.register,
        services_cli.register,
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="estatewatch",
        description=(
            "Building sensors and maintenance for residential compounds. "
            "Run 'estatewatch <command> --help' for the options of each command."
        ),
    )
    parser.add_argument("--version", action="version", version=f"estatewatch {__version__}")
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="how much the command logs (default: INFO)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="<command>")
    for register in _registrars():
        register(subparsers)
    return parser


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # pymodbus logs every client timeout and its own deprecation notices at WARNING;
    # our adapters report those in the operator's terms instead.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    # httpx logs every request at INFO: noise in a service that polls or writes all day.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Alembic logs its plugins (on import) and dialect at INFO on every run; our commands
    # print what matters. With --log-level DEBUG (an operator looking into a migration)
    # it still talks.
    if level != "DEBUG":
        logging.getLogger("alembic").setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    configure_logging(args.log_level)
    try:
        return handler(args)
    except EstatewatchError as exc:
        print(f"estatewatch: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
