"""``estatewatch api``, ``estatewatch users ...`` and ``estatewatch tokens ...``.

Every command takes the database as ``--db URL``, else the SQLite file ``maintenance.db``
in ``--data-dir DIR`` (which holds the API's photos either way), else
``ESTATEWATCH_API_DB_URL`` / ``ESTATEWATCH_API_DATA_DIR``, else ``var/maintenance``: the
maintenance worker's database. No command here migrates it
unless told to (``estatewatch api --migrate``): on a fresh install run ``estatewatch
maintenance db upgrade`` first; a database that is behind is refused in one line naming it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias, TypeVar, get_args

from estatewatch.cli_settings import name_environment
from maintenance.cli import add_database_options, add_migrate_option, cli_actor
from maintenance.domain.actors import Role

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from api.settings import ApiSettings
    from maintenance.db.uow import SqlUnitOfWork

T = TypeVar("T")
Actions: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

ROLES: tuple[str, ...] = get_args(Role)
# ApiSettings' fields with no option: InfluxDB's login (kept out of process listings),
# limits, the web app's address, sessions and front-end files (README, Configuration).
ENVIRONMENT_ONLY = (
    "influx_username",
    "influx_password",
    "public_base_url",
    "cookie_secure",
    "session_lifetime",
    "session_idle",
    "invite_lifetime",
    "token_lifetime",
    "vendor_dir",
    "photos_dir",
    "page_size_max",
    "max_body_bytes",
    "photo_max_bytes",
    "upload_max_bytes",
    "readiness_timeout",
    "live_poll_interval",
    "live_queue_bytes",
    "live_keep_alive",
)


def register(subparsers: Actions) -> None:
    _add_api(subparsers)
    _add_users(subparsers)
    _add_tokens(subparsers)


def _add_api(subparsers: Actions) -> None:
    api = subparsers.add_parser(
        "api",
        help="serve the HTTP API (/api/v1, docs at /docs) until SIGTERM",
        description=(
            "Serve the estatewatch HTTP API for staff, the owners' committee and residents:"
            " /api/v1 (bearer tokens from 'estatewatch tokens create'), OpenAPI pages at"
            " /docs, /healthz and /readyz. The database must be migrated first ('estatewatch"
            " maintenance db upgrade') unless --migrate is given. Each option can also be"
            " set by the environment variable named after it; options win."
        ),
    )
    for option, dest, kind, text in (
        ("--host", "host", str, "address to listen on (127.0.0.1)"),
        ("--port", "port", int, "port to listen on (8000)"),
        ("--metrics-host", "metrics_host", str, "address of the /metrics listener (127.0.0.1)"),
        (
            "--metrics-port",
            "metrics_port",
            int,
            "Prometheus /metrics port, not the API's (0: off)",
        ),
        ("--mqtt-host", "mqtt_host", str, "central broker host, checked by /readyz (127.0.0.1)"),
        ("--mqtt-port", "mqtt_port", int, "central broker port (1883)"),
        ("--influx-url", "influx_url", str, "InfluxDB 1.x URL for telemetry (default: none)"),
        ("--influx-database", "influx_database", str, "InfluxDB database (estatewatch)"),
        ("--sla-policy", "sla_policy_path", Path, "SLA policy file (default: P1 10 min/1 h/4 h)"),
    ):
        api.add_argument(option, dest=dest, type=kind, help=text)
    add_migrate_option(api)
    add_database_options(api)
    name_environment(api, "ESTATEWATCH_API_", ENVIRONMENT_ONLY)
    api.set_defaults(handler=_serve)


def _add_users(subparsers: Actions) -> None:
    users = subparsers.add_parser("users", help="API users: add, list, set-password")
    actions = users.add_subparsers(dest="action", metavar="<action>", required=True)
    add = actions.add_parser(
        "add",
        help="add a user",
        epilog=(
            "examples:\n"
            "  estatewatch users add alice --role admin\n"
            "  estatewatch users add wang --role technician --site demo --site north\n"
            "  estatewatch users add li --role resident --building B1 --unit 3-201\n"
            "  estatewatch users add alice --role admin --password-prompt   # the first admin\n"
            "\n"
            "--password-prompt reads the password twice from the terminal (or two lines from\n"
            "standard input when it is not a terminal) for logging in to the web app."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add.add_argument("username", help="lower-case letters, digits, '.', '_', '-'")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--display-name")
    add.add_argument(
        "--site", dest="sites", action="append", default=[], help="a site a technician works at"
    )
    add.add_argument("--building", help="a resident's building")
    add.add_argument("--unit", help="a resident's unit (required for residents)")
    add.add_argument("--email", help="where notices are mailed (they can change it themselves)")
    add.add_argument(
        "--password-prompt",
        action="store_true",
        help="ask for a password to log in to the web app with (twice)",
    )
    add_database_options(add)
    add.set_defaults(handler=_users_add)
    password = actions.add_parser(
        "set-password",
        help="set or reset a user's web password (asks twice; ends their web sessions)",
    )
    password.add_argument("username")
    add_database_options(password)
    password.set_defaults(handler=_users_set_password)
    listing = actions.add_parser("list", help="list users")
    add_database_options(listing)
    listing.set_defaults(handler=_users_list)


def _add_tokens(subparsers: Actions) -> None:
    tokens = subparsers.add_parser("tokens", help="API bearer tokens: create, list, revoke")
    actions = tokens.add_subparsers(dest="action", metavar="<action>", required=True)
    create = actions.add_parser(
        "create", help="create a token and print its secret (shown this once)"
    )
    create.add_argument("username")
    create.add_argument(
        "--expires-in",
        metavar="DURATION",
        help="lifetime like 12h, 30d, 52w (default: ESTATEWATCH_API_TOKEN_LIFETIME, 30d)",
    )
    create.add_argument("--label", help="what the token is for")
    add_database_options(create)
    create.set_defaults(handler=_tokens_create)
    listing = actions.add_parser("list", help="list a user's tokens (never their secrets)")
    listing.add_argument("username")
    add_database_options(listing)
    listing.set_defaults(handler=_tokens_list)
    revoke = actions.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("token_id", type=int)
    add_database_options(revoke)
    revoke.set_defaults(handler=_tokens_revoke)


def _settings(args: argparse.Namespace) -> ApiSettings:
    from api.settings import ApiSettings
    from estatewatch.cli_settings import settings_from_args

    return settings_from_args(ApiSettings, args, "api")


# -- the server -------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    import uvloop

    from api.app import create_app
    from estatewatch.stopping import run_until_signalled

    settings = _settings(args)
    # The port is taken first: a port in use is said at once, not after the schema check
    # and the app's start, and nothing can take the port while those run.
    listener = _listen(settings.host, settings.port)
    app = create_app(settings)
    # Checked (or migrated) before uvicorn starts, so a refusal is one line, not a failed
    # lifespan's traceback; the lifespan checks again, for servers started otherwise.
    asyncio.run(_prepare_schema(settings))
    # uvloop's loop (libuv, in C) costs a request less CPU than asyncio's own: README,
    # "API: what bounds it".
    return run_until_signalled(
        lambda stop: serve(app, settings, stop, listener), uvloop.new_event_loop
    )


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` for uvicorn to listen on."""
    from estatewatch.errors import ServiceError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # As uvicorn and asyncio do: a restart may bind while the last run's connections wait
    # out TIME_WAIT.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServiceError(
            f"the API cannot listen on {host}:{port}: {exc.strerror or exc}"
            " (is another estatewatch api running there? choose another with --port)"
        ) from exc
    return sock


