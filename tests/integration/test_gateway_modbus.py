"""Gateway acquisition against the real simulators, in-process, over Modbus TCP and RTU.

Waits are bounded by ``until`` (a guard that fails the test if something never happens),
never asserted on: what the tests check is what arrived and in which state.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from estatewatch.catalogue import Table, Value, builtin_catalogue, decode_field
from estatewatch.gbt24476 import controller_codes
from estatewatch.wire import EventKind, FieldValue
from gateway.config import DeviceConfig, EndpointConfig, RtuConfig, TcpConfig
from gateway.metrics import DeviceState, GatewayMetrics
from gateway.modbus_client import (
    Backoff,
    DeviceException,
    DeviceTimeout,
    EndpointDown,
    ModbusEndpoint,
)
from gateway.poller import Acquisition
from gateway.sink import DeviceInfo
from infra.local import free_ports
from maintenance.config_files import DEFAULT_RULES, load_rules
from maintenance.domain.observations import TelemetryReading
from maintenance.domain.rules import RuleEngine
from maintenance.domain.signals import DeviceRef
from simulators.charger import ChargerCabinet
from simulators.elevator import Elevator
from simulators.fleet import FleetSpec
from simulators.modbus_server import ModbusDeviceServer
from simulators.runner import Simulation, SimulationOptions

pytestmark = pytest.mark.integration

NIGHT = 1_767_236_400.0  # 03:00 UTC: with traffic this low the cars stand still
NOW = datetime.fromtimestamp(NIGHT, UTC)
QUIET = 0.001  # calls per hour multiplier: no car moves during a test
# Fields that stay put while a car stands idle (no measurement noise on them).
STEADY_CAR = (
    "floor",
    "car_position",
    "speed",
    "rated_speed",
    "car_state",
    "mode",
    "direction",
    "fault_code",
    "door_cycle_landing",
    "in_door_zone",
    "mains_ok",
    "run_count",
    "door_cycles",
)
STEADY_CABINET = (
    "serial_number",
    "firmware_version",
    "power_loss",
    "smoke_alarm",
    *(f"relay{n}.enabled" for n in range(1, 9)),
)


@dataclass
class RecordingSink:
    readings: list[tuple[str, datetime, dict[str, FieldValue]]] = field(default_factory=list)
    events: list[tuple[str, EventKind, dict[str, FieldValue]]] = field(default_factory=list)
    infos: dict[str, DeviceInfo] = field(default_factory=dict)

    def reading(
        self,
        device: DeviceInfo,
        ts: datetime,
        fields: Mapping[str, FieldValue],
        *,
        urgent: bool = False,
    ) -> None:
        self.infos[device.device_id] = device
        self.readings.append((device.device_id, ts, dict(fields)))

    def event(
        self, device: DeviceInfo, ts: datetime, kind: EventKind, detail: Mapping[str, FieldValue]
    ) -> None:
        self.events.append((device.device_id, kind, dict(detail)))

    def latest(self, device: str) -> dict[str, FieldValue]:
        """Every field's most recent value, over all readings of the device."""
        merged: dict[str, FieldValue] = {}
        for d, _, fields in self.readings:
            if d == device:
                merged |= fields
        return merged

    def kinds(self, device: str) -> list[EventKind]:
        return [kind for d, kind, _ in self.events if d == device]


async def until(condition: Callable[[], bool], what: str, limit: float = 20.0) -> None:
    try:
        async with asyncio.timeout(limit):
            # The condition is other tasks' state; there is no event to wait on.
            while not condition():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail(f"gave up waiting: {what}")


def model_values(sim: Simulation, device_id: str, keys: tuple[str, ...]) -> dict[str, Value]:
    """What the simulator's model holds, decoded by the catalogue, for ``keys``."""
    device = sim.fleet.devices[device_id]
    assert isinstance(device, Elevator | ChargerCabinet)
    fields = [device.profile.field(k) for k in keys]
    return {f.key: decode_field(f, device.read(f.table, f.address, f.length)) for f in fields}


