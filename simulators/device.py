"""What every simulated device offers the runner, the servers and the scenario player.

Models advance on simulated time (``step``), accept faults at run time (``inject`` /
``clear``) and expose their current state either as Modbus registers (``read``) or as
vendor messages (``drain``). They never do I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from estatewatch.catalogue import Profile, Table
from estatewatch.errors import ConfigError

FaultParams = Mapping[str, float]


class SimulatedDevice(Protocol):
    device_id: str
    profile: Profile

    @property
    def faults(self) -> Mapping[str, str]:
        """Fault name -> one-line description of what injecting it does."""
        ...

    @property
    def active_faults(self) -> frozenset[str]: ...

    def step(self, now: float) -> None:
        """Advance the model to simulated Unix time ``now`` (seconds)."""
        ...

    def inject(self, fault: str, params: FaultParams | None = None) -> None: ...

    def clear(self, fault: str) -> None: ...


class ModbusDevice(SimulatedDevice, Protocol):
    @property
    def responding(self) -> bool:
        """False while a comms-loss fault is active: requests get no answer at all."""
        ...

    @property
    def exception_code(self) -> int | None:
        """A Modbus exception code every request is answered with, or None."""
        ...

    def read(self, table: Table, address: int, count: int) -> list[int]:
        """Current register (or bit) values, brought up to date with the model."""
        ...


@dataclass
class FaultBook:
    """Active faults and their parameters, with the checks every model needs."""

    owner: str
    known: Mapping[str, str]
    active: dict[str, dict[str, float]] = field(default_factory=dict)

    def inject(self, fault: str, params: FaultParams | None) -> dict[str, float]:
        if fault not in self.known:
            raise ConfigError(
                f"{self.owner}: unknown fault {fault!r} (known: {', '.join(sorted(self.known))})"
            )
        self.active[fault] = dict(params or {})
        return self.active[fault]

    def clear(self, fault: str) -> None:
        if fault not in self.known:
            raise ConfigError(
                f"{self.owner}: unknown fault {fault!r} (known: {', '.join(sorted(self.known))})"
            )
        self.active.pop(fault, None)

    def __contains__(self, fault: object) -> bool:
        return fault in self.active

    def param(self, fault: str, name: str, default: float) -> float:
        return self.active.get(fault, {}).get(name, default)


class MessageDevice(SimulatedDevice, Protocol):
    def drain(self) -> list[dict[str, int | float | bool | str]]:
        """Messages produced since the last call, oldest first, with normalised field names
        (the profile's payload names); the publisher turns them into vendor JSON."""
        ...


class BookedFaults:
    """The fault half of ``ModbusDevice`` for models that keep their faults in a FaultBook.

    Every Modbus model shares the transport faults: ``comms_loss`` (no answer at all) and
    ``device_failure`` (Modbus exception 4 to every request).
    """

    _book: FaultBook

    @property
    def faults(self) -> Mapping[str, str]:
        return self._book.known

    @property
    def active_faults(self) -> frozenset[str]:
        return frozenset(self._book.active)

    @property
    def responding(self) -> bool:
        return "comms_loss" not in self._book

    @property
    def exception_code(self) -> int | None:
        return 4 if "device_failure" in self._book else None
