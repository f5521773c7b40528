"""Shared pytest fixtures.

Local services
--------------
``mosquitto`` and ``influxdb`` are session-scoped private servers (see
:mod:`infra.local.services`), started on first use and stopped at the end of the run. A
test may stop or restart them to exercise reconnects: before every test that uses one,
the autouse ``_local_services_running`` fixture starts it again if an earlier test left it
stopped, on the same port and with the same data. Tests share one broker and one database,
so use unique topics and measurements, or ``influx_database`` for a database of your own.

A missing binary is a failure, not a skip: the integration suite is meant to run, and the
message says what to install.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from estatewatch.errors import ServiceError
from infra.local import InfluxInstance, MosquittoInstance

_SERVICE_FIXTURES = ("mosquitto", "influxdb")


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


@pytest.fixture(autouse=True)
def _local_services_running(request: pytest.FixtureRequest) -> None:
    # Only tests that asked for a service pay for it; others never start one.
    for name in _SERVICE_FIXTURES:
        if name in request.fixturenames:
            instance = request.getfixturevalue(name)
            assert isinstance(instance, MosquittoInstance | InfluxInstance)
            _start_or_fail(instance)


@pytest.fixture
def influx_database(influxdb: InfluxInstance) -> Iterator[str]:
    """Name of a fresh, empty database on ``influxdb``, dropped after the test."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    influxdb.create_database(name)
    yield name
    if influxdb.running:
        influxdb.drop_database(name)


def _start_or_fail(instance: MosquittoInstance | InfluxInstance) -> None:
    try:
        instance.start()
    except ServiceError as exc:
        pytest.fail(str(exc), pytrace=False)
