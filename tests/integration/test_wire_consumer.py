"""The kernel's wire consumer (with ingest's decoder) against a real Mosquitto: owned
sites, persistent, manually acknowledged.

Each test uses sites and client ids of its own and ends the persistent sessions it
created, so the session-wide broker and other tests' traffic on the wire topics never mix
with its messages (messages of other sites are acknowledged and ignored).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
import pytest

from estatewatch.errors import ConfigError
from estatewatch.mqtt import Ack, Handler, WireConsumer, discard_session
from estatewatch.wire import event_topic, status_topic, telemetry_topic
from infra.local import MosquittoInstance
from ingest.decode import Decoded, Rejected, decode

pytestmark = pytest.mark.integration

TIMEOUT_S = 10.0
LOGGER = "tests.wire_consumer"
TS = "2026-11-24T08:00:00+00:00"


@dataclass
class Recorder:
    """Handler and dead-letter sink that keeps what the consumer passed on for one site."""

    site: str
    ack_unless: Callable[[int], bool] = lambda seq: True
    seqs: list[int] = field(default_factory=list)
    decoded: list[Decoded] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    async def handler(self, decoded: Decoded, ack: Ack) -> None:
        if decoded.topic.split("/")[1] != self.site:
            ack()
            return
        self.decoded.append(decoded)
        if decoded.seq is not None:
            self.seqs.append(decoded.seq)
        if decoded.seq is None or self.ack_unless(decoded.seq):
            ack()
            ack()  # a second call is harmless

    def on_rejected(self, rejected: Rejected) -> None:
        if rejected.topic.split("/")[1:2] == [self.site]:
            self.rejected.append(rejected)


@dataclass
class Scenario:
    mosquitto: MosquittoInstance
    site: str
    client_ids: list[str] = field(default_factory=list)

    def consumer(
        self,
        recorder: Recorder,
        client_id: str,
        *,
        handler: Handler[Decoded] | None = None,
        receive_maximum: int = 1000,
        sites: tuple[str, ...] | None = None,
    ) -> WireConsumer[Decoded]:
        if client_id not in self.client_ids:
            self.client_ids.append(client_id)
        return WireConsumer(
            self.mosquitto.host,
            self.mosquitto.port,
            name="ingest",
            log=logging.getLogger(LOGGER),
            decoder=decode,
            handler=recorder.handler if handler is None else handler,
            on_rejected=recorder.on_rejected,
            client_id=client_id,
            sites=(self.site,) if sites is None else sites,
            session_expiry_s=600,
            receive_maximum=receive_maximum,
            backoff=(0.05, 0.5),
            connect_timeout=5.0,
        )

    def telemetry(
        self, seq: int, device_id: str = "lift-1", site: str | None = None
    ) -> tuple[str, bytes]:
        site = self.site if site is None else site
        message = {
            "gateway_id": "gw-1",
            "seq": seq,
            "site": site,
            "device_type": "elevator",
            "device_id": device_id,
            "profile": "p",
            "readings": [{"ts": TS, "fields": {"floor": seq}}],
        }
        return telemetry_topic(site, "elevator", device_id), json.dumps(message).encode()

    async def publish(self, *messages: tuple[str, bytes]) -> None:
        async with aiomqtt.Client(
            self.mosquitto.host, self.mosquitto.port, identifier=f"pub-{uuid.uuid4().hex[:8]}"
        ) as client:
            for topic, payload in messages:
                await client.publish(topic, payload, qos=1)


@pytest.fixture
async def scenario(mosquitto: MosquittoInstance) -> AsyncIterator[Scenario]:
    tag = uuid.uuid4().hex[:10]
    scenario = Scenario(mosquitto, site=f"t{tag}")
    yield scenario
    for client_id in scenario.client_ids:
        await discard_session(mosquitto.host, mosquitto.port, client_id)


async def until(condition: Callable[[], bool], what: str) -> None:
    try:
        async with asyncio.timeout(TIMEOUT_S):
            # Polled: the recorder's lists are filled by the consumer's task.
            while not condition():  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


def _cid(scenario: Scenario, n: int) -> str:
    return f"ingest-{scenario.site}-{n}"


async def test_wire_messages_reach_the_handler_decoded(scenario: Scenario) -> None:
    recorder = Recorder(scenario.site)
    event = {
        "gateway_id": "gw-1",
        "seq": 3,
        "site": scenario.site,
        "device_type": "elevator",
        "device_id": "lift-1",
        "ts": TS,
        "kind": "trip",
    }
    status = {"gateway_id": "gw-1", "site": scenario.site, "state": "online", "ts": TS}
    async with scenario.consumer(recorder, _cid(scenario, 1)) as consumer:
        assert consumer.connected
        await scenario.publish(
            scenario.telemetry(1),
            scenario.telemetry(2),
            (event_topic(scenario.site, "elevator", "lift-1"), json.dumps(event).encode()),
            (status_topic(scenario.site, "gw-1"), json.dumps(status).encode()),
        )
        await until(lambda: len(recorder.decoded) == 4, "four decoded messages")
    assert [d.kind for d in recorder.decoded] == ["telemetry", "telemetry", "event", "status"]
    assert recorder.seqs == [1, 2, 3]
    assert recorder.decoded[0].lines.startswith(b"elevator,device_id=lift-1,site=")
    assert recorder.decoded[0].points == 1
    # Acknowledged: a new connection of the same session gets nothing again.
    again = Recorder(scenario.site)
    async with scenario.consumer(again, _cid(scenario, 1)):
        await asyncio.sleep(0.5)
    assert again.decoded == []


async def test_two_consumers_owning_different_sites_split_the_stream(scenario: Scenario) -> None:
    north, south = scenario.site, f"{scenario.site}s"
    first, second = Recorder(north), Recorder(south)
    count = 500
    async with (
        scenario.consumer(first, _cid(scenario, 1), sites=(north,)) as one,
        scenario.consumer(second, _cid(scenario, 2), sites=(south,)) as two,
    ):
        await scenario.publish(
            *(scenario.telemetry(seq, site=(north, south)[seq % 2]) for seq in range(count))
        )
        await until(lambda: len(first.seqs) + len(second.seqs) >= count, "every message")
        await asyncio.sleep(0.2)  # a duplicate, or the other site's message, would be here
        assert one.received == two.received == count // 2  # nothing of the other's site
    a, b = set(first.seqs), set(second.seqs)
    assert a == set(range(0, count, 2))
    assert b == set(range(1, count, 2))
    assert len(first.seqs) + len(second.seqs) == count
    # Each consumer sees its sites' messages in publication order.
    assert first.seqs == sorted(first.seqs)
    assert second.seqs == sorted(second.seqs)


async def test_a_site_given_up_is_left_to_its_new_owner_though_the_session_kept_it(
    scenario: Scenario, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker restarted under the same client id without one of its sites (moved to
    another worker) still has that site's subscription in its session: the site's
    messages arrive, and are acknowledged without reaching the handler, with one warning
    naming the site and the session."""
    kept, moved = scenario.site, f"{scenario.site}m"
    async with scenario.consumer(Recorder(kept), _cid(scenario, 1), sites=(kept, moved)):
        pass  # subscribed to both: the broker keeps the session
    handled: list[str] = []

    async def handler(decoded: Decoded, ack: Ack) -> None:
        handled.append(decoded.topic.split("/")[1])
        ack()

    caplog.set_level(logging.WARNING, logger=LOGGER)
    async with scenario.consumer(
        Recorder(kept), _cid(scenario, 1), sites=(kept,), handler=handler
    ) as consumer:
        await scenario.publish(
            scenario.telemetry(1, site=moved),
            scenario.telemetry(2, site=moved),
            scenario.telemetry(3, site=kept),
        )
        await until(lambda: handled == [kept], "the kept site's message")
        assert consumer.received == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    given_up = [w for w in warnings if f"site {moved} arrive" in w]
    assert len(given_up) == 1, warnings
    assert _cid(scenario, 1) in given_up[0]
    # Acknowledged: owning both sites again, the session has nothing left to deliver.
    again = Recorder(moved)
    async with scenario.consumer(again, _cid(scenario, 1), sites=(kept, moved)):
        await asyncio.sleep(0.5)
    assert again.decoded == []


