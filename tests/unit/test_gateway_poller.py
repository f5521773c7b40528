"""Pollers on a fake clock and a fake endpoint: schedule, overruns, health, what is sent."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self

import pytest

from estatewatch.catalogue import Profile, RegisterImage, Table, builtin_catalogue
from estatewatch.wire import EventKind, FieldValue
from gateway.config import DeviceConfig, EndpointConfig, ReportConfig, TcpConfig
from gateway.metrics import DeviceState, GatewayMetrics
from gateway.modbus_client import DeviceException, DeviceTimeout, EndpointDown
from gateway.plan import plan_device
from gateway.poller import (
    DeviceHealth,
    DevicePoller,
    EndpointPoller,
    Line,
    next_slot,
    spread_phases,
)
from gateway.sink import DeviceInfo

EPOCH = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
ELEVATOR = builtin_catalogue()["elevator-nice3000"]


class Stop(Exception):  # noqa: N818 - a signal, not an error
    """The fake clock reached the end of the test's window."""


@dataclass
class FakeClock:
    until: float
    now: float = 0.0
    oversleep: float = 0.0  # every wake-up comes this late, like a busy event loop

    def monotonic(self) -> float:
        return self.now

    def utcnow(self) -> datetime:
        return EPOCH + timedelta(seconds=self.now)

    async def sleep_until(self, deadline: float) -> None:
        if deadline >= self.until:
            raise Stop
        self.now = max(self.now, deadline) + self.oversleep
        await asyncio.sleep(0)


@dataclass
class FakeDevice:
    """A device whose every request takes ``request_time(now)`` seconds and may fail."""

    image: RegisterImage
    request_time: Callable[[float], float] = lambda now: 0.01
    silent: Callable[[float], bool] = lambda now: False
    unreachable: Callable[[float], bool] = lambda now: False
    # (table, address) -> predicate of the time: answer with Modbus exception 4
    failing: Mapping[tuple[Table, int], Callable[[float], bool]] = field(default_factory=dict)


@dataclass
class FakeEndpoint:
    clock: FakeClock
    devices: dict[int, FakeDevice]
    timeout: float = 0.3
    label: str = "fake://bus"
    requests: list[tuple[float, int, Table, int]] = field(default_factory=list)

    @asynccontextmanager
    async def claim(self, unit: int) -> AsyncIterator[Line]:
        yield _FakeLine(self, unit)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


@dataclass
class _FakeLine:
    endpoint: FakeEndpoint
    unit: int

    async def read(self, table: Table, address: int, count: int) -> list[int]:
        ep, clock = self.endpoint, self.endpoint.clock
        device = ep.devices[self.unit]
        ep.requests.append((clock.now, self.unit, table, address))
        what = f"{table} {address:#06x}+{count} from unit {self.unit} at {ep.label}"
        if device.unreachable(clock.now):
            raise EndpointDown(ep.label, "connection refused")
        if device.silent(clock.now):
            clock.now += ep.timeout
            raise DeviceTimeout(f"no answer reading {what}")
        clock.now += device.request_time(clock.now)
        failing = device.failing.get((table, address))
        if failing is not None and failing(clock.now):
            raise DeviceException(4, f"Modbus exception 4 (server device failure) reading {what}")
        await asyncio.sleep(0)
        return device.image.read(table, address, count)


@dataclass
class RecordingSink:
    readings: list[tuple[str, datetime, dict[str, FieldValue]]] = field(default_factory=list)
    events: list[tuple[str, datetime, EventKind, dict[str, FieldValue]]] = field(
        default_factory=list
    )
    infos: dict[str, DeviceInfo] = field(default_factory=dict)
    urgent: list[bool] = field(default_factory=list)  # per reading

    def reading(
        self,
        device: DeviceInfo,
        ts: datetime,
        fields: Mapping[str, FieldValue],
        *,
        urgent: bool = False,
    ) -> None:
        self.infos[device.device_id] = device
        self.readings.append((device.device_id, ts, dict(fields)))
        self.urgent.append(urgent)

    def event(
        self, device: DeviceInfo, ts: datetime, kind: EventKind, detail: Mapping[str, FieldValue]
    ) -> None:
        self.events.append((device.device_id, ts, kind, dict(detail)))

    def kinds(self) -> list[EventKind]:
        return [kind for _, _, kind, _ in self.events]


def car_image(profile: Profile = ELEVATOR) -> RegisterImage:
    image = RegisterImage()
    values = {
        "rated_speed": 1.75,
        "floor": 4,
        "mode": 7,
        "car_state": 4,
        "door_close_limit_front": True,
        "in_door_zone": True,
        "mains_ok": True,
        "direction": 3,
        "dc_bus_voltage": 540.0,
    }
    for key, value in values.items():
        image.set(profile.field(key), value)
    return image


