"""The gateway as an operator runs it: simulators, a site file, ``estatewatch gateway run``.

Simulated devices and the gateway run as separate processes; the test listens on the
uplink broker like a central service would, and kills, stops and restarts things.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import aiomqtt
import pytest
import yaml
from metrics_scrape import scrape

from estatewatch import __version__
from estatewatch.ports import free_ports
from estatewatch.wire import (
    DeadLetter,
    EventMessage,
    GatewayStatus,
    TelemetryBundle,
    TelemetryMessage,
)
from infra.local import MosquittoInstance

pytestmark = pytest.mark.e2e

ESTATEWATCH = [sys.executable, "-m", "cli"]
BATCH_INTERVAL = 1.0  # the default uplink.batch_interval the drafted site file uses


@dataclass
class Heard:
    """What a central service subscribed to ``estatewatch/#`` received."""

    telemetry: list[TelemetryMessage] = field(default_factory=list)
    events: list[EventMessage] = field(default_factory=list)
    statuses: list[GatewayStatus] = field(default_factory=list)
    arrivals: list[int] = field(default_factory=list)  # seqs, in the order they arrived
    dead_letters: list[DeadLetter] = field(default_factory=list)

    def readings(self, device_id: str) -> list[tuple[datetime, dict[str, object]]]:
        seen: dict[datetime, dict[str, object]] = {}
        for message in self.telemetry:
            if message.device_id == device_id:
                for reading in message.readings:
                    seen[reading.ts] = dict(reading.fields)
        return sorted(seen.items())


