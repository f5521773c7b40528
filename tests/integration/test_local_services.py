"""The private Mosquitto, InfluxDB and PostgreSQL servers: they answer, survive restarts,
clean up, and die with the process that started them."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import aiomqtt
import asyncpg
import httpx
import pytest

from estatewatch.errors import ServiceError
from estatewatch.ports import port_is_free
from infra.local import InfluxInstance, LocalServices, MosquittoInstance, PostgresInstance

pytestmark = pytest.mark.integration

TIMEOUT_S = 10


def _topic() -> str:
    return f"test/{uuid.uuid4().hex}"


async def _receive(client: aiomqtt.Client, count: int) -> list[bytes]:
    received: list[bytes] = []
    async with asyncio.timeout(TIMEOUT_S):
        async for message in client.messages:
            assert isinstance(message.payload, bytes)
            received.append(message.payload)
            if len(received) == count:
                break
    return received


def _write_point(influx: InfluxInstance, database: str, line: str) -> None:
    with httpx.Client(base_url=influx.url, trust_env=False) as http:
        response = http.post("/write", params={"db": database}, content=line)
    assert response.status_code == 204, response.text


def _select(influx: InfluxInstance, database: str, query: str) -> list[list[object]]:
    with httpx.Client(base_url=influx.url, trust_env=False) as http:
        response = http.get("/query", params={"db": database, "q": query})
    response.raise_for_status()
    result = response.json()["results"][0]
    assert "error" not in result, result
    series = result.get("series", [])
    return [row for s in series for row in s["values"]]


def _listening(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", port))
    sock.listen()
    return sock


# -- the shared session servers -------------------------------------------------------------


async def test_mosquitto_round_trip(mosquitto: MosquittoInstance) -> None:
    topic = _topic()
    assert mosquitto.url == f"mqtt://127.0.0.1:{mosquitto.port}"
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
        await client.subscribe(topic, qos=1)
        await client.publish(topic, b"hello", qos=1)
        assert await _receive(client, 1) == [b"hello"]


def test_influxdb_write_and_query(influxdb: InfluxInstance) -> None:
    assert influxdb.url == f"http://127.0.0.1:{influxdb.port}"
    assert influxdb.database == "estatewatch"
    _write_point(influxdb, "estatewatch", "probe,site=a value=42i 1700000000000000000")
    rows = _select(influxdb, "estatewatch", "SELECT value FROM probe WHERE site = 'a'")
    assert rows == [["2023-11-14T22:13:20Z", 42]]


def test_influx_database_fixture_is_fresh(influxdb: InfluxInstance, influx_database: str) -> None:
    _write_point(influxdb, influx_database, "probe value=1i 1700000000000000000")
    assert _select(influxdb, influx_database, "SELECT count(value) FROM probe")[0][1] == 1


async def test_mosquitto_restart_keeps_port_retained_and_queued(
    mosquitto: MosquittoInstance,
) -> None:
    retained_topic, queued_topic = _topic(), _topic()
    consumer = f"consumer-{uuid.uuid4().hex[:8]}"
    # A persistent session subscribes, goes away, and misses messages while offline.
    async with aiomqtt.Client(
        mosquitto.host, mosquitto.port, identifier=consumer, clean_session=False
    ) as client:
        await client.subscribe(queued_topic, qos=1)
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
        await client.publish(retained_topic, b"kept", qos=1, retain=True)
        for n in range(200):
            await client.publish(queued_topic, str(n).encode(), qos=1)

    port, pid = mosquitto.port, mosquitto.pid
    mosquitto.restart()
    assert mosquitto.port == port
    assert mosquitto.pid != pid

    async with aiomqtt.Client(
        mosquitto.host, mosquitto.port, identifier=consumer, clean_session=False
    ) as client:
        assert await _receive(client, 200) == [str(n).encode() for n in range(200)]
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
        await client.subscribe(retained_topic, qos=1)
        assert await _receive(client, 1) == [b"kept"]


def test_influxdb_stop_start_keeps_port_and_data(influxdb: InfluxInstance) -> None:
    _write_point(influxdb, "estatewatch", "restart_probe value=7i 1700000000000000000")
    port = influxdb.port
    influxdb.stop()
    assert not influxdb.running
    assert influxdb.pid is None
    assert port_is_free(port)
    influxdb.start()
    assert influxdb.port == port
    assert _select(influxdb, "estatewatch", "SELECT value FROM restart_probe") == [
        ["2023-11-14T22:13:20Z", 7]
    ]


def test_a_test_may_leave_the_session_services_stopped(
    mosquitto: MosquittoInstance, influxdb: InfluxInstance
) -> None:
    # Runs after tests that stopped the servers; the autouse fixture must have restarted them.
    assert mosquitto.running
    assert influxdb.running
    mosquitto.stop()
    influxdb.stop()


def test_next_test_gets_them_back(mosquitto: MosquittoInstance, influxdb: InfluxInstance) -> None:
    assert mosquitto.running
    assert influxdb.running


# -- instances of their own -----------------------------------------------------------------


def test_stop_leaves_no_process_behind(tmp_path: Path) -> None:
    with LocalServices(tmp_path) as services:
        assert services.running
        pids = [services.mosquitto.pid, services.influxdb.pid]
        ports = [services.mosquitto.port, services.influxdb.port, services.influxdb.rpc_port]
        pid_files = [services.mosquitto.pid_path, services.influxdb.pid_path]
        assert all(path.exists() for path in pid_files)
    assert not services.running
    for pid in pids:
        assert pid is not None
        assert not Path(f"/proc/{pid}").exists()
    assert all(port_is_free(port) for port in ports)
    assert not any(path.exists() for path in pid_files)
    # An explicit root belongs to the caller and keeps the data.
    assert (tmp_path / "mosquitto" / "data" / "mosquitto.db").exists()


async def test_postgres_serves_sql_keeps_data_across_restart_and_clones_templates(
    tmp_path: Path,
) -> None:
    with PostgresInstance(tmp_path) as postgres:
        port = postgres.port
        dsn = postgres.url().replace("postgresql+asyncpg", "postgresql")
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute("CREATE TABLE kept (note text)")
            await connection.execute("INSERT INTO kept VALUES ('电梯 B1')")
            assert await connection.fetchval("SHOW listen_addresses") == "127.0.0.1"
            # TCP only: a unix socket path over 107 bytes (a deep test directory) would
            # stop the server at start, and none may meet a system cluster's.
            assert await connection.fetchval("SHOW unix_socket_directories") == ""
        finally:
            await connection.close()
        postgres.restart()
        assert postgres.port == port
        postgres.create_database("copy", template="estatewatch")
        copy = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/copy")
        try:
            assert await copy.fetchval("SELECT note FROM kept") == "电梯 B1"
        finally:
            await copy.close()
        postgres.drop_database("copy")
        with pytest.raises(ServiceError, match=r'refused .*"nope"'):
            postgres.create_database("again", template="nope")
        pid = postgres.pid
    assert pid is not None
    assert not _alive(pid)
    assert port_is_free(port)


_STARTS_SERVERS_THEN_WAITS = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from infra.local import LocalServices, PostgresInstance

    root = Path(sys.argv[1])
    services = LocalServices(root)
    services.start()
    postgres = PostgresInstance(root)
    postgres.start()
    print(services.mosquitto.pid, services.influxdb.pid, postgres.pid, flush=True)
    time.sleep(600)
    """
)