async def test_messages_published_while_stopped_arrive_after_restart(scenario: Scenario) -> None:
    before = Recorder(scenario.site)
    async with scenario.consumer(before, _cid(scenario, 1)):
        await scenario.publish(scenario.telemetry(0))
        await until(lambda: before.seqs == [0], "the first message")
    await scenario.publish(*(scenario.telemetry(seq) for seq in range(1, 51)))
    after = Recorder(scenario.site)
    async with scenario.consumer(after, _cid(scenario, 1)):
        await until(lambda: len(after.seqs) >= 50, "the messages published while stopped")
    assert after.seqs == list(range(1, 51))


async def test_an_unacknowledged_message_is_delivered_again(scenario: Scenario) -> None:
    # The point of manual acknowledgement: nothing is lost between receipt and storage.
    holding = Recorder(scenario.site, ack_unless=lambda seq: seq != 2)
    async with scenario.consumer(holding, _cid(scenario, 1)):
        await scenario.publish(*(scenario.telemetry(seq) for seq in range(5)))
        await until(lambda: len(holding.seqs) == 5, "five messages")
    assert holding.seqs == [0, 1, 2, 3, 4]
    again = Recorder(scenario.site)
    async with scenario.consumer(again, _cid(scenario, 1)):
        await until(lambda: bool(again.seqs), "the redelivery")
        await asyncio.sleep(0.3)  # the acknowledged ones would arrive about now
    assert again.seqs == [2]
    # Acknowledged this time.
    last = Recorder(scenario.site)
    async with scenario.consumer(last, _cid(scenario, 1)):
        await asyncio.sleep(0.5)
    assert last.seqs == []


