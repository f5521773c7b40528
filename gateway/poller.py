"""Polling Modbus devices on a fixed schedule, and keeping track of their health.

Schedule. Each poll group of a device has a grid of slots ``start + phase + k * interval``.
After a poll the next slot is the next grid point, so lateness never accumulates; slots
a slow poll ran past are counted in ``GatewayMetrics.overruns`` and skipped, not queued.
Lateness is measured from the slot to the moment the poll got its connection and sent
its first request, so time spent queueing behind other devices counts as late. Phases
spread the devices of an endpoint evenly over the interval, so they do not all ask at
once.

Concurrency. Every device has its own task. Its poll claims the endpoint's connection for
its few requests (see ``gateway.modbus_client``): devices of a serial line take turns; on
TCP a silent device is moved to a connection of its own, so the others never wait out
its timeouts.

Health (``DeviceHealth``, pure). ONLINE: the last poll of every group succeeded.
DEGRADED: the device answers, but some request fails (a Modbus exception, a garbled
reply). OFFLINE: ``offline_after`` polls in a row got no answer at all. A poll stops at
its first unanswered request, so a dead device costs the line one timeout per poll, and
an offline device is only probed every ``offline_interval`` seconds until it answers.
Every change of state is logged, counted and sent to the sink as an event. Failed
requests are counted in ``GatewayMetrics.errors`` by kind: ``timeout`` (no answer, or a
bridge's exception 10/11), ``endpoint_down``, ``exception``, ``garbage``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from estatewatch.catalogue import Catalogue, Profile, Table, Value
from estatewatch.errors import DeviceError
from estatewatch.wire import EventKind, FieldValue
from gateway.config import DeviceConfig, EndpointConfig
from gateway.derive import DERIVED_UNITS, ElevatorSignals
from gateway.metrics import DeviceState, GatewayMetrics
from gateway.modbus_client import (
    DeviceException,
    DeviceGarbage,
    DeviceTimeout,
    EndpointDown,
    ModbusEndpoint,
)
from gateway.plan import GroupPlan, ReadPlan, plan_device
from gateway.report import ReportFilter
from gateway.sink import DeviceInfo, Sink

log = logging.getLogger(__name__)

OFFLINE_AFTER = 3  # polls in a row without any answer
OFFLINE_INTERVAL = 5.0  # seconds between probes of an offline device

_EVENTS: dict[DeviceState, EventKind] = {
    DeviceState.ONLINE: "device_online",
    DeviceState.DEGRADED: "device_degraded",
    DeviceState.OFFLINE: "device_offline",
}


# --- time ----------------------------------------------------------------------------


class Timebase(Protocol):
    def monotonic(self) -> float: ...

    def utcnow(self) -> datetime: ...

    async def sleep_until(self, deadline: float) -> None: ...


class SystemTimebase:
    def monotonic(self) -> float:
        return time.monotonic()  # the clock asyncio's timers run on

    def utcnow(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, deadline: float) -> None:
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))


def next_slot(slot: float, interval: float, now: float) -> tuple[float, int]:
    """The first slot of the grid through ``slot`` that is not yet past at ``now``, and
    how many slots in between were missed."""
    steps = max(1, math.ceil((now - slot) / interval - 1e-9))
    return slot + steps * interval, steps - 1


# --- what the poller needs of an endpoint ------------------------------------------


class Line(Protocol):
    async def read(self, table: Table, address: int, count: int) -> list[int]: ...


class Endpoint(Protocol):
    label: str

    def claim(self, unit: int) -> AbstractAsyncContextManager[Line]: ...


class OpenEndpoint(Protocol):
    def __call__(self, config: EndpointConfig, /) -> AbstractAsyncContextManager[Endpoint]: ...


# --- health ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transition:
    before: DeviceState | None
    after: DeviceState
    reason: str


class DeviceHealth:
    """The ONLINE / DEGRADED / OFFLINE state machine of one device (pure)."""

    def __init__(self, offline_after: int = OFFLINE_AFTER) -> None:
        if offline_after < 1:
            raise ValueError("offline_after must be at least 1")
        self.offline_after = offline_after
        self.state: DeviceState | None = None  # None until the first verdict
        self.reason = ""
        self.silent_polls = 0
        self._failing: dict[str, str] = {}  # poll group -> why its last poll failed

    def answered(self, group: str, problem: str | None = None) -> Transition | None:
        """A poll got at least one answer; ``problem`` says what failed, if anything."""
        self.silent_polls = 0
        if problem is None:
            self._failing.pop(group, None)
        else:
            self._failing[group] = problem
        if self._failing:
            return self._become(DeviceState.DEGRADED, next(iter(self._failing.values())))
        return self._become(DeviceState.ONLINE, "")

    def silent(self, why: str) -> Transition | None:
        """A poll got no answer at all."""
        self.silent_polls += 1
        if self.silent_polls < self.offline_after or self.state is DeviceState.OFFLINE:
            return None
        n = self.silent_polls
        return self._become(DeviceState.OFFLINE, f"{why} for {n} poll{'' if n == 1 else 's'}")

    def _become(self, state: DeviceState, reason: str) -> Transition | None:
        if state is self.state:
            self.reason = reason
            return None
        transition = Transition(self.state, state, reason)
        self.state, self.reason = state, reason
        return transition


# --- one device --------------------------------------------------------------------------


@dataclass(slots=True)
class _PollResult:
    values: dict[str, Value]
    answered: bool
    problem: str | None  # degrades the device: the device answered, but wrongly
    silence: str | None  # why the poll got no answer, if it got none


class DevicePoller:
    """Polls one device's groups on their schedules; ``await poller.run(endpoint)``."""

    def __init__(
        self,
        device: DeviceConfig,
        profile: Profile,
        plan: ReadPlan,
        sink: Sink,
        metrics: GatewayMetrics,
        *,
        clock: Timebase,
        phase: float = 0.0,
        offline_after: int = OFFLINE_AFTER,
        offline_interval: float = OFFLINE_INTERVAL,
    ) -> None:
        self.device = device
        self.plan = plan
        self.phase = phase % 1.0
        self._sink = sink
        self._metrics = metrics
        self._clock = clock
        self._offline_interval = offline_interval
        units = {f.key: f.unit for f in profile.fields if f.unit}
        self._signals: ElevatorSignals | None = None
        if profile.device_type == "elevator":
            self._signals = ElevatorSignals(max_gap_s=3 * plan.groups[0].interval + 1.0)
            units |= DERIVED_UNITS
        self.info = DeviceInfo(device.name, profile.device_type, profile.name, device.tags, units)
        self._report = ReportFilter(device.report, profile.fields)
        # Fields whose change is sent at once (faults, alarms), and their last values.
        self._urgent = {f.key for f in profile.fields if f.urgent}
        self._last_urgent: dict[str, Value] = {}
        self.health = DeviceHealth(offline_after)
        self.polls = 0  # polls that got an answer
        self.label = ""

    @property
    def offline(self) -> bool:
        return self.health.state is DeviceState.OFFLINE

    async def run(self, endpoint: Endpoint) -> None:
        self.label = endpoint.label
        groups = [g for g in self.plan.groups if g.requests]
        if not groups:
            return
        start = self._clock.monotonic()
        slots = {g.name: start + self.phase * g.interval for g in groups}
        probe_group = groups[0]  # the fastest: the one whose answer matters most
        probe_at = start
        task = asyncio.current_task()
        while True:
            if task is not None and task.cancelling():
                # Python 3.11's asyncio.wait_for (inside pymodbus) drops a cancellation
                # that races a reply; without this the task would poll on for ever.
                raise asyncio.CancelledError
            if self.offline:
                await self._clock.sleep_until(probe_at)
                await self.poll(endpoint, probe_group, probe_at)
                now = self._clock.monotonic()
                probe_at, _ = next_slot(probe_at, self._offline_interval, now)
                if not self.offline:
                    # Back on the original grid; slots skipped while offline were a
                    # deliberate back-off, not overruns.
                    slots = {g.name: next_slot(slots[g.name], g.interval, now)[0] for g in groups}
                continue
            group = min(groups, key=lambda g: slots[g.name])
            slot = slots[group.name]
            await self._clock.sleep_until(slot)
            await self.poll(endpoint, group, slot)
            now = self._clock.monotonic()
            slots[group.name], missed = next_slot(slot, group.interval, now)
            self._metrics.overruns += missed
            if self.offline:
                probe_at = now + self._offline_interval

    async def poll(self, endpoint: Endpoint, group: GroupPlan, slot: float) -> None:
        """One poll of ``group`` scheduled at ``slot`` (monotonic seconds)."""
        async with endpoint.claim(self.device.unit) as line:
            started = self._clock.monotonic()
            ts = self._clock.utcnow()
            result = await self._read(line, group)
        self._metrics.poll_done(max(0.0, started - slot))
        if not result.answered:
            self._transition(ts, self.health.silent(result.silence or "no answer"))
            return
        self.polls += 1
        self._transition(ts, self.health.answered(group.name, result.problem))
        if result.values:
            self._publish(group, started, ts, result.values)

    async def _read(self, line: Line, group: GroupPlan) -> _PollResult:
        result = _PollResult({}, False, None, None)
        unit = self.device.unit
        for request in group.requests:
            try:
                words = await line.read(request.table, request.address, request.count)
            except (DeviceTimeout, EndpointDown) as exc:
                self._metrics.error(
                    "timeout" if isinstance(exc, DeviceTimeout) else "endpoint_down"
                )
                if not result.answered:
                    result.silence = (
                        f"no answer from unit {unit} at {self.label}"
                        if isinstance(exc, DeviceTimeout)
                        else f"cannot reach {exc.endpoint} ({exc.reason})"
                    )
                # The rest would most likely go unanswered too: spare the line.
                break
            except DeviceException as exc:
                if exc.no_answer:  # a bridge saying the device behind it is silent
                    self._metrics.error("timeout")
                    if not result.answered:
                        result.silence = f"no answer from unit {unit} behind {self.label} ({exc})"
                    break
                self._metrics.error("exception")
                result.answered, result.problem = True, str(exc)
            except DeviceGarbage as exc:
                self._metrics.error("garbage")
                result.answered, result.problem = True, str(exc)
            except DeviceError as exc:
                self._metrics.error("device")
                result.answered, result.problem = True, str(exc)
            else:
                result.answered = True
                problems: list[str] = []
                result.values.update(request.decode(words, problems))
                if problems:
                    self._metrics.error("garbage")
                    result.problem = f"undecodable reply from unit {unit}: {problems[0]}"
        return result

    def _publish(
        self, group: GroupPlan, now: float, ts: datetime, values: dict[str, Value]
    ) -> None:
        fields: dict[str, FieldValue] = dict(values)
        if self._signals is not None:
            derived = self._signals.update(ts.timestamp(), values)
            fields.update(derived.fields)
            for event in derived.events:
                self._sink.event(self.info, ts, event.kind, event.detail)
        selected = self._report.select(group.name, now, fields)
        if selected:
            self._sink.reading(self.info, ts, selected, urgent=self._urgent_change(values))

    def _urgent_change(self, values: dict[str, Value]) -> bool:
        changed = False
        for key in self._urgent.intersection(values):
            value = values[key]
            if self._last_urgent.get(key, value) != value:
                changed = True
            self._last_urgent[key] = value
        return changed

    def _transition(self, ts: datetime, change: Transition | None) -> None:
        if change is None:
            return
        name = self.device.name
        self._metrics.device_states[name] = change.after
        detail: dict[str, FieldValue] = {"state": str(change.after)}
        if change.before is not None:
            detail["previous"] = str(change.before)
        if change.reason:
            detail["reason"] = change.reason
        self._sink.event(self.info, ts, _EVENTS[change.after], detail)
        if change.after is DeviceState.ONLINE:
            again = " again" if change.before is not None else ""
            log.info(
                "%s online%s: unit %d at %s answers", name, again, self.device.unit, self.label
            )
        else:
            log.warning("%s %s: %s", name, change.after, change.reason)


