"""Store-and-forward against a real Mosquitto: order, outages, restarts and the last will.

Every test publishes under its own site id, since the broker is shared by the session.
Consumers de-duplicate by ``seq`` (QoS 1 is at least once), so "exactly once" below means
after de-duplication, with the duplicates counted and bounded.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import pytest

from estatewatch.durable_queue import DurableQueue, NewItem
from estatewatch.wire import GatewayStatus, TelemetryMessage, status_topic
from gateway.config import UplinkConfig
from gateway.metrics import GatewayMetrics
from gateway.outbox import Outbox
from gateway.sink import DeviceInfo
from gateway.status import build_status
from gateway.uplink import Uplink
from infra.local import MosquittoInstance, free_ports

pytestmark = pytest.mark.integration

TIMEOUT_S = 20.0
FAST_RETRY = (0.05, 0.5)  # s: reconnect quickly, so a restart is noticed within a test
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def site() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[DurableQueue]:
    with DurableQueue(tmp_path / "buffer.sqlite", max_bytes=64 * 1024**2, fsync=True) as q:
        yield q


def config(mosquitto: MosquittoInstance, **changes: object) -> UplinkConfig:
    return UplinkConfig.model_validate({"host": mosquitto.host, "port": mosquitto.port, **changes})


def numbered(site: str, count: int) -> list[NewItem]:
    topic = f"estatewatch/{site}/test/dev-1/telemetry"
    return [NewItem(topic, lambda seq: json.dumps({"seq": seq}).encode())] * count


def seq_of(message: aiomqtt.Message) -> int:
    assert isinstance(message.payload, bytes)
    seq = json.loads(message.payload)["seq"]
    assert isinstance(seq, int)
    return seq


async def collect_seqs(client: aiomqtt.Client, expected: set[int]) -> list[int]:
    """Seqs of the data messages received, in arrival order, until all ``expected`` came."""
    arrived: list[int] = []
    async with asyncio.timeout(TIMEOUT_S):
        async for message in client.messages:
            if message.topic.matches("estatewatch/+/gateway/+/status"):
                continue
            arrived.append(seq_of(message))
            if expected <= set(arrived):
                break
    return arrived


def first_occurrences(arrived: list[int]) -> list[int]:
    seen: set[int] = set()
    out = []
    for seq in arrived:
        if seq not in seen:
            seen.add(seq)
            out.append(seq)
    return out


async def drained(queue: DurableQueue) -> None:
    async with asyncio.timeout(TIMEOUT_S):
        while queue.depth:  # noqa: ASYNC110 -- the queue is polled by design, it has no event
            await asyncio.sleep(0.02)


async def next_status(client: aiomqtt.Client) -> GatewayStatus:
    async with asyncio.timeout(TIMEOUT_S):
        async for message in client.messages:
            if message.topic.matches("estatewatch/+/gateway/+/status"):
                assert isinstance(message.payload, bytes)
                return GatewayStatus.model_validate_json(message.payload)
    raise AssertionError("the message stream ended")


@asynccontextmanager
async def subscriber(
    mosquitto: MosquittoInstance, topic: str, identifier: str | None = None
) -> AsyncIterator[aiomqtt.Client]:
    """A QoS 1 subscriber; with an ``identifier``, a persistent session the broker keeps."""
    async with aiomqtt.Client(
        mosquitto.host,
        mosquitto.port,
        identifier=identifier,
        clean_session=None if identifier is None else False,
    ) as client:
        await client.subscribe(topic, qos=1)
        yield client


async def test_readings_arrive_once_in_seq_order_as_wire_messages(
    mosquitto: MosquittoInstance, queue: DurableQueue, site: str
) -> None:
    metrics = GatewayMetrics()
    started = datetime.now(UTC)

    def describe() -> GatewayStatus:
        now = datetime.now(UTC)
        return build_status(
            site=site,
            gateway_id="gw-1",
            metrics=metrics,
            queue=queue,
            version="9.9.9",
            started_at=started,
            now=now,
        )

    lifts = [
        DeviceInfo(f"elev-{n}", "elevator", "elevator", units={"speed": "m/s"}) for n in range(3)
    ]
    async with subscriber(mosquitto, f"estatewatch/{site}/#") as sub:
        uplink = Uplink(
            config(mosquitto, status_interval=0.2, max_inflight=8),
            queue,
            site=site,
            gateway_id="gw-1",
            describe=describe,
            metrics=metrics,
        )
        async with uplink:
            assert uplink.connected
            status = await next_status(sub)
            assert (status.state, status.version) == ("online", "9.9.9")
            # Wire version 1: one message per device and flush, 60 seqs to count.
            outbox = Outbox(
                queue, site=site, gateway_id="gw-1", on_flush=uplink.notify, wire_version=1
            )
            for second in range(20):
                for lift in lifts:
                    for tenth in range(5):
                        ts = T0 + timedelta(seconds=second + tenth / 10)
                        outbox.reading(lift, ts, {"speed": second + tenth / 10})
                outbox.flush()
            arrived = await collect_seqs(sub, set(range(1, 61)))
            await drained(queue)
            assert uplink.published == 60
            assert metrics.published == 60
            status = await next_status(sub)  # the periodic one, with the queue's numbers
            assert (status.state, status.buffer_depth) == ("online", 0)
    assert arrived == list(range(1, 61))  # once each, in order


async def test_a_broker_outage_loses_nothing_and_replays_in_order(
    mosquitto: MosquittoInstance,
    queue: DurableQueue,
    site: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.uplink")
    # A persistent session: the broker keeps, across its restart, what arrives for us.
    consumer = f"{site}-consumer"
    async with subscriber(mosquitto, f"estatewatch/{site}/#", consumer):
        pass
    appended: list[int] = []
    stop_producing = asyncio.Event()

    async def produce(uplink: Uplink) -> None:
        # About 1,000 messages a second, in batches, as an outbox would write them.
        while not stop_producing.is_set():
            appended.extend(queue.append(numbered(site, 20)))
            uplink.notify()
            await asyncio.sleep(0.02)

    cfg = config(mosquitto, max_inflight=50)
    async with Uplink(cfg, queue, site=site, gateway_id="gw-1", backoff=FAST_RETRY) as uplink:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(produce(uplink))
            await asyncio.sleep(0.5)
            appended.extend(queue.append(numbered(site, 2000)))  # a burst, to be cut off
            uplink.notify()
            await asyncio.sleep(0.05)
            await asyncio.to_thread(mosquitto.stop)  # while publishes are in flight
            depth_at_stop = queue.depth
            await asyncio.sleep(2.0)
            assert not uplink.connected
            assert queue.depth > depth_at_stop + 1000  # the backlog grows on disk
            await asyncio.to_thread(mosquitto.start)
            await asyncio.sleep(0.5)  # live data keeps coming while the backlog replays
            stop_producing.set()
        await drained(queue)
        assert queue.dropped == 0
    assert len(appended) > 2000

    async with subscriber(mosquitto, f"estatewatch/{site}/#", consumer) as sub:
        arrived = await collect_seqs(sub, set(appended))
    assert first_occurrences(arrived) == appended  # every message, in order
    duplicates = len(arrived) - len(appended)
    assert duplicates <= cfg.max_inflight  # at most one window resent per outage
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert f"lost the connection to MQTT broker {mosquitto.host}:{mosquitto.port}" in warnings[0]
    assert any("reconnected" in r.getMessage() for r in caplog.records)


async def test_an_unreachable_broker_is_one_warning_and_the_queue_keeps_growing(
    queue: DurableQueue, site: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="gateway.uplink")
    port = free_ports(1)[0]  # nothing listens there
    cfg = UplinkConfig(host="127.0.0.1", port=port)
    async with Uplink(cfg, queue, site=site, gateway_id="gw-1", backoff=FAST_RETRY) as uplink:
        assert not uplink.connected
        queue.append(numbered(site, 10))
        uplink.notify()
        await asyncio.sleep(0.3)  # several attempts
        assert (
            await uplink.publish_status(
                GatewayStatus(gateway_id="gw-1", site=site, state="online", ts=datetime.now(UTC))
            )
            is False
        )
    assert queue.depth == 10
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"uplink: cannot reach MQTT broker 127.0.0.1:{port} ({uplink.last_error});"
        f" buffering to {queue.path} and retrying with backoff"
    ]
    assert len([r for r in caplog.records if "still unreachable" in r.getMessage()]) >= 2


CHILD = """
import asyncio, sys
from pathlib import Path
from estatewatch.durable_queue import DurableQueue
from gateway.config import UplinkConfig
from gateway.uplink import Uplink

