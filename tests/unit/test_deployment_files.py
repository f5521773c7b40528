"""The deployment files name only settings, commands and ports the code has.

``infra/central/docker-compose.yml`` (with its ``.env.example`` and ``entrypoint.sh``),
the systemd units and their environment examples are read as the services would see
them: each ``ESTATEWATCH_<SERVICE>_<NAME>`` must be a field of that service's settings
class, each command must parse with the real ``estatewatch`` parser, and the settings
the service would build at start (``settings_from_args``: options over environment) must
validate and point at the ports the other containers listen on. A typo fails here
rather than being silently ignored by a service that falls back to a default.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
from collections.abc import Mapping
from fnmatch import fnmatch
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic_settings import BaseSettings
from sqlalchemy.engine import make_url

from api.routes.system import router as system_router
from api.settings import ApiSettings
from cli.main import build_parser
from estatewatch.cli_settings import settings_from_args
from ingest.settings import IngestSettings
from maintenance.settings import MaintenanceSettings

INFRA = Path(__file__).parents[2] / "infra"
CENTRAL = INFRA / "central"
SYSTEMD = INFRA / "systemd"
UNITS = sorted([*SYSTEMD.glob("*.service"), *(INFRA / "gateway").glob("*.service")])
ENV_EXAMPLES = sorted(SYSTEMD.glob("*.env.example"))

SETTINGS: dict[str, type[BaseSettings]] = {
    "ingest": IngestSettings,
    "maintenance": MaintenanceSettings,
    "api": ApiSettings,
}
_SETTING = re.compile(r"\bESTATEWATCH_([A-Z0-9]+)_([A-Z0-9_]+)\b")
_COMPOSE_VARIABLE = re.compile(r"\$\{(\w+)(?::([-?])[^}]*)?\}")
INFLUXD_PORT = 8086  # influxd's default http-bind-address, which the influxdb:2 image keeps
POSTGRES_PORT = 5432
# The commands that talk to the broker ("maintenance db upgrade" does not).
BROKER_CLIENTS = {("ingest", "run"), ("maintenance", "run"), ("api", None)}


# --- reading the files -----------------------------------------------------------------


def assignments(text: str) -> dict[str, str]:
    """KEY=VALUE lines (docker compose .env and systemd EnvironmentFile alike)."""
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs if not key.startswith("#")}


def dotenv(path: Path) -> dict[str, str]:
    return assignments(path.read_text())


def interpolate(text: str, variables: Mapping[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default}, ${NAME:?error} from ``variables``."""

    def value(match: re.Match[str]) -> str:
        name, operator = match[1], match[2]
        if name in variables:
            return variables[name]
        assert operator == "-", f"docker-compose.yml uses ${{{name}}}, not in .env.example"
        return match[0].split(":-", 1)[1].rstrip("}")

    return _COMPOSE_VARIABLE.sub(value, text)


def compose() -> dict[str, Any]:
    text = (CENTRAL / "docker-compose.yml").read_text()
    loaded: dict[str, Any] = yaml.safe_load(interpolate(text, dotenv(CENTRAL / ".env.example")))
    return loaded


def estatewatch_services() -> dict[str, dict[str, Any]]:
    """The compose services running the image built from this repository."""
    services: dict[str, dict[str, Any]] = compose()["services"]
    return {name: spec for name, spec in services.items() if "build" in spec}


def unit_entries(path: Path) -> list[tuple[str, str]]:
    """(key, value) of a systemd unit, in order; keys such as ExecStartPre may repeat."""
    entries = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and line[0] not in "#;[" and "=" in line:
            key, value = line.split("=", 1)
            entries.append((key, value))
    return entries


def broker_listener() -> int:
    """The port of the shipped mosquitto.conf's one plain listener."""
    conf = (INFRA / "mosquitto" / "mosquitto.conf").read_text()
    (port,) = re.findall(r"^listener (\d+)$", conf, flags=re.MULTILINE)
    return int(port)


def expand_specifiers(value: str) -> str:
    # The specifiers our units use, with sample values: the instance and the host name.
    expanded = value.replace("%i", "1").replace("%H", "central-1")
    assert "%" not in expanded, f"unexpected systemd specifier in {value!r}"
    return expanded


