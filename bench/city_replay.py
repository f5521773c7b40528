"""The city model's gateways without Modbus: recorded cars, their readings sent as the
gateways' wire version 2 bundles through the kernel's MQTT link.

At 5,000 cars a second the simulators' models and Modbus replies and the gateways'
polling want some eight cores (see :mod:`bench.bench_city`), and even the gateways'
publishing side alone (the outbox validating each reading and rendering each bundle,
88 us of CPU a reading here, then the SQLite buffer and the uplink) would take half of
this box's two cores. On a city's estate each gateway runs on its own site box, so here
a compound's gateway is what its broker sees of it:

- **Recording.** A few template cars of the simulator's elevator model
  (:class:`simulators.elevator.Elevator`) are polled, in memory and on simulated time, by
  the gateway's own :class:`gateway.poller.DevicePoller`, so each second's readings are
  what a gateway publishes: decoded registers, derived door and trip fields, the report
  filter, the urgent flag, a reading per poll group polled. A second recording of each
  template has a safety-circuit fault (E41) injected ``FAULT_AT`` seconds in. The
  poller's events (only its "device online" in a recording) are left out.
- **Replaying.** Every car of a compound plays one template's recording from its own
  offset, with fresh timestamps, at its poller's phase within the second (the phases of
  the site's real pollers, in ten slices). A compound sends what it gathered once a
  second (``batch_interval``), and at once when a reading is urgent, as the outbox does,
  in bundles of at most ``BUNDLE_READINGS`` readings rendered from JSON made once by the
  wire models (a test holds them equal to the outbox's), QoS 1 through
  :class:`estatewatch.mqtt.Link`, ``seq`` counting from 1. No buffer and no status: the
  gateway's own benchmarks measure those.
- A car told to fault switches to its template's faulted recording from the next second:
  the reading that carries the fault is urgent, as the poller would mark it.

A recording is ``TRACE_S`` long and plays in a loop; a run longer than that wraps (the
counters step back), which no benchmark here does.

Control: one port per process, a line of JSON a request, as the simulators' control port:
``{"cmd": "inject", "site": ..., "device": ...}`` answers once the fault's reading has
been taken, with ``taken_at``, that reading's timestamp (Unix seconds).

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
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from estatewatch.catalogue import Catalogue, Profile, Table, builtin_catalogue
from estatewatch.mqtt import Connection, Link
from estatewatch.wire import (
    DeviceTelemetry,
    EventKind,
    FieldValue,
    Reading,
    TelemetryBundle,
    bundle_topic,
)
from gateway.config import DeviceConfig, SiteConfig, load_site_config
from gateway.metrics import GatewayMetrics
from gateway.outbox import BUNDLE_READINGS
from gateway.poller import Acquisition, DevicePoller, PlanCache
from gateway.sink import DeviceInfo
from simulators.elevator import Elevator

log = logging.getLogger("bench.city_replay")

TRACE_S: Final = 900
TEMPLATES: Final = 8
FAULT_AT: Final = 30  # s into a faulted recording
FAULT: Final = "safety_circuit"
SLICES: Final = 10  # wake-ups a second per compound
IN_FLIGHT: Final = 20  # publishes awaiting their PUBACK, a compound
EPOCH: Final = datetime(2026, 1, 1, tzinfo=UTC)


Fields = dict[str, FieldValue]


@dataclass(frozen=True, slots=True)
class Step:
    """What one second's polls of a car handed the sink: a reading (fields, urgent) per
    poll group polled."""

    readings: tuple[tuple[Fields, bool], ...] = ()


@dataclass
class _Recorder:
    """A sink keeping the readings a poll handed it."""

    readings: list[tuple[Fields, bool]] = field(default_factory=list)

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
        """Left out: a recording's only event is the poller's "device online"."""

    def take(self) -> Step:
        step = Step(tuple(self.readings))
        self.readings = []
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
    prefix: str  # its part of a bundle up to its readings
    phase: float
    template: int
    offset: int
    faulted_at: int | None = None  # the second of the run its fault began
    taken: asyncio.Future[float] | None = None


_EPOCH_TS: Final = Reading(ts=EPOCH, fields={"x": 0}).model_dump_json().split(",")[0]
"""``{"ts":"..."`` as the wire renders ``EPOCH``, swapped for each reading's own."""


def _ts(at: datetime) -> str:
    return Reading(ts=at, fields={"x": 0}).model_dump_json().split(",")[0]


def _readings_json(traces: list[list[Step]]) -> list[list[tuple[tuple[str, bool], ...]]]:
    """Each step's readings as the wire renders them (at ``EPOCH``), and urgent or not."""
    return [
        [
            tuple(
                (Reading(ts=EPOCH, fields=fields).model_dump_json(), urgent)
                for fields, urgent in step.readings
            )
            for step in steps
        ]
        for steps in traces
    ]


def _split_at(rendered: str, marker: str) -> str:
    return rendered[: rendered.index(marker) + len(marker)]


class Compound:
    """One compound's gateway as the broker sees it (see the module docstring)."""

    def __init__(
        self, site: str, gateway_id: str, pollers: Sequence[DevicePoller], traces: Traces
    ) -> None:
        self.site, self.gateway_id = site, gateway_id
        self.topic = bundle_topic(site, gateway_id)
        self._normal = _readings_json(traces.normal)
        self._faulted = _readings_json(traces.faulted)
        sample = Reading(ts=EPOCH, fields={"x": 0})
        self.cars: dict[str, _Car] = {}
        for n, poller in enumerate(pollers):
            info = poller.info
            part = DeviceTelemetry(
                device_type=info.device_type,
                device_id=info.device_id,
                profile=info.profile,
                tags=dict(info.tags),
                units=dict(info.units),
                readings=[sample],
            ).model_dump_json()
            prefix = _split_at(part, '"readings":[')
            self.cars[info.device_id] = _Car(
                prefix, poller.phase, n % TEMPLATES, (n * 37) % TRACE_S
            )
        bundle = TelemetryBundle(
            gateway_id=gateway_id,
            seq=0,
            site=site,
            devices=[
                DeviceTelemetry(device_type="x", device_id="x", profile="x", readings=[sample])
            ],
        ).model_dump_json()
        self._header = _split_at(bundle, '"devices":[')
        self._gathered: dict[str, list[str]] = {}  # car -> its readings' JSON, in order
        self._seq = 0
        self._second = 0
        self.outgoing: asyncio.Queue[bytes] = asyncio.Queue()

    def inject(self, device: str) -> asyncio.Future[float]:
        """From the next second, ``device`` plays its faulted recording; the future gets
        the fault reading's timestamp once it is taken."""
        car = self.cars[device]
        car.faulted_at = self._second + 1
        car.taken = asyncio.get_running_loop().create_future()
        return car.taken

    def take(self, cars: Sequence[_Car], at: datetime) -> bool:
        """This second's readings of ``cars``, taken ``at``; whether one is urgent."""
        ts, now = _ts(at), at.timestamp()
        urgent = False
        for car in cars:
            if car.faulted_at is not None and self._second >= car.faulted_at:
                steps = self._faulted[car.template]
                step = steps[min(self._second - car.faulted_at, len(steps) - 1)]
                if car.taken is not None and not car.taken.done():
                    car.taken.set_result(now)
            else:
                steps = self._normal[car.template]
                step = steps[(car.offset + self._second) % len(steps)]
            for rendered, hurry in step:
                self._gathered.setdefault(car.prefix, []).append(rendered.replace(_EPOCH_TS, ts, 1))
                urgent = urgent or hurry
        return urgent

    def flush(self) -> None:
        """Everything gathered, as bundles of at most ``BUNDLE_READINGS`` readings, onto
        ``outgoing``."""
        devices: list[str] = []
        count = 0
        for prefix, readings in self._gathered.items():
            if count + len(readings) > BUNDLE_READINGS and devices:
                self._bundle(devices)
                devices, count = [], 0
            devices.append(prefix + ",".join(readings) + "]}")
            count += len(readings)
        if devices:
            self._bundle(devices)
        self._gathered = {}

    def _bundle(self, devices: list[str]) -> None:
        self._seq += 1
        header = self._header.replace('"seq":0,', f'"seq":{self._seq},', 1)
        self.outgoing.put_nowait((header + ",".join(devices) + "]}").encode())

    async def run(self) -> None:
        """Take the cars' readings slice by slice, every second, until cancelled."""
        slices: list[list[_Car]] = [[] for _ in range(SLICES)]
        for car in self.cars.values():
            slices[int(car.phase * SLICES) % SLICES].append(car)
        start = float(int(time.time()) + 1)
        while True:
            for number, cars in enumerate(slices):
                await asyncio.sleep(max(0.0, start + self._second + number / SLICES - time.time()))
                if number == 0:
                    self.flush()  # the last second's batch (batch_interval 1 s)
                if self.take(cars, datetime.now(UTC)):
                    self.flush()
            self._second += 1

    async def send(self, connection: Connection) -> None:
        """The uplink's session: publish what :meth:`flush` queued, in order, up to
        ``IN_FLIGHT`` at once as the gateway's uplink does (one at a time, each waiting for
        its PUBACK, fell minutes behind at 5,000 cars)."""
        window = asyncio.Semaphore(IN_FLIGHT)
        async with asyncio.TaskGroup() as publishing:
            while True:
                payload = await self.outgoing.get()
                await window.acquire()
                task = publishing.create_task(connection.publish(self.topic, payload, qos=1))
                task.add_done_callback(lambda _: window.release())


def pollers_of(config: SiteConfig, catalogue: Catalogue) -> list[DevicePoller]:
    """The site's pollers as its gateway would build them (their devices as on the wire,
    their phases), none of them run."""
    acquisition = Acquisition(config.modbus.endpoints, catalogue, _Recorder(), GatewayMetrics())
    return list(acquisition.pollers.values())


async def _serve(compounds: Mapping[str, Compound], port: int) -> asyncio.Server:
    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                request = json.loads(line)
                compound = compounds.get(request.get("site", ""))
                if request.get("cmd") != "inject" or compound is None:
                    reply: dict[str, Any] = {"ok": False, "error": f"cannot do {request}"}
                elif request.get("device") not in compound.cars:
                    reply = {"ok": False, "error": f"no car {request.get('device')}"}
                else:
                    taken = await compound.inject(request["device"])
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
    compounds = {
        c.site: Compound(c.site, c.gateway_id, pollers_of(c, catalogue), traces) for c in configs
    }
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with AsyncExitStack() as stack:
        for config in configs:
            compound = compounds[config.site]
            await stack.enter_async_context(
                Link(
                    config.uplink.host,
                    config.uplink.port,
                    name=f"uplink {config.gateway_id}",
                    log=log,
                    client_id=config.gateway_id,
                    mqtt5=False,
                    session=compound.send,
                )
            )
        await stack.enter_async_context(await _serve(compounds, int(spec["control_port"])))
        tasks = await stack.enter_async_context(asyncio.TaskGroup())
        running = [tasks.create_task(c.run(), name=c.gateway_id) for c in compounds.values()]
        await asyncio.to_thread(Path(spec["ready_file"]).write_text, "ready")
        await stop.wait()
        for task in running:
            task.cancel()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(main(json.loads(Path(sys.argv[1]).read_text())))
