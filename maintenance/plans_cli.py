"""``estatewatch maintenance plans ...``: the elevators' maintenance plans (TSG T5002).

    schedule   run the scheduler once (the worker runs it every hour): plans for new
               cars, visits opened ahead of their due date, overdue alarms
    list       the 15-day plan: each car's interval and why, last visit, next visit
    limits     a site's on-demand limits (min/max days between visits)
    show       a visit's record, item by item

Technicians record visits and the safety manager signs them through the API or the web
app, as themselves; the command line acts as ``admin:cli:<login>`` in the audit trail.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from maintenance.cli import (
    Actions,
    _settings,
    _with_engine,
    add_database_options,
    cli_actor,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from maintenance.db.read.plans import PlanView
    from maintenance.domain.visits import Visit


def add_plans(actions: Actions) -> None:

    plans = actions.add_parser(
        "plans",
        help="the elevators' maintenance plans: 15-day visits, levels, on-demand intervals",
        description=(
            "Every registered elevator has a maintenance plan: a visit at least every 15"
            " days (or the on-demand interval its site allows), at the TSG T5002 level its"
            " date calls for (yearly, half-yearly, quarterly, half-monthly). The worker"
            " opens each visit as a work order ahead of its due date and raises an overdue"
            " alarm the day after it; technicians record visits through the API or the web"
            " app."
        ),
        epilog=(
            "examples:\n"
            "  estatewatch maintenance plans schedule\n"
            "  estatewatch maintenance plans list --site demo\n"
            "  estatewatch maintenance plans limits demo --min 15 --max 30\n"
            "  estatewatch maintenance plans show WO-2026-000123"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    steps = plans.add_subparsers(dest="plans_action", metavar="<action>", required=True)
    schedule = steps.add_parser("schedule", help="open due visits and raise overdue alarms once")
    schedule.add_argument(
        "--checklist",
        dest="checklist_path",
        type=Path,
        help="checklist catalogue (default: the shipped TSG T5002 items)",
    )
    schedule.add_argument(
        "--checklist-extra",
        dest="checklist_extra",
        metavar="FILES",
        help="a site's extra items, files separated by commas",
    )
    schedule.add_argument(
        "--sla-policy",
        dest="sla_policy_path",
        type=Path,
        help="SLA policy file (visits open this policy's resolve target ahead)",
    )
    schedule.set_defaults(handler=_schedule)
    listing = steps.add_parser("list", help="each car's plan: interval and why, next visit")
    listing.add_argument("--site", help="only this site")
    listing.set_defaults(handler=_list)
    limits = steps.add_parser("limits", help="set a site's on-demand limits (days)")
    limits.add_argument("site", help="the site's code")
    limits.add_argument("--min", dest="min_days", type=int, required=True, help="at least")
    limits.add_argument(
        "--max",
        dest="max_days",
        type=int,
        required=True,
        help="at most (15 keeps the statutory 15 days)",
    )
    limits.set_defaults(handler=_limits)
    show = steps.add_parser("show", help="a visit's record")
    show.add_argument("order_id", help="the visit's work order, WO-<year>-<number>")
    show.set_defaults(handler=_show)
    for parser in (schedule, listing, limits, show):
        add_database_options(parser)


def _schedule(args: argparse.Namespace) -> int:
    from maintenance.config_files import load_checklist, load_sla_policy
    from maintenance.db.engine import make_sessionmaker
    from maintenance.db.migrations import ensure_current
    from maintenance.db.uow import SqlUnitOfWork
    from maintenance.services.plans import ScheduleRun, schedule_visits

    settings = _settings(args)
    checklist = load_checklist(settings.checklist_path, settings.checklist_extra)
    policy = load_sla_policy(settings.sla_policy_path)

    async def work(engine: AsyncEngine) -> ScheduleRun:
        await ensure_current(engine)
        uow = SqlUnitOfWork(make_sessionmaker(engine), sla=policy)
        return await schedule_visits(uow, lambda: datetime.now(UTC), checklist, policy)

    run = _with_engine(settings, work)
    print(
        f"{len(run.plans_created)} plans created, {len(run.visits_opened)} visits opened"
        f" ({', '.join(run.visits_opened) or 'none'}), {len(run.overdue)} cars overdue"
        f" ({', '.join(run.overdue) or 'none'})"
    )
    return 0


def format_plans(views: list[PlanView]) -> str:
    """The plan as a table, one car a line, then each car's reasons."""
    header = f"{'car':<26} {'every':>5}  {'last visit':<10}  {'next due':<10}  {'level':<12}  visit"
    lines = [header]
    for v in views:
        last = v.last_visit_on.isoformat() if v.last_visit_on else "-"
        late = "  OVERDUE" if v.overdue else ""
        lines.append(
            f"{v.asset:<26} {v.interval_days:>4}d  {last:<10}  {v.next_due.isoformat():<10}"
            f"  {v.next_level:<12}  {v.pending_visit or '-'}{late}"
        )
    lines.append("")
    lines += [f"{v.asset}: {'; '.join(v.reasons)}" for v in views]
    return "\n".join(lines)


