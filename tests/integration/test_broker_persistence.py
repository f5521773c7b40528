"""What a persistent session keeps when the broker is killed (SIGKILL, no save on exit).

A private broker saving every second: the messages it queued for an offline worker's
plain subscription before its last save, and the subscription itself, are there after
the kill; this is the mechanism behind the loss bound the README states for the shipped
broker settings (``autosave_interval``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from estatewatch.inbound import Parsed, parse
from estatewatch.mqtt import Ack, WireConsumer
from estatewatch.wire import telemetry_topic
from infra.local import MosquittoInstance

pytestmark = pytest.mark.integration

AUTOSAVE_S = 1


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoInstance]:
    with MosquittoInstance(tmp_path, autosave_interval=AUTOSAVE_S) as instance:
        yield instance


def reading(site: str, seq: int) -> tuple[str, bytes]:
    message = {
        "gateway_id": "gw-1",
        "seq": seq,
        "site": site,
        "device_type": "elevator",
        "device_id": "lift-1",
        "profile": "p",
        "readings": [{"ts": "2026-11-24T08:00:00+00:00", "fields": {"floor": seq}}],
    }
    return telemetry_topic(site, "elevator", "lift-1"), json.dumps(message).encode()


async def test_a_killed_broker_keeps_the_sessions_and_messages_it_saved(
    broker: MosquittoInstance,
) -> None:
    site = f"k{uuid.uuid4().hex[:8]}"
    seqs: list[int] = []

    async def handler(parsed: Parsed, ack: Ack) -> None:
        if parsed.seq is not None:
            seqs.append(parsed.seq)
        ack()

    def consumer() -> WireConsumer[Parsed]:
        return WireConsumer(
            broker.host,
            broker.port,
            name="maintenance",
            log=logging.getLogger("tests.broker_persistence"),
            client_id=f"worker-{site}",
            decoder=parse,
            handler=handler,
            on_rejected=lambda rejected: pytest.fail(f"rejected: {rejected.reason}"),
            sites=(site,),
            backoff=(0.05, 0.5),
        )

    async with consumer():
        pass  # the session and its subscription exist; the worker is now away
    async with aiomqtt.Client(broker.host, broker.port, identifier="gw") as gateway:
        for seq in range(20):
            await gateway.publish(*reading(site, seq), qos=1)
    await asyncio.sleep(AUTOSAVE_S + 1.5)  # at least one save since the last message
    await asyncio.to_thread(broker.kill)
    await asyncio.to_thread(broker.start)
    async with consumer() as back:
        assert back.connected
        async with asyncio.timeout(10):
            while len(seqs) < 20:  # noqa: ASYNC110  # filled by the consumer's task
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
    assert seqs == list(range(20))
