"""The city model's gateways without Modbus: recorded cars fed to the gateway's own
publishing path.

At 5,000 cars a second the simulators' models and Modbus replies, and the gateways'
polling, want some eight cores (see :mod:`bench.bench_city`), and on a city's estate the
gateways each run on their own site box anyway. So each compound's gateway here is
``gateway.service.run_gateway`` (outbox, wire version 2 bundles, the durable buffer with
fsync, the MQTT uplink, the status) with its acquisition replaced by :class:`Replay`:

- **Recording.** A few template cars of the simulator's elevator model
  (:class:`simulators.elevator.Elevator`) are polled, in memory and on simulated time, by
  the gateway's own :class:`gateway.poller.DevicePoller`, so each second's fields are
  what a gateway publishes: decoded registers, derived door and trip fields and events,
  the report filter, the urgent flag. A second recording of each template has a
  safety-circuit fault (E41) injected ``FAULT_AT`` seconds in.
- **Replaying.** Every car of a compound plays one template's recording from its own
  offset, with fresh timestamps, at its poller's phase within the second (the phases of
  the site's real pollers, in ten slices). A car told to fault switches to its template's
  faulted recording from the fault's second: the reading that carries the fault is urgent,
  as the poller would mark it, so the outbox sends it at once.

A recording is ``TRACE_S`` long and plays in a loop; a run longer than that wraps (the
counters step back), which no benchmark here does.

Control: one port per process, a line of JSON a request, as the simulators' control port:
``{"cmd": "inject", "site": ..., "device": ...}`` answers once the fault's reading has
been handed to the outbox, with ``taken_at``, that reading's timestamp (Unix seconds).

Run as ``python -m bench.city_replay SPEC.json`` (written by :mod:`bench.bench_city`): the
site files of its compounds and its control port.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import signal
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from estatewatch.catalogue import Catalogue, Profile, Table, builtin_catalogue
from estatewatch.wire import EventKind, FieldValue
from gateway.config import DeviceConfig, SiteConfig, load_site_config
from gateway.metrics import GatewayMetrics
from gateway.poller import Acquisition, DevicePoller, PlanCache
from gateway.service import run_gateway
from gateway.sink import DeviceInfo, Sink
from simulators.elevator import Elevator

log = logging.getLogger("bench.city_replay")

TRACE_S: Final = 900
TEMPLATES: Final = 8
FAULT_AT: Final = 30  # s into a faulted recording
FAULT: Final = "safety_circuit"
SLICES: Final = 10  # wake-ups a second per compound
EPOCH: Final = datetime(2026, 1, 1, tzinfo=UTC)


Fields = dict[str, FieldValue]


@dataclass(frozen=True, slots=True)
class Step:
    """What one second's polls of a car handed the sink: a reading (fields, urgent) per
    poll group polled, and events."""

    readings: tuple[tuple[Fields, bool], ...] = ()
    events: tuple[tuple[EventKind, Fields], ...] = ()


@dataclass
class _Recorder:
    """A sink keeping what a poll handed it."""

    readings: list[tuple[Fields, bool]] = field(default_factory=list)
    events: list[tuple[EventKind, Fields]] = field(default_factory=list)

    def reading(
        self,
        device: DeviceInfo,
        ts: datetime,
        fields: Mapping[str, FieldValue],
        *,
        urgent: bool = False,
    ) -> None:
        self.readings.append((dict(fields), urgent))

    def event(
        self,
        device: DeviceInfo,
        ts: datetime,
        kind: EventKind,
        detail: Mapping[str, FieldValue],
    ) -> None:
        self.events.append((kind, dict(detail)))

    def take(self) -> Step:
        step = Step(tuple(self.readings), tuple(self.events))
        self.readings, self.events = [], []
        return step


class _SimulatedTime:
    """The poller's timebase on the recording's clock (seconds from ``EPOCH``)."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def utcnow(self) -> datetime:
        return datetime.fromtimestamp(EPOCH.timestamp() + self.now, UTC)

    async def sleep_until(self, deadline: float) -> None:
        return None


class _ModelEndpoint:
    """The car's controller answering the poller in memory (no Modbus)."""

    label = "recording"

    def __init__(self, car: Elevator) -> None:
        self._car = car

    @asynccontextmanager
    async def claim(self, unit: int) -> AsyncIterator[_ModelEndpoint]:
        yield self

    async def read(self, table: Table, address: int, count: int) -> list[int]:
        return self._car.read(table, address, count)


async def record(
    profile: Profile, device: DeviceConfig, template: int, seconds: int, *, fault_at: int | None
) -> list[Step]:
    """``seconds`` of template car ``template`` as the gateway's poller publishes them,
    the fault injected at ``fault_at`` if given."""
    rng = random.Random(template)
    car = Elevator(
        device.name,
        profile,
        random.Random(rng.random()),
        0.0,
        age_years=(18.0, 3.0, 9.0, 14.0, 6.0, 22.0, 11.0, 1.0)[template % 8],
        floors=rng.choice((11, 18, 26, 33)),
        rated_speed=rng.choice((1.0, 1.75, 2.5)),
    )
    clock, sink = _SimulatedTime(), _Recorder()
    plan = PlanCache().plan(device.name, profile, device.poll, 16)
    poller = DevicePoller(device, profile, plan, sink, GatewayMetrics(), clock=clock)
    endpoint = _ModelEndpoint(car)
    steps = []
    for second in range(seconds):
        clock.now = float(second)
        if second == fault_at:
            car.inject(FAULT)
        car.step(clock.now)
        for group in plan.groups:
            if group.requests and second % round(group.interval) == 0:
                await poller.poll(endpoint, group, clock.now)
        steps.append(sink.take())
    return steps


