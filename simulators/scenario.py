"""Scenario files: faults injected into and cleared from simulated devices at set times.

A scenario is YAML::

    name: aging-elevator
    description: doors of an 18-year-old car slow down over a month
    time_factor: 86400      # simulated seconds per wall second, unless the CLI says otherwise
    duration: 30d           # optional: stop after this much simulated time
    events:
      - {at: 0s, device: elev-01, inject: door_wear, params: {close_s_per_day: 0.08}}
      - {at: 25d, device: elev-01, clear: door_wear}

``device`` may be a glob (``smoke-*``). Times are simulated time since the start. The
player is pure: it answers which events are due; the runner applies them.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from estatewatch.durations import parse_duration
from estatewatch.errors import ConfigError
from estatewatch.validation import load_yaml_model

BUILTIN_DIR = Path(__file__).with_name("scenarios")

Duration = Annotated[float, BeforeValidator(parse_duration)]


class ScenarioEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    at: Duration
    device: Annotated[str, Field(min_length=1)]
    inject: str | None = None
    clear: str | None = None
    params: dict[str, float] = {}

    @model_validator(mode="after")
    def _one_action(self) -> ScenarioEvent:
        if (self.inject is None) == (self.clear is None):
            raise ValueError("an event needs exactly one of inject or clear")
        if self.clear is not None and self.params:
            raise ValueError("params go with inject, not clear")
        return self

    @property
    def fault(self) -> str:
        return self.inject or self.clear or ""


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    time_factor: Annotated[float, Field(gt=0)] = 1.0
    duration: Duration | None = None
    events: list[ScenarioEvent]


def load_scenario(path_or_name: str | Path) -> Scenario:
    """Load a scenario file, or a built-in one by name (``aging-elevator``)."""
    path = Path(path_or_name)
    if not path.exists() and (BUILTIN_DIR / f"{path_or_name}.yaml").exists():
        path = BUILTIN_DIR / f"{path_or_name}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml")))
        raise ConfigError(f"{path_or_name}: no such scenario file (built-in: {known})")
    return load_yaml_model(Scenario, path)


@dataclass(frozen=True)
class Action:
    device_id: str
    inject: bool
    fault: str
    params: Mapping[str, float]


def resolve(
    scenario: Scenario, faults_by_device: Mapping[str, Iterable[str]], source: str
) -> list[tuple[float, Action]]:
    """Expand device globs against the fleet and check every fault exists there.

    Returns (simulated offset, action) pairs in time order; raises ConfigError naming the
    event when a device or fault is unknown, before anything starts.
    """
    planned: list[tuple[float, Action]] = []
    for index, event in enumerate(scenario.events):
        where = f"{source}: events[{index}]"
        matched = sorted(fnmatch.filter(faults_by_device, event.device))
        if not matched:
            raise ConfigError(f"{where}.device: no simulated device matches {event.device!r}")
        for device_id in matched:
            if event.fault not in set(faults_by_device[device_id]):
                known = ", ".join(sorted(faults_by_device[device_id]))
                raise ConfigError(
                    f"{where}.{'inject' if event.inject else 'clear'}: {device_id} has no"
                    f" fault {event.fault!r} (known: {known})"
                )
            action = Action(device_id, event.inject is not None, event.fault, event.params)
            planned.append((event.at, action))
    planned.sort(key=lambda pair: pair[0])
    return planned


class ScenarioPlayer:
    """Hands out the actions that have come due by a given simulated time."""

    def __init__(self, planned: list[tuple[float, Action]], start: float) -> None:
        self._pending = [(start + offset, action) for offset, action in planned]
        self._next = 0

    def due(self, now: float) -> list[Action]:
        ready: list[Action] = []
        while self._next < len(self._pending) and self._pending[self._next][0] <= now:
            ready.append(self._pending[self._next][1])
            self._next += 1
        return ready

    @property
    def finished(self) -> bool:
        return self._next >= len(self._pending)
