"""The city model's per-reading path against a golden record of what it did before it was
made faster: on recorded city traffic (elevator readings of ~40 fields in wire version 2
bundles, faults included) and on hostile bundles, what ingest stores (line protocol) and
dead-letters, and what the maintenance worker's central checks keep and refuse and its
rules signal.

``tests/fixtures/city_golden.json`` was written by :func:`golden` from commit 240ca59
(before the city path's speed-ups); regenerate it only for a change meant to alter what
is stored, refused or signalled:
``python -m tests.unit.test_city_golden > tests/fixtures/city_golden.json``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from bench.bench_city import replayed_site
from bench.city_replay import FAULT_AT, Compound, Traces, pollers_of, record, traces_checked
from estatewatch.catalogue import builtin_catalogue
from estatewatch.inbound import Rejected
from estatewatch.screen import Screen, ScreenLimits
from estatewatch.wire import TelemetryBundle, TelemetryMessage
from ingest.decode import decode
from maintenance.config_files import DEFAULT_RULES, load_rules
from maintenance.domain.observations import from_telemetry
from maintenance.domain.rules import RuleEngine
from maintenance.domain.signals import Signal

GOLDEN = Path(__file__).parents[1] / "fixtures" / "city_golden.json"
CATALOGUE = builtin_catalogue()
START = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
CARS = 30
SECONDS = 90
FAULTED = ("elev-003", "elev-017")  # their faults begin at second 20 and 40


async def _traffic() -> list[tuple[datetime, str, bytes]]:
    config = replayed_site(CARS)
    device = config.modbus.endpoints[0].devices[0]
    profile = CATALOGUE[device.profile]
    normal = [await record(profile, device, t, SECONDS + 1, fault_at=None) for t in (0, 1)]
    faulted = await record(profile, device, 2, FAULT_AT + 60, fault_at=FAULT_AT)
    traces = traces_checked(Traces(normal * 4, [faulted[FAULT_AT:]] * 8))
    compound = Compound("city-01", "gw-01", pollers_of(config, CATALOGUE), traces)
    cars = list(compound.cars.values())
    out = []
    for second in range(SECONDS):
        at = START + timedelta(seconds=second)
        for n, device_id in enumerate(FAULTED):
            if second == 19 + 20 * n:
                compound.inject(device_id)
        compound.take(cars, at)
        compound.flush()
        compound._second += 1
        while not compound.outgoing.empty():
            out.append((at, compound.topic, compound.outgoing.get_nowait()))
    return out


@cache
def traffic() -> tuple[tuple[datetime, str, bytes], ...]:
    return tuple(asyncio.run(_traffic()))


def _hostile() -> list[tuple[datetime, str, bytes]]:
    """A bundle of the traffic with each way the central checks refuse a part of it."""
    at, topic, payload = traffic()[5]
    good: dict[str, Any] = json.loads(payload)
    late = (at + timedelta(hours=1)).isoformat()

    def bundle(**changes: Any) -> bytes:
        """The bundle with its first devices' first readings' fields changed: one change
        a device."""
        devices = json.loads(json.dumps(good["devices"]))
        for device, (key, value) in zip(devices, changes.items(), strict=False):
            fields = device["readings"][0]["fields"]
            if key == "ts":
                device["readings"][0]["ts"] = value
            elif key in ("profile", "tags"):
                device[key] = value
            elif value is None:
                fields.pop(next(iter(fields)))
            else:
                fields[key] = value
        return json.dumps({**good, "devices": devices}).encode()

    ints = [k for k, v in good["devices"][0]["readings"][0]["fields"].items() if type(v) is int]
    floats = [k for k, v in good["devices"][0]["readings"][0]["fields"].items() if type(v) is float]
    bools = [k for k, v in good["devices"][0]["readings"][0]["fields"].items() if type(v) is bool]
    hostile = [
        bundle(**{floats[0]: math.nan}),
        bundle(**{floats[0]: 7, ints[0]: 2.5, bools[0]: 1}),  # an int is a float; not so back
        bundle(**{ints[0]: 10**30, floats[1]: 1e300, "secret": 1}),
        bundle(**{ints[0]: "fast", bools[0]: "yes", floats[0]: True}),
        bundle(ts=late),
        bundle(profile="charger-8port", tags={"building": "../etc"}),
        bundle(tags={"building": "B1", "owner": "x"}),
        bundle(**{ints[1]: None}),  # a reading missing a field
        json.dumps({**good, "devices": [{**good["devices"][0], "profile": "nope"}]}).encode(),
        json.dumps({**good, "seq": -1}).encode(),
        payload.replace(b'"fields":{', b'"fields":{"x":[1],', 1),
        payload[:-5],
    ]
    return [(at, topic, p) for p in hostile]


def _dead(rejected: Rejected) -> list[str]:
    return [rejected.topic, rejected.code, rejected.reason, rejected.payload_text[:400]]


def _ingest(messages: list[tuple[datetime, str, bytes]]) -> dict[str, Any]:
    """What ingest stores (line protocol) and dead-letters, message by message."""
    clock = _Clock()
    screen = Screen(CATALOGUE, ScreenLimits(), clock)
    lines = hashlib.sha256()
    points = 0
    dead: list[list[str]] = []
    for at, topic, payload in messages:
        clock.now = at + timedelta(seconds=1)
        result = decode(topic, payload, screen=screen)
        if isinstance(result, Rejected):
            dead.append(_dead(result))
            continue
        lines.update(result.lines)
        points += result.points
        if result.refused is not None:
            dead.append(_dead(result.refused))
    return {"points": points, "lines_sha256": lines.hexdigest(), "dead_letters": dead}


def _signal(signal: Signal) -> list[Any]:
    return [
        signal.kind,
        signal.rule,
        str(signal.device),
        signal.at.isoformat(),
        signal.severity,
        signal.priority,
        signal.fault_kind,
        signal.message,
        signal.building,
        dict(signal.detail),
        signal.code,
    ]


def _maintenance(messages: list[tuple[datetime, str, bytes]]) -> dict[str, Any]:
    """What the maintenance worker's checks keep and refuse, and its rules signal."""
    clock = _Clock()
    screen = Screen(CATALOGUE, ScreenLimits(), clock)
    engine = RuleEngine(load_rules(DEFAULT_RULES), clock)
    kept = hashlib.sha256()
    dead: list[list[str]] = []
    signals: list[list[Any]] = []
    for at, topic, payload in messages:
        clock.now = at + timedelta(seconds=1)
        parsed = screen(topic, payload)
        if isinstance(parsed, Rejected):
            dead.append(_dead(parsed))
            continue
        if parsed.refused is not None:
            dead.append(_dead(parsed.refused))
        for message in parsed.messages:
            assert isinstance(message, TelemetryMessage)
            kept.update(message.model_dump_json().encode())
            for reading in from_telemetry(message):
                signals += [_signal(s) for s in engine.observe(reading)]
        signals += [_signal(s) for s in engine.tick()]
    return {"kept_sha256": kept.hexdigest(), "dead_letters": dead, "signals": signals}


