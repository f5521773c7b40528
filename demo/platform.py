"""The demo platform: everything a compound and its central services run, on one machine.

Started in the order data flows backwards, so nothing publishes before its consumer is
there: private Mosquitto and InfluxDB (:class:`infra.local.LocalServices`), the maintenance
database (SQLite in the work directory, or with ``--db postgresql`` a private PostgreSQL
server there too; migrated, the demo site file imported), ``maintenance run``, ``ingest run``, the
API with one demo user per role (a bearer token and a web password each), the simulated
compound, and a gateway drafted from the simulator's inventory. Before the maintenance
worker first runs, a month of maintenance visits is played in this process
(:mod:`demo.history`), so the plans start with history. What the platform notifies
goes to a local mail catcher and robot endpoint (:mod:`demo.notify_catcher`): files
``notify/mail.jsonl`` and ``notify/robot.jsonl`` in the work directory; every demo user
has their own address, and the manager reads the chat too (the robot @mentions them,
so a pre-breach warning shows there as well). Each is its own
``estatewatch`` process (:mod:`demo.processes`); the work directory (default ``var/demo``)
is emptied first, so every run starts from the same compound.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx

import infra
from demo.history import Crew, play_visits
from demo.notify_catcher import running_catchers
from demo.processes import Children
from estatewatch.clock import utc_now
from estatewatch.errors import ConfigError, ServiceError
from infra.local import LocalServices, PostgresInstance, free_ports
from maintenance.config_files import load_checklist
from maintenance.db.engine import default_url, make_sessionmaker, open_engine
from maintenance.domain.sla import SlaPolicy
from maintenance.sites import load_site_file

SITE_FILE = Path(infra.__file__).parent / "sites" / "demo-compound.yaml"
ROLES = ("admin", "manager", "technician", "committee", "supervisor", "resident")
# Technicians see the orders of their sites; a resident belongs to a site, building, unit.
_USER_DETAILS = {
    "technician": ["--site", "demo"],
    "resident": ["--site", "demo", "--building", "B2", "--unit", "7-702"],
}


def demo_login(role: str) -> tuple[str, str]:
    """The demo user of ``role`` and their web password: fixed, so a demo can be shown
    from a printed sheet; only the demo's throwaway database ever holds them."""
    return f"demo-{role}", f"estate-{role}-2026"


@dataclass(frozen=True)
class DemoOptions:
    work_dir: Path = Path("var/demo")
    api_port: int = 8000
    site_file: Path = SITE_FILE
    elevators: int = 6
    chargers: int = 2
    smoke: int = 60
    visit_days: int = 30
    """Days of maintenance visits played before the platform starts (0: none)."""
    database: Literal["sqlite", "postgresql"] = "sqlite"


@dataclass
class Platform:
    """Where everything answers, for the script and the console."""

    options: DemoOptions
    site: str
    mqtt_port: int
    influx_url: str
    metrics_port: int
    control_port: int
    database_url: str
    api_url: str
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def logins(self) -> dict[str, tuple[str, str]]:
        """(username, password) per role, for the web app at ``api_url``."""
        return {role: demo_login(role) for role in self.tokens}


def check_port_free(port: int, what: str, option: str) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise ConfigError(
                f"port {port} ({what}) is already in use: stop what uses it or pass {option}"
            ) from None


