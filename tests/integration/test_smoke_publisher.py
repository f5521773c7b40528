"""The smoke-alarm MQTT publisher against a real Mosquitto: vendor JSON out, nothing lost."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import uuid

import aiomqtt
import pytest

from estatewatch.catalogue import Profile, Value, builtin_catalogue
from estatewatch.catalogue.payload import PayloadError, PayloadSchema
from estatewatch.errors import DeviceError
from infra.local import MosquittoInstance, free_ports
from simulators.smoke import SmokeAlarm
from simulators.smoke_publisher import SmokePublisher

pytestmark = pytest.mark.integration

START = 1_767_225_600.0
TIMEOUT_S = 30.0
FAST_RETRY = (0.05, 0.5)  # s: reconnect quickly, so restarts are noticed within a test
Message = dict[str, Value]


@pytest.fixture
def profile() -> Profile:
    return builtin_catalogue()["smoke-alarm"]


@pytest.fixture
def prefix() -> str:
    """Device ids unique to the test: the broker is shared by the whole session."""
    return f"t{uuid.uuid4().hex[:10]}"


def alarm_messages(profile: Profile, prefix: str, count: int, hours: float) -> list[Message]:
    """Messages of ``count`` alarms over ``hours``, one of them in a fire."""
    rng = random.Random(7)
    alarms = [
        SmokeAlarm(f"{prefix}-smoke-{n:03d}", profile, random.Random(rng.random()), START)
        for n in range(1, count + 1)
    ]
    alarms[0].inject("fire")
    messages: list[Message] = []
    for device in alarms:
        device.step(START + hours * 3600.0)
        messages += device.drain()
    return messages


def topic_filter(profile: Profile) -> str:
    assert profile.topic is not None
    return profile.topic.format(device_id="+")


async def receive(client: aiomqtt.Client, prefix: str, count: int) -> list[aiomqtt.Message]:
    received: list[aiomqtt.Message] = []
    async with asyncio.timeout(TIMEOUT_S):
        async for message in client.messages:
            if message.topic.value.split("/")[2].startswith(prefix):
                received.append(message)
            if len(received) == count:
                break
    return received


def decoded(schema: PayloadSchema, messages: list[aiomqtt.Message]) -> list[Message]:
    out = []
    for message in messages:
        assert isinstance(message.payload, bytes)
        parsed = schema.parse(message.payload)
        assert message.topic.value == f"vendor/smoke/{parsed['device_id']}/up"
        out.append(parsed)
    return out


def key(message: Message) -> tuple[Value, Value]:
    return message["device_id"], message["vendor_sequence"]


async def test_alarm_messages_arrive_as_vendor_json(
    mosquitto: MosquittoInstance, profile: Profile, prefix: str
) -> None:
    schema = PayloadSchema(profile)
    sent = alarm_messages(profile, prefix, count=5, hours=3)
    assert {m["message_type"] for m in sent} >= {"heartbeat", "alarm"}
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as subscriber:
        await subscriber.subscribe(topic_filter(profile), qos=1)
        async with SmokePublisher(
            mosquitto.host, mosquitto.port, profile, client_id=f"{prefix}-pub"
        ) as publisher:
            assert publisher.connected
            for message in sent:
                await publisher.publish(message)
            got = await receive(subscriber, prefix, len(sent))
        assert publisher.published == len(sent)
    assert isinstance(got[0].payload, bytes)
    vendor = json.loads(got[0].payload)
    assert {"devId", "msgType", "battery", "smoke", "temp", "ts"} <= set(vendor)
    assert sorted(decoded(schema, got), key=key) == sorted(sent, key=key)


async def test_messages_queued_while_the_broker_is_down_arrive_after_restart(
    mosquitto: MosquittoInstance,
    profile: Profile,
    prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="simulators.smoke_publisher")
    schema = PayloadSchema(profile)
    before = alarm_messages(profile, f"{prefix}a", count=3, hours=2)
    during = alarm_messages(profile, f"{prefix}b", count=4, hours=2)
    # A persistent session, so the broker keeps what arrives while the subscriber is away.
    subscriber = aiomqtt.Client(
        mosquitto.host, mosquitto.port, identifier=f"{prefix}-sub", clean_session=False
    )
    async with subscriber:
        await subscriber.subscribe(topic_filter(profile), qos=1)

    async with SmokePublisher(
        mosquitto.host, mosquitto.port, profile, client_id=f"{prefix}-pub", backoff=FAST_RETRY
    ) as publisher:
        for message in before:
            await publisher.publish(message)
        async with asyncio.timeout(TIMEOUT_S):
            await publisher.flush()

        await asyncio.to_thread(mosquitto.stop)
        for message in during:
            await publisher.publish(message)  # never raises, only queues
        await asyncio.sleep(0.5)  # long enough to notice the broker is gone and retry
        assert not publisher.connected
        assert publisher.queued == len(during)

        await asyncio.to_thread(mosquitto.start)
        async with asyncio.timeout(TIMEOUT_S):
            await publisher.flush()
        assert publisher.published == len(before) + len(during)
        assert publisher.dropped == 0

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "lost the connection to MQTT broker" in warnings[0].getMessage()
    assert any("reconnected" in r.getMessage() for r in caplog.records)

    async with subscriber:
        got = await receive(subscriber, prefix, len(before) + len(during))
    assert sorted(decoded(schema, got), key=key) == sorted(before + during, key=key)


async def test_an_unreachable_broker_queues_warns_once_and_drops_the_oldest(
    profile: Profile, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="simulators.smoke_publisher")
    port = free_ports(1)[0]  # nothing listens there
    sent = alarm_messages(profile, prefix, count=2, hours=3)
    async with SmokePublisher(
        "127.0.0.1", port, profile, max_queued=5, backoff=FAST_RETRY
    ) as publisher:
        assert not publisher.connected
        for message in sent:
            await publisher.publish(message)
        await asyncio.sleep(0.3)  # several reconnect attempts
        assert publisher.queued == 5
        assert publisher.dropped == len(sent) - 5
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len([m for m in messages if "cannot reach MQTT broker" in m]) == 1
    assert len([m for m in messages if "queue full" in m]) == 1
    assert any("closing with 5 messages not delivered" in m for m in messages)
    assert any(f"and {len(sent) - 5} dropped" in m for m in messages)


async def test_a_full_queue_keeps_the_newest_messages(
    mosquitto: MosquittoInstance, profile: Profile, prefix: str
) -> None:
    schema = PayloadSchema(profile)
    sent = alarm_messages(profile, prefix, count=1, hours=10)
    assert len(sent) > 5
    subscriber = aiomqtt.Client(
        mosquitto.host, mosquitto.port, identifier=f"{prefix}-sub", clean_session=False
    )
    async with subscriber:
        await subscriber.subscribe(topic_filter(profile), qos=1)
    await asyncio.to_thread(mosquitto.stop)
    async with SmokePublisher(
        mosquitto.host, mosquitto.port, profile, max_queued=5, backoff=FAST_RETRY
    ) as publisher:
        for message in sent:
            await publisher.publish(message)
        await asyncio.to_thread(mosquitto.start)
        async with asyncio.timeout(TIMEOUT_S):
            await publisher.flush()
    assert publisher.dropped == len(sent) - 5
    async with subscriber:
        got = await receive(subscriber, prefix, 5)
    assert decoded(schema, got) == sent[-5:]


async def test_raw_payloads_and_misuse(
    mosquitto: MosquittoInstance, profile: Profile, prefix: str
) -> None:
    topic = f"vendor/smoke/{prefix}-smoke-001/up"
    publisher = SmokePublisher(mosquitto.host, mosquitto.port, profile, client_id=f"{prefix}-p")
    with pytest.raises(DeviceError, match="not running"):
        await publisher.publish_raw(topic, b"{}")
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as subscriber:
        await subscriber.subscribe(topic, qos=1)
        async with publisher:
            await publisher.publish_raw(topic, b'{"devId": 7, "msgType": "boom"')
            with pytest.raises(PayloadError, match="smoke-alarm"):
                await publisher.publish({"device_id": "x", "message_type": "boom"})
            got = await receive(subscriber, prefix, 1)
    assert got[0].payload == b'{"devId": 7, "msgType": "boom"'