# --- an endpoint and all endpoints ------------------------------------------------------


class EndpointPoller:
    """The devices of one endpoint, polled over one ``ModbusEndpoint`` until cancelled."""

    def __init__(
        self,
        config: EndpointConfig,
        catalogue: Catalogue,
        sink: Sink,
        metrics: GatewayMetrics,
        *,
        clock: Timebase | None = None,
        phases: Sequence[float] | None = None,
        open_endpoint: OpenEndpoint | None = None,
        offline_after: int = OFFLINE_AFTER,
        offline_interval: float = OFFLINE_INTERVAL,
        plans: PlanCache | None = None,
    ) -> None:
        self.config = config
        self._open = open_endpoint or ModbusEndpoint
        clock = clock or SystemTimebase()
        n = len(config.devices)
        phases = phases if phases is not None else [i / n for i in range(n)]
        self.pollers: list[DevicePoller] = []
        plans = plans if plans is not None else PlanCache()
        for device, phase in zip(config.devices, phases, strict=True):
            profile = catalogue[device.profile]
            plan = plans.plan(device.name, profile, device.poll, config.max_gap)
            self.pollers.append(
                DevicePoller(
                    device,
                    profile,
                    plan,
                    sink,
                    metrics,
                    clock=clock,
                    phase=phase,
                    offline_after=offline_after,
                    offline_interval=offline_interval,
                )
            )

    async def run(self) -> None:
        async with self._open(self.config) as endpoint:
            # One line per distinct plan: 50 identical cars on a bridge are one line, not 50.
            alike: dict[str, list[str]] = {}
            for poller in self.pollers:
                name, _, rest = poller.plan.describe().partition(" ")
                alike.setdefault(rest, []).append(name)
            for rest, names in alike.items():
                more = f" and {len(names) - 3} more" if len(names) > 3 else ""
                log.info("read plan of %s%s %s", ", ".join(names[:3]), more, rest)
            async with asyncio.TaskGroup() as tasks:
                for poller in self.pollers:
                    tasks.create_task(poller.run(endpoint), name=f"poll {poller.device.name}")