def _list(args: argparse.Namespace) -> int:
    from maintenance.db.engine import make_sessionmaker
    from maintenance.db.migrations import ensure_current
    from maintenance.db.read.plans import plan_rows

    async def work(engine: AsyncEngine) -> list[PlanView]:
        await ensure_current(engine)
        async with make_sessionmaker(engine)() as session:
            sites = None if args.site is None else [args.site]
            return await plan_rows(session, datetime.now(UTC), sites=sites)

    views = _with_engine(_settings(args), work)
    print(
        format_plans(views)
        if views
        else "no plans yet: run 'estatewatch maintenance plans schedule'"
    )
    return 0


def _limits(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from estatewatch.errors import ConfigError
    from maintenance.db.engine import make_sessionmaker
    from maintenance.db.migrations import ensure_current
    from maintenance.db.read.sites import get_site
    from maintenance.db.uow import SqlUnitOfWork
    from maintenance.domain.actors import Actor
    from maintenance.domain.intervals import IntervalLimits
    from maintenance.domain.plans import Plan
    from maintenance.services.plans import set_limits

    try:
        limits = IntervalLimits(min_days=args.min_days, max_days=args.max_days)
    except ValidationError as exc:
        problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise ConfigError(f"--min/--max: {problems}") from exc

    async def work(engine: AsyncEngine) -> list[Plan]:
        await ensure_current(engine)
        sessions = make_sessionmaker(engine)
        async with sessions() as session:
            await get_site(session, args.site)
        actor = Actor(cli_actor(), "admin")
        return await set_limits(
            SqlUnitOfWork(sessions), args.site, limits, actor, lambda: datetime.now(UTC)
        )

    plans = _with_engine(_settings(args), work)
    print(f"site {args.site}: {limits.min_days} to {limits.max_days} days; {len(plans)} plans")
    return 0


def format_visit(visit: Visit, zone: str) -> str:
    """The record, times in the site's zone ``zone``, then one line per item."""
    from maintenance.domain.site_time import to_site_time

    def at(when: datetime | None) -> str:
        return "-" if when is None else to_site_time(when, zone).strftime("%Y-%m-%d %H:%M %Z")

    head = [
        f"visit {visit.order_id}: {visit.asset}, {visit.level}, due {visit.due_on.isoformat()}",
        f"technicians: {', '.join(visit.technicians) or '-'}",
        f"from {at(visit.started_at)} to {at(visit.ended_at)}",
        f"signed by {visit.signed_by} at {at(visit.signed_at)}"
        if visit.signed_by
        else "not signed",
        "",
    ]
    results = {r.code: r for r in visit.results}
    lines = []
    for item in visit.items:
        result = results.get(item.name)
        status = result.status if result else "open"
        reading = "" if result is None or result.reading is None else f" {result.reading:g}"
        unit = item.reading.unit if item.reading and reading else ""
        repair = visit.defect_orders.get(item.name)
        extra = f" -> {repair}" if repair else ""
        note = f" ({result.note})" if result and result.note else ""
        lines.append(
            f"{item.name:<5} {status:<14} {item.title}{reading}{unit and ' ' + unit}{note}{extra}"
        )
    return "\n".join(head + lines)


def _show(args: argparse.Namespace) -> int:
    from maintenance.db.engine import make_sessionmaker
    from maintenance.db.migrations import ensure_current
    from maintenance.db.read.plans import visit_record
    from maintenance.db.read.sites import get_site
    from maintenance.domain.errors import NotFound

    async def work(engine: AsyncEngine) -> tuple[Visit, str]:
        await ensure_current(engine)
        async with make_sessionmaker(engine)() as session:
            visit = await visit_record(session, args.order_id)
            if visit is None:
                raise NotFound(f"no maintenance visit {args.order_id}")
            return visit, (await get_site(session, visit.site)).timezone

    print(format_visit(*_with_engine(_settings(args), work)))
    return 0
