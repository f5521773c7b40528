"""The one thin adapter between the gateway and pymodbus' async clients.

Every pymodbus call of the gateway lives here; callers see registers as ``list[int]``
(bits as 0/1) and the project's errors, never a pymodbus exception::

    DeviceError (estatewatch.errors)
    +-- DeviceTimeout     no answer within the endpoint's timeout
    +-- DeviceException   the device answered with a Modbus exception response (``code``)
    +-- DeviceGarbage     an answer, but not the one asked for (wrong count, undecodable)
    +-- EndpointDown      the endpoint's connection is down; it is retried with backoff

Connections. One pymodbus connection serves all devices of an endpoint. pymodbus 3.16
keeps one request outstanding per connection (one response slot behind a lock), and its
server, like many TCP-to-RS485 bridges, handles one frame at a time, so requests on a
connection are sequential on TCP as on a serial line. A device's poll claims the
connection for its few requests (``claim``), which also gives each poll a consistent
snapshot and an honest measure of when it really started.

A dead device. On a serial line it costs the line its own timeout, nothing more can be
done. On TCP a unit that times out is moved to a second, "quarantine" connection to the
same endpoint until it answers again, so the devices that do answer never queue behind
its timeouts. pymodbus' own retries and its habit of closing the connection after a few
unanswered requests are switched off: the poller's schedule decides when to ask again,
and one silent device must not cut the others off.

Reconnects are lazy: a claim on a connection that is down tries to reconnect only when
its backoff (exponential, with jitter) has elapsed, and otherwise fails at once with
``EndpointDown``, so no poll ever waits on a dead endpoint.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from estatewatch.catalogue import Table
from estatewatch.errors import DeviceError
from gateway.config import EndpointConfig

log = logging.getLogger(__name__)


class _ReportedHere(logging.Filter):
    """pymodbus logs, at WARNING or ERROR, conditions this adapter turns into errors and
    reports in an operator's words (a timeout, a reply arriving after its timeout); its
    lines are kept, but only as detail. Its "Failed to connect" line stays: it carries
    the reason (refused, no route, unknown host) that pymodbus does not return."""

    _PREFIXES = (
        "No response received",
        "ERROR: received pdu without a corresponding request",
        "ERROR: request ask for",  # a reply that came after its request timed out
    )

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING and str(record.msg).startswith(self._PREFIXES):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


logging.getLogger("pymodbus.logging").addFilter(_ReportedHere())

PROMOTE_AFTER = 3  # answers in a row that bring a quarantined unit back
STALE_AFTER = 10  # unanswered requests in a row after which a TCP connection is renewed
_NEVER_CLOSE = 1 << 30  # pymodbus: unanswered requests before it drops the connection

EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


class DeviceTimeout(DeviceError):  # noqa: N818 - named for what happened
    """The device did not answer within the endpoint's timeout."""


class DeviceException(DeviceError):  # noqa: N818 - named for what happened
    """The device answered with a Modbus exception response."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code

    @property
    def no_answer(self) -> bool:
        """A TCP-to-serial bridge answering for a device that did not answer it."""
        return self.code in (10, 11)


class DeviceGarbage(DeviceError):  # noqa: N818 - named for what happened
    """The device answered, but not with the reply that was asked for."""


class EndpointDown(DeviceError):  # noqa: N818 - named for what happened
    """The endpoint's connection is down (refused, closed or not yet re-established)."""

    def __init__(self, endpoint: str, reason: str, detail: str = "") -> None:
        super().__init__(f"cannot reach {endpoint} ({reason}){detail}")
        self.endpoint = endpoint
        self.reason = reason


@dataclass(frozen=True)
class Backoff:
    """Exponential reconnect delays with "equal jitter": half fixed, half random, so
    gateways that lost a bridge together do not all knock again at the same instant."""

    base: float = 0.5
    cap: float = 30.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        ceiling = min(self.cap, self.base * 2.0 ** min(attempt, 30))
        return ceiling / 2 + rng.uniform(0.0, ceiling / 2)


class _Client(Protocol):
    """The part of a pymodbus async client the adapter uses."""

    @property
    def connected(self) -> bool: ...

    async def connect(self) -> bool: ...

    def close(self) -> None: ...

    def set_max_no_responses(self, max_count: int) -> None: ...


ClientFactory = Callable[[EndpointConfig], _Client]


