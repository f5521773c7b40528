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

from collections.abc import Mapping, Sequence
from datetime import datetime

from estatewatch.wire import FieldValue
from maintenance.domain.rules.announce import Announcer
from maintenance.domain.rules.conditions import (
    Condition,
    Guard,
    Values,
    compile_condition,
    guard,
    hysteresis_clear,
    negate,
)
from maintenance.domain.rules.spec import INSTANCE, ConditionRule, detail_name
from maintenance.domain.rules.state import DeviceState, Verdict
from maintenance.domain.signals import Priority, Signal, SignalKind

__all__ = ["CompiledRule", "RuleIndex", "compile_rule"]


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
        "guard",
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
        self.guard: Guard | None = guard(spec.when, instance)
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


class RuleIndex:
    """A device type's condition rules, and which of them a reading concerns.

    :meth:`CompiledRule.observe` does nothing when its ``when`` is false and the device
    has no verdict of the rule under way (no stretch, alarm or count to carry on), and
    most of an elevator's rules want one value of one field (a fault code, a car state, a
    limit switch). So a reading is given only the rules without such a guard, the rules
    whose guard it meets and the rules with a verdict on the device, in their order: the
    signals are the same, for a look-up per guarded field instead of a condition per
    rule.
    """

    def __init__(self, rules: Sequence[CompiledRule]) -> None:
        self.rules = tuple(rules)
        self._position = {rule.id: n for n, rule in enumerate(self.rules)}
        unguarded = tuple(n for n, rule in enumerate(self.rules) if rule.guard is None)
        tables: dict[str, dict[FieldValue, tuple[int, ...]]] = {}
        for n, rule in enumerate(self.rules):
            if rule.guard is not None:
                key, wanted = rule.guard
                table = tables.setdefault(key, {})
                for value in wanted:
                    table[value] = (*table.get(value, ()), n)
        self._tables = tuple(tables.items())
        self._unguarded = unguarded
        # The guards' verdicts on a reading -> its rules; as many entries as the guards
        # have combinations of hits, a handful.
        self._chosen: dict[tuple[tuple[int, ...] | None, ...], tuple[CompiledRule, ...]] = {}

    def concerned(self, fields: Values, dev: DeviceState) -> Sequence[CompiledRule]:
        """The rules a reading of ``fields`` on ``dev`` is to be observed by, in order."""
        before = dev.values
        hits = []
        for key, table in self._tables:
            # As the conditions read a field: the reading's value, else the previous one.
            value = fields.get(key)
            if value is None:
                value = before.get(key)
            hits.append(None if value is None else table.get(value))
        found = tuple(hits)
        chosen = self._chosen.get(found)
        if chosen is None:
            numbers = sorted({*self._unguarded, *(n for hit in found if hit for n in hit)})
            chosen = self._chosen[found] = tuple(self.rules[n] for n in numbers)
        if not dev.verdicts:
            return chosen
        numbers = sorted(
            {*(self._position[r.id] for r in chosen), *(self._position[i] for i in dev.verdicts)}
        )
        return [self.rules[n] for n in numbers]
