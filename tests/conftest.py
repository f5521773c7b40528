"""Shared pytest fixtures.

Local services
--------------
``mosquitto`` and ``influxdb`` are session-scoped private servers (see
:mod:`infra.local.services`), started on first use and stopped at the end of the run. A
test may stop or restart them to exercise reconnects: before every test that uses one,
the autouse ``_local_services_running`` fixture starts it again if an earlier test left it
stopped, on the same port and with the same data. Tests share one broker and one database,
so use unique topics and measurements, or ``influx_database`` for a database of your own.

Databases
---------
``db_url`` is the maintenance database of one test, once on SQLite and once on PostgreSQL
(the fixture is parametrised, so every test using it runs twice: ``[sqlite]`` and
``[postgresql]``). SQLite: a file URL in the test's ``tmp_path``, not yet migrated.
PostgreSQL: a fresh database on the session's private server (``postgres``), copied with
``CREATE DATABASE ... TEMPLATE`` from one migrated to head at the session's start (a copy
takes a fraction of what running every migration would), dropped after the test; migrating
it again is a no-op. ``api_db`` does the same for the API's ``running_api``, through
``ESTATEWATCH_API_DB_URL``.

A missing binary is a failure, not a skip: the integration suite is meant to run, and the
message says what to install.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from estatewatch.errors import ServiceError
from infra.local import InfluxInstance, MosquittoInstance, PostgresInstance
from maintenance.db.engine import default_url, make_engine
from maintenance.db.migrations import upgrade

_SERVICE_FIXTURES = ("mosquitto", "influxdb", "postgres")
_Service = MosquittoInstance | InfluxInstance | PostgresInstance
_MIGRATED_TEMPLATE = "migrated_template"


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoInstance]:
    """A running private Mosquitto broker shared by the whole session."""
    instance = MosquittoInstance(tmp_path_factory.mktemp("services"))
    _start_or_fail(instance)
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="session")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxInstance]:
    """A running private InfluxDB 1.x with database ``estatewatch``, shared by the session."""
    instance = InfluxInstance(tmp_path_factory.mktemp("services"))
    _start_or_fail(instance)
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresInstance]:
    """A running private PostgreSQL shared by the session, with a database migrated to
    head (``migrated_template``) that ``db_url`` copies for each test."""
    instance = PostgresInstance(tmp_path_factory.mktemp("services"))
    _start_or_fail(instance)
    try:
        instance.create_database(_MIGRATED_TEMPLATE)
        asyncio.run(_migrate(instance.url(_MIGRATED_TEMPLATE)))
        yield instance
    finally:
        instance.stop()


async def _migrate(url: str) -> None:
    engine = make_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()  # a template with open sessions cannot be copied


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """This test's maintenance database, on SQLite and then on PostgreSQL (see above)."""
    if request.param == "sqlite":
        yield default_url(tmp_path)
        return
    postgres: PostgresInstance = request.getfixturevalue("postgres")
    _start_or_fail(postgres)
    name = f"test_{uuid.uuid4().hex[:12]}"
    postgres.create_database(name, template=_MIGRATED_TEMPLATE)
    yield postgres.url(name)
    if postgres.running:
        postgres.drop_database(name)


@pytest.fixture
def api_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Points every API this test starts at ``db_url`` (its data directory still holds
    photos and the like); on SQLite the API keeps its default file in the data directory."""
    if not db_url.startswith("sqlite"):
        monkeypatch.setenv("ESTATEWATCH_API_DB_URL", db_url)
    return db_url


@pytest.fixture(autouse=True)
def _local_services_running(request: pytest.FixtureRequest) -> None:
    # Only tests that asked for a service pay for it; others never start one.
    for name in _SERVICE_FIXTURES:
        if name in request.fixturenames:
            instance = request.getfixturevalue(name)
            assert isinstance(instance, _Service)
            _start_or_fail(instance)


@pytest.fixture
def influx_database(influxdb: InfluxInstance) -> Iterator[str]:
    """Name of a fresh, empty database on ``influxdb``, dropped after the test."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    influxdb.create_database(name)
    yield name
    if influxdb.running:
        influxdb.drop_database(name)


def _start_or_fail(instance: _Service) -> None:
    try:
        instance.start()
    except ServiceError as exc:
        pytest.fail(str(exc), pytrace=False)