def test_servers_die_with_a_killed_parent(tmp_path: Path) -> None:
    # SIGKILL runs no atexit hook and no finally: only the kernel can end the servers.
    with subprocess.Popen(
        [sys.executable, "-c", _STARTS_SERVERS_THEN_WAITS, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    ) as parent:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        pids = [int(pid) for pid in line.split()]
        assert len(pids) == 3, f"the parent printed {line!r}"
        assert all(_alive(pid) for pid in pids)
        parent.kill()
    deadline = time.monotonic() + TIMEOUT_S
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in pids if _alive(pid)] == []


def _alive(pid: int) -> bool:
    # A zombie has exited; it only waits for init to reap it.
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return status.rsplit(")", 1)[1].split()[0] != "Z"


def test_relative_root_like_the_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with LocalServices(Path("var/services")) as services:
        assert services.running
    assert (tmp_path / "var/services/mosquitto/data/mosquitto.db").exists()
    assert (tmp_path / "var/services/influxdb/meta/meta.db").exists()


def test_default_root_is_temporary() -> None:
    with LocalServices() as services:
        root = services.root
        assert (root / "mosquitto").is_dir()
        assert (root / "influxdb").is_dir()
    assert not root.exists()


def test_auto_port_taken_before_start_is_replaced(tmp_path: Path) -> None:
    # Another process wins the race for the picked port: the broker moves, not fails.
    instance = MosquittoInstance(tmp_path)
    picked = instance.port
    with _listening(picked), instance:
        assert instance.running
        assert instance.port != picked


def test_fixed_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with _listening(port), pytest.raises(ServiceError, match=f"127.0.0.1:{port}.*in use"):
        MosquittoInstance(tmp_path, port).start()


def test_second_instance_on_same_directory_is_refused(tmp_path: Path) -> None:
    with MosquittoInstance(tmp_path) as first:
        with pytest.raises(ServiceError, match=f"still serves .*pid {first.pid}"):
            MosquittoInstance(tmp_path).start()
        assert first.running


def test_missing_binary_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ServiceError, match="apt-get install mosquitto influxdb"):
        MosquittoInstance(tmp_path, executable=tmp_path / "no-such-mosquitto").start()
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(ServiceError, match=r"influxd not found .*make setup"):
        InfluxInstance(tmp_path).start()


def test_startup_crash_reports_log_tail(tmp_path: Path) -> None:
    fake = tmp_path / "fake-influxd"
    fake.write_text("#!/bin/sh\necho 'run: bad config line 3' >&2\nexit 3\n")
    fake.chmod(0o755)
    instance = InfluxInstance(tmp_path, executable=fake)
    with pytest.raises(ServiceError, match=r"(?s)status 3.*bad config line 3"):
        instance.start()
    assert not instance.running


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_services_up_cli(tmp_path: Path, stop_signal: signal.Signals) -> None:
    command = [sys.executable, "-m", "cli", "services", "up", "--dir", str(tmp_path)]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            lines = [process.stdout.readline().split() for _ in range(2)]
            if not all(lines):
                pytest.fail(f"services up printed {lines}; stderr: {process.communicate()[1]}")
            (mqtt_name, mqtt_url), (influx_name, influx_url, influx_db) = lines
            assert (mqtt_name, influx_name, influx_db) == (
                "mosquitto",
                "influxdb",
                "db=estatewatch",
            )
            assert mqtt_url.startswith("mqtt://127.0.0.1:")
            with httpx.Client(trust_env=False) as http:
                assert http.get(f"{influx_url}/ping").status_code == 204
            pid_files = [
                tmp_path / "mosquitto" / "mosquitto.pid",
                tmp_path / "influxdb" / "influxd.pid",
            ]
            pids = [int(path.read_text()) for path in pid_files]
            process.send_signal(stop_signal)
            _, stderr = process.communicate(timeout=TIMEOUT_S * 2)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
    assert not any(path.exists() for path in pid_files)
    # --dir keeps the data for the next run.
    assert (tmp_path / "mosquitto" / "data" / "mosquitto.db").exists()
