"""The one thin adapter between simulated devices and pymodbus' server.

pymodbus 3.16 is midway to v4 (the old datastore classes are deprecated), so every
pymodbus server call lives here. Each device is registered under its unit id with
register blocks spanning its profile's fields; on every request an ``action`` hook copies
the model's current values into the block, so the model is only encoded when polled.

Requests to an unknown unit id, or to a device with a comms-loss fault, get no answer at
all, as on a real RS485 line; a device with an exception fault answers with that
Modbus exception code.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
from pymodbus.simulator.simutils import SimUtils

from estatewatch.catalogue import Table
from estatewatch.errors import DeviceError
from simulators.device import ModbusDevice

log = logging.getLogger(__name__)

# Fields closer than this are served as one block, so a gateway may bridge the gap in one
# read; unmapped addresses beyond it answer ILLEGAL ADDRESS like a real controller.
BLOCK_GAP = 32

_READ_CODES = {1: Table.COIL, 2: Table.DISCRETE, 3: Table.HOLDING, 4: Table.INPUT}
_WRITE_CODES = {5: Table.COIL, 15: Table.COIL, 6: Table.HOLDING, 16: Table.HOLDING}
_TUPLE_ORDER = (Table.COIL, Table.DISCRETE, Table.HOLDING, Table.INPUT)


def _spans(device: ModbusDevice, table: Table) -> list[tuple[int, int]]:
    """Address ranges [start, end) that cover the table's fields, merged across small gaps."""
    fields = sorted((f.address, f.end) for f in device.profile.fields if f.table is table)
    spans: list[list[int]] = []
    for start, end in fields:
        if spans and start - spans[-1][1] <= BLOCK_GAP:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    return [(s, e) for s, e in spans]


def _blocks(spans: list[tuple[int, int]], table: Table) -> list[SimData]:
    if table.is_bit:
        # pymodbus wants a block in every table of a split-table device; the action
        # refuses addresses outside the real spans, so a placeholder is harmless.
        spans = spans or [(0, 1)]
        return [SimData(s, count=e - s, values=False, datatype=DataType.BITS) for s, e in spans]
    if not spans:
        return [SimData(0, count=1, datatype=DataType.INVALID)]
    return [SimData(s, count=e - s, values=0, datatype=DataType.REGISTERS) for s, e in spans]


def _sim_device(unit: int, device: ModbusDevice) -> SimDevice:
    spans = {t: _spans(device, t) for t in _TUPLE_ORDER}

    def mapped(table: Table, address: int, count: int) -> bool:
        return any(s <= address and address + count <= e for s, e in spans[table])

    async def action(
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if not device.responding:
            raise NoSuchIdException(f"{device.device_id} is not answering")
        if device.exception_code is not None:
            return ExcCodes(device.exception_code)
        if set_values is not None:
            table = _WRITE_CODES.get(function_code)
            if table is None or not hasattr(device, "write"):
                return ExcCodes.ILLEGAL_FUNCTION
            if not mapped(table, address, len(set_values)):
                return ExcCodes.ILLEGAL_ADDRESS
            device.write(table, address, [int(v) for v in set_values])
            return None
        table = _READ_CODES[function_code]
        if table.is_bit:
            # For bit tables pymodbus passes the count in 16-bit words, not bits.
            if not mapped(table, address, 1):
                return ExcCodes.ILLEGAL_ADDRESS
            first_bit = (address // 16) * 16
            bits = device.read(table, first_bit, count * 16)
            offset = address // 16 - start_address
            registers[offset : offset + count] = SimUtils.bitsToRegisters([b != 0 for b in bits])
        else:
            if not mapped(table, address, count):
                return ExcCodes.ILLEGAL_ADDRESS
            offset = address - start_address
            registers[offset : offset + count] = device.read(table, address, count)
        return None

    blocks: Any = tuple(_blocks(spans[t], t) for t in _TUPLE_ORDER)
    return SimDevice(unit, simdata=blocks, action=action)


async def _silent(*_args: object) -> ExcCodes | None:
    raise NoSuchIdException("no device at this unit id")


def build_context(devices: Mapping[int, ModbusDevice]) -> list[SimDevice]:
    if not devices:
        raise DeviceError("a Modbus server needs at least one device")
    bad = [u for u in devices if not 1 <= u <= 247]
    if bad:
        raise DeviceError(f"Modbus unit ids must be 1-247, not {bad}")
    context = [_sim_device(unit, dev) for unit, dev in sorted(devices.items())]
    # Unit id 0 is pymodbus' catch-all: make unknown ids silent, as on a real bus.
    # It needs a block over the whole address space, or pymodbus answers ILLEGAL ADDRESS
    # before the action can stay silent.
    everything = SimData(0, count=0x10000, values=0, datatype=DataType.REGISTERS)
    context.append(SimDevice(0, simdata=[everything], action=_silent))
    return context


class ModbusDeviceServer:
    """Serves simulated devices over Modbus TCP or RTU until the context exits.

    TCP: ``ModbusDeviceServer(devices, host=..., port=...)``; RTU: pass ``serial_port``
    (one end of a virtual serial pair) and the line settings.
    """

    def __init__(
        self,
        devices: Mapping[int, ModbusDevice],
        *,
        host: str = "127.0.0.1",
        port: int = 5020,
        serial_port: str | None = None,
        baudrate: int = 9600,
        parity: str = "N",
    ) -> None:
        self.devices = dict(devices)
        self.host = host
        self.port = port
        self.serial_port = serial_port
        self._baudrate = baudrate
        self._parity = parity
        self._server: ModbusTcpServer | ModbusSerialServer | None = None

    @property
    def endpoint(self) -> str:
        if self.serial_port:
            return f"rtu:{self.serial_port}@{self._baudrate},{self._parity}"
        return f"tcp://{self.host}:{self.port}"

    async def __aenter__(self) -> Self:
        context = build_context(self.devices)
        if self.serial_port:
            self._server = ModbusSerialServer(
                context,
                framer=FramerType.RTU,
                port=self.serial_port,
                baudrate=self._baudrate,
                parity=self._parity,
                ignore_missing_devices=True,
            )
        else:
            self._server = ModbusTcpServer(
                context, address=(self.host, self.port), ignore_missing_devices=True
            )
        try:
            await self._server.serve_forever(background=True)
        except (OSError, RuntimeError) as exc:
            raise DeviceError(f"cannot serve Modbus on {self.endpoint}: {exc}") from exc
        log.info("serving %d device(s) on %s", len(self.devices), self.endpoint)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None
