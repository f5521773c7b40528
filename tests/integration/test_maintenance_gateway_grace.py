"""A gateway's offline status against a real broker restart: the grace absorbs it.

Stopping Mosquitto hands the maintenance worker every connected gateway's last will; the
gateway is back seconds later. Only an "offline" that outlasts the grace opens an order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from register_support import registered

from estatewatch.durable_queue import DurableQueue
from gateway.config import UplinkConfig
from gateway.uplink import Uplink
from infra.local import MosquittoInstance
from maintenance.db.engine import make_sessionmaker, open_engine
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.signals import DeviceRef
from maintenance.settings import MaintenanceSettings
from maintenance.worker import Detection, running_maintenance

pytestmark = pytest.mark.integration

GRACE_S = 15.0
FAST_RETRY = (0.05, 0.5)  # s: the gateway and the worker reconnect at once


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoInstance]:
    """A broker of this test's own: it is restarted."""
    with MosquittoInstance(tmp_path / "broker") as instance:
        yield instance


async def gateway_orders(config: MaintenanceSettings, asset: str) -> int:
    async with open_engine(config.database_url) as engine:
        uow = SqlUnitOfWork(make_sessionmaker(engine))
        async with uow:
            order = await uow.work_orders.open_for(asset, "offline")
    return 0 if order is None else 1


async def statuses_after(detection: Detection, count: int, seen: int) -> None:
    deadline = time.monotonic() + 60
    while detection.counters.messages < seen + count:
        assert time.monotonic() < deadline, "the worker saw no offline and online status"
        await asyncio.sleep(0.1)


async def test_a_broker_restart_opens_no_gateway_offline_order(
    tmp_path: Path, broker: MosquittoInstance
) -> None:
    site = f"g{tmp_path.name[-8:]}"
    asset = str(DeviceRef(site, "gateway", "gw-1"))
    config = MaintenanceSettings(
        data_dir=tmp_path / "data",
        mqtt_host=broker.host,
        mqtt_port=broker.port,
        client_id=f"maint-{site}",
        sites=(site,),
        tick_interval=0.2,
        gateway_offline_grace=GRACE_S,
        migrate=True,
    )
    uplink_config = UplinkConfig.model_validate({"host": broker.host, "port": broker.port})
    await registered(config.database_url, site)
    with DurableQueue(tmp_path / "buffer.sqlite", max_bytes=2**20, fsync=False) as queue:
        async with running_maintenance(config) as detection:
            gateway = Uplink(uplink_config, queue, site=site, gateway_id="gw-1", backoff=FAST_RETRY)
            async with gateway:
                await statuses_after(detection, 1, 0)  # its retained "online"
                seen = detection.counters.messages
                await asyncio.to_thread(broker.restart)
                # Its last will, then its "online" again once both are reconnected.
                await statuses_after(detection, 2, seen)
                await asyncio.sleep(GRACE_S + 2)
                assert await gateway_orders(config, asset) == 0
            # A gateway that stays away: its clean exit's "offline" outlasts the grace.
            started = time.monotonic()
            while not await gateway_orders(config, asset):
                assert time.monotonic() - started < GRACE_S + 30, "no gateway_offline order"
                await asyncio.sleep(0.2)
            assert time.monotonic() - started >= GRACE_S - 1