def tcp_endpoints(
    inventory: dict[str, Any], *, fast: float, slow: float, timeout: float = 1.0
) -> list[EndpointConfig]:
    by_port: dict[int, list[DeviceConfig]] = {}
    for row in inventory["devices"]:
        if row["transport"] != "tcp":
            continue
        by_port.setdefault(row["port"], []).append(
            DeviceConfig(
                name=row["device_id"],
                unit=row["unit"],
                profile=row["profile"],
                tags={"building": row["building"]},
                poll={"fast": fast, "slow": slow},
            )
        )
    return [
        EndpointConfig(
            name=f"port-{port}",
            tcp=TcpConfig(host="127.0.0.1", port=port),
            timeout=timeout,
            devices=devices,
        )
        for port, devices in by_port.items()
    ]


@asynccontextmanager
async def simulation(tmp_path: Path, fleet: FleetSpec) -> AsyncIterator[Simulation]:
    options = SimulationOptions(
        fleet=fleet, base_port=0, control_port=None, work_dir=tmp_path, start_time=NIGHT
    )
    async with Simulation(options) as sim:
        yield sim


@asynccontextmanager
async def acquiring(
    endpoints: list[EndpointConfig],
    sink: RecordingSink,
    metrics: GatewayMetrics,
    *,
    offline_interval: float = 1.0,  # probe offline devices often: tests wait less
) -> AsyncIterator[Acquisition]:
    acquisition = Acquisition(
        endpoints, builtin_catalogue(), sink, metrics, offline_interval=offline_interval
    )
    task = asyncio.create_task(acquisition.run(), name="acquisition")
    try:
        yield acquisition
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


# --- readings -------------------------------------------------------------------------


async def test_elevators_and_a_charger_arrive_with_their_values_and_units(
    tmp_path: Path,
) -> None:
    fleet = FleetSpec(elevators=3, chargers=1, cars_per_port=3, traffic=QUIET)
    async with simulation(tmp_path, fleet) as sim:
        sink, metrics = RecordingSink(), GatewayMetrics()
        endpoints = tcp_endpoints(sim.inventory(), fast=0.2, slow=0.5)
        async with acquiring(endpoints, sink, metrics) as acquisition:
            await until(
                lambda: all(p.polls >= 5 for p in acquisition.pollers.values()),
                "five polls of every device",
            )
        for device_id in sim.fleet.devices:
            steady = STEADY_CAR if device_id.startswith("elev") else STEADY_CABINET
            got = sink.latest(device_id)
            assert {k: got[k] for k in steady} == model_values(sim, device_id, steady)

    car = sink.latest("elev-02")
    assert isinstance(car["floor"], int)
    assert isinstance(car["speed"], float)
    assert isinstance(car["in_door_zone"], bool)
    assert car["stopped_outside_zone_s"] == 0.0  # idle at a landing
    cabinet = sink.latest("charger-01")
    assert isinstance(cabinet["serial_number"], str)
    assert cabinet["serial_number"]
    units = sink.infos["elev-02"].units
    assert (units["speed"], units["car_load"], units["stopped_outside_zone_s"]) == ("m/s", "%", "s")
    assert sink.infos["charger-01"].units["port3.power"] == "W"
    assert sink.infos["charger-01"].device_type == "charger"
    assert sink.infos["elev-02"].tags == {"building": "B2"}
    assert metrics.errors == {}