@dataclass
class Rig:
    clock: FakeClock
    endpoint: FakeEndpoint
    sink: RecordingSink
    metrics: GatewayMetrics
    poller: DevicePoller

    async def run(self) -> None:
        with pytest.raises(Stop):
            await self.poller.run(self.endpoint)

    def starts(self, address: int = 0x1010) -> list[float]:
        """When each poll that reads ``address`` sent it."""
        return [round(t, 3) for t, _, _, a in self.endpoint.requests if a == address]


def rig(
    until: float,
    device: FakeDevice | None = None,
    *,
    report: ReportConfig | None = None,
    oversleep: float = 0.0,
) -> Rig:
    clock = FakeClock(until, oversleep=oversleep)
    endpoint = FakeEndpoint(clock, {1: device or FakeDevice(car_image())})
    sink, metrics = RecordingSink(), GatewayMetrics()
    config = DeviceConfig(
        name="elev-01", unit=1, profile=ELEVATOR.name, report=report or ReportConfig()
    )
    plan = plan_device("elev-01", ELEVATOR)
    poller = DevicePoller(config, ELEVATOR, plan, sink, metrics, clock=clock)
    return Rig(clock, endpoint, sink, metrics, poller)


# --- schedule -----------------------------------------------------------------------------


def test_next_slot_stays_on_the_grid_and_counts_what_it_skips() -> None:
    assert next_slot(10.0, 1.0, 10.3) == (11.0, 0)
    assert next_slot(10.0, 1.0, 11.0) == (11.0, 0)  # exactly on time is not missed
    assert next_slot(10.0, 1.0, 11.5) == (12.0, 1)
    assert next_slot(10.0, 1.0, 13.2) == (14.0, 3)
    assert next_slot(0.0, 0.1, 0.3) == (0.30000000000000004, 2)


async def test_polls_run_on_a_fixed_schedule() -> None:
    r = rig(until=10.5)
    await r.run()
    assert r.starts() == [float(k) for k in range(11)]
    assert r.starts(0xF909) == [0.04]  # the slow group, right after the fast one at 0
    assert r.metrics.overruns == 0
    assert r.metrics.polls == 12
    fast_lateness = [ms for ms in r.metrics.lateness_ms if ms < 10]
    assert fast_lateness == [0.0] * 11


async def test_lateness_does_not_accumulate() -> None:
    r = rig(until=10.5, oversleep=0.03)  # every wake-up is 30 ms late
    await r.run()
    assert r.starts() == [pytest.approx(k + 0.03) for k in range(11)]
    assert sorted(r.metrics.lateness_ms)[:11] == [pytest.approx(30.0)] * 11


async def test_an_overrun_is_counted_and_its_slots_skipped_not_queued() -> None:
    # The poll at t=3 hangs for 2.5 s: it ends past the slots at 4 and 5.
    device = FakeDevice(car_image(), request_time=lambda now: 2.5 if 3.0 <= now < 3.001 else 0.01)
    r = rig(until=9.5, device=device)
    await r.run()
    assert r.starts() == [0.0, 1.0, 2.0, 3.0, 6.0, 7.0, 8.0, 9.0]
    assert r.metrics.overruns == 2
    assert max(r.metrics.lateness_ms) < 50  # the poll at 6 is on time, not 3 s late


# --- health --------------------------------------------------------------------------


def test_health_goes_offline_after_n_silent_polls_and_back() -> None:
    health = DeviceHealth(offline_after=3)
    first = health.answered("fast")
    assert first is not None
    assert (first.before, first.after) == (None, DeviceState.ONLINE)
    assert health.silent("no answer from unit 3") is None
    assert health.silent("no answer from unit 3") is None
    offline = health.silent("no answer from unit 3")
    assert offline is not None
    assert offline.after is DeviceState.OFFLINE
    assert offline.reason == "no answer from unit 3 for 3 polls"
    assert health.silent("no answer from unit 3") is None  # already offline: no repeat
    back = health.answered("fast")
    assert back is not None
    assert (back.before, back.after) == (DeviceState.OFFLINE, DeviceState.ONLINE)


def test_an_answer_resets_the_count_of_silent_polls() -> None:
    health = DeviceHealth(offline_after=3)
    for _ in range(5):
        health.silent("x")
        health.silent("x")
        health.answered("fast")
    assert health.state is DeviceState.ONLINE


def test_health_is_degraded_while_any_group_fails() -> None:
    health = DeviceHealth()
    health.answered("fast")
    degraded = health.answered("slow", "Modbus exception 2 (illegal data address)")
    assert degraded is not None
    assert degraded.after is DeviceState.DEGRADED
    assert health.answered("fast") is None  # the slow group still fails: no flapping
    recovered = health.answered("slow")
    assert recovered is not None
    assert recovered.after is DeviceState.ONLINE


