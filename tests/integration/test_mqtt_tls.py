"""MQTT over TLS against a real Mosquitto TLS listener, with certificates made by trustme.

Two private brokers of this module's own: one whose TLS listener only proves who it is,
one that also requires a client certificate. Messages go in over TLS and come out over
the plain listener of the same broker (or the other way round), so each test sees that
the TLS connection carried them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest
import trustme

from estatewatch.catalogue import builtin_catalogue
from estatewatch.durable_queue import DurableQueue, NewItem
from estatewatch.mqtt import Link, tls_context
from gateway.config import MqttSourceConfig, TlsConfig, UplinkConfig
from gateway.metrics import GatewayMetrics
from gateway.mqtt_source import MqttSource
from gateway.uplink import Uplink
from infra.local import MosquittoInstance, TlsListener

pytestmark = pytest.mark.integration

TIMEOUT_S = 20.0
FAST_RETRY = (0.05, 0.5)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def pki(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CA's certificate, the broker's chain and key, and a client's, as PEM files."""
    where = tmp_path_factory.mktemp("pki")
    ca.cert_pem.write_to_path(str(where / "ca.pem"))
    broker = ca.issue_cert("127.0.0.1", "localhost")
    broker.private_key_pem.write_to_path(str(where / "broker.key"))
    for blob in broker.cert_chain_pems:
        blob.write_to_path(str(where / "broker.pem"), append=True)
    client = ca.issue_cert("gateway-1@example.com")
    client.private_key_pem.write_to_path(str(where / "client.key"))
    for blob in client.cert_chain_pems:
        blob.write_to_path(str(where / "client.pem"), append=True)
    return where


def broker(pki: Path, root: Path, *, client_certificates: bool) -> Iterator[MosquittoInstance]:
    listener = TlsListener(
        pki / "broker.pem",
        pki / "broker.key",
        client_cafile=pki / "ca.pem" if client_certificates else None,
    )
    with MosquittoInstance(root, tls=listener) as instance:
        yield instance


@pytest.fixture(scope="module")
def tls_broker(pki: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoInstance]:
    yield from broker(pki, tmp_path_factory.mktemp("tls"), client_certificates=False)


@pytest.fixture(scope="module")
def mtls_broker(pki: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoInstance]:
    yield from broker(pki, tmp_path_factory.mktemp("mtls"), client_certificates=True)


async def test_the_uplink_publishes_over_tls_verified_against_the_sites_ca(
    tls_broker: MosquittoInstance, pki: Path, tmp_path: Path
) -> None:
    assert tls_broker.tls_port is not None
    site = f"t{uuid.uuid4().hex[:8]}"
    topic = f"estatewatch/{site}/test/dev-1/telemetry"
    config = UplinkConfig(
        host="127.0.0.1", port=tls_broker.tls_port, tls=TlsConfig(ca_file=pki / "ca.pem")
    )
    with DurableQueue(tmp_path / "buffer.sqlite", max_bytes=1 << 20, fsync=True) as queue:
        async with aiomqtt.Client(tls_broker.host, tls_broker.port) as plain:
            await plain.subscribe(topic, qos=1)
            async with Uplink(config, queue, site=site, gateway_id="gw-1") as uplink:
                assert uplink.connected
                queue.append([NewItem(topic, lambda seq: json.dumps({"seq": seq}).encode())] * 3)
                uplink.notify()
                got: list[int] = []
                async with asyncio.timeout(TIMEOUT_S):
                    async for message in plain.messages:
                        assert isinstance(message.payload, bytes)
                        got.append(json.loads(message.payload)["seq"])
                        if len(got) == 3:
                            break
            assert got == [1, 2, 3]
            assert queue.depth == 0  # every PUBACK came back over TLS