def pymodbus_client(config: EndpointConfig) -> _Client:
    """A pymodbus client for the endpoint, with its own retries and reconnects off."""
    client: Any
    if config.tcp is not None:
        client = AsyncModbusTcpClient(
            config.tcp.host,
            port=config.tcp.port,
            timeout=config.timeout,
            retries=0,
            reconnect_delay=0,
        )
    else:
        assert config.rtu is not None  # EndpointConfig guarantees exactly one transport
        rtu = config.rtu
        client = AsyncModbusSerialClient(
            rtu.port,
            framer=FramerType.RTU,
            baudrate=rtu.baudrate,
            parity=rtu.parity,
            stopbits=rtu.stopbits,
            bytesize=rtu.bytesize,
            timeout=config.timeout,
            retries=0,
            reconnect_delay=0,
        )
    client.set_max_no_responses(_NEVER_CLOSE)
    return client  # type: ignore[no-any-return]


def endpoint_label(config: EndpointConfig) -> str:
    if config.tcp is not None:
        return f"tcp://{config.tcp.host}:{config.tcp.port}"
    assert config.rtu is not None
    return f"rtu:{config.rtu.port}@{config.rtu.baudrate},{config.rtu.parity}"


class _Connection:
    """One pymodbus client, its lock, and when it may next try to reconnect."""

    def __init__(
        self, endpoint: ModbusEndpoint, role: str, factory: ClientFactory, rng: random.Random
    ) -> None:
        self.endpoint = endpoint
        self.role = role
        self._factory = factory
        self._rng = rng
        self._client: _Client | None = None
        self.lock = asyncio.Lock()  # wakes waiters in FIFO order: polls keep their turn
        self._attempts = 0  # failed connects since the last success
        self._retry_at = 0.0  # monotonic time before which no reconnect is tried
        self.reason = "not connected yet"
        self.silent = 0  # unanswered requests in a row

    @property
    def client(self) -> _Client | None:
        return self._client if self._client is not None and self._client.connected else None

    async def ensure(self) -> Any:
        """The connected client, reconnecting if the backoff allows; call under the lock."""
        client = self.client
        if client is not None:
            return client
        label = self.endpoint.label
        if self._client is not None:  # it was connected: the peer or pymodbus closed it
            self.lost("the connection was closed")
        if time.monotonic() < self._retry_at:
            raise EndpointDown(label, self.reason, "; reconnecting")
        fresh = self._factory(self.endpoint.config)
        try:
            ok = await fresh.connect()
        except (ModbusException, OSError) as exc:
            ok, self.reason = False, str(exc) or type(exc).__name__
        else:
            if not ok:
                # pymodbus reports a refused or timed-out connect only as False (and
                # logs why).
                self.reason = "connect failed"
        if not ok:
            fresh.close()
            delay = self.endpoint.backoff.delay(self._attempts, self._rng)
            self._attempts += 1
            self._retry_at = time.monotonic() + delay
            if self._attempts == 1:
                log.warning("%s: %s connection failed; retrying with backoff", label, self.role)
            raise EndpointDown(label, self.reason, f"; next attempt in {delay:.1f} s")
        log.info("%s: %s connection up", label, self.role)
        self._client, self._attempts, self.silent = fresh, 0, 0
        return fresh

    def lost(self, reason: str) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
            log.warning("%s: %s connection lost: %s", self.endpoint.label, self.role, reason)
        self.reason = reason
        # The first reconnect is tried after a short, jittered pause, not in a tight loop.
        self._retry_at = time.monotonic() + self.endpoint.backoff.delay(0, self._rng)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


_CALLS = {
    Table.HOLDING: "read_holding_registers",
    Table.INPUT: "read_input_registers",
    Table.COIL: "read_coils",
    Table.DISCRETE: "read_discrete_inputs",
}


class Channel:
    """A claimed connection to one unit: ``await channel.read(table, address, count)``."""

    def __init__(self, endpoint: ModbusEndpoint, connection: _Connection, unit: int) -> None:
        self._endpoint = endpoint
        self._connection = connection
        self.unit = unit

    async def read(self, table: Table, address: int, count: int) -> list[int]:
        return await self._endpoint._read(self._connection, self.unit, table, address, count)


