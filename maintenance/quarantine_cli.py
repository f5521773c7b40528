"""``estatewatch maintenance quarantine ...``: unknown senders from a shell.

The worker believes only registered senders; what it heard from others waits in the
quarantine (README: "The register and the quarantine"). ``list`` shows the entries,
``block`` keeps one quarantined for good, ``register`` puts its sender in the register:
a gateway at once, a device with ``--building`` and a YAML file of its facts as a site
file gives them (``elevator: {name: ..., ...}``). The same services as the API's
``/api/v1/quarantine`` and the admin page, in the audit trail as ``cli:<login name>``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from maintenance.cli import Actions, _settings, _with_engine, add_database_options, cli_actor

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from maintenance.db.read.quarantine import QuarantineEntry

__all__ = ["add_quarantine", "entry_line"]


def add_quarantine(actions: Actions) -> None:
    quarantine = actions.add_parser(
        "quarantine",
        help="senders the register does not have: list, block or register them",
        description=(
            "Devices and gateways the maintenance worker heard from but the asset register"
            " does not have. Their messages are counted, never believed, until an operator"
            " registers the sender (its next messages are judged like any other's) or"
            " blocks it for good."
        ),
        epilog=(
            "examples:\n"
            "  estatewatch maintenance quarantine list --site demo\n"
            "  estatewatch maintenance quarantine block 7\n"
            "  estatewatch maintenance quarantine register 8          (a gateway)\n"
            "  estatewatch maintenance quarantine register 9 --building B2 --device lift.yaml\n"
            "\n"
            "lift.yaml, the car as a site file gives it:\n"
            "  elevator:\n"
            "    name: elev-09\n"
            "    make: Hitachi\n"
            "    model: UAX\n"
            "    install_date: 2019-05-01\n"
            "    rated_load_kg: 1000\n"
            "    rated_speed_mps: 1.75\n"
            "    floors_served: 11"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    steps = quarantine.add_subparsers(dest="quarantine_action", metavar="<action>", required=True)
    listing = _step(steps, "list", "the entries, the most recently heard first")
    listing.add_argument("--site", help="only this site's entries")
    listing.add_argument(
        "--all", action="store_true", help="registered entries too (default: held and blocked)"
    )
    _step(steps, "block", "keep an entry's sender quarantined for good", entry=True)
    register = _step(steps, "register", "put an entry's sender in the register", entry=True)
    register.add_argument("--building", help="the building a device is in (not for a gateway)")
    register.add_argument(
        "--device",
        type=Path,
        metavar="FILE",
        help="YAML: the device's facts as a site file gives them (not for a gateway)",
    )


def _step(
    steps: Actions, name: str, help_text: str, *, entry: bool = False
) -> argparse.ArgumentParser:
    parser = steps.add_parser(name, help=help_text, description=help_text)
    if entry:
        parser.add_argument("entry", type=int, help="the entry's number (from list)")
    add_database_options(parser)
    parser.set_defaults(handler=_run)
    return parser


def entry_line(entry: QuarantineEntry) -> str:
    """One entry as ``list`` prints it."""
    sender = "gateway" if entry.is_gateway else entry.device_type
    decided = f" by {entry.decided_by}" if entry.decided_by else ""
    return (
        f"{entry.id:<5}  {entry.state:<10}  {entry.site}/{entry.device_id} ({sender}, via"
        f" {entry.gateway_id})  {entry.messages} messages, last {entry.last_seen:%Y-%m-%d %H:%M}"
        f" UTC{decided}\n       {entry.sample}"
    )


def _run(args: argparse.Namespace) -> int:
    from estatewatch.clock import utc_now
    from estatewatch.validation import read_yaml, validate
    from maintenance.db.engine import make_sessionmaker
    from maintenance.db.migrations import ensure_current
    from maintenance.db.read.quarantine import quarantine_entries, quarantine_entry
    from maintenance.db.uow import SqlUnitOfWork
    from maintenance.domain.errors import InvalidRequest
    from maintenance.services import quarantine
    from maintenance.sites import Registration

    action = args.quarantine_action
    registration = Registration()
    if action == "register" and args.device is not None:
        raw = read_yaml(args.device)
        if isinstance(raw, dict) and args.building is not None:
            raw = {**raw, "building": args.building}
        registration = validate(Registration, raw, str(args.device))
    elif action == "register" and args.building is not None:
        raise InvalidRequest("--building goes with --device FILE: the device's facts")

    async def work(engine: AsyncEngine) -> list[QuarantineEntry]:
        await ensure_current(engine)
        sessions = make_sessionmaker(engine)
        if action == "list":
            async with sessions() as session:
                return await quarantine_entries(
                    session,
                    sites=None if args.site is None else (args.site,),
                    states=("held", "blocked", "registered") if args.all else ("held", "blocked"),
                )
        uow = SqlUnitOfWork(sessions)
        if action == "block":
            await quarantine.block(uow, args.entry, by=cli_actor(), clock=utc_now)
        else:
            await quarantine.register(
                uow,
                args.entry,
                by=cli_actor(),
                clock=utc_now,
                building=registration.building,
                device=registration.device(),
            )
        async with sessions() as session:
            return [await quarantine_entry(session, args.entry)]

    entries = _with_engine(_settings(args), work)
    if action == "list" and not entries:
        print("the quarantine is empty: every sender heard from is registered")
    for entry in entries:
        print(entry_line(entry))
    return 0