# paho-mqtt 2.2's _ssl_wrap_socket leaves the socket of a failed TLS handshake for the
# garbage collector to close (once per attempt): its ResourceWarning is paho's, not ours.
@pytest.mark.filterwarnings("ignore:unclosed <ssl.SSLSocket:ResourceWarning")
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <ssl.SSLSocket:pytest.PytestUnraisableExceptionWarning"
)
async def test_a_broker_certificate_from_another_ca_is_refused_and_retried_with_one_warning(
    tls_broker: MosquittoInstance, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert tls_broker.tls_port is not None
    stranger = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger))
    log = logging.getLogger("tests.mqtt_tls")
    caplog.set_level(logging.DEBUG, logger=log.name)
    link = Link(
        "127.0.0.1",
        tls_broker.tls_port,
        name="uplink",
        log=log,
        client_id=f"tls-{uuid.uuid4().hex[:8]}",
        tls=tls_context(TlsConfig(ca_file=stranger), "uplink.tls"),
        backoff=FAST_RETRY,
        connect_timeout=2.0,
    )
    async with link:
        await asyncio.sleep(0.5)  # several attempts
        assert not link.connected
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert f"uplink: cannot reach MQTT broker 127.0.0.1:{tls_broker.tls_port}" in warnings[0]
    assert "CERTIFICATE_VERIFY_FAILED" in warnings[0]
    assert any("still unreachable" in r.getMessage() for r in caplog.records)


class Recorder:
    """A StoringSink that keeps the device ids of the readings it is handed."""

    def __init__(self) -> None:
        self.devices: list[str] = []

    def reading(self, device: object, ts: object, fields: object, *, urgent: bool = False) -> None:
        self.devices.append(str(getattr(device, "device_id", "")))

    def event(self, device: object, ts: object, kind: object, detail: object) -> None:
        pass

    def when_stored(self, callback: object) -> None:
        assert callable(callback)
        callback()


@pytest.mark.filterwarnings("ignore:unclosed <ssl.SSLSocket:ResourceWarning")
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <ssl.SSLSocket:pytest.PytestUnraisableExceptionWarning"
)
async def test_a_smoke_source_with_a_client_certificate_reads_a_broker_that_requires_one(
    mtls_broker: MosquittoInstance, pki: Path
) -> None:
    assert mtls_broker.tls_port is not None
    prefix = f"t{uuid.uuid4().hex[:8]}"
    tls = TlsConfig(
        ca_file=pki / "ca.pem", cert_file=pki / "client.pem", key_file=pki / "client.key"
    )
    config = MqttSourceConfig(
        name="smoke",
        host="127.0.0.1",
        port=mtls_broker.tls_port,
        tls=tls,
        topic=f"{prefix}/vendor/smoke/+/up",
    )
    sink = Recorder()
    source = MqttSource(
        config,
        builtin_catalogue()["smoke-alarm"],
        site="s",
        gateway_id="g",
        sink=sink,  # type: ignore[arg-type]  # duck-typed StoringSink
        on_dead_letter=lambda letter: pytest.fail(f"dead letter: {letter.reason}"),
        metrics=GatewayMetrics(),
        backoff=FAST_RETRY,
    )
    payload = {
        "devId": "smoke-7",
        "msgType": "heartbeat",
        "battery": 87,
        "smoke": 0.12,
        "temp": 21.5,
        "ts": int(time.time()) - 5,
        "seq": 1,
    }
    async with source:
        assert source.connected
        async with aiomqtt.Client(mtls_broker.host, mtls_broker.port) as plain:
            await plain.publish(f"{prefix}/vendor/smoke/smoke-7/up", json.dumps(payload), qos=1)
        async with asyncio.timeout(TIMEOUT_S):
            while not sink.devices:  # noqa: ASYNC110  # filled by the source's task
                await asyncio.sleep(0.02)
    assert sink.devices == ["smoke-7"]
    # Without a certificate the same broker refuses the connection.
    bare = MqttSource(
        config.model_copy(update={"tls": TlsConfig(ca_file=pki / "ca.pem")}),
        builtin_catalogue()["smoke-alarm"],
        site="s",
        gateway_id="g",
        sink=Recorder(),  # type: ignore[arg-type]
        on_dead_letter=lambda letter: None,
        metrics=GatewayMetrics(),
        backoff=FAST_RETRY,
        connect_timeout=2.0,
    )
    async with bare:
        await asyncio.sleep(0.3)
        assert not bare.connected
