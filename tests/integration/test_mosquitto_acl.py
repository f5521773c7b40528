"""The shipped broker config (infra/mosquitto/) on the real Mosquitto: who may do what.

The broker runs ``infra/mosquitto/mosquitto.conf`` with only what a test machine needs
changed (loopback port, temporary data directory, password file, run-as user) and the
shipped ``acl`` file itself, unchanged. Clients speak MQTT 5 through aiomqtt, as the
gateway and the workers do. Mosquitto drops a publish its ACL forbids without telling a
QoS 0/3.1.1 publisher, so "refused" is judged by what the ``ingest`` consumer receives:
each forbidden message is followed by an allowed marker from the same connection, and
once the marker is in, the forbidden one would have been too.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import re
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiomqtt
import pytest
from paho.mqtt.reasoncodes import ReasonCode

from estatewatch.wire import STATUS_FILTER, TELEMETRY_FILTER
from infra.local import MosquittoInstance

pytestmark = pytest.mark.integration

SHIPPED = Path(__file__).parents[2] / "infra" / "mosquitto"
PASSWORDS = {"gw-north-1": "north-secret", "gw-south-1": "south-secret", "ingest": "in-secret"}
TIMEOUT_S = 5.0
NOT_AUTHORIZED = 0x87  # MQTT 5 CONNACK reason code


class ShippedBroker(MosquittoInstance):
    """Mosquitto on the shipped config, moved to a private port and directory."""

    passwd_path: Path

    def _write_config(self) -> None:
        self.data_dir.mkdir(exist_ok=True)
        # Running as root, the broker would switch to a "mosquitto" user that cannot
        # write our temporary directory; the container runs as that user already.
        user = pwd.getpwuid(os.geteuid()).pw_name
        replacements = {
            "listener 1883": f"listener {self.port} 127.0.0.1",
            "password_file": f"password_file {self.passwd_path}",
            "acl_file": f"acl_file {SHIPPED / 'acl'}",
            "persistence_location": f"persistence_location {self.data_dir}{os.sep}",
        }
        text = (SHIPPED / "mosquitto.conf").read_text()
        for key, line in replacements.items():
            text, count = re.subn(rf"^{re.escape(key)}\b.*$", line, text, flags=re.MULTILINE)
            assert count == 1, f"mosquitto.conf has {count} '{key}' lines, the test expects 1"
        self.config_path.write_text(f"user {user}\n{text}")

    def _is_ready(self) -> bool:
        # The shipped config refuses anonymous clients, so the inherited probe (an
        # anonymous CONNECT) would never succeed: an accepted TCP connection will do.
        try:
            socket.create_connection((self.host, self.port), timeout=0.5).close()
        except OSError:
            return False
        return True


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShippedBroker]:
    root = tmp_path_factory.mktemp("acl-broker")
    instance = ShippedBroker(root)
    instance.passwd_path = root / "passwd"
    instance.passwd_path.touch(mode=0o600)
    for user, password in PASSWORDS.items():
        subprocess.run(
            ["mosquitto_passwd", "-b", str(instance.passwd_path), user, password], check=True
        )
    with instance:
        yield instance


@asynccontextmanager
async def connected(broker: ShippedBroker, user: str | None) -> AsyncIterator[aiomqtt.Client]:
    client = aiomqtt.Client(
        broker.host,
        broker.port,
        identifier=f"{user or 'anonymous'}-{uuid.uuid4().hex[:8]}",
        username=user,
        password=PASSWORDS.get(user or ""),
        protocol=aiomqtt.ProtocolVersion.V5,
        timeout=TIMEOUT_S,
    )
    async with client:
        yield client


async def received_until(client: aiomqtt.Client, marker: str) -> list[str]:
    """Topics of the messages ``client`` gets up to and including ``marker``."""
    topics: list[str] = []
    async with asyncio.timeout(TIMEOUT_S):
        async for message in client.messages:
            topics.append(message.topic.value)
            if message.topic.value == marker:
                return topics
    raise AssertionError("the message stream ended")


def value(code: int | ReasonCode | None) -> int | None:
    return code.value if isinstance(code, ReasonCode) else code


async def test_anonymous_and_wrong_password_are_refused(broker: ShippedBroker) -> None:
    with pytest.raises(aiomqtt.MqttCodeError) as anonymous:
        async with connected(broker, None):
            pass
    assert value(anonymous.value.rc) == NOT_AUTHORIZED
    wrong = aiomqtt.Client(
        broker.host,
        broker.port,
        username="gw-north-1",
        password="south-secret",
        protocol=aiomqtt.ProtocolVersion.V5,
        timeout=TIMEOUT_S,
    )
    with pytest.raises(aiomqtt.MqttCodeError) as wrong_password:
        async with wrong:
            pass
    assert value(wrong_password.value.rc) == NOT_AUTHORIZED


async def test_gateway_publishes_only_under_its_own_site(broker: ShippedBroker) -> None:
    async with connected(broker, "ingest") as ingest, connected(broker, "gw-north-1") as north:
        # The workers' subscriptions are plain (estatewatch.mqtt.consumer), for every site here.
        granted = await ingest.subscribe(TELEMETRY_FILTER, qos=1)
        assert value(granted[0]) == 1, "the ingest user's subscription was refused"

        device = f"elev-{uuid.uuid4().hex[:6]}"
        own = f"estatewatch/north/elevator/{device}/telemetry"
        other = f"estatewatch/south/elevator/{device}/telemetry"
        await north.publish(own, b"{}", qos=1)
        await north.publish(other, b"{}", qos=1)
        marker = f"estatewatch/north/elevator/{device}-marker/telemetry"
        await north.publish(marker, b"{}", qos=1)

        assert await received_until(ingest, marker) == [own, marker]


async def test_gateway_reads_nothing_not_even_its_own_site(broker: ShippedBroker) -> None:
    async with (
        connected(broker, "ingest") as ingest,
        connected(broker, "gw-north-1") as north,
        connected(broker, "gw-south-1") as south,
    ):
        await ingest.subscribe("estatewatch/#", qos=1)
        # Mosquitto 2.0 grants any subscription and checks read access on each delivery,
        # against the message's own topic (so with or without a $share/ prefix).
        for spy in ("estatewatch/south/#", "$share/spy/estatewatch/south/#", "estatewatch/#"):
            await north.subscribe(spy, qos=1)

        device = f"ch-{uuid.uuid4().hex[:6]}"
        own = f"estatewatch/north/charger/{device}/telemetry"
        other = f"estatewatch/south/charger/{device}/telemetry"
        # A QoS 1 publish is routed before its PUBACK, so ingest gets them in this order.
        await north.publish(own, b"{}", qos=1)
        await south.publish(other, b"{}", qos=1)
        assert await received_until(ingest, other) == [own, other]
        # ingest has it, so the broker has routed it: north would have it by now too.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(north.messages), 0.3)


async def test_a_gateways_last_will_is_delivered_only_under_its_own_site(
    broker: ShippedBroker,
) -> None:
    async with connected(broker, "ingest") as ingest:
        await ingest.subscribe(STATUS_FILTER, qos=1)
        gateway = f"gw-{uuid.uuid4().hex[:6]}"
        foreign = f"estatewatch/south/gateway/{gateway}/status"
        own = f"estatewatch/north/gateway/{gateway}/status"
        # A will on another site's topic first: if it got through, it would be in
        # before the will of the second connection, opened only after the first dropped.
        for will in (foreign, own):
            await asyncio.to_thread(drop_after_connect, broker, "gw-north-1", will)
        assert await received_until(ingest, own) == [own]


def drop_after_connect(broker: ShippedBroker, user: str, will_topic: str) -> None:
    """Connect with a QoS 1 will (MQTT 3.1.1, by hand) and drop the link without DISCONNECT.

    A gateway losing power does this; aiomqtt always says goodbye, which cancels a will.
    """

    def field(data: bytes) -> bytes:
        return len(data).to_bytes(2, "big") + data

    # Flags: user name, password, will QoS 1, will, clean session. Keep-alive 10 s.
    header = b"\x00\x04MQTT\x04" + bytes([0b1100_1110]) + (10).to_bytes(2, "big")
    payload = b"".join(
        field(part.encode())
        for part in (f"{user}-will", will_topic, "offline", user, PASSWORDS[user])
    )
    body = header + payload
    assert len(body) < 128, "one-byte remaining length"
    with socket.create_connection((broker.host, broker.port), timeout=TIMEOUT_S) as sock:
        sock.sendall(bytes([0x10, len(body)]) + body)
        connack = sock.recv(4)
    assert connack == b"\x20\x02\x00\x00", f"{user} was not accepted: {connack!r}"