def parse_command(words: list[str]) -> argparse.Namespace:
    try:
        args = build_parser().parse_args(words)
    except (SystemExit, argparse.ArgumentError):
        pytest.fail(f"'estatewatch {shlex.join(words)}' is not an estatewatch command")
    assert getattr(args, "handler", None) is not None, f"{words} runs no command"
    return args


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The process environment without any ESTATEWATCH_* of the machine running tests."""
    for name in list(os.environ):
        if name.startswith("ESTATEWATCH_"):
            monkeypatch.delenv(name)
    return monkeypatch


def started_settings(
    env: pytest.MonkeyPatch, variables: Mapping[str, str], command: list[str]
) -> BaseSettings:
    """The settings ``estatewatch <command>`` builds at start with ``variables`` set."""
    for name, value in variables.items():
        env.setenv(name, value)
    service = command[0]
    return settings_from_args(SETTINGS[service], parse_command(command), service)


def assert_settings_exist(names: list[str], where: str) -> None:
    for name in names:
        match = _SETTING.fullmatch(name)
        assert match, f"{where}: {name} is not ESTATEWATCH_<SERVICE>_<SETTING>"
        service, field = match[1].lower(), match[2].lower()
        assert service in SETTINGS, f"{where}: {name}: no service {service!r}"
        fields = SETTINGS[service].model_fields
        assert field in fields, f"{where}: {name}: {SETTINGS[service].__name__} has no {field}"


# --- every setting named is a field ----------------------------------------------------


def test_compose_and_entrypoint_name_only_real_settings() -> None:
    for name, spec in compose()["services"].items():
        assert_settings_exist(
            [key for key in spec.get("environment", {}) if key.startswith("ESTATEWATCH_")],
            f"docker-compose.yml service {name}",
        )
    entrypoint = (CENTRAL / "entrypoint.sh").read_text()
    assert_settings_exist([m[0] for m in _SETTING.finditer(entrypoint)], "entrypoint.sh")


@pytest.mark.parametrize("path", ENV_EXAMPLES, ids=lambda p: p.name)
def test_systemd_env_examples_name_only_real_settings(path: Path) -> None:
    # Commented-out optional settings too: an operator uncommenting one gets a real one.
    names = [m[0] for m in _SETTING.finditer(path.read_text())]
    assert names, f"{path.name} sets nothing"
    assert_settings_exist(names, path.name)


# --- docker compose --------------------------------------------------------------------


def test_compose_services_run_real_commands_with_valid_settings(
    environment: pytest.MonkeyPatch,
) -> None:
    services = estatewatch_services()
    commands = {name: spec["command"] for name, spec in services.items()}
    assert commands == {
        "migrate": ["maintenance", "db", "upgrade"],
        "ingest": ["ingest", "run"],  # InfluxDB 2 from its environment, as the others
        "maintenance": ["maintenance", "run"],
        "api": ["api"],
    }
    for name, spec in services.items():
        variables = spec["environment"]
        prefix = f"ESTATEWATCH_{spec['command'][0].upper()}_"
        strays = [key for key in variables if not key.startswith(prefix)]
        assert not strays, f"{name} runs {spec['command']}, which ignores {strays}"
        with environment.context() as env:
            started_settings(env, variables, spec["command"])


def test_compose_addresses_are_where_the_other_containers_listen(
    environment: pytest.MonkeyPatch,
) -> None:
    everything = compose()["services"]
    broker_port = broker_listener()
    assert [int(p.split(":")[-1]) for p in everything["mosquitto"]["ports"]] == [broker_port]
    postgres = everything["postgres"]["environment"]

    for name, spec in estatewatch_services().items():
        with environment.context() as env:
            settings = started_settings(env, spec["environment"], spec["command"])
        values = settings.model_dump()
        args = parse_command(spec["command"])
        if (args.command, getattr(args, "action", None)) in BROKER_CLIENTS:
            assert (values["mqtt_host"], values["mqtt_port"]) == ("mosquitto", broker_port), name
        if values.get("influx_url"):
            url = urlsplit(values["influx_url"])
            assert (url.hostname, url.port) == ("influxdb", INFLUXD_PORT), name
        if "db_url" in values:
            db = make_url(values["db_url"])
            assert (db.host, db.port) == ("postgres", POSTGRES_PORT), name
            assert (db.username, db.password, db.database) == (
                postgres["POSTGRES_USER"],
                postgres["POSTGRES_PASSWORD"],
                postgres["POSTGRES_DB"],
            ), name
        if isinstance(settings, IngestSettings):
            influx = everything["influxdb"]["environment"]
            assert (settings.influx_version, settings.influx_org, settings.influx_bucket) == (
                2,
                influx["DOCKER_INFLUXDB_INIT_ORG"],
                influx["DOCKER_INFLUXDB_INIT_BUCKET"],
            )
            assert settings.influx_token == influx["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"]
        if isinstance(settings, ApiSettings):
            influx = everything["influxdb"]["environment"]
            assert settings.influx_database == influx["DOCKER_INFLUXDB_INIT_BUCKET"]
            assert (settings.influx_username, settings.influx_password) == (
                influx["V1_READER_USERNAME"],
                influx["V1_READER_PASSWORD"],
            )
            # Reachable from outside its container, on the port compose publishes.
            assert settings.host == "0.0.0.0"
            assert [int(p.split(":")[-1]) for p in spec["ports"]] == [settings.port]
            health = " ".join(spec["healthcheck"]["test"])
            assert f"127.0.0.1:{settings.port}/healthz" in health
    assert "/healthz" in {getattr(route, "path", None) for route in system_router.routes}


def test_entrypoint_gives_each_ingest_replica_its_own_identity(
    tmp_path: Path, environment: pytest.MonkeyPatch
) -> None:
    # A stand-in for the installed command: prints what it was given.
    fake = tmp_path / "estatewatch"
    fake.write_text('#!/bin/sh\nenv | grep ^ESTATEWATCH_\necho "args=$*"\n')
    fake.chmod(0o755)

    def run(*args: str, **extra: str) -> dict[str, str]:
        env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "HOSTNAME": "3f2a9c1b7d4e", **extra}
        done = subprocess.run(
            ["sh", str(CENTRAL / "entrypoint.sh"), *args],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return assignments(done.stdout)

    replica = run("ingest", "run")
    assert replica == {
        "ESTATEWATCH_INGEST_CLIENT_ID": "estatewatch-ingest-3f2a9c1b7d4e",
        "ESTATEWATCH_INGEST_SPILL_PATH": (
            "/var/lib/estatewatch/ingest/estatewatch-ingest-3f2a9c1b7d4e/spill.sqlite"
        ),
        "ESTATEWATCH_INGEST_DEAD_LETTER_PATH": (
            "/var/lib/estatewatch/ingest/estatewatch-ingest-3f2a9c1b7d4e/dead_letters.jsonl"
        ),
        "args": "ingest run",
    }
    started_settings(
        environment, {k: v for k, v in replica.items() if k != "args"}, ["ingest", "run"]
    )
    chosen = run("ingest", "run", ESTATEWATCH_INGEST_CLIENT_ID="ingest-b")
    assert chosen["ESTATEWATCH_INGEST_CLIENT_ID"] == "ingest-b"
    assert chosen["ESTATEWATCH_INGEST_SPILL_PATH"].endswith("/ingest-b/spill.sqlite")
    assert run("maintenance", "run") == {"args": "maintenance run"}


# --- systemd ---------------------------------------------------------------------------


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_systemd_units_run_real_commands_with_valid_settings(
    unit: Path, environment: pytest.MonkeyPatch
) -> None:
    entries = unit_entries(unit)
    files = [expand_specifiers(v).lstrip("-") for k, v in entries if k == "EnvironmentFile"]
    variables: dict[str, str] = {}
    for file in files:
        example = SYSTEMD / f"{Path(file).name}.example"
        assert example.is_file(), f"{unit.name} reads {file}; ship {example.name}"
        variables |= dotenv(example)
    commands = [v for k, v in entries if k in ("ExecStartPre", "ExecStart")]
    assert commands, f"{unit.name} runs nothing"
    for line in commands:
        binary, *words = shlex.split(expand_specifiers(line).lstrip("-@:+!"))
        assert binary.endswith("/bin/estatewatch"), f"{unit.name}: {binary}"
        args = parse_command(words)
        if args.command not in SETTINGS:
            assert args.command == "gateway"  # configured by its site file, not variables
            continue
        with environment.context() as env:
            settings = started_settings(env, variables, words)
        if (args.command, getattr(args, "action", None)) in BROKER_CLIENTS:
            assert settings.model_dump()["mqtt_port"] == broker_listener(), unit.name


def test_the_shipped_broker_saves_often_enough_for_the_documented_loss_bound() -> None:
    # README ("The MQTT link") promises what a SIGKILLed broker can lose: what it
    # acknowledged in the last autosave_interval seconds. The shipped file must keep that.
    conf = (INFRA / "mosquitto" / "mosquitto.conf").read_text()
    settings = dict(re.findall(r"^(\w+) (.+)$", conf, flags=re.MULTILINE))
    assert settings["persistence"] == "true"
    assert settings.get("autosave_on_changes", "false") == "false"  # a time, not a count
    readme = (INFRA.parent / "README.md").read_text()
    (promised,) = re.findall(r"`autosave_interval (\d+)`", readme)
    assert settings["autosave_interval"] == promised


# --- the image's build context ---------------------------------------------------------


def test_the_build_context_leaves_out_the_venv_and_secrets_but_not_what_the_image_copies() -> None:
    root = INFRA.parent
    ignored = [
        line.strip()
        for line in (root / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for heavy_or_secret in (".venv", "node_modules", "var", ".git", "infra/central/.env"):
        assert heavy_or_secret in ignored, heavy_or_secret
    dockerfile = (CENTRAL / "Dockerfile").read_text()
    copied = [
        source
        for line in dockerfile.splitlines()
        if line.startswith("COPY ") and "--from=" not in line
        for source in line.split()[1:-1]
        if not source.startswith("--")
    ]
    assert "cli" in copied  # the estatewatch command's package
    for source in copied:
        assert (root / source).exists(), source
        assert not any(fnmatch(source, pattern) for pattern in ignored), source
