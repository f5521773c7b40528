"""Private Mosquitto, InfluxDB 1.x and PostgreSQL servers for tests, benchmarks and the demo.

Integration tests, ``estatewatch services up`` and ``estatewatch simulate --local-services``
need a real MQTT broker and a real time-series database (and the maintenance suites a real
PostgreSQL), but must never depend on, or disturb, a system-wide instance on the default
ports (1883, 8086, 8088, 5432). So each server here runs from the Debian binaries
(``mosquitto`` 2.0, ``influxd`` 1.6, ``postgresql-15``) as a child process with:

- a config generated from the templates next to this module, listening on 127.0.0.1 only,
  on ports picked free at random (retried if another process wins the race);
- its config, data, log and pid file under ``root/mosquitto/`` or ``root/influxdb/``
  (a fresh temporary directory when no root is given);
- readiness meaning a real answer: an MQTT CONNACK, an HTTP 204 from ``/ping``, a
  PostgreSQL AuthenticationOk;
- for Mosquitto, optionally a second, TLS listener (``TlsListener``: the broker's
  certificate and key, and a CA when clients must present certificates), on its own port;
- the same port and data across ``stop()``/``start()``, so tests can take a server away
  for a while and check that nothing was lost when it comes back.

Every object is a plain synchronous context manager (``subprocess.Popen``, no threads), so
it works the same from pytest fixtures, the CLI and asyncio code. Failures are raised as
:class:`estatewatch.errors.ServiceError` with one line saying what to do, plus the tail of
the server's log when it died while starting.
"""

from __future__ import annotations

import glob
import http.client
import json
import os
import pwd
import signal
import socket
import string
import subprocess
import urllib.parse
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Final

from estatewatch.errors import ServiceError
from estatewatch.ports import LOOPBACK, free_ports, port_is_free
from infra.local._process import Lifecycle, ManagedService, temporary_root

__all__ = [
    "DEFAULT_DATABASE",
    "InfluxInstance",
    "LocalServices",
    "MosquittoInstance",
    "PostgresInstance",
    "TlsListener",
]

DEFAULT_DATABASE: Final = "estatewatch"
_PROBE_TIMEOUT_S: Final = 0.5
_HTTP_TIMEOUT_S: Final = 10.0


def _template(name: str) -> string.Template:
    return string.Template(resources.files("infra.local").joinpath(name).read_text())


@dataclass(frozen=True, slots=True)
class TlsListener:
    """A TLS listener's files (PEM): the broker's certificate chain and key, and, when
    given, the CA whose certificates clients must present."""

    certfile: Path
    keyfile: Path
    client_cafile: Path | None = None


class MosquittoInstance(ManagedService):
    """A private Mosquitto broker with persistence; ``url`` is ``mqtt://127.0.0.1:PORT``.

    With ``tls``, it also listens for MQTT over TLS on ``tls_port`` (same users, ACL and
    data as the plain listener). ``autosave_interval`` is how often (s) it saves its
    sessions and retained messages to disk besides at SIGTERM: what a ``kill()`` can lose.
    """

    name = "Mosquitto"
    program = "mosquitto"
    dirname = "mosquitto"

    def __init__(
        self,
        root: Path | None = None,
        port: int | None = None,
        *,
        tls: TlsListener | None = None,
        autosave_interval: int = 10,
        executable: Path | str | None = None,
        startup_timeout: float = 30.0,
        stop_timeout: float = 10.0,
    ) -> None:
        super().__init__(
            root,
            port,
            executable=executable,
            startup_timeout=startup_timeout,
            stop_timeout=stop_timeout,
        )
        self.tls = tls
        self.autosave_interval = autosave_interval
        self.tls_port: int | None = free_ports(1)[0] if tls is not None else None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    def _write_config(self) -> None:
        self.data_dir.mkdir(exist_ok=True)
        text = _template("mosquitto.conf").substitute(
            user=_effective_user(),
            port=self.port,
            data_dir=_single_line(f"{self.data_dir}{os.sep}"),
            log_file=_single_line(str(self.log_path)),
            tls_listener=self._tls_listener(),
            autosave_interval=self.autosave_interval,
        )
        self.config_path.write_text(text)

    def _tls_listener(self) -> str:
        if self.tls is None:
            return ""
        lines = [
            f"listener {self.tls_port} {LOOPBACK}",
            f"certfile {_single_line(str(self.tls.certfile.absolute()))}",
            f"keyfile {_single_line(str(self.tls.keyfile.absolute()))}",
        ]
        if self.tls.client_cafile is not None:
            lines += [
                f"cafile {_single_line(str(self.tls.client_cafile.absolute()))}",
                "require_certificate true",
            ]
        return "\n".join(lines)

    def _command(self, executable: str) -> list[str]:
        return [executable, "-c", str(self.config_path)]

    def _is_ready(self) -> bool:
        return _mqtt_connack(self.host, self.port)