async def test_cars_sharing_an_rtu_line_each_report_their_own_values(tmp_path: Path) -> None:
    fleet = FleetSpec(rtu_elevators=3, traffic=QUIET)
    async with simulation(tmp_path, fleet) as sim:
        serial = sim.inventory()["serial"]
        devices = [
            DeviceConfig(
                name=f"elev-0{u}",
                unit=u,
                profile="elevator-nice3000",
                poll={"fast": 0.5, "slow": 1.0},
            )
            for u in (1, 2, 3)
        ]
        line = EndpointConfig(
            name="rs485",
            rtu=RtuConfig(port=serial["port"], baudrate=serial["baudrate"]),
            timeout=0.5,
            devices=devices,
        )
        sink, metrics = RecordingSink(), GatewayMetrics()
        async with acquiring([line], sink, metrics) as acquisition:
            await until(
                lambda: all(p.polls >= 4 for p in acquisition.pollers.values()),
                "four polls of every car on the serial line",
            )
        for device_id in ("elev-01", "elev-02", "elev-03"):
            got = sink.latest(device_id)
            assert {k: got[k] for k in STEADY_CAR} == model_values(sim, device_id, STEADY_CAR)
    # The cars differ, so a reply landing with the wrong device would have shown.
    positions = {sink.latest(d)["car_position"] for d in devices_of(sink)}
    assert len(positions) > 1
    assert metrics.errors == {}


def devices_of(sink: RecordingSink) -> set[str]:
    return {d for d, _, _ in sink.readings}


async def test_a_silent_car_on_the_rtu_line_costs_only_its_own_timeouts(tmp_path: Path) -> None:
    fleet = FleetSpec(rtu_elevators=3, traffic=QUIET)
    async with simulation(tmp_path, fleet) as sim:
        serial = sim.inventory()["serial"]
        devices = [
            DeviceConfig(name=f"elev-0{u}", unit=u, profile="elevator-nice3000", poll={"fast": 0.5})
            for u in (1, 2, 3)
        ]
        line = EndpointConfig(
            name="rs485",
            rtu=RtuConfig(port=serial["port"], baudrate=serial["baudrate"]),
            timeout=0.3,
            devices=devices,
        )
        sink, metrics = RecordingSink(), GatewayMetrics()
        async with acquiring([line], sink, metrics) as acquisition:
            pollers = acquisition.pollers
            await until(lambda: len(metrics.device_states) == 3, "all three cars online")
            sim.fleet.devices["elev-02"].inject("comms_loss")
            await until(
                lambda: metrics.device_states["elev-02"] is DeviceState.OFFLINE, "elev-02 offline"
            )
            timeouts = metrics.errors["timeout"]
            polls = {d: p.polls for d, p in pollers.items()}
            await until(
                lambda: all(pollers[d].polls >= polls[d] + 8 for d in ("elev-01", "elev-03")),
                "the other cars keep being polled",
            )
            # Offline, it is only probed (one request, one timeout, per second here) and
            # never polled in full: 4 requests every 0.5 s would have been 8 timeouts/s.
            probes = metrics.errors["timeout"] - timeouts
            assert probes <= 6
    assert sink.kinds("elev-01") == sink.kinds("elev-03") == ["device_online"]


# --- a device that stops answering, or answers with exceptions ---------------------------