async def test_a_silent_device_goes_offline_and_is_probed_every_5_s() -> None:
    device = FakeDevice(car_image(), silent=lambda now: True)
    r = rig(until=30.0, device=device)
    await r.run()
    # Polls at 0 (fast, then slow right after) and 1: three without an answer, each
    # giving up after its first request.
    assert [round(t, 3) for t, *_ in r.endpoint.requests][:3] == [0.0, 0.3, 1.0]
    assert r.sink.kinds() == ["device_offline"]
    _, _, _, detail = r.sink.events[0]
    assert detail == {
        "state": "offline",
        "reason": "no answer from unit 1 at fake://bus for 3 polls",
    }
    assert r.metrics.device_states == {"elev-01": DeviceState.OFFLINE}
    # Then one probe every 5 s, not a poll every second.
    probes = [round(t, 3) for t, *_ in r.endpoint.requests][3:]
    assert probes == [6.3, 11.3, 16.3, 21.3, 26.3]
    assert r.metrics.errors["timeout"] == 8
    assert r.sink.readings == []


async def test_an_unreachable_endpoint_takes_its_devices_offline_with_the_reason() -> None:
    r = rig(until=10.0, device=FakeDevice(car_image(), unreachable=lambda now: True))
    await r.run()
    *_, detail = r.sink.events[0]
    assert detail["reason"] == "cannot reach fake://bus (connection refused) for 3 polls"
    assert r.metrics.errors["endpoint_down"] >= 3


async def test_a_device_that_answers_again_is_online_and_back_on_its_grid() -> None:
    device = FakeDevice(car_image(), silent=lambda now: 0.5 <= now < 8.0)
    r = rig(until=15.5, device=device)
    await r.run()
    assert r.sink.kinds() == ["device_online", "device_offline", "device_online"]
    *_, detail = r.sink.events[-1]
    assert detail == {"state": "online", "previous": "offline"}
    # Offline after the polls at 1, 2, 3; probes at 8.3 (answered) resume the grid.
    assert r.starts() == [0.0, 1.0, 2.0, 3.0, 8.3, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0]
    assert r.metrics.overruns == 0
    assert r.metrics.device_states == {"elev-01": DeviceState.ONLINE}


async def test_an_exception_response_degrades_with_the_reason_and_keeps_the_rest() -> None:
    failing = {(Table.HOLDING, 0x8000): lambda now: 2.0 <= now < 5.0}
    r = rig(until=7.5, device=FakeDevice(car_image(), failing=failing))
    await r.run()
    assert r.sink.kinds() == ["device_online", "device_degraded", "device_online"]
    _, _, _, detail = r.sink.events[1]
    assert detail["reason"] == (
        "Modbus exception 4 (server device failure) reading holding 0x8000+1"
        " from unit 1 at fake://bus"
    )
    during = [f for _, ts, f in r.sink.readings if ts == EPOCH + timedelta(seconds=3)]
    assert len(during) == 1
    assert "fault_code" not in during[0]
    assert during[0]["floor"] == 4
    assert r.metrics.errors["exception"] == 3


async def test_a_device_answering_only_with_exceptions_is_degraded_not_offline() -> None:
    always = {
        (Table.HOLDING, a): (lambda now: True)
        for a in (0x1010, 0x2000, 0x3000, 0x8000, 0xF909, 0xFA07)
    }
    r = rig(until=10.5, device=FakeDevice(car_image(), failing=always))
    await r.run()
    assert r.sink.kinds() == ["device_degraded"]
    assert r.metrics.device_states == {"elev-01": DeviceState.DEGRADED}


# --- what reaches the sink ----------------------------------------------------------------


async def test_readings_carry_units_riders_and_derived_fields() -> None:
    r = rig(until=2.5)
    await r.run()
    device, ts, fields = r.sink.readings[0]
    assert (device, ts) == ("elev-01", EPOCH)
    assert fields["floor"] == 4
    assert fields["rated_speed"] == 1.75  # a slow field read along with the fast block
    assert fields["stopped_outside_zone_s"] == 0.0
    info = r.sink.infos["elev-01"]
    assert info.units["speed"] == "m/s"
    assert info.units["stopped_outside_zone_s"] == "s"
    assert (info.device_type, info.profile) == ("elevator", "elevator-nice3000")


