"""What a charging cabinet shows on the wire: its state as the profile's field values.

Measurement noise (a fraction of a volt, 0.4 % of power) is added here, from a random
stream of its own so that how often a gateway reads never changes which bikes arrive,
and the enum labels the model speaks in become the profile's codes.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from estatewatch.catalogue import Profile, RegisterImage, Table, Value

if TYPE_CHECKING:
    from simulators.charger import ChargerCabinet

FIRMWARE = 312
MAINS_RANGE = (220.0, 235.0)  # V a healthy supply reads, noise included
_MAINS_FAULTS = frozenset({"power_loss", "over_voltage", "under_voltage"})


def _codes(profile: Profile, key: str) -> dict[str, int]:
    enum = profile.field(key).enum or {}
    return {label: code for code, label in enum.items()}


class CabinetRegisters:
    """The register image of one cabinet, rewritten from the model on demand."""

    def __init__(self, profile: Profile, noise: random.Random) -> None:
        self._image = RegisterImage()
        self._fields = {f.key: f for f in profile.fields}
        first = f"port{profile.instances('port')[0]}."
        self._codes = {n: _codes(profile, first + n) for n in ("state", "stop_reason", "fault")}
        self._noise = noise

    def read(self, table: Table, address: int, count: int) -> list[int]:
        return self._image.read(table, address, count)

    def update(self, cabinet: ChargerCabinet) -> None:
        noise, now, faults = self._noise, cabinet.now, cabinet.active_faults
        mains = cabinet.mains(now)
        if mains > 0:
            mains += noise.gauss(0.0, 0.6)
        if not _MAINS_FAULTS & faults:
            mains = min(MAINS_RANGE[1], max(MAINS_RANGE[0], mains))
        values: dict[str, Value] = {
            "power_loss": "power_loss" in faults,
            "water_ingress": "water_ingress" in faults,
            "smoke_alarm": "smoke" in faults,
            "heat_alarm": "heat" in faults,
            "door_open": "door_open" in faults,
            "ambient_temperature": round(cabinet.ambient(now) + noise.gauss(0.0, 0.05), 1),
            "mains_voltage": round(mains, 1),
            "serial_number": cabinet.serial,
            "firmware_version": FIRMWARE,
        }
        total = 0.0
        welded = cabinet.fault_port("relay_welded")
        for port in cabinet.ports:
            key = f"port{port.number}."
            watts = cabinet.power(port.number)
            watts = round(max(0.0, watts * (1.0 + noise.gauss(0.0, 0.004))), 1) if watts else 0.0
            volts = cabinet.volts(port.number)
            total += watts
            # The controller only notices a welded relay once it has tried to open it.
            stuck = welded == port.number and not port.active
            values |= {
                key + "state": self._codes["state"][port.phase.label],
                key + "voltage": round(volts, 1),
                key + "current": round(watts / volts, 2) if volts else 0.0,
                key + "power": watts,
                key + "energy": port.energy_at(now),
                key + "temperature": round(port.temperature, 1),
                key + "stop_reason": self._codes["stop_reason"][port.stop_reason],
                key + "fault": self._codes["fault"]["relay_welded" if stuck else "none"],
                key + "session_minutes": min(0xFFFF, port.minutes_at(now)),
            }
        values["total_power"] = round(total, 1)
        values |= {f"relay{n}.enabled": on for n, on in cabinet.relays.items()}
        self._image.set_many(self._fields, values)