async def test_a_silent_car_goes_offline_while_the_others_keep_their_schedule(
    tmp_path: Path,
) -> None:
    fleet = FleetSpec(elevators=4, cars_per_port=4, traffic=QUIET)
    async with simulation(tmp_path, fleet) as sim:
        sink, metrics = RecordingSink(), GatewayMetrics()
        endpoints = tcp_endpoints(sim.inventory(), fast=0.25, slow=60.0, timeout=1.0)
        async with acquiring(endpoints, sink, metrics) as acquisition:
            pollers = acquisition.pollers
            await until(lambda: len(metrics.device_states) == 4, "all four cars online")
            sim.fleet.devices["elev-02"].inject("comms_loss")
            await until(
                lambda: metrics.device_states["elev-02"] is DeviceState.OFFLINE,
                "elev-02 offline",
            )
            # From here on nobody may wait for elev-02's timeouts.
            overruns = metrics.overruns
            seen = len(metrics.lateness_ms)
            polls = {d: p.polls for d, p in pollers.items()}
            await until(
                lambda: all(
                    pollers[d].polls >= polls[d] + 12 for d in ("elev-01", "elev-03", "elev-04")
                ),
                "the other cars keep being polled",
            )
            after = list(metrics.lateness_ms)[seen:]
            assert pollers["elev-02"].polls == polls["elev-02"]
            assert metrics.overruns == overruns
            assert max(after) < 500.0, "a poll waited for the silent car's 1 s timeout"

            sim.fleet.devices["elev-02"].clear("comms_loss")
            await until(
                lambda: metrics.device_states["elev-02"] is DeviceState.ONLINE,
                "elev-02 back online",
            )
    assert sink.kinds("elev-02") == ["device_online", "device_offline", "device_online"]
    offline = next(d for dev, k, d in sink.events if dev == "elev-02" and k == "device_offline")
    port = endpoints[0].tcp.port if endpoints[0].tcp else 0
    assert offline["reason"] == f"no answer from unit 2 at tcp://127.0.0.1:{port} for 3 polls"
    for other in ("elev-01", "elev-03", "elev-04"):
        assert sink.kinds(other) == ["device_online"]
    assert metrics.errors["timeout"] >= 3


async def test_exception_responses_degrade_the_car_with_the_reason(tmp_path: Path) -> None:
    fleet = FleetSpec(elevators=2, cars_per_port=2, traffic=QUIET)
    async with simulation(tmp_path, fleet) as sim:
        sink, metrics = RecordingSink(), GatewayMetrics()
        endpoints = tcp_endpoints(sim.inventory(), fast=0.25, slow=60.0)
        async with acquiring(endpoints, sink, metrics):
            await until(lambda: len(metrics.device_states) == 2, "both cars online")
            sim.fleet.devices["elev-02"].inject("device_failure")
            await until(
                lambda: metrics.device_states["elev-02"] is DeviceState.DEGRADED,
                "elev-02 degraded",
            )
            sim.fleet.devices["elev-02"].clear("device_failure")
            await until(
                lambda: metrics.device_states["elev-02"] is DeviceState.ONLINE,
                "elev-02 online again",
            )
    assert sink.kinds("elev-02") == ["device_online", "device_degraded", "device_online"]
    degraded = next(d for dev, k, d in sink.events if dev == "elev-02" and k == "device_degraded")
    assert str(degraded["reason"]).startswith("Modbus exception 4 (server device failure)")
    assert "from unit 2 at tcp://127.0.0.1:" in str(degraded["reason"])
    assert sink.kinds("elev-01") == ["device_online"]
    assert metrics.errors["exception"] >= 1


async def test_gbt24476_faults_cross_real_modbus_and_raise_their_rules(tmp_path: Path) -> None:
    """The new registers (final limits, earthquake sensor, service modes, floor 0) read
    over Modbus TCP by the gateway raise the rules with their GB/T 24476 codes."""
    fleet = FleetSpec(elevators=2, cars_per_port=2, traffic=QUIET)
    async with simulation(tmp_path, fleet) as sim:
        sink, metrics = RecordingSink(), GatewayMetrics()
        endpoints = tcp_endpoints(sim.inventory(), fast=0.2, slow=0.5)
        async with acquiring(endpoints, sink, metrics) as acquisition:
            await until(lambda: len(metrics.device_states) == 2, "both cars online")
            sim.fleet.devices["elev-01"].inject("overtravel_top")
            for fault in ("floor_lost", "earthquake", "emergency_power"):
                sim.fleet.devices["elev-02"].inject(fault)
            polled = {d: p.polls for d, p in acquisition.pollers.items()}
            await until(
                lambda: all(p.polls >= polled[d] + 3 for d, p in acquisition.pollers.items()),
                "three more polls of each car",
            )
    engine = RuleEngine(
        load_rules(DEFAULT_RULES), lambda: NOW, fault_codes=controller_codes(builtin_catalogue())
    )
    raised = {
        (device, signal.rule, signal.code)
        for device, ts, fields in sink.readings
        for signal in engine.observe(
            TelemetryReading(DeviceRef("demo", "elevator", device), None, ts, fields)
        )
        if signal.kind == "raised"
    }
    assert raised == {
        ("elev-01", "overtravel_top", "09"),
        ("elev-02", "floor_position_lost", "07"),
        ("elev-02", "earthquake_mode", "47"),
        ("elev-02", "emergency_power", "46"),
        ("elev-02", "mains_power_lost", "41"),
    }