class PlanCache:
    """Read plans shared between devices of the same profile and poll settings: at
    thousands of devices the plans would otherwise be a good part of the memory."""

    def __init__(self) -> None:
        self._plans: dict[tuple[str, tuple[tuple[str, float], ...], int], ReadPlan] = {}

    def plan(
        self, device: str, profile: Profile, intervals: Mapping[str, float], max_gap: int
    ) -> ReadPlan:
        key = (profile.name, tuple(sorted(intervals.items())), max_gap)
        shared = self._plans.get(key)
        if shared is None:
            shared = self._plans[key] = plan_device(
                device, profile, intervals=intervals, max_gap=max_gap
            )
        return dataclasses.replace(shared, device=device)


def spread_phases(endpoints: Sequence[EndpointConfig]) -> list[list[float]]:
    """Phases in [0, 1) for every device: evenly spaced over all devices, and taken in
    turn from each endpoint, so each endpoint's devices are evenly spaced as well."""
    order: list[tuple[int, int]] = []
    longest = max((len(e.devices) for e in endpoints), default=0)
    for i in range(longest):
        order.extend((e, i) for e, ep in enumerate(endpoints) if i < len(ep.devices))
    phases = [[0.0] * len(e.devices) for e in endpoints]
    for rank, (e, i) in enumerate(order):
        phases[e][i] = rank / len(order)
    return phases


