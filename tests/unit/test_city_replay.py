"""The city benchmark's replayed gateways (bench/city_replay.py) send what a gateway's
outbox sends: the same wire version 2 bundles for the same readings, the fault as an
urgent reading, and no bundle over the outbox's size."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from bench.bench_city import replayed_site
from bench.city_replay import (
    FAULT_AT,
    Compound,
    Traces,
    pollers_of,
    record,
    traces_checked,
)
from estatewatch.catalogue import builtin_catalogue
from estatewatch.durable_queue import NewItem
from estatewatch.wire import TelemetryBundle
from gateway.config import SiteConfig
from gateway.outbox import BUNDLE_READINGS, Outbox

CATALOGUE = builtin_catalogue()


class _Queue:
    def __init__(self) -> None:
        self.items: list[NewItem] = []

    def append(self, items: Sequence[NewItem]) -> list[int]:
        self.items += items
        return list(range(len(items)))


async def _traces(config: SiteConfig, seconds: int) -> Traces:
    device = config.modbus.endpoints[0].devices[0]
    profile = CATALOGUE[device.profile]
    normal = await record(profile, device, 0, seconds, fault_at=None)
    faulted = await record(profile, device, 0, FAULT_AT + 3, fault_at=FAULT_AT)
    return traces_checked(Traces([normal] * 8, [faulted[FAULT_AT:]] * 8))


def _bundles(payloads: Sequence[bytes]) -> list[TelemetryBundle]:
    return [TelemetryBundle.model_validate_json(p) for p in payloads]


async def _replayed_and_outbox(cars: int, seconds: int) -> tuple[list[bytes], list[bytes]]:
    """A compound's bundles of ``seconds`` seconds, replayed and through the outbox."""
    config = replayed_site(cars)
    pollers = pollers_of(config, CATALOGUE)
    traces = await _traces(config, seconds + 1)
    compound = Compound("city-01", "gw-01", pollers, traces)
    queue = _Queue()
    outbox = Outbox(queue, site="city-01", gateway_id="gw-01")
    infos = {p.info.device_id: p.info for p in pollers}
    at = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
    for second in range(seconds):
        ts = at.replace(second=second)
        cars_now = list(compound.cars.items())
        compound.take([car for _, car in cars_now], ts)
        for device_id, car in cars_now:
            steps = traces.normal[car.template]
            for fields, urgent in steps[(car.offset + second) % len(steps)].readings:
                outbox.reading(infos[device_id], ts, fields, urgent=urgent)
        compound.flush()
        outbox.flush()
        compound._second += 1
    replayed = []
    while not compound.outgoing.empty():
        replayed.append(compound.outgoing.get_nowait())
    sent = [item.render(n + 1) for n, item in enumerate(queue.items)]
    return replayed, sent


def test_a_replayed_compound_sends_the_outbox_s_bundles() -> None:
    replayed, sent = asyncio.run(_replayed_and_outbox(cars=250, seconds=3))
    assert len(sent) >= 6  # 250 readings a second: two bundles each
    assert _bundles(replayed) == _bundles(sent)
    assert all(sum(len(d.readings) for d in b.devices) <= BUNDLE_READINGS for b in _bundles(sent))


async def _fault() -> None:
    config = replayed_site(10)
    compound = Compound("city-01", "gw-01", pollers_of(config, CATALOGUE), await _traces(config, 5))
    cars = list(compound.cars.values())
    at = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
    assert not compound.take(cars, at)
    compound.flush()
    taken = compound.inject("elev-005")
    compound._second += 1
    assert compound.take(cars, at.replace(second=1))  # urgent: the outbox sends at once
    assert taken.result() == at.replace(second=1).timestamp()
    compound.flush()
    bundles = _bundles([compound.outgoing.get_nowait() for _ in range(2)])
    faulted = [
        r.fields["fault_code"]
        for b in bundles[1:]
        for d in b.devices
        if d.device_id == "elev-005"
        for r in d.readings
    ]
    assert faulted == [41]
    assert [b.seq for b in bundles] == [1, 2]


def test_a_fault_told_to_a_car_is_its_next_reading_and_urgent() -> None:
    asyncio.run(_fault())