async def _prepare_schema(settings: ApiSettings) -> None:
    from maintenance.db.engine import open_engine
    from maintenance.db.migrations import prepare_schema

    async with open_engine(settings.database_url) as engine:
        await prepare_schema(engine, migrate=settings.migrate)


async def serve(
    app: FastAPI, settings: ApiSettings, stop: asyncio.Event, listener: socket.socket
) -> None:
    """Run uvicorn on ``listener`` until ``stop`` is set; then finish requests in hand and
    shut down."""
    import uvicorn

    from api.app import end_live_streams
    from estatewatch.errors import ServiceError

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # estatewatch.stopping owns SIGINT and SIGTERM; uvicorn would re-raise them
            # after shutdown and turn a clean stop into death by signal.
            yield

    server = Server(
        uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None, lifespan="on")
    )

    async def stop_when_told() -> None:
        await stop.wait()
        end_live_streams(app)
        server.should_exit = True

    watcher = asyncio.create_task(stop_when_told(), name="api-stop")
    try:
        await server.serve(sockets=[listener])
    except SystemExit as exc:  # uvicorn's way of saying it could not start
        raise ServiceError(
            f"the API could not start on {settings.host}:{settings.port}; the log says why"
        ) from exc
    finally:
        watcher.cancel()
        listener.close()
    if not stop.is_set():
        raise ServiceError("the API server stopped on its own; the log says why")


# -- users and tokens -------------------------------------------------------------------


def _on_database(
    args: argparse.Namespace, work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]
) -> T:
    """Run ``work`` on a database at the code's revision (else one line naming the command
    that migrates it)."""
    from maintenance.db.engine import make_sessionmaker, open_engine
    from maintenance.db.migrations import ensure_current

    settings = _settings(args)

    async def main() -> T:
        async with open_engine(settings.database_url) as engine:
            await ensure_current(engine)
            return await work(make_sessionmaker(engine))

    return asyncio.run(main())


