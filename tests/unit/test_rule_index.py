"""The rule engine observes a reading only with the rules it concerns
(:class:`~maintenance.domain.rules.condition_rule.RuleIndex`); it must signal exactly what
observing it with every rule signals. Held on random readings of the shipped rules'
fields, with the values their conditions name and their neighbours, partial readings
included (a condition then reads the device's previous value), so stretches, ``for``
durations, repeat counts, clears and priorities all occur."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from estatewatch.catalogue import builtin_catalogue
from estatewatch.gbt24476 import controller_codes
from estatewatch.wire import FieldValue
from maintenance.config_files import DEFAULT_RULES, load_rules
from maintenance.domain.observations import TelemetryReading
from maintenance.domain.rules import RuleEngine
from maintenance.domain.rules.condition_rule import CompiledRule, RuleIndex
from maintenance.domain.rules.spec import ConditionRule, ConditionSpec, RuleSpec
from maintenance.domain.signals import DeviceRef, Signal

START = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
RULES = load_rules(DEFAULT_RULES)


def _nodes(spec: ConditionSpec | None) -> Iterator[ConditionSpec]:
    if spec is None:
        return
    yield spec
    for child in [*(spec.all_ or ()), *(spec.any_ or ()), *([spec.not_] if spec.not_ else [])]:
        yield from _nodes(child)


def _candidates(rules: Sequence[RuleSpec], device_type: str) -> dict[str, list[FieldValue]]:
    """Each field the device type's condition rules read, and values around what they
    compare it with."""
    values: dict[str, set[FieldValue]] = {}
    for rule in rules:
        if not isinstance(rule, ConditionRule) or rule.device_type != device_type:
            continue
        count = rule.each.count if rule.each else 1
        specs = [rule.when, rule.clear, *(p.when for p in rule.priority_when)]
        for node in (n for spec in specs for n in _nodes(spec)):
            if node.field is None:
                continue
            op, operand = node.operator()
            near: set[FieldValue] = {0}
            for x in operand if isinstance(operand, list) else [operand]:
                if isinstance(x, bool):
                    near |= {True, False}
                elif isinstance(x, int | float):
                    near |= {x, x - 1, x + 1, x + 0.5, x - 0.5}
                elif x is not None:
                    near |= {x, "other"}
            if op in ("changed", "increased"):
                near |= {1, 2, 3}
            for n in range(1, count + 1):
                key = node.field.replace("{n}", str(n))
                values.setdefault(key, set()).update(near)
    return {key: sorted(vs, key=repr) for key, vs in values.items()}


def _readings(device_type: str, seed: int, seconds: int) -> list[TelemetryReading]:
    rng = random.Random(seed)
    candidates = _candidates(RULES, device_type)
    keys = sorted(candidates)
    out = []
    for second in range(seconds):
        for n in range(3):
            # Values hold for a while, as a device's do, so durations complete.
            fields = {
                key: rng.choice(candidates[key])
                for key in keys
                if rng.random() < (0.9 if second % 20 == 0 else 0.15)
            }
            if fields:
                ref = DeviceRef("site-01", device_type, f"dev-{n}")
                ts = START + timedelta(seconds=second * 3 + n * 0.5)
                out.append(TelemetryReading(ref, f"B{n}", ts, fields))
    return out


def _signals(readings: list[TelemetryReading]) -> list[Signal]:
    now = [START]
    engine = RuleEngine(RULES, lambda: now[0], fault_codes=controller_codes(builtin_catalogue()))
    signals: list[Signal] = []
    for reading in readings:
        now[0] = reading.ts
        signals += engine.observe(reading)
        if reading.device.device_id == "dev-2":
            signals += engine.tick(reading.ts)
    return signals


@pytest.mark.parametrize("device_type", ["elevator", "charger", "smoke_alarm"])
@pytest.mark.parametrize("seed", range(4))
def test_the_index_signals_what_every_rule_would(
    device_type: str, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    readings = _readings(device_type, seed, 400)
    indexed = _signals(readings)

    def every(self: RuleIndex, fields: object, dev: object) -> Sequence[CompiledRule]:
        return self.rules

    monkeypatch.setattr(RuleIndex, "concerned", every)
    assert indexed == _signals(readings)
    assert len({(s.kind, s.rule) for s in indexed}) >= 3  # the test exercises something
