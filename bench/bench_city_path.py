"""The city model's per-reading path in one process: what ingest and the maintenance
worker spend of CPU on an elevator reading, without the broker, InfluxDB or PostgreSQL.

**Traffic**: ``COMPOUNDS`` compounds of ``CARS`` cars replayed as the city benchmark's
gateways send them (:mod:`bench.city_replay`: recorded cars of the simulator's model,
polled by the gateway's own poller, in wire version 2 bundles), ``SECONDS`` seconds, the
same every run.

**Timed**, in process CPU time per reading, best of ``REPEATS``:

- ``city_path.ingest_us_per_reading``: ingest's decoder
  (:func:`ingest.decode.decode` with the central checks, :class:`estatewatch.screen.Screen`),
  a bundle's payload to line protocol;
- ``city_path.maintenance_us_per_reading``: the maintenance worker's decoder (the
  same central checks) and its rules (observations to a
  :class:`~maintenance.domain.rules.RuleEngine` with the shipped rules, ``tick`` once a
  simulated second); the gatekeeper (a set lookup) and the signals' transactions (a
  few a minute, none in this traffic) are left out.

What the processes add around this (MQTT, acknowledgements, batches, the event loop)
is what the city benchmark measures; this is the part a change to decoding or rules
moves, measured without the box's other work in it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bench.bench_city import replayed_site
from bench.city_replay import Compound, pollers_of, record_templates
from estatewatch.catalogue import builtin_catalogue
from estatewatch.gbt24476 import controller_codes
from estatewatch.inbound import Rejected
from estatewatch.screen import Screen, ScreenLimits
from estatewatch.wire import TelemetryMessage
from ingest.decode import decode
from maintenance.config_files import DEFAULT_RULES, load_rules
from maintenance.domain.observations import from_telemetry
from maintenance.domain.rules import RuleEngine

NAME = "city_path"
COMPOUNDS = 2
CARS = 200
SECONDS = 30  # 12,000 readings
REPEATS = 5
START = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Traffic:
    """Each simulated second's bundles (topic, payload) and the readings in them."""

    seconds: list[list[tuple[str, bytes]]]
    readings: int


async def _record(compounds: int, seconds: int) -> Traffic:
    catalogue = builtin_catalogue()
    configs = [replayed_site(CARS, n, 1000 + 10 * n) for n in range(1, compounds + 1)]
    first = configs[0].modbus.endpoints[0].devices[0]
    traces = await record_templates(catalogue[first.profile], first)
    replayed = [Compound(c.site, c.gateway_id, pollers_of(c, catalogue), traces) for c in configs]
    out: list[list[tuple[str, bytes]]] = []
    readings = 0
    for second in range(seconds):
        bundles = []
        for compound in replayed:
            compound.take(list(compound.cars.values()), START + timedelta(seconds=second))
            compound.flush()
            compound._second += 1
            while not compound.outgoing.empty():
                bundles.append((compound.topic, compound.outgoing.get_nowait()))
        out.append(bundles)
    for bundles in out:
        for _, payload in bundles:
            readings += payload.count(b'"fields":')
    return Traffic(out, readings)


def city_traffic(compounds: int = COMPOUNDS, seconds: int = SECONDS) -> Traffic:
    return asyncio.run(_record(compounds, seconds))


class _SimClock:
    """The receive time: a second after the simulated second's readings were taken."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@dataclass
class _Worker:
    """What a worker builds at start (not timed): its clock, central checks and rules."""

    clock: _SimClock
    screen: Screen
    engine: RuleEngine

    @classmethod
    def start(cls) -> _Worker:
        clock = _SimClock()
        catalogue = builtin_catalogue()
        engine = RuleEngine(
            load_rules(DEFAULT_RULES), clock, fault_codes=controller_codes(catalogue)
        )
        return cls(clock, Screen(catalogue, ScreenLimits(), clock), engine)


def _ingest(traffic: Traffic, worker: _Worker) -> None:
    for second, bundles in enumerate(traffic.seconds):
        worker.clock.now = START + timedelta(seconds=second + 1)
        for topic, payload in bundles:
            decoded = decode(topic, payload, worker.screen)
            assert not isinstance(decoded, Rejected), decoded


def _maintenance(traffic: Traffic, worker: _Worker) -> None:
    for second, bundles in enumerate(traffic.seconds):
        worker.clock.now = START + timedelta(seconds=second + 1)
        for topic, payload in bundles:
            parsed = worker.screen(topic, payload)
            assert not isinstance(parsed, Rejected), parsed
            for message in parsed.messages:
                assert isinstance(message, TelemetryMessage)
                for reading in from_telemetry(message):
                    worker.engine.observe(reading)
        worker.engine.tick()


Path = Callable[[Traffic, _Worker], None]


def cpu_us_per_reading(path: Path, traffic: Traffic, repeats: int = REPEATS) -> list[float]:
    """Each run's process CPU time a reading, in µs, each on a freshly started worker."""
    figures = []
    for _ in range(repeats):
        worker = _Worker.start()
        started = time.process_time()
        path(traffic, worker)
        figures.append((time.process_time() - started) / traffic.readings * 1e6)
    return figures


PATHS: dict[str, Path] = {
    "ingest": _ingest,
    "maintenance": _maintenance,
}


def run(paths: Sequence[str] = tuple(PATHS)) -> dict[str, float]:
    traffic = city_traffic()
    return {
        f"{NAME}.{name}_us_per_reading": min(cpu_us_per_reading(PATHS[name], traffic))
        for name in paths
    }


if __name__ == "__main__":
    traffic = city_traffic()
    print(f"{traffic.readings} readings in {sum(map(len, traffic.seconds))} bundles")
    for name, path in PATHS.items():
        runs = cpu_us_per_reading(path, traffic)
        print(name, " ".join(f"{f:.1f}" for f in runs), "µs a reading")
