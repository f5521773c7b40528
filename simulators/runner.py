"""The simulator's composition root: build the fleet, open its servers, drive its clock.

``Simulation`` is an async context manager so tests can run a compound in-process, poke
its devices and read its inventory; ``estatewatch simulate`` wraps the same class.
Every tick the clock is read once, every device is stepped to that simulated time, due
scenario actions are applied and smoke-alarm messages handed to the MQTT publisher.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from estatewatch.catalogue import builtin_catalogue
from estatewatch.errors import ConfigError
from estatewatch.ports import free_ports
from simulators.clock import SimClock
from simulators.control import ControlHandler, serve_control
from simulators.fleet import Fleet, FleetSpec, build_fleet
from simulators.modbus_server import ModbusDeviceServer
from simulators.scenario import Scenario, ScenarioPlayer, resolve
from simulators.serial_pair import SerialPair
from simulators.smoke_publisher import SmokePublisher

log = logging.getLogger(__name__)
TICK = 0.2  # wall seconds between model steps


@dataclass(frozen=True)
class SimulationOptions:
    fleet: FleetSpec
    base_port: int = 0  # 0: free ports picked at start
    time_factor: float | None = None  # None: the scenario's, else 1
    scenario: Scenario | None = None
    scenario_source: str = "scenario"
    mqtt: tuple[str, int] | None = None
    control_port: int | None = None  # None: no control port; 0: a free one
    work_dir: Path = Path("var/simulator")
    baudrate: int = 19200
    start_time: float | None = None  # simulated Unix time at start; None: now


class Simulation:
    def __init__(self, options: SimulationOptions) -> None:
        self.options = options
        factor = options.time_factor or (options.scenario.time_factor if options.scenario else 1.0)
        self.clock = SimClock(factor, start=options.start_time)
        self.fleet: Fleet = Fleet()
        self.serial: SerialPair | None = None
        self.control_address: tuple[str, int] | None = None
        self._player: ScenarioPlayer | None = None
        self._publisher: SmokePublisher | None = None
        self._stack = AsyncExitStack()
        self._started_at = self.clock.now()
        self.ticks = 0

    # --- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        opts = self.options
        spec = opts.fleet
        spec.check()
        if spec.smoke and opts.mqtt is None:
            raise ConfigError("smoke alarms need a broker: give --mqtt HOST:PORT")
        n_ports = spec.tcp_ports_needed
        ports = (
            free_ports(n_ports)
            if opts.base_port == 0
            else list(range(opts.base_port, opts.base_port + n_ports))
        )
        self.fleet = build_fleet(spec, builtin_catalogue(), ports, self.clock.now())
        if opts.scenario is not None:
            faults = {d: list(dev.faults) for d, dev in self.fleet.devices.items()}
            planned = resolve(opts.scenario, faults, opts.scenario_source)
            self._player = ScenarioPlayer(planned, self._started_at)
        try:
            await self._open()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def _open(self) -> None:
        opts, stack = self.options, self._stack
        for group in self.fleet.groups:
            if group.serial:
                self.serial = await stack.enter_async_context(SerialPair(opts.work_dir))
                server = ModbusDeviceServer(
                    group.devices, serial_port=str(self.serial.device_end), baudrate=opts.baudrate
                )
            else:
                assert group.port is not None
                server = ModbusDeviceServer(group.devices, host=opts.fleet.host, port=group.port)
            await stack.enter_async_context(server)
        if self.fleet.smoke and opts.mqtt is not None:
            schema_profile = self.fleet.smoke[0].profile
            self._publisher = await stack.enter_async_context(
                SmokePublisher(opts.mqtt[0], opts.mqtt[1], schema_profile)
            )
        if opts.control_port is not None:
            port = opts.control_port or free_ports(1)[0]
            handler = ControlHandler(self.fleet.devices, self.status)
            control = await serve_control(handler, "127.0.0.1", port)
            stack.push_async_callback(control.wait_closed)
            stack.callback(control.close)
            self.control_address = ("127.0.0.1", port)
        tasks = await stack.enter_async_context(asyncio.TaskGroup())
        stopping = asyncio.Event()
        stack.callback(stopping.set)  # runs first on exit, so the tick loop ends
        tasks.create_task(self._tick_loop(stopping), name="simulator-ticks")

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()

    # --- the loop ----------------------------------------------------------------------

    async def _tick_loop(self, stopping: asyncio.Event) -> None:
        next_tick = time.monotonic()
        while not stopping.is_set():
            await self.tick()
            # Fixed schedule: a slow tick shortens the next wait instead of adding up.
            next_tick += TICK
            delay = next_tick - time.monotonic()
            if delay < 0:
                next_tick = time.monotonic()
                delay = 0
            with suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), delay)

    async def tick(self) -> None:
        now = self.clock.now()
        if self._player is not None:
            for action in self._player.due(now):
                device = self.fleet.devices[action.device_id]
                if action.inject:
                    device.inject(action.fault, action.params)
                else:
                    device.clear(action.fault)
                verb = "inject" if action.inject else "clear"
                log.info("scenario: %s %s on %s", verb, action.fault, action.device_id)
        for device in self.fleet.devices.values():
            device.step(now)
        if self._publisher is not None:
            for alarm in self.fleet.smoke:
                for message in alarm.drain():
                    await self._publisher.publish(message)
        self.ticks += 1

    # --- what it tells ------------------------------------------------------------------

    @property
    def simulated_seconds(self) -> float:
        return self.clock.now() - self._started_at

    @property
    def scenario_done(self) -> bool:
        scenario = self.options.scenario
        if scenario is None or self._player is None:
            return False
        if scenario.duration is not None:
            return self.simulated_seconds >= scenario.duration
        return self._player.finished

    def inventory(self) -> dict[str, Any]:
        host = self.options.fleet.host
        serial = str(self.serial.gateway_end) if self.serial else None
        data: dict[str, Any] = {
            "devices": self.fleet.inventory(host, serial, self.options.mqtt),
            "time_factor": self.clock.factor,
        }
        if self.serial:
            data["serial"] = {"port": serial, "baudrate": self.options.baudrate, "parity": "N"}
        if self.control_address:
            data["control"] = {"host": self.control_address[0], "port": self.control_address[1]}
        return data

    def write_inventory(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.inventory(), indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)

    def status(self) -> dict[str, Any]:
        return {
            "sim_time": self.clock.now(),
            "time_factor": self.clock.factor,
            "devices": {
                d: {"active": sorted(dev.active_faults), "faults": sorted(dev.faults)}
                for d, dev in self.fleet.devices.items()
            },
        }