# --- the adapter on its own ---------------------------------------------------------------


def car(unit: int) -> Elevator:
    profile = builtin_catalogue()["elevator-nice3000"]
    return Elevator(f"elev-{unit:02d}", profile, random.Random(unit), NIGHT, traffic=QUIET)


def tcp_config(port: int, timeout: float = 0.5) -> EndpointConfig:
    device = DeviceConfig(name="elev-01", unit=1, profile="elevator-nice3000")
    return EndpointConfig(
        name="ep", tcp=TcpConfig(host="127.0.0.1", port=port), timeout=timeout, devices=[device]
    )


async def test_the_adapter_translates_every_failure() -> None:
    port = free_ports(1)[0]
    cars = {1: car(1), 2: car(2)}
    async with (
        ModbusDeviceServer(cars, port=port),
        ModbusEndpoint(tcp_config(port)) as endpoint,
    ):
        words = await endpoint.read(1, Table.HOLDING, 0x1010, 14)
        assert words == cars[1].read(Table.HOLDING, 0x1010, 14)
        with pytest.raises(DeviceException) as exception:
            await endpoint.read(1, Table.HOLDING, 0x5000, 2)  # nothing there
        assert exception.value.code == 2
        assert "illegal data address" in str(exception.value)
        with pytest.raises(DeviceTimeout, match="no answer reading holding 0x1010\\+2 from unit 9"):
            await endpoint.read(9, Table.HOLDING, 0x1010, 2)  # nobody at unit 9
        assert endpoint.quarantined == {9}
        # The silent unit did not take the shared connection down with it.
        assert await endpoint.read(2, Table.HOLDING, 0x1018, 1) == [cars[2].floor]


async def test_the_adapter_reads_bits_as_zero_or_one(tmp_path: Path) -> None:
    fleet = FleetSpec(chargers=1, traffic=QUIET)
    async with simulation(tmp_path, fleet) as sim:
        port = sim.inventory()["devices"][0]["port"]
        async with ModbusEndpoint(tcp_config(port)) as endpoint:
            assert await endpoint.read(1, Table.COIL, 0, 8) == [1] * 8  # relays enabled
            assert await endpoint.read(1, Table.DISCRETE, 0, 5) == [0] * 5  # no alarms


async def test_the_adapter_reconnects_with_backoff_when_the_endpoint_comes_back() -> None:
    port = free_ports(1)[0]
    cars = {1: car(1)}
    fast = Backoff(base=0.05, cap=0.2)
    async with ModbusEndpoint(tcp_config(port), backoff=fast) as endpoint:
        with pytest.raises(EndpointDown, match=f"cannot reach tcp://127.0.0.1:{port} "):
            await endpoint.read(1, Table.HOLDING, 0x1018, 1)
        for _ in range(2):  # up, then down and up again
            async with ModbusDeviceServer(cars, port=port):
                assert await read_eventually(endpoint) == [cars[1].floor]
            with pytest.raises((EndpointDown, DeviceTimeout)):
                await endpoint.read(1, Table.HOLDING, 0x1018, 1)


async def read_eventually(endpoint: ModbusEndpoint) -> list[int]:
    """Read until the endpoint is back; the backoff decides when a reconnect is tried."""
    async with asyncio.timeout(10.0):
        while True:
            try:
                return await endpoint.read(1, Table.HOLDING, 0x1018, 1)
            except EndpointDown:
                await asyncio.sleep(0.02)
