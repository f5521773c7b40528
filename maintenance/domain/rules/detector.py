"""What the engine asks of a detector (a rule with its own code instead of a condition).

Every hook defaults to doing nothing, so a detector implements only what it watches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from maintenance.domain.observations import DeviceEvent, GatewayState
from maintenance.domain.rules.announce import Announcer
from maintenance.domain.rules.spec import RuleSpec
from maintenance.domain.rules.state import DeviceState
from maintenance.domain.signals import Signal

__all__ = ["Detector"]


class Detector:
    def __init__(self, rule: RuleSpec) -> None:
        self.name = rule.name
        self.device_type = rule.device_type
        self.announce = Announcer(rule)

    def reading(self, dev: DeviceState, t: float, out: list[Signal]) -> None:
        """A reading arrived at ``t`` (``dev.last_seen`` is still the previous one)."""

    def event(self, dev: DeviceState, ev: DeviceEvent, out: list[Signal]) -> None:
        """An event about a device of this detector's type."""

    def gateway(self, state: GatewayState, now: float, out: list[Signal]) -> None:
        """A gateway's status, arriving at the engine's ``now``."""

    def tick(self, now: float, devices: Iterable[DeviceState], out: list[Signal]) -> None:
        """Time passed; ``devices`` are those of this detector's type."""

    def resume(self, now: float) -> None:
        """The engine was restored from a snapshot at ``now``."""

    def dump(self) -> Any:
        return None

    def load(self, raw: Any) -> None:
        """Take back what ``dump`` returned (JSON-decoded)."""

    def forget(self, owned: Callable[[str], bool]) -> None:
        """Drop what is held about the devices whose key ``owned`` refuses (restored state
        of sites another worker now judges)."""