class _Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def golden() -> dict[str, Any]:
    return {
        "ingest": {"traffic": _ingest(list(traffic())), "hostile": _ingest(_hostile())},
        "maintenance": {
            "traffic": _maintenance(list(traffic())),
            "hostile": _maintenance(_hostile()),
        },
    }


@cache
def _now() -> dict[str, Any]:
    return golden()


@pytest.mark.parametrize("worker", ["ingest", "maintenance"])
@pytest.mark.parametrize("corpus", ["traffic", "hostile"])
def test_the_city_path_stores_refuses_and_signals_what_it_did_before(
    worker: str, corpus: str
) -> None:
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))[worker][corpus]
    assert _now()[worker][corpus] == expected


def test_the_golden_traffic_has_faults_and_refusals() -> None:
    """The record covers what it must: signals from the faults, a dead letter for each
    hostile bundle but the one whose reading only lacks a field."""
    now = _now()
    raised = {s[1] for s in now["maintenance"]["traffic"]["signals"] if s[0] == "raised"}
    assert "level5_fault" in raised
    assert len(now["ingest"]["hostile"]["dead_letters"]) == len(_hostile()) - 1
    assert not now["ingest"]["traffic"]["dead_letters"]


def test_a_bundle_s_messages_are_what_model_construct_builds() -> None:
    """:meth:`TelemetryBundle.messages` builds its messages itself, for speed; they must be
    pydantic's own, attribute by attribute."""
    _, _, payload = traffic()[0]
    bundle = TelemetryBundle.model_validate_json(payload)
    for built, part in zip(bundle.messages(), bundle.devices, strict=True):
        expected = TelemetryMessage.model_construct(
            gateway_id=bundle.gateway_id,
            seq=bundle.seq,
            site=bundle.site,
            device_type=part.device_type,
            device_id=part.device_id,
            profile=part.profile,
            tags=part.tags,
            units=part.units,
            readings=part.readings,
        )
        assert list(built.__dict__.items()) == list(expected.__dict__.items())
        assert built.model_fields_set == expected.model_fields_set
        assert built.__pydantic_extra__ == expected.__pydantic_extra__
        assert built.__pydantic_private__ == expected.__pydantic_private__
        assert built == expected
        assert built.model_dump_json() == expected.model_dump_json()


if __name__ == "__main__":
    print(json.dumps(golden(), indent=1, ensure_ascii=False))