class ModbusEndpoint:
    """``async with ModbusEndpoint(config) as ep``: the devices of one TCP or RTU endpoint."""

    def __init__(
        self,
        config: EndpointConfig,
        *,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
        client_factory: ClientFactory = pymodbus_client,
    ) -> None:
        self.config = config
        self.label = endpoint_label(config)
        self.backoff = backoff or Backoff()
        self.serial = config.rtu is not None
        rng = rng or random.Random()
        self._primary = _Connection(self, "primary", client_factory, rng)
        self._quarantine = (
            None if self.serial else _Connection(self, "quarantine", client_factory, rng)
        )
        self._suspects: dict[int, int] = {}  # unit -> answers in a row while quarantined

    async def __aenter__(self) -> Self:
        async with self._primary.lock:
            # A dead endpoint must not stop the gateway: ensure() logged it, polls fail
            # fast with EndpointDown and the connect is retried with backoff.
            with suppress(EndpointDown):
                await self._primary.ensure()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._primary.close()
        if self._quarantine is not None:
            self._quarantine.close()

    @property
    def quarantined(self) -> frozenset[int]:
        return frozenset(self._suspects)

    def _connection_for(self, unit: int) -> _Connection:
        if self._quarantine is not None and unit in self._suspects:
            return self._quarantine
        return self._primary

    @asynccontextmanager
    async def claim(self, unit: int) -> AsyncIterator[Channel]:
        """Hold the unit's connection for a few requests (one poll of one device)."""
        connection = self._connection_for(unit)
        async with connection.lock:
            yield Channel(self, connection, unit)

    async def read(self, unit: int, table: Table, address: int, count: int) -> list[int]:
        """One read; values are registers, or 0/1 per bit for coils and discrete inputs."""
        async with self.claim(unit) as channel:
            return await channel.read(table, address, count)

    async def _read(
        self, connection: _Connection, unit: int, table: Table, address: int, count: int
    ) -> list[int]:
        client = await connection.ensure()
        what = f"{table} {address:#06x}+{count} from unit {unit} at {self.label}"
        call: Callable[..., Awaitable[Any]] = getattr(client, _CALLS[table])
        try:
            reply = await call(address, count=count, device_id=unit)
        except ModbusIOException as exc:
            if connection.client is None:
                connection.lost(str(exc))
                raise EndpointDown(self.label, "connection lost") from exc
            if "no response" not in str(exc).lower():
                raise DeviceGarbage(f"bad reply reading {what}: {exc}") from exc
            self._unanswered(connection, unit)
            raise DeviceTimeout(f"no answer reading {what}") from exc
        except ConnectionException as exc:
            connection.lost(str(exc))
            raise EndpointDown(self.label, "connection lost") from exc
        except ModbusException as exc:
            raise DeviceGarbage(f"bad reply reading {what}: {exc}") from exc
        connection.silent = 0
        if reply.isError():
            code = int(getattr(reply, "exception_code", 0) or 0)
            if not code:
                raise DeviceGarbage(f"unrecognised error reply reading {what}: {reply}")
            name = EXCEPTION_NAMES.get(code, "unknown exception")
            error = DeviceException(code, f"Modbus exception {code} ({name}) reading {what}")
            if not error.no_answer:
                self._answered(unit)
            raise error
        values = _values(reply, table, count)
        if values is None:
            raise DeviceGarbage(f"reply of the wrong size reading {what}: {reply}")
        self._answered(unit)
        return values

    def _answered(self, unit: int) -> None:
        if unit in self._suspects:
            self._suspects[unit] += 1
            if self._suspects[unit] >= PROMOTE_AFTER:
                del self._suspects[unit]
                log.info(
                    "%s: unit %d answers again; back on the shared connection", self.label, unit
                )

    def _unanswered(self, connection: _Connection, unit: int) -> None:
        connection.silent += 1
        if self._quarantine is not None:
            if unit not in self._suspects:
                log.info(
                    "%s: unit %d does not answer; asking it on a separate connection so"
                    " the others do not wait for it",
                    self.label,
                    unit,
                )
            self._suspects[unit] = 0
            # A TCP session nobody answers on may be stale (a bridge that lost us): renew it.
            if connection.silent >= STALE_AFTER:
                connection.lost(f"{connection.silent} requests in a row got no answer")


def _values(reply: Any, table: Table, count: int) -> list[int] | None:
    if table.is_bit:
        bits = reply.bits
        # Bits arrive padded to whole bytes: keep the ones asked for.
        return [1 if b else 0 for b in bits[:count]] if len(bits) >= count else None
    registers = list(reply.registers)
    return registers if len(registers) == count else None