async def test_on_change_reports_only_what_changed() -> None:
    image = car_image()
    r = rig(until=3.5, device=FakeDevice(image), report=ReportConfig(mode="on_change"))
    original = r.endpoint.devices[1].request_time

    def change_floor(now: float) -> float:
        if 2.0 <= now < 2.001:
            image.set(ELEVATOR.field("floor"), 5)
        return original(now)

    r.endpoint.devices[1].request_time = change_floor
    await r.run()
    sent = [((ts - EPOCH).total_seconds(), f) for _, ts, f in r.sink.readings]
    assert [t for t, _ in sent] == [0.0, 0.04, 2.0]  # full fast, full slow, one change
    fast_keys = {f.key for req in r.poller.plan.group("fast").requests for f in req.fields}
    assert set(sent[0][1]) == fast_keys | {"stopped_outside_zone_s", "speed_percent"}
    assert sent[2][1] == {"floor": 5}


async def test_a_fault_code_change_is_urgent_and_nothing_else_is() -> None:
    image = car_image()
    r = rig(until=4.5, device=FakeDevice(image))
    original = r.endpoint.devices[1].request_time

    def change(now: float) -> float:
        if 2.0 <= now < 2.001:
            image.set(ELEVATOR.field("fault_code"), 41)  # urgent in the profile
        if 3.0 <= now < 3.001:
            image.set(ELEVATOR.field("floor"), 5)  # not urgent
        return original(now)

    r.endpoint.devices[1].request_time = change
    await r.run()
    sent = [
        (round((ts - EPOCH).total_seconds(), 2), u)
        for (_, ts, _), u in zip(r.sink.readings, r.sink.urgent, strict=True)
    ]
    assert [t for t, u in sent if u] == [2.0]
    assert (3.0, False) in sent


async def test_door_and_trip_events_reach_the_sink() -> None:
    image = car_image()
    states = {1.0: (5, 4), 2.0: (5, 6), 3.0: (1, 7)}  # run from 4 to 7, then open

    def script(now: float) -> float:
        for at, (state, floor) in states.items():
            if at <= now < at + 0.001:
                image.set(ELEVATOR.field("car_state"), state)
                image.set(ELEVATOR.field("floor"), floor)
        return 0.01

    r = rig(until=4.5, device=FakeDevice(image, request_time=script))
    await r.run()
    trips = [d for _, _, kind, d in r.sink.events if kind == "trip"]
    assert trips == [{"from_floor": 4, "to_floor": 7, "duration_s": 2.0, "direction": "up"}]


# --- endpoints ----------------------------------------------------------------------------


def test_phases_spread_each_endpoints_devices_evenly() -> None:
    def endpoint(name: str, n: int) -> EndpointConfig:
        devices = [
            DeviceConfig(name=f"{name}-{u}", unit=u, profile=ELEVATOR.name) for u in range(1, n + 1)
        ]
        return EndpointConfig(name=name, tcp=TcpConfig(host="127.0.0.1"), devices=devices)

    phases = spread_phases([endpoint("a", 3), endpoint("b", 3), endpoint("c", 2)])
    assert phases == [[0 / 8, 3 / 8, 6 / 8], [1 / 8, 4 / 8, 7 / 8], [2 / 8, 5 / 8]]


async def test_endpoint_poller_logs_its_read_plans_and_polls_every_device(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(until=3.0)
    fake = FakeEndpoint(clock, {1: FakeDevice(car_image()), 2: FakeDevice(car_image())})
    devices = [DeviceConfig(name=f"elev-0{u}", unit=u, profile=ELEVATOR.name) for u in (1, 2)]
    config = EndpointConfig(name="b1", tcp=TcpConfig(host="127.0.0.1"), devices=devices)
    sink, metrics = RecordingSink(), GatewayMetrics()

    def open_fake(_: EndpointConfig) -> FakeEndpoint:
        return fake

    poller = EndpointPoller(
        config, builtin_catalogue(), sink, metrics, clock=clock, open_endpoint=open_fake
    )
    caplog.set_level(logging.INFO, logger="gateway.poller")
    with pytest.raises(ExceptionGroup) as caught:
        await poller.run()
    assert caught.group_contains(Stop)
    plans = [r.getMessage() for r in caplog.records if r.getMessage().startswith("read plan")]
    assert plans == [  # identical plans share one line
        "read plan of elev-01, elev-02 (elevator-nice3000): fast 4 requests/poll every 1 s,"
        " slow 2 requests/poll every 60 s (+2 fields ride along)",
    ]
    assert {device for device, _, _ in sink.readings} == {"elev-01", "elev-02"}
    assert [p.phase for p in poller.pollers] == [0.0, 0.5]
    first, second = (p.plan for p in poller.pollers)
    assert (first.device, second.device) == ("elev-01", "elev-02")
    assert first.groups is second.groups  # one plan in memory for both cars
