"""Per-device engine state and its JSON form, so rule state survives a restart.

Times are Unix seconds (floats) inside the engine: cheaper to compare than datetimes on
the hot path, and JSON-ready as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from estatewatch.wire import FieldValue
from maintenance.domain.signals import DeviceRef, Priority

__all__ = ["DeviceState", "Verdict", "device_key", "parse_device_key"]


def device_key(ref: DeviceRef) -> str:
    return str(ref)  # site/type/id; wire names never contain "/"


def parse_device_key(key: str) -> DeviceRef:
    site, device_type, device_id = key.split("/")
    return DeviceRef(site, device_type, device_id)


@dataclass(slots=True)
class Verdict:
    """One condition rule's state on one device; kept only while not idle."""

    active: bool = False  # raised and not yet cleared
    holding: bool = False  # the condition held at the last evaluation
    since: float | None = None  # start of the current stretch of holding
    fired: bool = False  # the current stretch has already raised or repeated
    hits: list[float] = field(default_factory=list)  # hits inside the repeat window
    last_hit: float | None = None  # latest hit, for a repeat rule's quiet window
    priority: Priority | None = None  # as raised, so the clear says the same

    def idle(self) -> bool:
        return not (self.active or self.holding or self.hits)

    def dump(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "holding": self.holding,
            "since": self.since,
            "fired": self.fired,
            "hits": list(self.hits),
            "last_hit": self.last_hit,
            "priority": self.priority,
        }

    @classmethod
    def load(cls, raw: dict[str, Any]) -> Verdict:
        return cls(
            active=raw["active"],
            holding=raw["holding"],
            since=raw["since"],
            fired=raw["fired"],
            hits=list(raw["hits"]),
            last_hit=raw["last_hit"],
            priority=raw["priority"],
        )


@dataclass(slots=True)
class DeviceState:
    ref: DeviceRef
    building: str | None
    values: dict[str, FieldValue] = field(default_factory=dict)  # last value of each field
    last_seen: float | None = None  # time of the latest reading
    verdicts: dict[str, Verdict] = field(default_factory=dict)

    def dump(self) -> dict[str, Any]:
        return {
            "building": self.building,
            "values": dict(self.values),
            "last_seen": self.last_seen,
            "verdicts": {rule: v.dump() for rule, v in self.verdicts.items()},
        }

    @classmethod
    def load(cls, key: str, raw: dict[str, Any]) -> DeviceState:
        return cls(
            ref=parse_device_key(key),
            building=raw["building"],
            values=dict(raw["values"]),
            last_seen=raw["last_seen"],
            verdicts={rule: Verdict.load(v) for rule, v in raw["verdicts"].items()},
        )
