"""The gateway's MQTT source against a real Mosquitto: simulated alarms in, readings out.

Each test publishes under a topic prefix of its own (``t1a2b.../vendor/smoke/...``, as a
bridge would), so the session-wide broker and the persistent sessions other tests leave
behind never mix their messages with this test's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from estatewatch.catalogue import Profile, Value, builtin_catalogue
from estatewatch.durable_queue import DurableQueue, QueuedItem
from estatewatch.wire import DeadLetter, EventKind, FieldValue, TelemetryBundle
from gateway.config import MqttSourceConfig
from gateway.metrics import DeviceState, GatewayMetrics
from gateway.mqtt_source import MqttSource
from gateway.outbox import Outbox
from gateway.sink import DeviceInfo
from gateway.status import build_status
from infra.local import MosquittoInstance, free_ports
from simulators.smoke import SmokeAlarm
from simulators.smoke_publisher import SmokePublisher

pytestmark = pytest.mark.integration

TIMEOUT_S = 30.0
FAST_RETRY = (0.05, 0.5)  # s: reconnect quickly, so a broker restart is noticed in a test
Message = dict[str, Value]


@dataclasses.dataclass
class RecordingSink:
    readings: list[tuple[DeviceInfo, datetime, dict[str, FieldValue]]] = dataclasses.field(
        default_factory=list
    )
    events: list[tuple[str, datetime, EventKind, dict[str, FieldValue]]] = dataclasses.field(
        default_factory=list
    )
    dead: list[DeadLetter] = dataclasses.field(default_factory=list)

    def reading(
        self,
        device: DeviceInfo,
        ts: datetime,
        fields: Mapping[str, FieldValue],
        *,
        urgent: bool = False,
    ) -> None:
        self.readings.append((device, ts, dict(fields)))

    def event(
        self, device: DeviceInfo, ts: datetime, kind: EventKind, detail: Mapping[str, FieldValue]
    ) -> None:
        self.events.append((device.device_id, ts, kind, dict(detail)))

    def when_stored(self, callback: Callable[[], None]) -> None:
        callback()  # what this sink records is "stored"

    def events_of(
        self, kind: EventKind
    ) -> list[tuple[str, datetime, EventKind, dict[str, FieldValue]]]:
        return [e for e in self.events if e[2] == kind]


async def until(condition: Callable[[], bool], what: str) -> None:
    try:
        async with asyncio.timeout(TIMEOUT_S):
            # Polled: the conditions read plain attributes that sync callbacks update.
            while not condition():  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def profile(prefix: str) -> Profile:
    # The publisher writes to the profile's topic: give it this test's bridge prefix.
    smoke = builtin_catalogue()["smoke-alarm"]
    return dataclasses.replace(smoke, topic=f"{prefix}/{smoke.topic}")


@pytest.fixture
def config(mosquitto: MosquittoInstance, prefix: str) -> MqttSourceConfig:
    return MqttSourceConfig(
        name="smoke",
        host=mosquitto.host,
        port=mosquitto.port,
        topic=f"{prefix}/vendor/smoke/+/up",
        devices={f"{prefix}-smoke-001": {"building": "b1", "location": "stair 1"}},
        default_tags={"building": "unassigned"},
    )


class Gateway:
    """What the composition root would build around one source."""

    def __init__(self, config: MqttSourceConfig, gateway_id: str) -> None:
        self.config, self.gateway_id = config, gateway_id
        self.sink = RecordingSink()
        self.metrics = GatewayMetrics()

    def source(self, **options: Any) -> MqttSource:
        return MqttSource(
            self.config,
            builtin_catalogue()["smoke-alarm"],
            site="rose-garden",
            gateway_id=self.gateway_id,
            sink=self.sink,
            on_dead_letter=self.sink.dead.append,
            metrics=self.metrics,
            backoff=FAST_RETRY,
            **options,
        )


@pytest.fixture
def gateway(config: MqttSourceConfig, prefix: str) -> Gateway:
    return Gateway(config, gateway_id=f"gw-{prefix}")


@asynccontextmanager
async def publisher(
    mosquitto: MosquittoInstance, profile: Profile
) -> AsyncIterator[SmokePublisher]:
    async with SmokePublisher(
        mosquitto.host,
        mosquitto.port,
        profile,
        client_id=f"pub-{uuid.uuid4().hex[:8]}",
        backoff=FAST_RETRY,
    ) as pub:
        yield pub
        async with asyncio.timeout(TIMEOUT_S):
            await pub.flush()


def alarm_messages(profile: Profile, prefix: str, count: int, hours: float) -> list[Message]:
    """Messages of ``count`` alarms over the last ``hours``, the first one in a fire."""
    rng = random.Random(11)
    start = float(int(time.time() - hours * 3600.0 - 60.0))
    alarms = [
        SmokeAlarm(f"{prefix}-smoke-{n:03d}", profile, random.Random(rng.random()), start)
        for n in range(1, count + 1)
    ]
    alarms[0].inject("fire")
    messages: list[Message] = []
    for alarm in alarms:
        alarm.step(start + hours * 3600.0)
        messages += alarm.drain()
    return messages


def by_key(
    readings: list[tuple[DeviceInfo, datetime, dict[str, FieldValue]]],
) -> dict[tuple[str, FieldValue], tuple[DeviceInfo, datetime, dict[str, FieldValue]]]:
    return {(d.device_id, f["vendor_sequence"]): (d, ts, f) for d, ts, f in readings}


async def test_simulated_alarms_arrive_as_readings_with_values_units_and_events(
    mosquitto: MosquittoInstance, profile: Profile, prefix: str, gateway: Gateway
) -> None:
    sent = alarm_messages(profile, prefix, count=4, hours=2)
    assert {m["message_type"] for m in sent} >= {"heartbeat", "alarm"}
    async with gateway.source() as source:
        assert source.connected
        async with publisher(mosquitto, profile) as pub:
            for message in sent:
                await pub.publish(message)
        await until(lambda: len(gateway.sink.readings) == len(sent), "every reading")

    got = by_key(gateway.sink.readings)
    assert len(got) == len(sent)
    for message in sent:
        device, ts, fields = got[(str(message["device_id"]), message["vendor_sequence"])]
        assert ts == datetime.fromtimestamp(int(message["timestamp"]), UTC)
        assert fields == {k: v for k, v in message.items() if k not in ("device_id", "timestamp")}
        assert device.device_type == "smoke_alarm"
        assert device.units == {
            "battery": "%",
            "smoke_obscuration": "%/m",
            "temperature": "degC",
        }
    tags = {d.device_id: dict(d.tags) for d, _, _ in gateway.sink.readings}
    assert tags[f"{prefix}-smoke-001"] == {"building": "b1", "location": "stair 1"}
    assert tags[f"{prefix}-smoke-002"] == {"building": "unassigned"}

    # The fire reaches the rules at once as message events, not only as readings.
    news = [m for m in sent if m["message_type"] != "heartbeat"]
    messages = gateway.sink.events_of("message")
    assert len(messages) == len(news)
    assert {(e[0], e[3]["message_type"]) for e in messages} == {
        (m["device_id"], m["message_type"]) for m in news
    }
    # Each alarm is online from its first message; nothing went offline.
    assert sorted(e[0] for e in gateway.sink.events_of("device_online")) == sorted(tags)
    assert gateway.sink.events_of("device_offline") == []
    assert set(gateway.metrics.device_states.values()) == {DeviceState.ONLINE}
    assert gateway.metrics.dead_letters == 0


async def test_malformed_payloads_are_dead_lettered_and_the_source_keeps_working(
    mosquitto: MosquittoInstance,
    profile: Profile,
    prefix: str,
    gateway: Gateway,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.mqtt_source")
    good = alarm_messages(profile, prefix, count=1, hours=1)
    device = f"{prefix}-smoke-001"
    topic = f"{prefix}/vendor/smoke/{device}/up"
    ts = int(time.time())
    bad: list[tuple[str, bytes, str]] = [
        (topic, b"{not json", "payload is not JSON"),
        (topic, b"[]", "payload must be a JSON object"),
        (topic, b"\xff\xfe" * 10_000, "kept the first 8 KiB"),
        (
            topic,
            b'{"devId":"%s","msgType":"heartbeat","battery":"87","smoke":0,"temp":20,"ts":%d}'
            % (device.encode(), ts),
            "battery: Input should be a valid integer",
        ),
        (
            topic,
            b'{"devId":"%s","msgType":"burning","battery":80,"smoke":0,"temp":20,"ts":%d}'
            % (device.encode(), ts),
            "msgType: Input should be",
        ),
        (
            f"{prefix}/vendor/smoke/someone-else/up",
            b'{"devId":"%s","msgType":"alarm","battery":80,"smoke":9,"temp":20,"ts":%d}'
            % (device.encode(), ts),
            "does not match the device 'someone-else'",
        ),
        (
            topic,
            b'{"devId":"%s","msgType":"alarm","battery":80,"smoke":9,"temp":20,"ts":%d}'
            % (device.encode(), ts + 7 * 86400),
            "more than a day ahead",
        ),
    ]
    async with gateway.source() as source, publisher(mosquitto, profile) as pub:
        for message in good[:1]:
            await pub.publish(message)
        for where, payload, _ in bad:
            await pub.publish_raw(where, payload)
        for message in good[1:]:
            await pub.publish(message)
        await until(
            lambda: len(gateway.sink.readings) + len(gateway.sink.dead) == len(good) + len(bad),
            "every message handled",
        )
        # Still listening after all that.
        later = {**good[-1], "vendor_sequence": 60_000, "message_type": "self_test"}
        await pub.publish(later)
        await until(lambda: len(gateway.sink.readings) == len(good) + 1, "the later reading")
        assert source.connected

    reasons = [d.reason for d in gateway.sink.dead]
    assert len(reasons) == len(bad)
    for (where, payload, expected), letter in zip(bad, gateway.sink.dead, strict=True):
        assert expected in letter.reason
        assert letter.source_topic == where
        assert letter.gateway_id == gateway.gateway_id
        assert letter.payload == payload[:8192].decode(errors="replace")
    assert gateway.metrics.dead_letters == len(bad)
    assert source.dead_letters == len(bad)
    assert gateway.sink.readings[-1][2]["message_type"] == "self_test"

    # Logged with the reason, but one line per device a minute: the rest are counted.
    lines = [r.getMessage() for r in caplog.records if r.name == "gateway.mqtt_source"]
    assert lines == [
        f"dead letter from {device} on {topic}: {gateway.sink.dead[0].reason}",
        f"dead letter from someone-else on {bad[5][0]}: {gateway.sink.dead[5].reason}",
        # on close, the count of the rest
        f"dead letter from {device}: {len(bad) - 2} more within 60 s"
        f" (latest: {gateway.sink.dead[-1].reason})",
    ]


async def test_the_source_rides_out_a_broker_restart(
    mosquitto: MosquittoInstance,
    profile: Profile,
    prefix: str,
    gateway: Gateway,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.mqtt_source")
    before = alarm_messages(profile, f"{prefix}a", count=2, hours=1)
    after = alarm_messages(profile, f"{prefix}b", count=2, hours=1)
    async with gateway.source() as source:
        async with publisher(mosquitto, profile) as pub:
            for message in before:
                await pub.publish(message)
        await until(lambda: len(gateway.sink.readings) == len(before), "readings before")

        await asyncio.to_thread(mosquitto.stop)
        await until(lambda: not source.connected, "the source to notice")
        await asyncio.sleep(1.0)  # several failed retries: still one warning
        await asyncio.to_thread(mosquitto.start)
        await until(lambda: source.connected, "the source to reconnect")

        async with publisher(mosquitto, profile) as pub:
            for message in after:
                await pub.publish(message)
        await until(lambda: len(gateway.sink.readings) == len(before) + len(after), "after")
        await asyncio.sleep(0.2)  # time for a late duplicate to show up

    # Exactly once: a broker restarted right after a burst redelivers what it had not
    # seen acknowledged, and the source drops those repeats.
    keys = sorted(by_key(gateway.sink.readings))
    assert len(keys) == len(gateway.sink.readings)
    assert keys == sorted((str(m["device_id"]), m["vendor_sequence"]) for m in before + after)

    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert (
        f"MQTT source smoke: lost the connection to MQTT broker {mosquitto.host}:{mosquitto.port}"
        in warnings[0]
    )
    assert any("reconnected" in r.getMessage() for r in caplog.records)
    assert gateway.metrics.errors["mqtt_source_lost"] == 1
    # The outage was the broker's: no alarm was declared offline for it.
    assert gateway.sink.events_of("device_offline") == []


async def test_alarms_sent_while_the_gateway_is_away_arrive_when_it_returns(
    mosquitto: MosquittoInstance, profile: Profile, prefix: str, gateway: Gateway
) -> None:
    # The first run creates the persistent session and its subscription.
    async with gateway.source() as source:
        assert source.connected
    sent = alarm_messages(profile, prefix, count=3, hours=2)
    async with publisher(mosquitto, profile) as pub:
        for message in sent:
            await pub.publish(message)
    # The broker, too, restarts while the gateway is away: the session is on its disk.
    await asyncio.to_thread(mosquitto.stop)
    await asyncio.to_thread(mosquitto.start)

    async with gateway.source() as source:
        assert source.client_id == f"estatewatch-gw-{gateway.gateway_id}-smoke"
        await until(lambda: len(gateway.sink.readings) == len(sent), "the queued alarms")
    assert sorted(by_key(gateway.sink.readings)) == sorted(
        (str(m["device_id"]), m["vendor_sequence"]) for m in sent
    )


async def test_a_message_is_acknowledged_only_once_it_is_on_the_durable_queue(
    mosquitto: MosquittoInstance,
    profile: Profile,
    prefix: str,
    gateway: Gateway,
    tmp_path: Path,
) -> None:
    # The real outbox and queue: nothing flushes them but this test.
    def source(outbox: Outbox) -> MqttSource:
        return MqttSource(
            gateway.config,
            builtin_catalogue()["smoke-alarm"],
            site="rose-garden",
            gateway_id=gateway.gateway_id,
            sink=outbox,
            on_dead_letter=outbox.dead_letter,
            metrics=gateway.metrics,
            backoff=FAST_RETRY,
        )

    (alarm, *_) = alarm_messages(profile, prefix, count=1, hours=0)
    with DurableQueue(tmp_path / "buffer.sqlite", max_bytes=1 << 20, fsync=True) as queue:
        async with source(Outbox(queue, site="rose-garden", gateway_id="gw")) as first:
            async with publisher(mosquitto, profile) as pub:
                await pub.publish(alarm)
            await until(lambda: first.received == 1, "the alarm")
        # The gateway died with the alarm in memory, not yet flushed to the queue: the
        # broker never had its PUBACK and delivers it again.
        assert queue.depth == 0
        outbox = Outbox(queue, site="rose-garden", gateway_id="gw")
        async with source(outbox) as second:
            await until(lambda: second.received == 1, "the alarm again")
            assert outbox.flush() == 2  # its reading and its message event
            assert queue.depth == 2
            await asyncio.sleep(0.2)  # the PUBACK goes out with the flush
        # Stored and acknowledged: a third run gets nothing.
        async with source(Outbox(queue, site="rose-garden", gateway_id="gw")) as third:
            await asyncio.sleep(0.5)
            assert third.received == 0
    (message,) = [  # in the gateway's default bundle (wire version 2)
        m
        for item in queue_items(tmp_path)
        for m in TelemetryBundle.model_validate_json(item.payload).messages()
    ]
    assert message.readings[0].fields["vendor_sequence"] == alarm["vendor_sequence"]


def queue_items(tmp_path: Path) -> list[QueuedItem]:
    with DurableQueue(tmp_path / "buffer.sqlite", max_bytes=1 << 20, fsync=True) as queue:
        return [m for m in queue.peek(0, 10) if m.key.endswith("/telemetry")]


POISON = b"[" * 10_000 + b"]" * 10_000  # ~20 KB of nesting: killed the gateway once


async def test_a_nested_json_bomb_once_is_one_dead_letter_and_the_source_goes_on(
    mosquitto: MosquittoInstance, profile: Profile, prefix: str, gateway: Gateway
) -> None:
    before, after = alarm_messages(profile, prefix, count=2, hours=1)[:2]
    async with gateway.source() as source:
        async with publisher(mosquitto, profile) as pub:
            await pub.publish(before)
            await pub.publish_raw(f"{prefix}/vendor/smoke/{prefix}-smoke-009/up", POISON)
            await pub.publish(after)
        await until(lambda: len(gateway.sink.readings) == 2, "the valid messages around it")
        await until(lambda: len(gateway.sink.dead) == 1, "the dead letter")
        assert source.connected
    (letter,) = gateway.sink.dead
    assert letter.source_topic.endswith("smoke-009/up")
    assert letter.payload.startswith("[[[")
    assert gateway.metrics.errors["mqtt_source_failed"] == 0  # refused, not crashed on


async def test_a_payload_the_source_cannot_handle_is_isolated_and_reported_in_the_status(
    mosquitto: MosquittoInstance,
    profile: Profile,
    prefix: str,
    gateway: Gateway,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bomb = b'{"explodes": true}'
    (alarm,) = alarm_messages(profile, prefix, count=1, hours=0)
    async with gateway.source() as source:
        normaliser = source._normaliser
        normalise = normaliser.normalise

        def exploding(topic: str, payload: bytes, received_at: datetime) -> object:
            if payload == bomb:
                raise RecursionError("maximum recursion depth exceeded")  # a bug of ours
            return normalise(topic, payload, received_at)

        monkeypatch.setattr(normaliser, "normalise", exploding)
        async with publisher(mosquitto, profile) as pub:
            await pub.publish_raw(f"{prefix}/vendor/smoke/{prefix}-smoke-005/up", bomb)
            await pub.publish(alarm)
        await until(lambda: len(gateway.sink.readings) == 1, "the alarm after it")
        await until(lambda: len(gateway.sink.dead) == 1, "the dead letter")
        assert source.connected
    (letter,) = gateway.sink.dead
    assert letter.reason == "cannot be handled: RecursionError: maximum recursion depth exceeded"
    status = build_status(
        site="rose-garden",
        gateway_id=gateway.gateway_id,
        metrics=gateway.metrics,
        queue=EmptyQueue(),
        version="test",
        started_at=datetime.now(UTC),
        now=datetime.now(UTC),
    )
    assert status.errors == {"mqtt_source_failed": 1}
    assert status.dead_letters == 1


class EmptyQueue:
    depth = size_bytes = dropped = 0


async def test_a_retained_nested_json_bomb_is_dead_lettered_once_not_at_every_start(
    mosquitto: MosquittoInstance,
    profile: Profile,
    prefix: str,
    gateway: Gateway,
    tmp_path: Path,
) -> None:
    topic = f"{prefix}/vendor/smoke/{prefix}-smoke-009/up"
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as vendor:
        await vendor.publish(topic, POISON, qos=1, retain=True)
    try:
        for run in range(3):  # three gateway starts, each a new process's memory
            gateway.sink = RecordingSink()
            (alarm,) = alarm_messages(profile, f"{prefix}r{run}", count=1, hours=0)
            async with gateway.source(state_dir=tmp_path) as source:
                async with publisher(mosquitto, profile) as pub:
                    await pub.publish(alarm)
                await until(lambda: len(gateway.sink.readings) == 1, f"run {run}'s alarm")
                await asyncio.sleep(0.2)  # the retained message came first, if at all
                assert source.connected
            assert len(gateway.sink.dead) == (1 if run == 0 else 0), run
            assert source.retained_skipped == (0 if run == 0 else 1), run
    finally:
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as vendor:
            await vendor.publish(topic, b"", qos=1, retain=True)  # other tests' subscribes


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_silent_alarms_go_offline_and_come_back_online(
    mosquitto: MosquittoInstance, profile: Profile, prefix: str, gateway: Gateway
) -> None:
    clock = FakeClock()
    known = f"{prefix}-smoke-001"  # in the config, but never heard from
    (heartbeat, *_) = alarm_messages(profile, f"{prefix}x", count=1, hours=0)
    device = str(heartbeat["device_id"])
    async with gateway.source(clock=clock, check_interval=0.02) as source:
        assert source.offline_limit_s == 3 * 3600.0
        async with publisher(mosquitto, profile) as pub:
            await pub.publish(heartbeat)
        await until(lambda: source.device_state(device) is DeviceState.ONLINE, "online")
        assert gateway.metrics.device_states == {device: DeviceState.ONLINE}

        clock.now += 3 * 3600.0 + 1.0  # three heartbeats missed
        await until(lambda: len(gateway.sink.events_of("device_offline")) == 2, "offline")
        assert gateway.metrics.device_states == {
            device: DeviceState.OFFLINE,
            known: DeviceState.OFFLINE,
        }
        offline = {e[0]: e[3] for e in gateway.sink.events_of("device_offline")}
        assert offline[device] == {"reason": "no message for 10801 s"}

        async with publisher(mosquitto, profile) as pub:
            await pub.publish({**heartbeat, "vendor_sequence": 1})
        await until(lambda: source.device_state(device) is DeviceState.ONLINE, "back online")
    assert [e[0] for e in gateway.sink.events_of("device_online")] == [device, device]
    assert gateway.metrics.device_states[device] is DeviceState.ONLINE
    assert gateway.metrics.device_states[known] is DeviceState.OFFLINE


async def test_an_unreachable_broker_never_fails_the_source(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    (port,) = free_ports(1)
    gateway.config = gateway.config.model_copy(update={"port": port})
    caplog.set_level(logging.WARNING, logger="gateway.mqtt_source")
    async with gateway.source() as source:
        await asyncio.sleep(0.5)
        assert not source.connected
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1, warnings
    assert "MQTT source smoke: cannot reach MQTT broker" in warnings[0]
