"""``estatewatch maintenance rescue ...``: the duty room's rescue actions from a shell.

For a duty room without the web app at hand (or a script): ``report`` an entrapment (the
car by rescue code, or by ``--site`` and ``--car``), then ``arrive``, ``release``,
``back-in-service`` or ``false-alarm`` on its order, and ``show`` its timeline. Each runs
the same service as the API (:func:`maintenance.services.report_entrapment`,
:func:`maintenance.services.perform`), as the login name in the role given with
``--role`` (manager by default: the duty room), in the audit trail like any change.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from maintenance.cli import Actions, _settings, _with_engine, add_database_options

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from maintenance.domain.commands import OrderCommand
    from maintenance.domain.workorders import WorkOrder

__all__ = ["add_rescue", "timeline_lines"]


def add_rescue(actions: Actions) -> None:
    rescue = actions.add_parser(
        "rescue",
        help="entrapments: report one, then arrive, release, back-in-service or false-alarm",
        description=(
            "Rescue orders from the shell, as the duty room. An entrapment opens a P1 rescue"
            " order (or joins the car's open one) whose arrival clock escalates along the"
            " site's chain (backup maintainer, then emergency services) until someone"
            " arrives. Orders are named WO-<year>-<number>."
        ),
        epilog=(
            "examples:\n"
            "  estatewatch maintenance rescue report --code P57XGW --description '2 inside'\n"
            "  estatewatch maintenance rescue report --site demo --car elev-01\n"
            "  estatewatch maintenance rescue arrive WO-2026-000042 --lat 31.23 --lon 121.47\n"
            "  estatewatch maintenance rescue release WO-2026-000042 --note 'two out, unhurt'\n"
            "  estatewatch maintenance rescue back-in-service WO-2026-000042\n"
            "  estatewatch maintenance rescue false-alarm WO-2026-000043 --reason 'child'\n"
            "  estatewatch maintenance rescue show WO-2026-000042"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    steps = rescue.add_subparsers(dest="rescue_action", metavar="<action>", required=True)
    report = _step(steps, "report", "passengers are trapped in a car: open (or join) its rescue")
    car = report.add_mutually_exclusive_group(required=True)
    car.add_argument("--code", help="the car's rescue code (shown in the car)")
    car.add_argument("--car", metavar="DEVICE_ID", help="the car's device id (with --site)")
    report.add_argument("--site", help="the site of --car")
    report.add_argument("--description", help="what the caller said")
    arrive = _step(steps, "arrive", "on site: stops the arrival clock", order=True)
    arrive.add_argument("--lat", type=float, help="latitude of the phone (with --lon)")
    arrive.add_argument("--lon", type=float, help="longitude of the phone (with --lat)")
    _step(steps, "release", "the passengers are out of the car", order=True).add_argument(
        "--note", help="how they were released"
    )
    _step(steps, "back-in-service", "the car runs again: resolves the order", order=True)
    _step(steps, "false-alarm", "nobody was trapped (cancels the order)", order=True).add_argument(
        "--reason", required=True, help="why it was a false alarm"
    )
    _step(steps, "show", "the order's rescue timeline", order=True, acts=False)


def _step(
    steps: Actions, name: str, help_text: str, *, order: bool = False, acts: bool = True
) -> argparse.ArgumentParser:
    parser = steps.add_parser(name, help=help_text, description=help_text)
    if order:
        parser.add_argument("order", help="the rescue order, WO-<year>-<number>")
    if acts:
        parser.add_argument(
            "--role",
            default="manager",
            choices=["manager", "technician", "admin"],
            help="the role you act in (default: manager, the duty room)",
        )
    add_database_options(parser)
    parser.set_defaults(handler=_run)
    return parser


def _command(args: argparse.Namespace) -> OrderCommand:
    from maintenance.domain import commands as cmd

    match args.rescue_action:
        case "arrive":
            return cmd.Arrive(args.order, args.lat, args.lon)
        case "release":
            return cmd.Release(args.order, args.note)
        case "back-in-service":
            return cmd.ReturnToService(args.order)
        case _:
            return cmd.FalseAlarm(args.order, args.reason)


def _run(args: argparse.Namespace) -> int:
    from maintenance import services
    from maintenance.config_files import load_sla_policy
    from maintenance.db.engine import make_sessionmaker
    from maintenance.db.migrations import ensure_current
    from maintenance.db.read.sites import find_car
    from maintenance.db.uow import SqlUnitOfWork
    from maintenance.domain.actors import Actor
    from maintenance.domain.errors import InvalidRequest, NotFound
    from maintenance.domain.signals import DeviceRef
    from maintenance.settings import MaintenanceSettings

    settings: MaintenanceSettings = _settings(args)
    policy = load_sla_policy(settings.sla_policy_path)
    action = args.rescue_action
    if action == "report" and args.car and not args.site:
        raise InvalidRequest("--car needs --site (or give the car's --code)")

    async def work(engine: AsyncEngine) -> WorkOrder:
        await ensure_current(engine)
        sessions = make_sessionmaker(engine)
        uow = SqlUnitOfWork(sessions, sla=policy)
        if action == "show":
            async with uow:
                order = await uow.work_orders.get(args.order)
            if order is None:
                raise NotFound(f"no work order {args.order}")
            return order
        actor = Actor(_login(), args.role)
        if action != "report":
            return (await services.perform(uow, _command(args), actor, now, policy)).order
        async with sessions() as session:
            car = await find_car(session, rescue_code=args.code, site=args.site, device_id=args.car)
        if car is None:
            raise NotFound(f"no elevator {args.code or f'{args.car} at site {args.site}'}")
        result = await services.report_entrapment(
            uow,
            actor,
            now,
            car=DeviceRef(car.site, "elevator", car.device_id),
            building=car.building,
            description=args.description,
        )
        return result.order

    order = _with_engine(settings, work)
    print("\n".join(timeline_lines(order)))
    return 0


def now() -> datetime:
    """The wall clock, handed to the services as their clock."""
    return datetime.now(UTC)


def _login() -> str:
    from maintenance.cli import cli_actor

    return cli_actor().removeprefix("cli:") or "cli"


def timeline_lines(order: WorkOrder) -> list[str]:
    """The order and its rescue timeline in time order, one line each (UTC): the stages
    and the escalation chain's calls."""
    lines = [f"{order.id} {order.status.value} {order.priority} {order.asset}"]
    rescue = order.rescue
    if rescue is None:
        return [*lines, "  not a rescue order"]
    targets = rescue.targets
    minutes = int(targets.arrive_within.total_seconds() // 60)
    lines.append(f"  stage {rescue.stage.value}; arrive within {minutes} min")
    steps = [
        (at, name, "")
        for name, at in (
            ("reported", rescue.reported_at),
            ("responded", rescue.responded_at),
            ("arrived", rescue.arrived_at),
            ("released", rescue.released_at),
            ("ended", rescue.ended_at),
        )
        if at is not None
    ]
    steps += [(e.at, "escalated", f" {e.notify}") for e in order.escalations if e.clock == "rescue"]
    for at, name, who in sorted(steps, key=lambda step: step[0]):
        lines.append(f"  {name:<10} {at.astimezone(UTC):%Y-%m-%d %H:%M:%S}{who}")
    if rescue.false_alarm_reason:
        lines.append(f"  false alarm: {rescue.false_alarm_reason}")
    return lines