@contextmanager
def running_platform(
    options: DemoOptions, children: Children, *, first_visit: str | None = None
) -> Iterator[Platform]:
    """Everything running; ``first_visit``: the car whose next maintenance visit opens as
    the platform starts (the script records it live)."""
    site = load_site_file(options.site_file)  # a broken site file stops us before anything runs
    check_port_free(options.api_port, "the API", "--api-port")
    work = options.work_dir.absolute()
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    with ExitStack() as stack:
        services = stack.enter_context(LocalServices(work / "services"))
        mqtt, influx = services.mosquitto, services.influxdb
        maintenance_dir = work / "maintenance"
        # The data directory holds more than SQLite's file (the worker's rule state, the
        # API's photos): in the work directory on PostgreSQL too. Left to its default
        # (var/maintenance), a rule state restored from an earlier run kept its alarms
        # raised, so that run's faults opened no orders in this one.
        db = ["--data-dir", str(maintenance_dir)]
        if options.database == "postgresql":
            postgres = stack.enter_context(PostgresInstance(work / "services"))
            database_url = postgres.url()
            db += ["--db", database_url]  # no password in it: trust on loopback only
        else:
            database_url = default_url(maintenance_dir)
        children.run("maintenance-db", ["maintenance", "db", "upgrade", *db])
        children.run(
            "maintenance-import", ["maintenance", "import-site", str(options.site_file), *db]
        )
        metrics_port, _ = free_ports(2)
        notify = stack.enter_context(running_catchers(work / "notify", site.site))
        # On the way out the services stop first (newest first), then the servers and
        # catchers they use: one gone under a running service makes it log failures (and the
        # broker's last wills look like gateways going offline).
        stack.callback(children.stop_all)
        # Ingest needs nothing of maintenance's: it starts while the history is played.
        children.start(
            "ingest",
            [
                "ingest", "run", "--mqtt-port", str(mqtt.port), "--influx-url", influx.url,
                "--client-id", "demo-ingest", "--metrics-port", str(metrics_port),
                "--spill-path", str(work / "ingest" / "spill.sqlite"),
                "--dead-letter-path", str(work / "ingest" / "dead_letters.jsonl"),
            ],
        )  # fmt: skip
        early = ("technician",) if options.visit_days else ()
        for role in early:  # the month's visits are assigned to the technician
            add_user(children, db, role)
        if options.visit_days:
            # Before the worker's first scheduler run, which would start every plan today.
            asyncio.run(month_of_visits(database_url, site.site, options.visit_days, first_visit))
        children.start(
            "maintenance",
            [
                "maintenance",
                "run",
                "--mqtt-port",
                str(mqtt.port),
                *db,
                "--client-id",
                "demo-maintenance",
                "--notify",
                str(notify),
                "--public-base-url",
                f"http://127.0.0.1:{options.api_port}",
            ],
        )
        api_url = f"http://127.0.0.1:{options.api_port}"
        start_api(children, options, db, mqtt.port, influx.url)  # boots while users are made
        for role in ROLES:
            if role not in early:
                add_user(children, db, role)
        tokens = {role: create_token(children, db, role) for role in ROLES}
        inventory = work / "inventory.json"
        children.start(
            "simulator",
            [
                "simulate", "--elevators", str(options.elevators),
                "--chargers", str(options.chargers), "--smoke", str(options.smoke),
                "--mqtt", f"127.0.0.1:{mqtt.port}",
                "--base-port", "0", "--control-port", "0", "--inventory", str(inventory),
                "--work-dir", str(work / "simulator"),
            ],
        )  # fmt: skip
        _wait_for_file(inventory, children, "the simulator")
        control = json.loads(inventory.read_text())["control"]
        gateway_file = work / "gateway.yaml"
        children.run(
            "gateway-config",
            [
                "gateway", "config-from-inventory", str(inventory), "--site", site.site,
                "--gateway-id", "gw-demo", "--uplink", f"127.0.0.1:{mqtt.port}",
                "--buffer", str(work / "gateway" / "buffer.sqlite"), "-o", str(gateway_file),
            ],
        )  # fmt: skip
        children.start("gateway", ["gateway", "run", "--config", str(gateway_file)])
        _wait_for_api(api_url, children)
        _manager_reads_chat(api_url, tokens["manager"])
        yield Platform(
            options=options,
            site=site.site,
            mqtt_port=mqtt.port,
            influx_url=influx.url,
            metrics_port=metrics_port,
            control_port=int(control["port"]),
            database_url=database_url,
            api_url=api_url,
            tokens=tokens,
        )


def add_user(children: Children, db: list[str], role: str) -> None:
    """The demo user of ``role``, with its web password."""
    username, password = demo_login(role)
    # Their own address: where the demo's mail catcher shows their notices.
    details = [*_USER_DETAILS.get(role, []), "--email", f"{username}@estate.demo"]
    user = ["users", "add", username, "--role", role, *details, "--password-prompt", *db]
    children.run(f"user-{role}", user, stdin=f"{password}\n{password}\n")


def create_token(children: Children, db: list[str], role: str) -> str:
    """A bearer token for the demo user of ``role``."""
    token = ["tokens", "create", demo_login(role)[0], "--label", "demo", *db]
    return children.run(f"token-{role}", token).strip()


DEMO_CREW = Crew(
    technician=demo_login("technician")[0],
    colleagues=("zhou.qiang", "li.wei"),
    manager=demo_login("manager")[0],
    supervisor=demo_login("supervisor")[0],
)


async def month_of_visits(database_url: str, site: str, days: int, first: str | None) -> None:
    """``days`` of completed visits for the site's cars, with the worker's default
    checklist and SLA policy (:func:`demo.history.play_visits`)."""
    async with open_engine(database_url) as engine:
        await play_visits(
            make_sessionmaker(engine),
            site,
            utc_now(),
            days=days,
            crew=DEMO_CREW,
            checklist=load_checklist(),
            policy=SlaPolicy(),
            first=first,
        )


def start_api(
    children: Children, options: DemoOptions, db: list[str], mqtt_port: int, influx_url: str
) -> None:
    children.start(
        "api",
        [
            "api", "--port", str(options.api_port), *db, "--mqtt-port", str(mqtt_port),
            "--influx-url", influx_url,
        ],
    )  # fmt: skip


def _manager_reads_chat(url: str, token: str) -> None:
    """The duty manager takes notices by mail and in the group chat, as anyone sets it on
    their account page: the robot @mentions them, so the chat also shows what no group
    hears (a pre-breach warning goes to the people it concerns)."""
    username, _ = demo_login("manager")
    settings = {
        "email": f"{username}@estate.demo",
        "channels": ["email", "chat"],
        "chat_handle": username,
        "language": "zh-CN",
    }
    answer = httpx.put(
        f"{url}/api/v1/me/notifications",
        json=settings,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10.0,
    )
    if answer.status_code != 200:
        raise ServiceError(f"the manager's notification settings: {answer.text}")


def _wait_for_api(url: str, children: Children, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        children.check()
        try:
            if httpx.get(f"{url}/healthz", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise ServiceError(f"the API at {url} did not answer within {seconds:.0f} s")
        time.sleep(0.2)


def _wait_for_file(path: Path, children: Children, what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        children.check()
        if time.monotonic() > deadline:
            raise ServiceError(f"{what} did not start within {seconds:.0f} s")
        time.sleep(0.1)