async def main() -> None:
    host, port, path, site = sys.argv[1:]
    with DurableQueue(Path(path), 1 << 20, fsync=True) as queue:
        config = UplinkConfig(host=host, port=int(port))
        async with Uplink(config, queue, site=site, gateway_id="gw-1") as uplink:
            print("connected" if uplink.connected else "not connected", flush=True)
            await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_the_last_will_says_offline_when_the_gateway_dies(
    mosquitto: MosquittoInstance, tmp_path: Path, site: str
) -> None:
    topic = status_topic(site, "gw-1")
    async with subscriber(mosquitto, topic) as sub:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CHILD,
            mosquitto.host,
            str(mosquitto.port),
            str(tmp_path / "child.sqlite"),
            site,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert child.stdout is not None
            async with asyncio.timeout(TIMEOUT_S):
                assert await child.stdout.readline() == b"connected\n"
            assert (await next_status(sub)).state == "online"
        finally:
            child.kill()  # SIGKILL: no DISCONNECT, the broker sees the socket die
            await child.wait()
        status = await next_status(sub)
    assert (status.state, status.gateway_id, status.site) == ("offline", "gw-1", site)
    async with subscriber(mosquitto, topic) as late:  # retained for whoever comes later
        assert (await next_status(late)).state == "offline"


