"""Building a simulated compound: which devices exist, and on which endpoint each answers.

Pure: this decides ids, ages, unit ids and ports; the runner opens the servers. Elevators
share TCP ports by unit id (like cars behind one TCP-to-RS485 bridge), each charger cabinet
has its own port, and RTU cars share one virtual serial line.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from estatewatch.catalogue import Catalogue
from estatewatch.errors import ConfigError
from simulators.charger import ChargerCabinet
from simulators.device import ModbusDevice, SimulatedDevice
from simulators.elevator import Elevator
from simulators.smoke import SmokeAlarm

# Ages of the demo compound's cars, in years: one past the 15-year line the rules watch.
ELEVATOR_AGES = (18.0, 3.0, 9.0, 14.0, 6.0, 22.0, 11.0, 1.0)
BUILDINGS = ("B1", "B2", "B3")


@dataclass(frozen=True)
class FleetSpec:
    elevators: int = 0
    chargers: int = 0
    smoke: int = 0
    rtu_elevators: int = 0
    cars_per_port: int = 10
    host: str = "127.0.0.1"
    smoke_heartbeat_s: float = 3600.0
    traffic: float = 1.0  # multiplier on the hourly call profile of every car
    seed: int = 1

    def check(self) -> None:
        for name in ("elevators", "chargers", "smoke", "rtu_elevators"):
            if getattr(self, name) < 0:
                raise ConfigError(f"--{name.replace('_', '-')} must not be negative")
        if not 1 <= self.cars_per_port <= 247:
            raise ConfigError("--cars-per-port must be between 1 and 247 (Modbus unit ids)")
        if self.rtu_elevators > 247:
            raise ConfigError("--rtu-elevators: one serial line carries at most 247 units")
        if not (self.elevators or self.chargers or self.smoke or self.rtu_elevators):
            raise ConfigError("nothing to simulate: give --elevators, --chargers or --smoke")
        if self.smoke_heartbeat_s <= 0:
            raise ConfigError("--smoke-heartbeat must be positive")
        if self.traffic <= 0:
            raise ConfigError("--traffic must be positive")

    @property
    def tcp_ports_needed(self) -> int:
        return -(-self.elevators // self.cars_per_port) + self.chargers


@dataclass
class ModbusGroup:
    """Devices answering on one endpoint, by unit id."""

    devices: dict[int, ModbusDevice]
    port: int | None = None  # TCP
    serial: bool = False  # RTU on the simulator's end of the virtual serial pair


@dataclass
class Fleet:
    devices: dict[str, SimulatedDevice] = field(default_factory=dict)
    groups: list[ModbusGroup] = field(default_factory=list)
    smoke: list[SmokeAlarm] = field(default_factory=list)
    buildings: dict[str, str] = field(default_factory=dict)

    def inventory(
        self, host: str, serial_port: str | None, mqtt: tuple[str, int] | None
    ) -> list[dict[str, Any]]:
        """Where each device can be reached: the input a gateway config is made from."""
        rows: list[dict[str, Any]] = []
        for group in self.groups:
            for unit, dev in sorted(group.devices.items()):
                row: dict[str, Any] = {
                    "device_id": dev.device_id,
                    "profile": dev.profile.name,
                    "building": self.buildings[dev.device_id],
                    "unit": unit,
                }
                if group.serial:
                    row |= {"transport": "rtu", "serial_port": serial_port}
                else:
                    row |= {"transport": "tcp", "host": host, "port": group.port}
                rows.append(row)
        for alarm in self.smoke:
            row = {
                "device_id": alarm.device_id,
                "profile": alarm.profile.name,
                "building": self.buildings[alarm.device_id],
                "transport": "mqtt",
                "topic": (alarm.profile.topic or "").format(device_id=alarm.device_id),
            }
            if mqtt:
                row |= {"host": mqtt[0], "port": mqtt[1]}
            rows.append(row)
        return rows


def build_fleet(spec: FleetSpec, catalogue: Catalogue, ports: list[int], now: float) -> Fleet:
    """Create every device; ``ports`` supplies one TCP port per group, in order."""
    spec.check()
    if len(ports) < spec.tcp_ports_needed:
        raise ConfigError(f"need {spec.tcp_ports_needed} TCP ports, got {len(ports)}")
    rng = random.Random(spec.seed)
    fleet = Fleet()
    elevator = catalogue["elevator-nice3000"]
    port_iter = iter(ports)

    def add(dev: SimulatedDevice, index: int) -> None:
        fleet.devices[dev.device_id] = dev
        fleet.buildings[dev.device_id] = BUILDINGS[index % len(BUILDINGS)]

    total_cars = spec.elevators + spec.rtu_elevators
    cars = []
    for n in range(total_cars):
        car = Elevator(
            f"elev-{n + 1:02d}",
            elevator,
            random.Random(rng.random()),
            now,
            age_years=ELEVATOR_AGES[n % len(ELEVATOR_AGES)],
            floors=rng.choice((11, 18, 26, 33)),
            rated_speed=rng.choice((1.0, 1.75, 2.5)),
            traffic=spec.traffic,
        )
        add(car, n)
        cars.append(car)
    tcp_cars, rtu_cars = cars[: spec.elevators], cars[spec.elevators :]
    for first in range(0, len(tcp_cars), spec.cars_per_port):
        chunk = tcp_cars[first : first + spec.cars_per_port]
        units: dict[int, ModbusDevice] = {i + 1: c for i, c in enumerate(chunk)}
        fleet.groups.append(ModbusGroup(units, port=next(port_iter)))
    if rtu_cars:
        fleet.groups.append(ModbusGroup({i + 1: c for i, c in enumerate(rtu_cars)}, serial=True))

    charger = catalogue["charger-8port"]
    for n in range(spec.chargers):
        cabinet = ChargerCabinet(f"charger-{n + 1:02d}", charger, random.Random(rng.random()), now)
        add(cabinet, n)
        fleet.groups.append(ModbusGroup({1: cabinet}, port=next(port_iter)))

    smoke = catalogue["smoke-alarm"]
    for n in range(spec.smoke):
        alarm = SmokeAlarm(
            f"smoke-{n + 1:03d}",
            smoke,
            random.Random(rng.random()),
            now,
            heartbeat_s=spec.smoke_heartbeat_s,
        )
        add(alarm, n)
        fleet.smoke.append(alarm)
    return fleet