class InfluxInstance(ManagedService):
    """A private InfluxDB 1.x with database ``database`` created on every start."""

    name = "InfluxDB"
    program = "influxd"
    dirname = "influxdb"

    def __init__(
        self,
        root: Path | None = None,
        port: int | None = None,
        *,
        database: str = DEFAULT_DATABASE,
        executable: Path | str | None = None,
        startup_timeout: float = 30.0,
        stop_timeout: float = 10.0,
    ) -> None:
        super().__init__(
            root,
            port,
            executable=executable,
            startup_timeout=startup_timeout,
            stop_timeout=stop_timeout,
        )
        self.database = database
        (self.rpc_port,) = free_ports(1)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def create_database(self, name: str, *, shard_days: int | None = None) -> None:
        """Create database ``name`` unless it exists; ``shard_days`` sets its shard groups'
        length (InfluxDB's default for an unlimited retention policy is 7 days)."""
        shards = f" WITH SHARD DURATION {shard_days}d" if shard_days is not None else ""
        self._query(f"CREATE DATABASE {_quote_identifier(name)}{shards}")

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` and its data if it exists."""
        self._query(f"DROP DATABASE {_quote_identifier(name)}")

    def _write_config(self) -> None:
        text = _template("influxdb.conf").substitute(
            rpc_address=_toml_string(f"{LOOPBACK}:{self.rpc_port}"),
            http_address=_toml_string(f"{LOOPBACK}:{self.port}"),
            meta_dir=_toml_string(str(self.directory / "meta")),
            data_dir=_toml_string(str(self.directory / "data")),
            wal_dir=_toml_string(str(self.directory / "wal")),
        )
        self.config_path.write_text(text)

    def _command(self, executable: str) -> list[str]:
        return [executable, "-config", str(self.config_path)]

    def _environment(self) -> dict[str, str]:
        # influxd lets INFLUXDB_* variables override the config file, which could move
        # our private instance onto a system instance's ports or data.
        return {k: v for k, v in os.environ.items() if not k.startswith("INFLUXDB_")}

    def _is_ready(self) -> bool:
        try:
            status, _ = _http(self.host, self.port, "GET", "/ping", timeout=_PROBE_TIMEOUT_S)
        except (OSError, http.client.HTTPException):
            return False
        return status == 204

    def _after_ready(self) -> None:
        self.create_database(self.database)

    def _repick_ports(self) -> bool:
        # The RPC port is ours alone and may always move; the HTTP port only until the
        # first successful start, since clients hold on to it.
        if not self._port_movable and not port_is_free(self.port):
            return False
        http_port, self.rpc_port = free_ports(2)
        if self._port_movable:
            self.port = http_port
        return True

    def _query(self, statement: str) -> None:
        body = urllib.parse.urlencode({"q": statement}).encode()
        try:
            status, reply = _http(
                self.host,
                self.port,
                "POST",
                "/query",
                body=body,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                timeout=_HTTP_TIMEOUT_S,
            )
        except (OSError, http.client.HTTPException) as exc:
            raise ServiceError(f"InfluxDB at {self.url} failed {statement!r}: {exc}") from exc
        error = _influx_error(reply) if status == 200 else reply.decode(errors="replace")
        if error:
            raise ServiceError(f"InfluxDB at {self.url} refused {statement!r}: {error}")


class PostgresInstance(ManagedService):
    """A private PostgreSQL cluster (user ``postgres``, trust on loopback) with database
    ``database`` created on the first start; ``url(name)`` is its SQLAlchemy async URL.

    The cluster is made by ``initdb`` on the first start and kept in ``root/postgresql/data``
    across restarts. PostgreSQL refuses to run as root, so under root (CI containers) both
    ``initdb`` and the server run in a user namespace where they are an ordinary user
    (``unshare --map-user``): to the files they are still root, so the temporary directories
    of a root pytest run (mode 0700) need no ``chown``, and no system account is involved.
    """

    name = "PostgreSQL"
    program = "postgres"
    dirname = "postgresql"
    # Fast shutdown: open sessions are ended (SIGTERM would wait for every client to leave).
    stop_signal = signal.SIGINT
    # Immediate shutdown: the postmaster takes its backends with it.
    death_signal = signal.SIGQUIT
    superuser: Final = "postgres"

    def __init__(
        self,
        root: Path | None = None,
        port: int | None = None,
        *,
        database: str = DEFAULT_DATABASE,
        executable: Path | str | None = None,
        startup_timeout: float = 60.0,
        stop_timeout: float = 10.0,
    ) -> None:
        super().__init__(
            root,
            port,
            executable=executable,
            startup_timeout=startup_timeout,
            stop_timeout=stop_timeout,
        )
        self.database = database

    def url(self, database: str | None = None) -> str:
        """``postgresql+asyncpg://postgres@127.0.0.1:PORT/<database>``."""
        return (
            f"postgresql+asyncpg://{self.superuser}@{self.host}:{self.port}/"
            f"{urllib.parse.quote(database or self.database, safe='')}"
        )

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def hba_path(self) -> Path:
        return self.directory / "pg_hba.conf"

    def create_database(self, name: str, *, template: str | None = None) -> None:
        """Create database ``name`` (a copy of ``template`` when given) unless it exists."""
        if self._sql(f"SELECT 1 FROM pg_database WHERE datname = {_sql_literal(name)}"):
            return
        # FILE_COPY: for a small template, copying its files (and a checkpoint, cheap without
        # fsync) takes a fraction of the default's writing every page to the WAL.
        copy = f" TEMPLATE {_sql_identifier(template)} STRATEGY FILE_COPY" if template else ""
        self._sql(f"CREATE DATABASE {_sql_identifier(name)}{copy}")

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, ending its open sessions."""
        self._sql(f"DROP DATABASE IF EXISTS {_sql_identifier(name)} WITH (FORCE)")

    def _find_executable(self) -> str:
        if self._executable is None:
            # Debian keeps the server outside PATH, one directory per major version.
            versions = glob.glob("/usr/lib/postgresql/*/bin/postgres")
            if versions:
                return max(versions, key=_major_version)
        return super()._find_executable()

    def _tool(self, name: str) -> str:
        return str(Path(self._find_executable()).with_name(name))

    def _write_config(self) -> None:
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        self.hba_path.write_text(
            "# Generated by infra/local/services.py: trust, on loopback only.\n"
            f"host all all {LOOPBACK}/32 trust\n"
        )
        text = _template("postgresql.conf").substitute(
            port=self.port,
            hba_file=_pg_string(str(self.hba_path)),
        )
        self.config_path.write_text(text)

    def _initdb(self) -> None:
        command = [
            self._tool("initdb"),
            "--pgdata",
            str(self.data_dir),
            "--username",
            self.superuser,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--locale",
            "C.UTF-8",
            "--no-sync",
        ]
        result = subprocess.run(
            [*_as_ordinary_user(), *command],
            capture_output=True,
            text=True,
            env=self._environment(),
            check=False,
        )
        if result.returncode != 0:
            raise ServiceError(
                f"initdb failed for {self.data_dir} (status {result.returncode}):\n"
                f"{(result.stderr or result.stdout).strip()}"
            )

    def _command(self, executable: str) -> list[str]:
        return [
            *_as_ordinary_user(),
            executable,
            "-D",
            str(self.data_dir),
            "-c",
            f"config_file={self.config_path}",
        ]

    def _instance_marker(self) -> str:
        return str(self.data_dir)

    def _environment(self) -> dict[str, str]:
        # PG* variables would point our own tools at some other server.
        return {k: v for k, v in os.environ.items() if not k.startswith("PG")}

    def _is_ready(self) -> bool:
        return _postgres_accepts(self.host, self.port, self.superuser)

    def _after_ready(self) -> None:
        self.create_database(self.database)

    def _sql(self, statement: str) -> str:
        """Run one statement as the superuser through psql; its unaligned output."""
        command = [
            self._tool("psql"),
            "--no-psqlrc",
            "--quiet",
            "--tuples-only",
            "--no-align",
            "--set",
            "ON_ERROR_STOP=1",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--username",
            self.superuser,
            "--dbname",
            "postgres",
            "--command",
            statement,
        ]
        try:
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                env=self._environment(),
                timeout=_HTTP_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ServiceError(
                f"PostgreSQL at {self.url('postgres')} failed {statement!r}: {exc}"
            ) from exc
        if result.returncode != 0:
            raise ServiceError(
                f"PostgreSQL at {self.url('postgres')} refused {statement!r}: "
                f"{result.stderr.strip()}"
            )
        return result.stdout.strip()


class LocalServices(Lifecycle):
    """Both private servers under one root: ``root/mosquitto/`` and ``root/influxdb/``."""

    def __init__(self, root: Path | None = None) -> None:
        self._owns_root = root is None
        self.root = (root if root is not None else temporary_root("services")).absolute()
        self.mosquitto = MosquittoInstance(self.root)
        self.influxdb = InfluxInstance(self.root)

    def __repr__(self) -> str:
        return f"LocalServices(root={self.root}, {self.mosquitto!r}, {self.influxdb!r})"

    @property
    def running(self) -> bool:
        return self.mosquitto.running and self.influxdb.running

    def start(self) -> None:
        """Start both; if one cannot start, the other is stopped again."""
        try:
            self.mosquitto.start()
            self.influxdb.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop both, each even if stopping the other failed."""
        try:
            self.influxdb.stop()
        finally:
            self.mosquitto.stop()


def _effective_user() -> str:
    # The uid, not $USER: under sudo $USER may name someone the broker would switch to.
    # The value only matters when running as root; other users cannot switch anyway.
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return "nobody"


def _as_ordinary_user() -> list[str]:
    """The command prefix that runs a PostgreSQL program as a non-root user, if needed."""
    if os.geteuid() != 0:
        return []
    # Uid/gid 1 inside the namespace map to root outside: the program is not root to itself.
    return ["unshare", "--user", "--map-user=1", "--map-group=1", "--"]


def _major_version(postgres: str) -> int:
    version = Path(postgres).parent.parent.name
    return int(version) if version.isdigit() else 0


def _postgres_accepts(host: str, port: int, user: str) -> bool:
    """Send a protocol 3.0 startup message and report whether the server let us in."""
    params = b"user\0" + user.encode() + b"\0database\0postgres\0\0"
    body = (196608).to_bytes(4, "big") + params  # protocol version 3.0
    startup = (len(body) + 4).to_bytes(4, "big") + body
    try:
        with socket.create_connection((host, port), timeout=_PROBE_TIMEOUT_S) as sock:
            sock.sendall(startup)
            reply = b""
            while len(reply) < 9:
                chunk = sock.recv(9 - len(reply))
                if not chunk:
                    return False
                reply += chunk
            sock.sendall(b"X\0\0\0\4")  # Terminate
    except OSError:
        return False
    # AuthenticationOk: 'R', length 8, code 0. While starting up it answers 'E' instead.
    return reply == b"R\0\0\0\x08\0\0\0\0"


def _sql_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _pg_string(value: str) -> str:
    # postgresql.conf strings: single quotes, a quote doubled.
    if "\n" in value or "\r" in value:
        raise ServiceError(f"PostgreSQL cannot use a path containing a line break: {value!r}")
    return _sql_literal(value)


def _mqtt_connack(host: str, port: int) -> bool:
    """Send an MQTT 3.1.1 CONNECT and report whether the broker accepted it."""
    client_id = f"estatewatch-probe-{os.getpid()}".encode()
    # Protocol name "MQTT", level 4 (3.1.1), flags: clean session, keep-alive 10 s.
    body = b"\x00\x04MQTT\x04\x02\x00\x0a" + len(client_id).to_bytes(2, "big") + client_id
    connect = bytes([0x10, len(body)]) + body
    try:
        with socket.create_connection((host, port), timeout=_PROBE_TIMEOUT_S) as sock:
            sock.sendall(connect)
            reply = b""
            while len(reply) < 4:
                chunk = sock.recv(4 - len(reply))
                if not chunk:
                    return False
                reply += chunk
            sock.sendall(b"\xe0\x00")  # DISCONNECT, so the broker logs a clean goodbye
    except OSError:
        return False
    # CONNACK, remaining length 2, no session present, return code 0 (accepted).
    return reply == b"\x20\x02\x00\x00"


def _http(
    host: str,
    port: int,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float,
) -> tuple[int, bytes]:
    # http.client rather than urllib or httpx: it never consults proxy variables, which
    # would send loopback requests to a corporate proxy.
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _influx_error(reply: bytes) -> str:
    """The first error in an InfluxDB /query reply, or '' if there is none."""
    try:
        document = json.loads(reply)
    except ValueError:
        return f"unreadable reply {reply[:200]!r}"
    if not isinstance(document, dict):
        return f"unexpected reply {reply[:200]!r}"
    if "error" in document:
        return str(document["error"])
    for result in document.get("results", []):
        if isinstance(result, dict) and "error" in result:
            return str(result["error"])
    return ""


def _quote_identifier(name: str) -> str:
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _toml_string(value: str) -> str:
    # JSON string escapes are a subset of TOML basic-string escapes.
    return json.dumps(value)


def _single_line(value: str) -> str:
    # mosquitto.conf has no quoting: a value is the rest of its line.
    if "\n" in value or "\r" in value:
        raise ServiceError(f"Mosquitto cannot use a path containing a line break: {value!r}")
    return value