async def test_a_clean_exit_sends_what_is_queued_then_a_retained_offline(
    mosquitto: MosquittoInstance, queue: DurableQueue, site: str
) -> None:
    topic = status_topic(site, "gw-1")
    async with subscriber(mosquitto, f"estatewatch/{site}/#") as sub:
        async with Uplink(config(mosquitto), queue, site=site, gateway_id="gw-1") as uplink:
            assert (await next_status(sub)).state == "online"
            # The outbox's final flush, just before the exit: it still goes out.
            last = queue.append(numbered(site, 500))
            uplink.notify()
        assert queue.depth == 0
        assert await collect_seqs(sub, set(last)) == last
        assert (await next_status(sub)).state == "offline"  # after the data
    async with subscriber(mosquitto, topic) as late:
        assert (await next_status(late)).state == "offline"


async def test_telemetry_payloads_are_the_wire_schema(
    mosquitto: MosquittoInstance, queue: DurableQueue, site: str
) -> None:
    lift = DeviceInfo("elev-1", "elevator", "elevator", tags={"building": "b1"})
    async with (
        subscriber(mosquitto, f"estatewatch/{site}/elevator/+/telemetry") as sub,
        Uplink(config(mosquitto), queue, site=site, gateway_id="gw-1") as uplink,
    ):
        # A device's own telemetry topic is wire version 1 (version 2 bundles: the outbox's tests).
        outbox = Outbox(queue, site=site, gateway_id="gw-1", on_flush=uplink.notify, wire_version=1)
        outbox.reading(lift, T0, {"speed": 1.25, "door": "open", "moving": True})
        outbox.flush()
        async with asyncio.timeout(TIMEOUT_S):
            message = await anext(aiter(sub.messages))
    assert message.qos == 1
    assert isinstance(message.payload, bytes)
    parsed = TelemetryMessage.model_validate_json(message.payload)
    assert (parsed.seq, parsed.device_id, parsed.tags) == (1, "elev-1", {"building": "b1"})
    assert parsed.readings[0].fields == {"speed": 1.25, "door": "open", "moving": True}


async def test_messages_queued_before_a_restart_are_sent_after_it(
    mosquitto: MosquittoInstance, tmp_path: Path, site: str
) -> None:
    path = tmp_path / "restart.sqlite"
    nowhere = UplinkConfig(host="127.0.0.1", port=free_ports(1)[0])
    with DurableQueue(path, max_bytes=1024**2, fsync=True) as queue:
        async with Uplink(nowhere, queue, site=site, gateway_id="gw-1", backoff=FAST_RETRY):
            before = queue.append(numbered(site, 300))
    async with subscriber(mosquitto, f"estatewatch/{site}/#") as sub:
        with DurableQueue(path, max_bytes=1024**2, fsync=True) as queue:
            async with Uplink(config(mosquitto), queue, site=site, gateway_id="gw-1") as uplink:
                after = queue.append(numbered(site, 100))
                uplink.notify()
                arrived = await collect_seqs(sub, set(before + after))
                await drained(queue)
    assert arrived == before + after == list(range(1, 401))
