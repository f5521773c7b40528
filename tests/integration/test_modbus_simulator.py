"""Simulated devices seen through a real pymodbus client, over TCP and over RTU."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusIOException

from estatewatch.catalogue import Profile, Table, Value, builtin_catalogue, decode_field
from simulators.control import send_control
from simulators.fleet import FleetSpec
from simulators.runner import Simulation, SimulationOptions

pytestmark = pytest.mark.integration

MORNING_PEAK = 1_767_254_400.0  # 08:00 UTC: the busiest hour, so cars move at once
STATUS_BLOCK = (0x1010, 14)  # speed .. system status, one read
MONITOR_BLOCK = (0x2000, 9)
FAULT_BLOCK = (0x8000, 1)


def decode_block(profile: Profile, start: int, words: list[int]) -> dict[str, Value]:
    out: dict[str, Value] = {}
    for f in profile.fields:
        if f.table is Table.HOLDING and start <= f.address and f.end <= start + len(words):
            out[f.key] = decode_field(f, words[f.address - start : f.end - start])
    return out


async def read_car(
    client: AsyncModbusTcpClient | AsyncModbusSerialClient, unit: int
) -> dict[str, Value]:
    profile = builtin_catalogue()["elevator-nice3000"]
    values: dict[str, Value] = {}
    for start, count in (STATUS_BLOCK, MONITOR_BLOCK, FAULT_BLOCK):
        reply = await client.read_holding_registers(start, count=count, device_id=unit)
        assert not reply.isError(), reply
        values |= decode_block(profile, start, reply.registers)
    return values


@pytest.fixture
async def simulation(tmp_path: Path) -> AsyncIterator[Simulation]:
    options = SimulationOptions(
        # Busy cars, slowly accelerated: a poll every 0.25 s sees each run in several steps.
        fleet=FleetSpec(elevators=3, rtu_elevators=2, cars_per_port=2, traffic=20.0),
        time_factor=4.0,
        start_time=MORNING_PEAK,
        control_port=0,
        work_dir=tmp_path,
    )
    async with Simulation(options) as sim:
        yield sim


def tcp_endpoint(sim: Simulation, device_id: str) -> tuple[int, int]:
    row = next(r for r in sim.inventory()["devices"] if r["device_id"] == device_id)
    return row["port"], row["unit"]


async def test_a_client_sees_simulated_cars_move_over_tcp(simulation: Simulation) -> None:
    port, unit = tcp_endpoint(simulation, "elev-02")
    assert unit == 2, "two cars share the first port, told apart by unit id"
    async with AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2) as client:
        seen = []
        for _ in range(40):
            seen.append(await read_car(client, unit))
            await asyncio.sleep(0.25)
    positions = {r["car_position"] for r in seen}
    assert len(positions) > 3, f"the car should move at the morning peak, saw {positions}"
    assert any(float(r["speed"]) > 0 for r in seen)
    assert all(r["mode"] == 7 for r in seen), "automatic mode throughout"


async def test_injected_fault_appears_in_the_registers(simulation: Simulation) -> None:
    port, unit = tcp_endpoint(simulation, "elev-03")
    control = simulation.control_address
    assert control is not None
    reply = await send_control(
        *control, {"cmd": "inject", "device": "elev-03", "fault": "safety_circuit"}
    )
    assert reply == {"ok": True}
    await asyncio.sleep(0.5)
    async with AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2) as client:
        car = await read_car(client, unit)
        assert (car["fault_code"], car["mode"], car["speed"]) == (41, 5, 0)
        # Another car on the same server is unaffected.
        other_port, other_unit = tcp_endpoint(simulation, "elev-01")
        assert other_port != port or other_unit != unit
    reply = await send_control(*control, {"cmd": "inject", "device": "elev-03", "fault": "nope"})
    assert reply["ok"] is False
    assert "unknown fault 'nope'" in reply["error"]


async def test_comms_loss_silences_only_that_car(simulation: Simulation) -> None:
    simulation.fleet.devices["elev-01"].inject("comms_loss")
    port, _ = tcp_endpoint(simulation, "elev-01")
    async with AsyncModbusTcpClient("127.0.0.1", port=port, timeout=0.5, retries=0) as client:
        with pytest.raises(ModbusIOException, match="No response"):
            await client.read_holding_registers(0x1010, count=2, device_id=1)
        alive = await client.read_holding_registers(0x1010, count=2, device_id=2)
        assert not alive.isError()
        unmapped = await client.read_holding_registers(0x5000, count=2, device_id=2)
        assert unmapped.isError()
        assert unmapped.exception_code == 2


async def test_several_cars_share_one_rtu_line(simulation: Simulation) -> None:
    assert simulation.serial is not None
    client = AsyncModbusSerialClient(
        str(simulation.serial.gateway_end), framer=FramerType.RTU, baudrate=19200, timeout=2
    )
    await client.connect()
    try:
        first = await read_car(client, 1)
        second = await read_car(client, 2)
    finally:
        client.close()
    rtu_ids = [r["device_id"] for r in simulation.inventory()["devices"] if r["transport"] == "rtu"]
    assert rtu_ids == ["elev-04", "elev-05"]
    for car in (first, second):
        assert 1 <= int(car["floor"]) <= 33
        assert car["mode"] == 7