def _with_session(
    args: argparse.Namespace, work: Callable[[AsyncSession, datetime], Awaitable[T]]
) -> T:
    """Read with ``work`` in one session, at the wall-clock now."""

    async def read(sessions: async_sessionmaker[AsyncSession]) -> T:
        async with sessions() as session:
            return await work(session, datetime.now(UTC))

    return _on_database(args, read)


def _with_uow(
    args: argparse.Namespace, work: Callable[[SqlUnitOfWork, datetime], Awaitable[T]]
) -> T:
    """Change with ``work`` through a unit of work (which it commits), at the wall-clock now."""
    from maintenance.db.uow import SqlUnitOfWork

    return _on_database(args, lambda sessions: work(SqlUnitOfWork(sessions), datetime.now(UTC)))


def _users_add(args: argparse.Namespace) -> int:
    from api.users import NewUser, create_user
    from estatewatch.validation import validate

    fields = {
        "username": args.username,
        "role": args.role,
        "display_name": args.display_name,
        "sites": args.sites,
        "building": args.building,
        "unit": args.unit,
        "email": args.email,
    }
    new = validate(NewUser, fields, f"users add {args.username}")
    password = _ask_password(new.username) if args.password_prompt else None
    user = _with_uow(args, lambda uow, now: create_user(uow, new, actor=cli_actor(), at=now))
    if password is not None:
        _with_uow(args, lambda uow, now: _set_password(uow, user.username, password, now))
    where = f" at {', '.join(user.sites)}" if user.sites else ""
    home = f" in {user.building or ''} {user.unit}".rstrip() if user.unit else ""
    print(f"user {user.username} ({user.role}){where}{home} added")
    return 0


def _ask_password(username: str) -> str:
    """A password typed twice (hidden on a terminal; two lines of standard input else),
    refused when the two differ or it is weak: before anything is written."""
    import getpass

    from api.passwords import weakness
    from maintenance.domain.errors import InvalidRequest

    def read(prompt: str) -> str:
        if sys.stdin.isatty():
            return getpass.getpass(prompt)
        return sys.stdin.readline().rstrip("\n")

    first = read(f"password for {username}: ")
    second = read("again: ")
    if first != second:
        raise InvalidRequest("the two passwords differ; nothing was changed")
    reason = weakness(first, username)
    if reason is not None:
        raise InvalidRequest(f"{reason} Nothing was changed.")
    return first


async def _set_password(uow: SqlUnitOfWork, username: str, password: str, now: datetime) -> None:
    from api.users import set_password

    await set_password(uow, username, password, actor=cli_actor(), at=now)


def _users_set_password(args: argparse.Namespace) -> int:
    password = _ask_password(args.username)
    _with_uow(args, lambda uow, now: _set_password(uow, args.username, password, now))
    print(f"password of {args.username} set; their web sessions ended")
    return 0


def _users_list(args: argparse.Namespace) -> int:
    from api.users import list_users

    for user in _with_session(args, lambda s, _now: list_users(s)):
        state = "" if user.active else " (deactivated)"
        extra = ", ".join(user.sites) or " ".join(filter(None, (user.building, user.unit)))
        print(f"{user.username}\t{user.role}\t{user.display_name}\t{extra}{state}")
    return 0


def _tokens_create(args: argparse.Namespace) -> int:
    from api.users import issue_token
    from estatewatch.durations import parse_duration
    from estatewatch.errors import ConfigError

    lifetime = _settings(args).token_lifetime
    if args.expires_in is not None:
        try:
            lifetime = timedelta(seconds=parse_duration(args.expires_in))
        except ValueError as exc:
            raise ConfigError(f"tokens create --expires-in: {exc}") from exc
    issued = _with_uow(
        args,
        lambda uow, now: issue_token(
            uow,
            args.username,
            expires_at=now + lifetime,
            label=args.label,
            actor=cli_actor(),
            at=now,
        ),
    )
    # The secret alone on stdout, so scripts can capture it; the rest for people.
    print(issued.secret)
    print(
        f"token {issued.info.id} for {issued.info.username}, expires"
        f" {issued.info.expires_at.isoformat(timespec='seconds')}; the secret above is not"
        " stored and cannot be shown again",
        file=sys.stderr,
    )
    return 0


def _tokens_list(args: argparse.Namespace) -> int:
    from api.users import list_tokens

    for token in _with_session(args, lambda s, _now: list_tokens(s, args.username)):
        state = (
            f"revoked {token.revoked_at.isoformat(timespec='seconds')}"
            if token.revoked_at
            else f"expires {token.expires_at.isoformat(timespec='seconds')}"
        )
        print(f"{token.id}\t{token.username}\t{state}\t{token.label or ''}")
    return 0


def _tokens_revoke(args: argparse.Namespace) -> int:
    from api.users import revoke_token

    token = _with_uow(
        args, lambda uow, now: revoke_token(uow, args.token_id, actor=cli_actor(), at=now)
    )
    print(f"token {token.id} of {token.username} revoked")
    return 0