async def test_malformed_messages_are_rejected_and_consumption_goes_on(
    scenario: Scenario,
) -> None:
    recorder = Recorder(scenario.site)
    site = scenario.site
    _, good = scenario.telemetry(7)
    async with scenario.consumer(recorder, _cid(scenario, 1)) as consumer:
        await scenario.publish(
            scenario.telemetry(1),
            (telemetry_topic(site, "elevator", "lift-1"), b"{not json"),
            (telemetry_topic(site, "elevator", "lift-1"), b'{"seq": -1}'),
            (telemetry_topic(site, "elevator", "lift-9"), good),  # another device's id
            (f"estatewatch/{site}/elevator/lift-1/event", b"\xff\x00"),
            scenario.telemetry(2),
        )
        await until(lambda: recorder.seqs == [1, 2], "the valid messages")
        await until(lambda: len(recorder.rejected) == 4, "four rejections")
        assert consumer.rejected >= 4
    reasons = [r.reason for r in recorder.rejected]
    assert reasons[0].startswith("invalid JSON")
    assert reasons[1].startswith("schema error: ")
    assert reasons[2].startswith("topic/payload mismatch: device_id")
    assert reasons[3].startswith("invalid JSON")
    assert recorder.rejected[0].payload_text == "{not json"
    # Rejected messages were acknowledged: nothing comes back.
    again = Recorder(scenario.site)
    async with scenario.consumer(again, _cid(scenario, 1)):
        await asyncio.sleep(0.5)
    assert again.rejected == []
    assert again.seqs == []


async def test_unacknowledged_messages_bound_what_the_broker_sends(scenario: Scenario) -> None:
    # MQTT 5 flow control: a handler that has not acknowledged yet (a batch waiting for
    # InfluxDB) stops the broker at receive_maximum, instead of filling our memory.
    recorder = Recorder(scenario.site, ack_unless=lambda seq: False)
    async with scenario.consumer(recorder, _cid(scenario, 1), receive_maximum=10):
        await scenario.publish(*(scenario.telemetry(seq) for seq in range(30)))
        await until(lambda: len(recorder.seqs) >= 10, "the first ten")
        await asyncio.sleep(0.5)
        assert recorder.seqs == list(range(10))
    after = Recorder(scenario.site)
    async with scenario.consumer(after, _cid(scenario, 1)):
        await until(lambda: len(after.seqs) >= 30, "all thirty after the restart")
    assert sorted(after.seqs) == list(range(30))


