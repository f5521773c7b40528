"""One condition rule on one device: raise, repeat, clear, with duration or repeat count.

Semantics (per device, per rule instance):

- a *stretch* starts when ``when`` becomes true; the rule fires once per stretch, when the
  stretch has lasted ``for`` (checked on readings and on ``tick``), or at once;
- a ``repeat`` rule instead counts the readings on which ``when`` holds and fires on the
  ``count``-th within ``within`` (then counts afresh); pair it with ``changed`` or
  ``increased`` so that it counts events (a new stop), not a value read again;
- it fires ``raised`` if not active, else ``repeated``;
- while active and ``when`` is false it clears when the clear condition holds: ``clear``
  if given, else the ``hysteresis`` band past the threshold, else ``not when``; a repeat
  rule without ``clear`` clears once ``within`` passes without a new stretch.

A per-port rule (``each``) is compiled once per instance with the id ``name/<group><n>``
(``charger_overheat/port3``), so each port is its own (device, rule) alarm; the signal's
detail carries the instance number under the group name (``port: 3``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from estatewatch.wire import FieldValue
from maintenance.domain.rules.announce import Announcer
from maintenance.domain.rules.conditions import (
    Condition,
    Values,
    compile_condition,
    hysteresis_clear,
    negate,
)
from maintenance.domain.rules.spec import INSTANCE, ConditionRule, detail_name
from maintenance.domain.rules.state import DeviceState, Verdict
from maintenance.domain.signals import Priority, Signal, SignalKind

__all__ = ["CompiledRule", "compile_rule"]


def compile_rule(
    spec: ConditionRule, fault_codes: Mapping[int, str] | None = None
) -> list[CompiledRule]:
    """The rule's instances; ``fault_codes`` as for :class:`Announcer`."""
    if spec.each is None:
        return [CompiledRule(spec, None, fault_codes)]
    return [CompiledRule(spec, n, fault_codes) for n in range(1, spec.each.count + 1)]


class CompiledRule:
    __slots__ = (
        "_announce",
        "_detail",
        "_instance",
        "_priorities",
        "clear",
        "for_s",
        "id",
        "repeat",
        "when",
    )

    def __init__(
        self,
        spec: ConditionRule,
        instance: int | None,
        fault_codes: Mapping[int, str] | None = None,
    ) -> None:
        self.id = spec.name
        self._instance: tuple[str, int] | None = None
        if spec.each is not None and instance is not None:
            self.id = f"{spec.name}/{spec.each.group}{instance}"
            self._instance = (spec.each.group, instance)
        self._announce = Announcer(spec, fault_codes)
        self.when = compile_condition(spec.when, instance)
        self.for_s = spec.for_ or 0.0
        self.repeat = (spec.repeat.count, spec.repeat.within) if spec.repeat else None
        self.clear: Condition | None
        if spec.clear is not None:
            self.clear = compile_condition(spec.clear, instance)
        elif spec.hysteresis is not None:
            self.clear = compile_condition(hysteresis_clear(spec.when, spec.hysteresis), instance)
        elif self.repeat is not None:
            self.clear = None  # a quiet window clears it
        else:
            self.clear = negate(self.when)
        self._priorities = [
            (compile_condition(p.when, instance), p.priority) for p in spec.priority_when
        ]
        n = str(instance)
        self._detail = [(detail_name(f), f.replace(INSTANCE, n)) for f in spec.detail]

    # --- the hot path ------------------------------------------------------------------

    def observe(
        self, dev: DeviceState, f: Values, t: float, ts: datetime, out: list[Signal]
    ) -> None:
        h = self.when(f, dev.values)
        v = dev.verdicts.get(self.id)
        if v is None:
            if not h:
                return
            v = dev.verdicts[self.id] = Verdict()
        if h:
            if self.repeat is not None:
                v.holding, v.last_hit = True, t
                v.hits.append(t)
                if self._due(v, t):
                    self._fire(dev, v, f, ts, out)
                return
            if not v.holding:
                v.holding, v.since, v.fired = True, t, False
            if not v.fired and self._due(v, t):
                self._fire(dev, v, f, ts, out)
            return
        v.holding, v.since = False, None
        if v.active:
            if self.clear is not None:
                if self.clear(f, dev.values):
                    self._end(dev, v, f, ts, out)
            elif (
                self.repeat is not None
                and v.last_hit is not None
                and t - v.last_hit >= self.repeat[1]
            ):
                self._end(dev, v, f, ts, out)
        if self.repeat is not None:
            self._prune(v, t)
        if v.idle():
            del dev.verdicts[self.id]

    def tick(self, dev: DeviceState, v: Verdict, now: float, out: list[Signal]) -> None:
        """Complete a ``for`` the data went quiet during; expire repeat windows."""
        empty: dict[str, FieldValue] = {}
        due = self.for_s > 0 and v.since is not None and now - v.since >= self.for_s
        if v.holding and not v.fired and due:
            self._fire(dev, v, empty, now, out)
        if self.repeat is not None:
            self._prune(v, now)
            quiet = v.last_hit is not None and now - v.last_hit >= self.repeat[1]
            if v.active and self.clear is None and quiet:
                self._end(dev, v, empty, now, out)
        if v.idle():
            del dev.verdicts[self.id]

    # --- helpers -----------------------------------------------------------------------

    def _due(self, v: Verdict, t: float) -> bool:
        if self.repeat is not None:
            self._prune(v, t)
            return len(v.hits) >= self.repeat[0]
        return t - (v.since or t) >= self.for_s

    def _prune(self, v: Verdict, t: float) -> None:
        assert self.repeat is not None
        horizon = t - self.repeat[1]
        if v.hits and v.hits[0] <= horizon:
            v.hits = [h for h in v.hits if h > horizon]

    def _fire(
        self, dev: DeviceState, v: Verdict, f: Values, when: datetime | float, out: list[Signal]
    ) -> None:
        kind: SignalKind = "repeated" if v.active else "raised"
        v.priority = self._priority(f, dev.values)
        v.active, v.fired = True, True
        detail = self._details(f, dev.values)
        if self.repeat is not None:
            detail["count"] = len(v.hits)
            v.hits = []
        out.append(self._signal(kind, dev, when, detail, v.priority))

    def _end(
        self, dev: DeviceState, v: Verdict, f: Values, when: datetime | float, out: list[Signal]
    ) -> None:
        v.active = False
        out.append(self._signal("cleared", dev, when, self._details(f, dev.values), v.priority))

    def _signal(
        self,
        kind: SignalKind,
        dev: DeviceState,
        when: datetime | float,
        detail: dict[str, FieldValue],
        priority: Priority | None,
    ) -> Signal:
        return self._announce.signal(kind, self.id, dev.ref, dev.building, when, detail, priority)

    def _priority(self, f: Values, s: Values) -> Priority | None:
        for cond, priority in self._priorities:
            if cond(f, s):
                return priority
        return self._announce.priority

    def _details(self, f: Values, s: Values) -> dict[str, FieldValue]:
        detail: dict[str, FieldValue] = {}
        for name, key in self._detail:
            value = f.get(key)
            if value is None:
                value = s.get(key)
            if value is not None:
                detail[name] = value
        if self._instance is not None:
            group, n = self._instance
            detail[group] = n
            detail["instance"] = f"{group}{n}"
        return detail