@dataclass(frozen=True)
class Traces:
    normal: list[list[Step]]  # by template
    faulted: list[list[Step]]  # by template, from the fault's second


async def record_templates(profile: Profile, device: DeviceConfig) -> Traces:
    normal, faulted = [], []
    for template in range(TEMPLATES):
        normal.append(await record(profile, device, template, TRACE_S, fault_at=None))
        broken = await record(profile, device, template, FAULT_AT + 120, fault_at=FAULT_AT)
        faulted.append(broken[FAULT_AT:])
    return traces_checked(Traces(normal, faulted))


def traces_checked(traces: Traces) -> Traces:
    """The recordings, refused if the fault never reached the wire as an urgent reading."""
    for steps in traces.faulted:
        if not any(urgent and fields.get("fault_code") for fields, urgent in steps[0].readings):
            raise RuntimeError(f"the recorded fault is no urgent fault code: {steps[0]}")
    return traces


@dataclass
class _Car:
    info: DeviceInfo
    phase: float
    template: int
    offset: int
    faulted_at: int | None = None  # the second of the run its fault began
    taken: asyncio.Future[float] | None = None


class Replay:
    """A compound's cars from the recordings, into ``sink`` every second until cancelled."""

    def __init__(self, pollers: Sequence[DevicePoller], traces: Traces) -> None:
        self._traces = traces
        self.cars = {
            p.info.device_id: _Car(p.info, p.phase, n % TEMPLATES, (n * 37) % TRACE_S)
            for n, p in enumerate(pollers)
        }
        self._second = 0

    def inject(self, device: str) -> asyncio.Future[float]:
        """From the next second, ``device`` plays its faulted recording; the future gets
        the fault reading's timestamp once it is in the outbox."""
        car = self.cars[device]
        car.faulted_at = self._second + 1
        car.taken = asyncio.get_running_loop().create_future()
        return car.taken

    async def run(self, sink: Sink, metrics: GatewayMetrics) -> None:
        slices: list[list[_Car]] = [[] for _ in range(SLICES)]
        for car in self.cars.values():
            slices[int(car.phase * SLICES) % SLICES].append(car)
        start = float(int(time.time()) + 1)
        while True:
            for number, cars in enumerate(slices):
                await asyncio.sleep(max(0.0, start + self._second + number / SLICES - time.time()))
                now = time.time()
                ts = datetime.fromtimestamp(now, UTC)
                for car in cars:
                    self._play(car, sink, ts, now)
            self._second += 1

    def _play(self, car: _Car, sink: Sink, ts: datetime, now: float) -> None:
        if car.faulted_at is not None and self._second >= car.faulted_at:
            steps = self._traces.faulted[car.template]
            step = steps[min(self._second - car.faulted_at, len(steps) - 1)]
        else:
            steps = self._traces.normal[car.template]
            step = steps[(car.offset + self._second) % len(steps)]
        for kind, detail in step.events:
            sink.event(car.info, ts, kind, detail)
        for fields, urgent in step.readings:
            sink.reading(car.info, ts, fields, urgent=urgent)
        if car.taken is not None and not car.taken.done() and self._second >= (car.faulted_at or 0):
            car.taken.set_result(now)


def pollers_of(config: SiteConfig, catalogue: Catalogue) -> list[DevicePoller]:
    """The site's pollers as its gateway would build them (their devices as on the wire,
    their phases), none of them run."""
    acquisition = Acquisition(config.modbus.endpoints, catalogue, _Recorder(), GatewayMetrics())
    return list(acquisition.pollers.values())


async def _serve(replays: Mapping[str, Replay], port: int) -> asyncio.Server:
    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                request = json.loads(line)
                replay = replays.get(request.get("site", ""))
                if request.get("cmd") != "inject" or replay is None:
                    reply: dict[str, Any] = {"ok": False, "error": f"cannot do {request}"}
                elif request.get("device") not in replay.cars:
                    reply = {"ok": False, "error": f"no car {request.get('device')}"}
                else:
                    taken = await replay.inject(request["device"])
                    reply = {"ok": True, "taken_at": taken}
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        finally:
            writer.close()

    return await asyncio.start_server(on_client, "127.0.0.1", port)


async def main(spec: dict[str, Any]) -> None:
    catalogue = builtin_catalogue()
    configs = [load_site_config(Path(p), catalogue) for p in spec["site_files"]]
    first = configs[0].modbus.endpoints[0].devices[0]
    traces = await record_templates(catalogue[first.profile], first)
    replays = {c.site: Replay(pollers_of(c, catalogue), traces) for c in configs}
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    server = await _serve(replays, int(spec["control_port"]))
    await asyncio.to_thread(Path(spec["ready_file"]).write_text, "ready")
    async with server, asyncio.TaskGroup() as gateways:
        for config in configs:
            gateways.create_task(
                run_gateway(config, catalogue, stop, acquire=replays[config.site].run)
            )


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(main(json.loads(Path(sys.argv[1]).read_text())))