class Acquisition:
    """Every Modbus endpoint of a site: ``await Acquisition(...).run()`` until cancelled."""

    def __init__(
        self,
        endpoints: Sequence[EndpointConfig],
        catalogue: Catalogue,
        sink: Sink,
        metrics: GatewayMetrics,
        *,
        clock: Timebase | None = None,
        open_endpoint: OpenEndpoint | None = None,
        offline_after: int = OFFLINE_AFTER,
        offline_interval: float = OFFLINE_INTERVAL,
    ) -> None:
        clock = clock or SystemTimebase()
        plans = PlanCache()
        self.endpoints = [
            EndpointPoller(
                config,
                catalogue,
                sink,
                metrics,
                clock=clock,
                phases=phases,
                open_endpoint=open_endpoint,
                offline_after=offline_after,
                offline_interval=offline_interval,
                plans=plans,
            )
            for config, phases in zip(endpoints, spread_phases(endpoints), strict=True)
        ]

    @property
    def pollers(self) -> Mapping[str, DevicePoller]:
        return {p.device.name: p for e in self.endpoints for p in e.pollers}

    def requests_per_second(self) -> float:
        return sum(
            len(g.requests) / g.interval for p in self.pollers.values() for g in p.plan.groups
        )

    async def run(self) -> None:
        devices = len(self.pollers)
        log.info(
            "polling %d device(s) on %d endpoint(s): %.0f Modbus requests/s",
            devices,
            len(self.endpoints),
            self.requests_per_second(),
        )
        async with asyncio.TaskGroup() as tasks:
            for endpoint in self.endpoints:
                tasks.create_task(endpoint.run(), name=f"endpoint {endpoint.config.name}")
