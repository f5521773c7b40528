"""How fast the foundation is: codec decoding, the elevator model, and Modbus reads served.

These set the ceiling the gateway benchmark works under: the simulator shares the
machine with the gateway, so every microsecond spent here is one the gateway lacks.
"""

from __future__ import annotations

import asyncio
import random
import time

from pymodbus.client import AsyncModbusTcpClient

from estatewatch.catalogue import Table, builtin_catalogue, decode_field
from infra.local import free_ports
from simulators.elevator import Elevator
from simulators.modbus_server import ModbusDeviceServer

NAME = "simulator"
MORNING_PEAK = 1_767_254_400.0


def _decode_rate(seconds: float = 1.0) -> float:
    profile = builtin_catalogue()["elevator-nice3000"]
    car = Elevator("elev-01", profile, random.Random(1), MORNING_PEAK)
    words = {f.key: car.read(f.table, f.address, f.length) for f in profile.fields}
    fields = list(profile.fields)
    decoded = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for f in fields:
            decode_field(f, words[f.key])
        decoded += len(fields)
    return decoded / (time.perf_counter() - start)


def _step_rate(seconds: float = 1.0) -> float:
    profile = builtin_catalogue()["elevator-nice3000"]
    cars = [Elevator(f"e{n}", profile, random.Random(n), MORNING_PEAK) for n in range(100)]
    t, steps = MORNING_PEAK, 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        t += 0.2
        for car in cars:
            car.step(t)
            car.read(Table.HOLDING, 0x1010, 14)  # a poll forces the register refresh
        steps += len(cars)
    return steps / (time.perf_counter() - start)


async def _read_rate(seconds: float = 3.0, clients: int = 4) -> float:
    profile = builtin_catalogue()["elevator-nice3000"]
    cars = {u: Elevator(f"e{u}", profile, random.Random(u), MORNING_PEAK) for u in range(1, 11)}
    port = free_ports(1)[0]
    count = 0

    async def poll(client: AsyncModbusTcpClient, deadline: float) -> None:
        nonlocal count
        while time.perf_counter() < deadline:
            for unit in cars:
                reply = await client.read_holding_registers(0x1010, count=14, device_id=unit)
                if reply.isError():
                    raise RuntimeError(f"unit {unit}: {reply}")
                count += 1

    async with ModbusDeviceServer(cars, port=port):
        connections = [
            AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2) for _ in range(clients)
        ]
        for c in connections:
            await c.connect()
        start = time.perf_counter()
        async with asyncio.TaskGroup() as tg:
            for c in connections:
                tg.create_task(poll(c, start + seconds))
        elapsed = time.perf_counter() - start
        for c in connections:
            c.close()
    return count / elapsed


def run() -> dict[str, float]:
    return {
        "simulator.decode_fields_per_s": round(_decode_rate()),
        "simulator.elevator_steps_per_s": round(_step_rate()),
        "simulator.modbus_reads_per_s": round(asyncio.run(_read_rate())),
    }