@contextlib.asynccontextmanager
async def listening(broker: MosquittoInstance, client_id: str) -> AsyncIterator[Heard]:
    """A persistent-session subscriber that rides out broker restarts."""
    heard = Heard()

    async def listen() -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    broker.host, broker.port, identifier=client_id, clean_session=False
                ) as client:
                    await client.subscribe("estatewatch/#", qos=1)
                    async for message in client.messages:
                        payload = bytes(message.payload)  # type: ignore[arg-type]
                        topic = message.topic.value
                        if topic.endswith("/telemetry") and topic.split("/")[2] == "gateway":
                            # The gateway's default, wire version 2: its devices' messages
                            bundle = TelemetryBundle.model_validate_json(payload)
                            heard.telemetry.extend(bundle.messages())
                            heard.arrivals.append(bundle.seq)
                        elif topic.endswith("/telemetry"):
                            telemetry = TelemetryMessage.model_validate_json(payload)
                            heard.telemetry.append(telemetry)
                            heard.arrivals.append(telemetry.seq)
                        elif topic.endswith("/event"):
                            event = EventMessage.model_validate_json(payload)
                            heard.events.append(event)
                            heard.arrivals.append(event.seq)
                        elif topic.endswith("/status"):
                            heard.statuses.append(GatewayStatus.model_validate_json(payload))
                        elif topic.endswith("/dead_letter"):
                            letter = DeadLetter.model_validate_json(payload)
                            heard.dead_letters.append(letter)
                            heard.arrivals.append(letter.seq)
            except aiomqtt.MqttError:
                await asyncio.sleep(0.2)

    task = asyncio.create_task(listen())
    try:
        await asyncio.sleep(0.5)
        yield heard
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def start(args: list[str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([*ESTATEWATCH, *args], cwd=cwd, stdout=out, stderr=out)


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    if process.poll() is None:
        process.send_signal(sig)
    return process.wait(timeout=30)


async def until(condition: object, seconds: float, what: str) -> None:
    assert callable(condition)
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@pytest.fixture
def smoke_broker(tmp_path: Path) -> Iterator[MosquittoInstance]:
    """The site's own local broker, where the smoke alarms publish (not the uplink)."""
    with MosquittoInstance(tmp_path / "site-broker") as broker:
        yield broker


@pytest.fixture
def compound(
    tmp_path: Path, smoke_broker: MosquittoInstance, mosquitto: MosquittoInstance
) -> Iterator[Path]:
    """A running simulated compound and a site file for a gateway uplinked to ``mosquitto``."""
    inventory = tmp_path / "inventory.json"
    simulator = start(
        [
            "simulate", "--elevators", "3", "--rtu-elevators", "2", "--chargers", "1",
            "--smoke", "3", "--smoke-heartbeat", "2s", "--mqtt", f"127.0.0.1:{smoke_broker.port}",
            "--base-port", "0", "--control-port", "0", "--inventory", str(inventory),
        ],
        tmp_path,
        tmp_path / "simulator.log",
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not inventory.exists():
            assert simulator.poll() is None, (tmp_path / "simulator.log").read_text()
            assert time.monotonic() < deadline, "the simulator did not start"
            time.sleep(0.1)
        site = tmp_path / "site.yaml"
        drafted = subprocess.run(
            [
                *ESTATEWATCH, "gateway", "config-from-inventory", str(inventory),
                "--site", "e2e", "--gateway-id", f"gw-{tmp_path.name[-8:]}",
                "--uplink", f"127.0.0.1:{mosquitto.port}",
                "--buffer", str(tmp_path / "buffer.sqlite"), "-o", str(site),
            ],
            capture_output=True,
            text=True,
        )  # fmt: skip
        assert drafted.returncode == 0, drafted.stderr
        yield site
    finally:
        stop(simulator)


async def test_readings_arrive_with_values_and_units_and_survive_outages_and_kills(
    compound: Path,
    mosquitto: MosquittoInstance,
    smoke_broker: MosquittoInstance,
    tmp_path: Path,
) -> None:
    log = tmp_path / "gateway.log"
    async with listening(mosquitto, f"central-{tmp_path.name}") as heard:
        gateway = start(["gateway", "run", "--config", str(compound)], tmp_path, log)
        try:
            await until(lambda: len(heard.telemetry) > 60, 30, "telemetry")
            # Every kind of device arrives, typed and with units, over TCP, RTU and MQTT.
            types = {m.device_type for m in heard.telemetry}
            assert types == {"elevator", "charger", "smoke_alarm"}
            assert {m.device_id for m in heard.telemetry} >= {"elev-01", "elev-04", "elev-05"}
            elevator = next(m for m in heard.telemetry if m.device_id == "elev-05")  # RTU
            assert elevator.units["speed"] == "m/s"
            assert elevator.units["car_load"] == "%"
            fields = elevator.readings[0].fields
            assert isinstance(fields["floor"], int)
            assert isinstance(fields["speed"], float)
            assert fields["mode"] == 7
            assert isinstance(fields["alarm_button"], bool)
            charger = next(m for m in heard.telemetry if m.device_type == "charger")
            assert charger.units["port1.power"] == "W"
            smoke = next(m for m in heard.telemetry if m.device_type == "smoke_alarm")
            assert smoke.readings[0].fields["message_type"] == "heartbeat"
            assert any(s.state == "online" for s in heard.statuses)

            # A vendor sends garbage: it is dead-lettered with the reason, and the gateway
            # carries on.
            async with aiomqtt.Client(smoke_broker.host, smoke_broker.port) as vendor:
                await vendor.publish("vendor/smoke/smoke-001/up", b'{"devId": "smoke-001"', qos=1)
                await vendor.publish(
                    "vendor/smoke/smoke-002/up",
                    b'{"devId":"smoke-002","msgType":"alarm","battery":250,'
                    b'"smoke":3.0,"temp":30.0,"ts":1767225600}',
                    qos=1,
                )
            await until(lambda: len(heard.dead_letters) >= 2, 10, "dead letters")
            reasons = sorted(d.reason for d in heard.dead_letters)
            assert "battery" in reasons[0] or "battery" in reasons[1]
            assert any("not JSON" in r for r in reasons)
            received = len(heard.telemetry)
            await until(lambda: len(heard.telemetry) > received + 10, 10, "telemetry after")

            # The uplink broker goes away for a while; the gateway buffers on disk.
            mosquitto.stop()
            await asyncio.sleep(4)
            mosquitto.start()
            await asyncio.sleep(4)

            # Then the gateway is killed outright and restarted.
            assert gateway.poll() is None, log.read_text()
            killed_at = datetime.now().astimezone()
            stop(gateway, signal.SIGKILL)
            gateway = start(["gateway", "run", "--config", str(compound)], tmp_path, log)
            await asyncio.sleep(5)
        finally:
            assert stop(gateway) == 0, log.read_text()
        await until(lambda: any(s.state == "offline" for s in heard.statuses), 10, "offline")
        await asyncio.sleep(1)

    seqs = heard.arrivals
    unique = sorted(set(seqs))
    # Exactly once after de-duplication: no sequence number is missing, across the outage,
    # the kill and the restart (whatever reached the buffer was delivered).
    assert unique == list(range(unique[0], unique[-1] + 1))
    assert len(seqs) - len(unique) < len(unique) * 0.05, "duplicates are rare"
    # In order: leaving out re-sent duplicates, messages arrive in seq order.
    firsts: list[int] = []
    for s in seqs:
        if s not in firsts:
            firsts.append(s)
    assert firsts == unique
    # The kill loses at most what was not yet in the buffer: one batch interval before it.
    before_kill = [ts for ts, _ in heard.readings("elev-01") if ts < killed_at]
    assert before_kill, "readings from before the kill arrived"
    lost = (killed_at - before_kill[-1]).total_seconds()
    assert lost <= BATCH_INTERVAL + 1.0 + 0.5, f"{lost:.2f} s of readings lost to SIGKILL"
    # During the broker outage nothing was lost: elev-01's readings have no gap > 1.5 s
    # except around the kill.
    times = [ts for ts, _ in heard.readings("elev-01")]
    gaps = [
        (b - a).total_seconds() for a, b in itertools.pairwise(times) if not (a < killed_at < b)
    ]
    assert max(gaps) < 1.6, f"a gap of {max(gaps):.2f} s in elev-01's readings"
    text = log.read_text()
    assert "Traceback" not in text
    assert "uplink: lost the connection" in text, "the outage was noticed and reported"


def test_a_bad_site_file_fails_at_start_naming_the_field(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(
        "site: s1\ngateway_id: gw-1\nmodbus:\n  endpoints:\n"
        "    - name: b1\n      tcp: {host: 127.0.0.1, port: 70000}\n"
        "      devices: [{name: elev-01, unit: 1, profile: elevator-nice3000}]\n"
    )
    result = subprocess.run(
        [*ESTATEWATCH, "gateway", "run", "--config", str(site)], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "modbus.endpoints[0] (b1).tcp.port" in result.stderr
    assert "Traceback" not in result.stderr
    site.write_text(site.read_text().replace("70000", "502").replace("elevator-nice3000", "lift"))
    result = subprocess.run(
        [*ESTATEWATCH, "gateway", "check", "--config", str(site)], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "devices[0] (elev-01).profile: unknown profile 'lift'" in result.stderr
    assert not (tmp_path / "var").exists(), "nothing was started"


def smoke_payload(device: str, seq: int, kind: str = "heartbeat") -> bytes:
    return json.dumps(
        {
            "devId": device,
            "msgType": kind,
            "battery": 87,
            "smoke": 0.12,
            "temp": 21.5,
            "ts": int(time.time()) - 1,
            "seq": seq,
        }
    ).encode()


async def test_poison_retained_and_in_a_flood_neither_stops_the_gateway_nor_its_smoke_source(
    tmp_path: Path, smoke_broker: MosquittoInstance, mosquitto: MosquittoInstance
) -> None:
    # Issue 12's fault run: a ~20 KB nested-JSON payload, retained, used to end every
    # start of 'gateway run' within a second; in a flood the smoke source stopped
    # reconnecting and the gateway ignored SIGTERM.
    site = f"p{uuid.uuid4().hex[:8]}"
    poison = b"[" * 10_000 + b"]" * 10_000
    config = {
        "site": site,
        "gateway_id": "gw-1",
        "uplink": {"host": "127.0.0.1", "port": mosquitto.port},
        "buffer": {"path": str(tmp_path / "buffer.sqlite")},
        "mqtt_sources": [
            {
                "name": "smoke",
                "host": "127.0.0.1",
                "port": smoke_broker.port,
                "topic": "vendor/smoke/+/up",
            }
        ],
    }
    site_file = tmp_path / "site.yaml"
    site_file.write_text(yaml.safe_dump(config))
    async with aiomqtt.Client(smoke_broker.host, smoke_broker.port) as vendor:
        await vendor.publish("vendor/smoke/smoke-666/up", poison, qos=1, retain=True)
    log = tmp_path / "gateway.log"

    def smoke_seqs(heard: Heard) -> set[object]:
        return {
            r.fields["vendor_sequence"]
            for m in heard.telemetry
            if m.site == site and m.device_id == "smoke-001"
            for r in m.readings
        }

    def heard_seq(seq: int) -> Callable[[], bool]:
        return lambda: seq in smoke_seqs(heard)

    def subscribed(times: int) -> Callable[[], bool]:
        return lambda: log.read_text().count("MQTT source smoke: connected") >= times

    def dead(heard: Heard) -> list[DeadLetter]:
        return [d for d in heard.dead_letters if d.site == site]

    async with listening(mosquitto, f"central-{tmp_path.name}") as heard:
        for run in range(2):
            gateway = start(["gateway", "run", "--config", str(site_file)], tmp_path, log)
            first, last = 10 * run, 10 * run + 1
            try:
                await until(
                    subscribed(run + 1),
                    20,
                    "the smoke source to subscribe",
                )
                async with aiomqtt.Client(smoke_broker.host, smoke_broker.port) as vendor:
                    await vendor.publish(
                        "vendor/smoke/smoke-001/up", smoke_payload("smoke-001", first), qos=1
                    )
                    await until(heard_seq(first), 20, f"run {run}'s heartbeat")
                    # A flood of poison on many topics, the broker restarted in its middle.
                    for n in range(300):
                        await vendor.publish(f"vendor/smoke/flood-{n}/up", poison, qos=1)
                smoke_broker.stop()
                smoke_broker.start()
                async with aiomqtt.Client(smoke_broker.host, smoke_broker.port) as vendor:
                    for n in range(300, 600):
                        await vendor.publish(f"vendor/smoke/flood-{n}/up", poison, qos=1)
                    await vendor.publish(
                        "vendor/smoke/smoke-001/up",
                        smoke_payload("smoke-001", last, "alarm"),
                        qos=1,
                    )
                await until(heard_seq(last), 30, "the alarm after the flood")
                assert gateway.poll() is None, log.read_text()
            finally:
                assert stop(gateway) == 0, log.read_text()  # SIGTERM obeyed, a clean exit
        await until(lambda: len(dead(heard)) >= 1 + 2 * 600, 30, "the dead letters")
        await asyncio.sleep(0.5)

    letters = dead(heard)
    retained = [d for d in letters if d.source_topic == "vendor/smoke/smoke-666/up"]
    assert len(retained) == 1, "the retained poison is dead-lettered once, not at each start"
    assert len({d.source_topic for d in letters}) == 601
    text = log.read_text()
    assert "Traceback" not in text
    assert text.count("MQTT source smoke: reconnected") == 2


async def test_metrics_count_exactly_what_the_gateway_published_and_refused(
    tmp_path: Path, smoke_broker: MosquittoInstance, mosquitto: MosquittoInstance
) -> None:
    site = f"m{uuid.uuid4().hex[:8]}"
    (port,) = free_ports(1)
    config = {
        "site": site,
        "gateway_id": "gw-1",
        "uplink": {"host": "127.0.0.1", "port": mosquitto.port},
        "buffer": {"path": str(tmp_path / "buffer.sqlite")},
        "metrics": {"port": port},
        "mqtt_sources": [
            {
                "name": "smoke",
                "host": "127.0.0.1",
                "port": smoke_broker.port,
                "topic": "vendor/smoke/+/up",
            }
        ],
    }
    site_file = tmp_path / "site.yaml"
    site_file.write_text(yaml.safe_dump(config))
    log = tmp_path / "gateway.log"
    good, bad = 12, 4

    def ours(heard: Heard) -> set[int]:
        """The distinct seqs this gateway's messages reached the centre with."""
        messages = [*heard.telemetry, *heard.events, *heard.dead_letters]
        return {m.seq for m in messages if m.site == site}

    async with listening(mosquitto, f"central-{tmp_path.name}") as heard:
        gateway = start(["gateway", "run", "--config", str(site_file)], tmp_path, log)
        try:
            await until(lambda: "MQTT source smoke: connected" in log.read_text(), 20, "the source")
            async with aiomqtt.Client(smoke_broker.host, smoke_broker.port) as vendor:
                for seq in range(good):
                    payload = smoke_payload("smoke-001", seq, "alarm" if seq % 3 else "heartbeat")
                    await vendor.publish("vendor/smoke/smoke-001/up", payload, qos=1)
                for n in range(bad):
                    await vendor.publish("vendor/smoke/smoke-001/up", b"not json %d" % n, qos=1)
            await until(
                lambda: len([d for d in heard.dead_letters if d.site == site]) == bad,
                20,
                "the dead letters",
            )
            await asyncio.sleep(2 * BATCH_INTERVAL)  # the heartbeats' batch went out too
            seen = await scrape(f"http://127.0.0.1:{port}/metrics")
        finally:
            assert stop(gateway) == 0, log.read_text()
    assert seen.value("estatewatch_gateway_dead_letters_total") == bad
    assert seen.value("estatewatch_gateway_messages_published_total") == len(ours(heard))
    assert seen.value("estatewatch_gateway_buffer_depth") == 0
    assert seen.value("estatewatch_gateway_buffer_dropped_total") == 0
    assert seen.value("estatewatch_gateway_mqtt_connected") == 1
    assert seen.value("estatewatch_gateway_devices", state="online") == 1
    assert seen.value("estatewatch_build_info", service="gateway", version=__version__) == 1
