"""The maintenance worker against a real Mosquitto and a real SQLite file.

Wire messages are published as a gateway would; what the worker committed is read back
through the SQL unit of work.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import pytest
from metrics_scrape import Scrape, scrape
from notify_servers import WECOM_KEY, robot_server
from register_support import registered
from sqlalchemy import func, select

from estatewatch import __version__
from estatewatch.errors import ConfigError
from estatewatch.ports import free_ports
from estatewatch.wire import (
    Reading,
    TelemetryBundle,
    TelemetryMessage,
    bundle_topic,
    status_topic,
    telemetry_topic,
)
from infra.local import MosquittoInstance
from maintenance.db.engine import make_sessionmaker, open_engine
from maintenance.db.read.quarantine import quarantine_entries
from maintenance.db.tables import WorkOrderRow
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.signals import DeviceRef
from maintenance.domain.workorders import WorkOrder
from maintenance.services.quarantine import register
from maintenance.settings import MaintenanceSettings
from maintenance.worker import Detection, running_maintenance

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def settings(tmp_path: Path, broker: MosquittoInstance) -> MaintenanceSettings:
    return MaintenanceSettings(
        data_dir=tmp_path / "data",
        mqtt_host=broker.host,
        mqtt_port=broker.port,
        client_id=f"maint-{tmp_path.name}",
        tick_interval=0.2,
        migrate=True,  # a fresh database per test, which this worker is the one to migrate
        # The readings are dated from T0, a fixed day in the past; the time window is
        # tests/unit/test_screen.py's to test.
        max_age=100 * 365 * 86400.0,
    )


class Gateway:
    def __init__(self, client: aiomqtt.Client, site: str, gateway_id: str = "gw-1") -> None:
        self.client, self.site, self.seq, self.gateway_id = client, site, 0, gateway_id

    async def car(self, device: str, second: int, **fields: bool | int | float) -> None:
        self.seq += 1
        message = self._reading(device, second, fields)
        topic = telemetry_topic(self.site, "elevator", device)
        await self.client.publish(topic, message.model_dump_json(), qos=1)

    async def cars(self, devices: list[str], second: int, **fields: bool | int | float) -> None:
        """One bundle (wire version 2, the gateway's default) of ``devices``' readings."""
        self.seq += 1
        messages = [self._reading(device, second, fields) for device in devices]
        bundle = TelemetryBundle.of(self.gateway_id, self.seq, self.site, messages)
        topic = bundle_topic(self.site, self.gateway_id)
        await self.client.publish(topic, bundle.model_dump_json(), qos=1)

    def _reading(
        self, device: str, second: int, fields: dict[str, bool | int | float]
    ) -> TelemetryMessage:
        base: dict[str, bool | int | float | str] = {
            "floor": 7,
            "car_load": 0.0,
            "alarm_button": False,
            "fault_code": 0,
            "stopped_outside_zone_s": 0.0,
        }
        return TelemetryMessage(
            gateway_id=self.gateway_id,
            seq=self.seq,
            site=self.site,
            device_type="elevator",
            device_id=device,
            profile="elevator-nice3000",
            tags={"building": "B1"},
            readings=[Reading(ts=T0 + timedelta(seconds=second), fields={**base, **fields})],
        )


async def open_order(config: MaintenanceSettings, asset: str, kind: str) -> WorkOrder | None:
    async with open_engine(config.database_url) as engine:
        uow = SqlUnitOfWork(make_sessionmaker(engine))
        async with uow:
            return await uow.work_orders.open_for(asset, kind)


async def until(check: Callable[[], Awaitable[object]], seconds: float, what: str) -> object:
    deadline = time.monotonic() + seconds
    while not (found := await check()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)
    return found


async def test_entrapment_opens_one_p1_order_and_a_repeat_attaches_to_it(
    tmp_path: Path, mosquitto: MosquittoInstance
) -> None:
    site = f"s{tmp_path.name[-8:]}"
    config = settings(tmp_path, mosquitto)
    await registered(config.database_url, site, "elev-01")
    asset = str(DeviceRef(site, "elevator", "elev-01"))
    async with (
        running_maintenance(config),
        aiomqtt.Client(mosquitto.host, mosquitto.port) as client,
    ):
        await asyncio.sleep(0.5)  # subscribed
        gw = Gateway(client, site)
        await gw.car("elev-01", 0)
        await gw.car("elev-01", 31, stopped_outside_zone_s=31.0, alarm_button=True, car_load=20.0)
        order = await until(lambda: open_order(config, asset, "entrapment"), 10, "a work order")
        assert isinstance(order, WorkOrder)
        assert order.priority == "P1"
        assert len(order.alarm_ids) == 1
        # Freed, then trapped again while the order is still open: same order, new alarm.
        await gw.car("elev-01", 60)
        await gw.car("elev-01", 95, stopped_outside_zone_s=35.0, alarm_button=True)

        async def second_alarm() -> bool:
            again = await open_order(config, asset, "entrapment")
            return again is not None and len(again.alarm_ids) == 2

        await until(second_alarm, 10, "the repeat alarm on the same order")
        again = await open_order(config, asset, "entrapment")
        assert again is not None
        assert again.id == order.id


async def test_restart_keeps_rule_state_and_does_not_reraise(
    tmp_path: Path, mosquitto: MosquittoInstance
) -> None:
    site = f"r{tmp_path.name[-8:]}"
    config = settings(tmp_path, mosquitto)
    await registered(config.database_url, site, "elev-02")
    asset = str(DeviceRef(site, "elevator", "elev-02"))
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
        gw = Gateway(client, site)
        async with running_maintenance(config):
            await asyncio.sleep(0.5)
            await gw.car("elev-02", 0, fault_code=41, car_load=10.0)
            await until(lambda: open_order(config, asset, "elevator_stopped"), 10, "an order")
        assert (config.data_dir / "rule-state.json").exists()
        async with running_maintenance(config) as detection:
            # Restored as raised before any new reading: nothing to raise again.
            assert (
                DeviceRef(site, "elevator", "elev-02"),
                "level5_fault",
            ) in detection.engine.active()
            await asyncio.sleep(0.5)
            await gw.car("elev-02", 1, fault_code=41, car_load=10.0)

            async def delivered() -> bool:
                return detection.counters.messages > 0

            await until(delivered, 10, "the reading after the restart")
        order = await open_order(config, asset, "elevator_stopped")
        assert order is not None
        assert len(order.alarm_ids) == 1


async def test_a_second_worker_on_the_same_data_directory_is_refused(
    tmp_path: Path, mosquitto: MosquittoInstance
) -> None:
    """Each worker keeps its own sites' rule state in its data directory; a second one
    there would overwrite it, so it stops at start with an error naming the setting."""
    config = settings(tmp_path, mosquitto)
    async with running_maintenance(config):
        other = config.model_copy(update={"client_id": f"{config.client_id}-b"})
        with pytest.raises(ConfigError, match=r"^data_dir: .* in use by another maintenance"):
            async with running_maintenance(other):
                pass
    async with running_maintenance(config):  # free again once the first has stopped
        pass


async def test_malformed_messages_are_dead_lettered_and_the_worker_goes_on(
    tmp_path: Path, mosquitto: MosquittoInstance
) -> None:
    site = f"d{tmp_path.name[-8:]}"
    config = settings(tmp_path, mosquitto)
    await registered(config.database_url, site, "elev-03")
    asset = str(DeviceRef(site, "elevator", "elev-03"))
    async with (
        running_maintenance(config),
        aiomqtt.Client(mosquitto.host, mosquitto.port) as client,
    ):
        await asyncio.sleep(0.5)
        topic = telemetry_topic(site, "elevator", "elev-03")
        await client.publish(topic, b"{not json", qos=1)
        await client.publish(topic, b'{"schema_version": 1}', qos=1)
        await Gateway(client, site).car("elev-03", 0, fault_code=53)
        await until(lambda: open_order(config, asset, "elevator_stopped"), 10, "an order")
    letters = (config.data_dir / "dead_letters.jsonl").read_text().splitlines()
    reasons = [json.loads(line)["reason"] for line in letters]
    assert len(reasons) == 2
    assert reasons[0].startswith("invalid JSON")
    assert reasons[1].startswith("schema error")


async def test_an_entrapment_reaches_the_sites_chat_group(
    tmp_path: Path, mosquitto: MosquittoInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = f"s{tmp_path.name[-8:]}"
    monkeypatch.setenv("T_WECOM_KEY", WECOM_KEY)
    async with robot_server() as robots:
        notify = tmp_path / "notify.yaml"
        url = robots.url("/cgi-bin/webhook/send?key=${T_WECOM_KEY}")
        notify.write_text(
            f"sites:\n  {site}:\n    robots:\n      - {{name: duty, kind: wecom, url: '{url}'}}\n"
        )
        (port,) = free_ports(1)
        config = settings(tmp_path, mosquitto).model_copy(
            update={
                "notify_path": notify,
                "public_base_url": "https://estate.test",
                "metrics_port": port,
            }
        )
        await registered(config.database_url, site, "elev-01")
        async with (
            running_maintenance(config),
            aiomqtt.Client(mosquitto.host, mosquitto.port) as client,
        ):
            await asyncio.sleep(0.5)  # subscribed
            gw = Gateway(client, site)
            await gw.car("elev-01", 0)
            await gw.car("elev-01", 31, stopped_outside_zone_s=31.0, alarm_button=True)
            await until(lambda: asyncio.sleep(0, robots.posts), 10, "the group's message")

            async def sent() -> Scrape | None:
                seen = await scrape(f"http://127.0.0.1:{port}/metrics")
                return (
                    seen if seen.total("estatewatch_maintenance_notifications_sent_total") else None
                )

            metrics = await until(sent, 10, "the message counted")
    assert isinstance(metrics, Scrape)
    sent_by_channel = {
        dict(labels)["channel"]: value
        for (name, labels), value in metrics.samples.items()
        if name == "estatewatch_maintenance_notifications_sent_total"
    }
    assert len(sent_by_channel) == 1
    assert "duty" in next(iter(sent_by_channel))
    assert sum(sent_by_channel.values()) == len(robots.posts)
    assert metrics.total("estatewatch_maintenance_notifications_failed_total") == 0
    [post] = robots.posts
    assert post.accepted
    assert post.document["text"]["content"].startswith("【救援】电梯困人")


async def test_metrics_count_exactly_what_the_worker_received_judged_and_opened(
    tmp_path: Path, mosquitto: MosquittoInstance
) -> None:
    site = f"p{tmp_path.name[-8:]}"
    (port,) = free_ports(1)
    # Its own site only: retained statuses of other tests' gateways would count too.
    config = settings(tmp_path, mosquitto).model_copy(
        update={"metrics_port": port, "sites": (site,), "sla_interval": 0.2}
    )
    url = f"http://127.0.0.1:{port}/metrics"
    asset = str(DeviceRef(site, "elevator", "elev-06"))
    readings, not_json = 20, 3
    await registered(config.database_url, site, "elev-05", "elev-06")
    async with (
        running_maintenance(config) as detection,
        aiomqtt.Client(mosquitto.host, mosquitto.port) as client,
    ):
        await asyncio.sleep(0.5)
        gw = Gateway(client, site)
        for second in range(readings):
            await gw.car("elev-05", second)
        for _ in range(not_json):
            await client.publish(telemetry_topic(site, "elevator", "elev-05"), b"{", qos=1)
        await gw.car("elev-06", 0, fault_code=53)
        order = await until(lambda: open_order(config, asset, "elevator_stopped"), 10, "an order")
        assert isinstance(order, WorkOrder)
        await asyncio.sleep(1.0)  # the fault's other signals committed too

        def counts() -> tuple[int, int, int, int]:
            c = detection.counters
            return detection.engine.evaluations, c.alarms_raised, c.orders_opened, c.visits_opened

        async def closed() -> int:
            """The site's orders no longer open (an alarm that cleared by itself)."""
            async with (
                open_engine(config.database_url) as engine,
                make_sessionmaker(engine)() as session,
            ):
                ended = await session.scalar(
                    select(func.count())
                    .select_from(WorkOrderRow)
                    .where(
                        WorkOrderRow.site == site, WorkOrderRow.status.in_(("closed", "cancelled"))
                    )
                )
            return ended or 0

        async def all_counted() -> tuple[Scrape, tuple[int, int, int, int], int] | None:
            # The scheduler may open an order (a car gone quiet) while the scrape is read:
            # compare the scrape only with counts that did not move meanwhile.
            before = counts()
            seen = await scrape(url)
            ended = await closed()
            if counts() != before:
                return None
            opened = seen.total("estatewatch_maintenance_open_work_orders")
            total = seen.value("estatewatch_maintenance_messages_total")
            # The registered cars' first maintenance visits are open orders too; an order
            # whose only alarm cleared before anyone acknowledged it is closed.
            done = opened == before[2] + before[3] - ended and total == readings + not_json + 1
            return (seen, before, ended) if done else None

        found = await until(all_counted, 30, "every message and the open order counted")
        assert isinstance(found, tuple)
        seen, (evaluations, alarms, opened, visits), ended = found
    assert seen.value("estatewatch_maintenance_dead_letters_total", reason="schema") == not_json
    assert seen.value("estatewatch_maintenance_rule_observations_total") == readings + 1
    assert seen.value("estatewatch_maintenance_rule_evaluations_total") == evaluations > readings
    # A level-5 fault raises more than one rule's alarm and order; every one still open
    # is counted open.
    assert seen.value("estatewatch_maintenance_alarms_raised_total") == alarms >= 1
    assert seen.value("estatewatch_maintenance_work_orders_opened_total") == opened >= 1
    assert seen.total("estatewatch_maintenance_open_work_orders") == opened + visits - ended
    by_priority = "estatewatch_maintenance_open_work_orders"
    assert seen.value(by_priority, site=site, priority=order.priority) >= 1
    assert seen.value("estatewatch_maintenance_mqtt_connected") == 1
    assert seen.value("estatewatch_build_info", service="maintenance", version=__version__) == 1


# An entrapment: the car stopped outside a door zone past the rule's 30 s, alarm pressed.
TRAPPED = {"stopped_outside_zone_s": 31.0, "alarm_button": True, "car_load": 20.0}


@contextlib.asynccontextmanager
async def judging(
    config: MaintenanceSettings, mosquitto: MosquittoInstance, site: str
) -> AsyncIterator[tuple[Detection, aiomqtt.Client]]:
    """The worker running with ``site``'s gw-1 and elev-01 registered, and a client to
    publish as gateways."""
    await registered(config.database_url, site, "elev-01")
    async with (
        running_maintenance(config) as detection,
        aiomqtt.Client(mosquitto.host, mosquitto.port) as client,
    ):
        await asyncio.sleep(0.5)  # subscribed
        yield detection, client


async def test_unknown_devices_and_gateways_are_quarantined_and_open_nothing(
    tmp_path: Path, mosquitto: MosquittoInstance
) -> None:
    site = f"q{tmp_path.name[-8:]}"
    config = settings(tmp_path, mosquitto)
    async with judging(config, mosquitto, site) as (detection, client):
        known, spoof = Gateway(client, site), Gateway(client, site, "gw-spoof")
        # A device the register does not have, through a known gateway; a registered car
        # through a gateway the register does not have; the spoofed gateway's last will.
        for second in (0, 31):
            await known.car("ghost-lift-99", second, **(TRAPPED if second else {}))
            await spoof.car("elev-01", second, **(TRAPPED if second else {}))
        status = {"gateway_id": "gw-spoof", "site": site, "state": "offline"}
        status["ts"] = T0.isoformat()
        await client.publish(status_topic(site, "gw-spoof"), json.dumps(status), qos=1)

        async def quarantined() -> list[tuple[str, str, int]]:
            async with (
                open_engine(config.database_url) as engine,
                make_sessionmaker(engine)() as session,
            ):
                entries = await quarantine_entries(session, sites=[site])
            found = [(e.device_type, e.device_id, e.messages) for e in entries]
            return found if sum(count for *_, count in found) >= 5 else []

        found = await until(quarantined, 10, "the quarantine's entries")
        assert isinstance(found, list)
        assert sorted(found) == [
            ("elevator", "ghost-lift-99", 2),
            ("gateway", "gw-spoof", 3),
        ]
        # Only the messages of known senders reached the rules: none so far.
        assert detection.counters.messages == 0
        assert detection.counters.quarantined == 5
        for device in ("ghost-lift-99", "elev-01"):
            assert (
                await open_order(config, str(DeviceRef(site, "elevator", device)), "entrapment")
                is None
            )

        # Registered, the gateway is believed: the car it speaks for is judged.
        async with open_engine(config.database_url) as engine:
            async with make_sessionmaker(engine)() as session:
                entries = await quarantine_entries(session, sites=[site])
            (gateway,) = [e for e in entries if e.device_type == "gateway"]
            uow = SqlUnitOfWork(make_sessionmaker(engine))
            await register(uow, gateway.id, by="cli:test", clock=lambda: T0)
        await asyncio.sleep(1.1)  # the gatekeeper reads the register again after a second
        await spoof.car("elev-01", 62)
        await spoof.car("elev-01", 93, **TRAPPED)
        asset = str(DeviceRef(site, "elevator", "elev-01"))
        order = await until(lambda: open_order(config, asset, "entrapment"), 10, "a work order")
        assert isinstance(order, WorkOrder)


async def test_a_bundle_is_judged_device_by_device_and_its_unknown_devices_quarantined(
    tmp_path: Path, mosquitto: MosquittoInstance
) -> None:
    site = f"b{tmp_path.name[-8:]}"
    config = settings(tmp_path, mosquitto)
    async with judging(config, mosquitto, site) as (detection, client):
        gateway = Gateway(client, site)
        for second in (0, 31):
            await gateway.cars(["elev-01", "ghost-lift-99"], second, **(TRAPPED if second else {}))
        asset = str(DeviceRef(site, "elevator", "elev-01"))
        order = await until(lambda: open_order(config, asset, "entrapment"), 10, "a work order")
        assert isinstance(order, WorkOrder)
        assert detection.counters.messages == 2  # elev-01's readings, out of two bundles
        assert detection.counters.quarantined == 2  # the ghost's
        ghost = str(DeviceRef(site, "elevator", "ghost-lift-99"))
        assert await open_order(config, ghost, "entrapment") is None
