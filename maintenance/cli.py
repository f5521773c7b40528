"""``estatewatch maintenance ...``: the maintenance database, site import, audit trail,
maintenance plans (:mod:`maintenance.plans_cli`), elevator inspections.

Every action takes the database as ``--db URL``, else the SQLite file ``maintenance.db``
in ``--data-dir DIR`` (which holds the worker's other files either way), else
``ESTATEWATCH_MAINTENANCE_DB_URL`` or ``ESTATEWATCH_MAINTENANCE_DATA_DIR``, else
``var/maintenance``.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias, TypeVar

from estatewatch.cli_settings import add_screen_options, name_environment

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from maintenance.domain.inspections import CarInspection
    from maintenance.settings import MaintenanceSettings

T = TypeVar("T")
Actions: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def register(subparsers: Actions) -> None:
    maintenance = subparsers.add_parser(
        "maintenance",
        help="detection, alarms, work orders and assets (estatewatch maintenance run)",
        description=(
            "The maintenance service's database: schema migrations, the compound's assets"
            " (from a site file), the tamper-evident audit trail and the elevators'"
            " inspection certificates. Every action takes the"
            " database as --db URL, else SQLite in --data-dir DIR, or"
            " ESTATEWATCH_MAINTENANCE_DB_URL / ESTATEWATCH_MAINTENANCE_DATA_DIR (default:"
            " SQLite in var/maintenance)."
        ),
        epilog=(
            "examples:\n"
            "  estatewatch maintenance run --mqtt-port 1883\n"
            "  estatewatch maintenance db upgrade\n"
            "  estatewatch maintenance import-site infra/sites/demo-compound.yaml\n"
            "  estatewatch maintenance audit verify --db postgresql+asyncpg://host/estatewatch\n"
            "  estatewatch maintenance rescue report --site demo --car elev-01\n"
            "  estatewatch maintenance plans list --site demo\n"
            "  estatewatch maintenance inspection list --site demo\n"
            "  estatewatch maintenance quarantine list"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = maintenance.add_subparsers(dest="action", metavar="<action>", required=True)
    _add_run(actions)
    _add_db(actions)
    _add_import_site(actions)
    _add_audit(actions)
    from maintenance.rescue_cli import add_rescue  # imports this module: not at the top

    add_rescue(actions)
    from maintenance.plans_cli import add_plans  # imports this module: not at the top

    add_plans(actions)
    _add_inspection(actions)
    from maintenance.quarantine_cli import add_quarantine  # imports this module: not at the top

    add_quarantine(actions)


def add_database_options(parser: argparse.ArgumentParser) -> None:
    """``--db URL`` and ``--data-dir DIR``: the maintenance database (the API's too) and
    the directory of the files beside it. Not exclusive: on PostgreSQL the data directory
    still holds the worker's rule state and dead letters and the API's photos."""
    parser.add_argument(
        "--db", dest="db_url", metavar="URL", help="SQLAlchemy async URL (default: SQLite)"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help=(
            "the service's files: the SQLite file maintenance.db unless --db is given, the"
            " worker's rule state and dead letters, the API's photos (var/maintenance)"
        ),
    )


def add_migrate_option(parser: argparse.ArgumentParser) -> None:
    """``--migrate``: migrate the database at start instead of refusing one that is behind."""
    parser.add_argument(
        "--migrate",
        action="store_true",
        default=None,  # None: not given, so ESTATEWATCH_<SERVICE>_MIGRATE decides
        help="migrate the database at start (default: refuse a database not migrated)",
    )


def _add_run(actions: Actions) -> None:
    run = actions.add_parser(
        "run",
        help="detect faults in the telemetry and open alarms and work orders (until SIGTERM)",
        description=(
            "Consume gateway telemetry and events of this worker's sites from the central"
            " broker (a persistent MQTT 5 session), judge them with the detection rules, keep"
            " alarms and work orders in the database, check SLAs, send webhooks and"
            " notifications. The database must be migrated first ('estatewatch maintenance"
            " db upgrade') unless --migrate is given. Each option can also be set by the"
            " environment variable named after it; options win."
        ),
    )
    for option, dest, kind, text in (
        ("--mqtt-host", "mqtt_host", str, "central broker host (127.0.0.1)"),
        ("--mqtt-port", "mqtt_port", int, "central broker port (1883)"),
        ("--client-id", "client_id", str, "this worker's id; names its persistent session"),
        ("--sites", "sites", str, "sites this worker judges, separated by commas (+: all)"),
        ("--rules", "rules_path", Path, "rule file (default: maintenance/rules/default.yaml)"),
        ("--sla-policy", "sla_policy_path", Path, "SLA policy file (default: P1 10 min/1 h/4 h)"),
        ("--webhooks", "webhooks_path", Path, "webhook subscriptions file (default: none)"),
        (
            "--notify",
            "notify_path",
            Path,
            "notification channels file: each site's mail server, chat robots, people's"
            " addresses and on-call rota (default: none sent)",
        ),
        (
            "--public-base-url",
            "public_base_url",
            str,
            "the web app's address, for the links in notifications (needed with --notify)",
        ),
        ("--checklist", "checklist_path", Path, "maintenance checklist (default: TSG T5002)"),
        ("--checklist-extra", "checklist_extra", str, "a site's extra checklist items, a,b"),
        (
            "--gateway-offline-grace",
            "gateway_offline_grace",
            float,
            "seconds a gateway's offline status (or last will) waits for it to come back"
            " before gateway_offline is raised (120)",
        ),
        ("--metrics-host", "metrics_host", str, "address of the /metrics endpoint (127.0.0.1)"),
        ("--metrics-port", "metrics_port", int, "Prometheus /metrics port (0: off)"),
        ("--tick-interval", "tick_interval", float, "seconds between time-rule ticks (1.0)"),
        ("--sla-interval", "sla_interval", float, "seconds between SLA checks (15)"),
        ("--plan-interval", "plan_interval", float, "seconds between plan runs (3600)"),
        (
            "--inspection-interval",
            "inspection_interval",
            float,
            "seconds between checks of the elevators' inspection certificates (3600)",
        ),
    ):
        run.add_argument(option, dest=dest, type=kind, help=text)
    add_screen_options(run)
    run.add_argument(
        "--no-relays",
        dest="relays",
        action="store_const",
        const=False,
        default=None,  # None: not given, so ESTATEWATCH_MAINTENANCE_RELAYS decides
        help="do not send webhooks and notifications: with several workers on one database,"
        " every worker but one (which sends them for every site); in the environment: =0",
    )
    add_migrate_option(run)
    add_database_options(run)
    # The broker's login stays out of process listings; snapshots rarely need tuning.
    name_environment(
        run, "ESTATEWATCH_MAINTENANCE_", ("mqtt_username", "mqtt_password", "snapshot_interval")
    )
    run.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from estatewatch.stopping import run_until_signalled
    from maintenance.worker import run_maintenance

    settings = _settings(args)
    return run_until_signalled(lambda stop: run_maintenance(settings, stop))


def _add_db(actions: Actions) -> None:
    db = actions.add_parser("db", help="manage the database schema")
    db_actions = db.add_subparsers(dest="db_action", metavar="<action>", required=True)
    upgrade = db_actions.add_parser(
        "upgrade", help="create the database or migrate it to the newest schema"
    )
    add_database_options(upgrade)
    upgrade.set_defaults(handler=_db_upgrade)


def _add_import_site(actions: Actions) -> None:
    parser = actions.add_parser(
        "import-site",
        help="load a site file's buildings and devices (re-importing updates in place)",
    )
    parser.add_argument("file", type=Path, help="the site file (YAML)")
    parser.add_argument("--actor", help="who is importing, for the audit trail (cli:<user>)")
    add_database_options(parser)
    parser.set_defaults(handler=_import_site)


def _add_audit(actions: Actions) -> None:
    audit = actions.add_parser("audit", help="the tamper-evident audit trail")
    audit_actions = audit.add_subparsers(dest="audit_action", metavar="<action>", required=True)
    verify = audit_actions.add_parser(
        "verify", help="re-check the hash chain; exit 1 naming the first broken link"
    )
    add_database_options(verify)
    verify.set_defaults(handler=_audit_verify)


def _day(text: str) -> date:
    """A date option: ``2026-12-05``; argparse names the option when this refuses."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-12-05") from None