async def test_a_failing_handler_is_logged_and_its_message_redelivered(
    scenario: Scenario, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder(scenario.site)

    async def handler(decoded: Decoded, ack: Ack) -> None:
        if decoded.seq == 1 and decoded.topic.split("/")[1] == scenario.site:
            raise RuntimeError("InfluxDB said no")
        await recorder.handler(decoded, ack)

    async with scenario.consumer(recorder, _cid(scenario, 1), handler=handler) as consumer:
        await scenario.publish(*(scenario.telemetry(seq) for seq in range(3)))
        await until(lambda: recorder.seqs == [0, 2], "the messages around the failure")
    assert consumer.handler_errors == 1
    assert "handling a message on" in caplog.text
    again = Recorder(scenario.site)
    async with scenario.consumer(again, _cid(scenario, 1)):
        await until(lambda: again.seqs == [1], "the failed message again")


async def test_a_broker_restart_is_one_warning_and_loses_nothing(
    scenario: Scenario, mosquitto: MosquittoInstance, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder(scenario.site, ack_unless=lambda seq: seq != 0)
    async with scenario.consumer(recorder, _cid(scenario, 1)) as consumer:
        await scenario.publish(scenario.telemetry(0))
        await until(lambda: recorder.seqs == [0], "the message before the outage")
        with caplog.at_level(logging.DEBUG, logger=LOGGER):
            await asyncio.to_thread(mosquitto.stop)
            await until(lambda: not consumer.connected, "the consumer to notice")
            await asyncio.sleep(1.0)  # several reconnection attempts
            await asyncio.to_thread(mosquitto.start)
            await until(lambda: consumer.connected, "the reconnection")
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        assert f"{mosquitto.host}:{mosquitto.port}" in warnings[0].getMessage()
        # The broker kept the session through its restart: the unacknowledged message
        # comes again, and new messages flow.
        await scenario.publish(scenario.telemetry(1))
        await until(lambda: recorder.seqs == [0, 0, 1], "the redelivery and a new message")
        assert consumer.replayed >= 1


@pytest.mark.parametrize(
    ("option", "value"),
    [("receive_maximum", 0), ("receive_maximum", 65_536), ("session_expiry_s", -1)],
)
def test_values_mqtt_cannot_carry_are_refused(option: str, value: int) -> None:
    async def handler(decoded: Decoded, ack: Ack) -> None:
        ack()

    options: dict[str, Any] = {option: value}
    with pytest.raises(ConfigError, match=option):
        WireConsumer(
            "127.0.0.1",
            1883,
            name="ingest",
            log=logging.getLogger(LOGGER),
            client_id="c",
            decoder=decode,
            handler=handler,
            on_rejected=print,
            **options,
        )


async def test_a_sessions_backlog_is_read_before_the_subscriptions_are_answered(
    scenario: Scenario,
) -> None:
    """The broker sends a persistent session's backlog as soon as it accepts the
    connection, ahead of its answers to the subscriptions: the consumer reads it from
    then, instead of leaving it in memory until it has subscribed again."""
    count = 200
    recorder = Recorder(scenario.site)
    subscribed_at_first: list[bool] = []
    consumer: WireConsumer[Decoded] | None = None

    async def handle(decoded: Decoded, ack: Ack) -> None:
        if not subscribed_at_first:
            assert consumer is not None
            subscribed_at_first.append(consumer.connected)
        await recorder.handler(decoded, ack)

    async with scenario.consumer(recorder, _cid(scenario, 1)):
        pass  # the session exists: what is published next waits in the broker
    await scenario.publish(*(scenario.telemetry(seq) for seq in range(count)))
    consumer = scenario.consumer(recorder, _cid(scenario, 1), handler=handle)
    async with consumer:
        await until(lambda: len(recorder.seqs) == count, "the whole backlog")
    # ``connected`` turns true once the subscriptions are answered.
    assert subscribed_at_first == [False]
    assert recorder.seqs == list(range(count))


async def test_a_backlog_handled_without_awaiting_still_lets_the_loop_run(
    scenario: Scenario,
) -> None:
    """Ingest's handler holds acks until a batch is stored and awaits only when its
    memory is full. A backlog then arrives faster than it is handled (paho reads as many
    packets a turn as are unacknowledged), and the loop's other work (InfluxDB writes,
    the keepalive, the metrics endpoint) must still get turns while it is handled, not
    only once it is gone."""
    count = 400
    recorder = Recorder(scenario.site)
    held: list[Ack] = []

    async def hold(decoded: Decoded, ack: Ack) -> None:
        if decoded.topic.split("/")[1] == scenario.site:
            recorder.seqs.append(decoded.seq or 0)
            # A message's decoding and encoding, without awaiting anything.
            busy_until = time.perf_counter() + 0.002
            while time.perf_counter() < busy_until:
                pass
        held.append(ack)

    seen: set[int] = set()

    async def watch() -> None:
        while len(recorder.seqs) < count:
            seen.add(len(recorder.seqs))
            await asyncio.sleep(0)

    async with scenario.consumer(recorder, _cid(scenario, 1)):
        pass  # the session exists: what is published next waits in the broker
    await scenario.publish(*(scenario.telemetry(seq) for seq in range(count)))
    # Watching from before the connection: the backlog is read as soon as the broker
    # accepts it, before the subscriptions are answered and the consumer's enter returns.
    watcher = asyncio.create_task(watch())
    async with scenario.consumer(recorder, _cid(scenario, 1), handler=hold):
        await until(lambda: len(recorder.seqs) == count, "the whole backlog")
        await watcher
        for ack in held:
            ack()
    assert recorder.seqs == list(range(count))
    # The loop had a turn every few messages (every 5 ms of handling), not a few times
    # in all: the count of messages handled when another task ran.
    assert len(seen - {0}) >= count // 20, sorted(seen)