def _add_inspection(actions: Actions) -> None:
    inspection = actions.add_parser(
        "inspection",
        help="elevators' periodic inspections: record one, list certificates",
        description=(
            "Each elevator's statutory periodic inspection certificate. The worker reminds"
            " 30 and 7 days before a certificate's last valid day and opens a P2 work"
            " order when it has expired; recording the new inspection clears them."
        ),
        epilog=(
            "examples:\n"
            "  estatewatch maintenance inspection record demo elev-04 --inspected-on"
            " 2027-02-09 --certificate TSX-2027-0044\n"
            "  estatewatch maintenance inspection list --site demo\n"
            "  estatewatch maintenance quarantine list"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    steps = inspection.add_subparsers(dest="inspection_action", metavar="<action>", required=True)
    record = steps.add_parser(
        "record",
        help="record an inspection: its date, certificate number and last valid day",
    )
    record.add_argument("site", help="the site code (as in the site file)")
    record.add_argument("device_id", metavar="elevator", help="the car's device id (elev-04)")
    record.add_argument(
        "--inspected-on", type=_day, required=True, metavar="DATE", help="the inspection's date"
    )
    record.add_argument("--certificate", metavar="NUMBER", help="the certificate's number")
    record.add_argument(
        "--valid-until",
        type=_day,
        metavar="DATE",
        help="the certificate's last valid day (default: a year after the inspection, less a day)",
    )
    record.add_argument("--actor", help="who records it, for the audit trail (default: login)")
    add_database_options(record)
    record.set_defaults(handler=_inspection_record)

    listing = steps.add_parser("list", help="each elevator's certificate and status today")
    listing.add_argument("--site", help="only this site's elevators")
    add_database_options(listing)
    listing.set_defaults(handler=_inspection_list)


def _inspection_record(args: argparse.Namespace) -> int:
    from maintenance.db.engine import make_sessionmaker
    from maintenance.db.migrations import ensure_current
    from maintenance.db.uow import SqlUnitOfWork
    from maintenance.domain.actors import Actor
    from maintenance.domain.inspections import Certificate, default_valid_until
    from maintenance.services import record_inspection

    inspected: date = args.inspected_on
    certificate = Certificate(
        inspected, args.valid_until or default_valid_until(inspected), args.certificate
    )
    actor = Actor(args.actor or cli_actor().removeprefix("cli:"), "admin")

    async def work(engine: AsyncEngine) -> CarInspection:
        await ensure_current(engine)
        recorded = await record_inspection(
            SqlUnitOfWork(make_sessionmaker(engine)),
            actor,
            lambda: datetime.now(UTC),
            site=args.site,
            device_id=args.device_id,
            certificate=certificate,
        )
        if recorded.cancelled is not None:
            print(f"work order {recorded.cancelled.id} cancelled: the certificate is renewed")
        return recorded.car

    car = _with_engine(_settings(args), work)
    print(_inspection_line(car, datetime.now(UTC)))
    return 0


def _inspection_list(args: argparse.Namespace) -> int:
    from maintenance.db.engine import make_sessionmaker
    from maintenance.db.migrations import ensure_current
    from maintenance.db.read.inspections import inspected_cars

    async def work(engine: AsyncEngine) -> list[CarInspection]:
        await ensure_current(engine)
        async with make_sessionmaker(engine)() as session:
            return await inspected_cars(session, sites=None if args.site is None else (args.site,))

    now = datetime.now(UTC)
    for car in _with_engine(_settings(args), work):
        print(_inspection_line(car, now))
    return 0


def _inspection_line(car: CarInspection, now: datetime) -> str:
    """``demo B1 elev-01  valid until 2027-05-19 (TSX-2026-0117): valid``."""
    where = f"{car.car.site} {car.building} {car.car.device_id}"
    certificate = car.certificate
    if certificate is None:
        return f"{where}  no certificate on record"
    number = f" ({certificate.number})" if certificate.number else ""
    return f"{where}  valid until {certificate.valid_until}{number}: {car.status(now)}"


def _settings(args: argparse.Namespace) -> MaintenanceSettings:
    from estatewatch.cli_settings import settings_from_args
    from maintenance.settings import MaintenanceSettings

    return settings_from_args(MaintenanceSettings, args, "maintenance")


def _with_engine(settings: MaintenanceSettings, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    from maintenance.db.engine import open_engine

    async def main() -> T:
        async with open_engine(settings.database_url) as engine:
            return await work(engine)

    return asyncio.run(main())


def _db_upgrade(args: argparse.Namespace) -> int:
    from maintenance.db.migrations import head_revision, upgrade

    settings = _settings(args)
    _with_engine(settings, upgrade)
    print(f"maintenance database at revision {head_revision()}")
    return 0


def _import_site(args: argparse.Namespace) -> int:
    from maintenance.db.engine import make_sessionmaker
    from maintenance.db.migrations import ensure_current
    from maintenance.db.site_import import ImportReport
    from maintenance.db.uow import SqlUnitOfWork
    from maintenance.sites import load_site_file

    settings = _settings(args)
    site_file = load_site_file(args.file)
    actor = args.actor or cli_actor()

    async def work(engine: AsyncEngine) -> ImportReport:
        await ensure_current(engine)
        async with SqlUnitOfWork(make_sessionmaker(engine)) as uow:
            report = await uow.sites.import_file(
                site_file, actor=actor, at=datetime.now(UTC), source=str(args.file)
            )
            await uow.commit()
        return report

    print(_with_engine(settings, work))
    return 0


def _audit_verify(args: argparse.Namespace) -> int:
    from maintenance.db.audit import AuditReport, verify
    from maintenance.db.engine import make_sessionmaker
    from maintenance.db.migrations import ensure_current

    async def work(engine: AsyncEngine) -> AuditReport:
        await ensure_current(engine)
        async with make_sessionmaker(engine)() as session:
            return await verify(session)

    report = _with_engine(_settings(args), work)
    print(report)
    return 0 if report.intact else 1


def cli_actor() -> str:
    """Who ran a command, for the audit trail: ``cli:<login name>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "cli"
