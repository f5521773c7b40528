"""Condition specs compiled to closures once, at load, so evaluating one costs a few calls.

A compiled condition takes the reading's fields and the device's previous values (what
earlier readings said; a reading may carry only what changed) and looks each field up in
the reading first. A missing field, or a text value under a numeric comparison, makes a
comparison false rather than raising: a device that does not report a field cannot
satisfy a rule about it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from estatewatch.wire import FieldValue
from maintenance.domain.rules.spec import INSTANCE, ConditionSpec

__all__ = [
    "Condition",
    "Guard",
    "Values",
    "compile_condition",
    "guard",
    "hysteresis_clear",
    "negate",
]

Values = Mapping[str, FieldValue]
Condition = Callable[[Values, Values], bool]
Guard = tuple[str, frozenset[FieldValue]]
"""A field and the values it must have (read as the conditions read it: the reading's,
else the device's previous) for a condition to hold."""


def compile_condition(spec: ConditionSpec, instance: int | None = None) -> Condition:
    """The closure for ``spec``; ``instance`` replaces ``{n}`` in field names."""
    if spec.all_ is not None:
        return _all([compile_condition(c, instance) for c in spec.all_])
    if spec.any_ is not None:
        return _any([compile_condition(c, instance) for c in spec.any_])
    if spec.not_ is not None:
        return negate(compile_condition(spec.not_, instance))
    assert spec.field is not None  # the spec's validator allows nothing else
    key = spec.field.replace(INSTANCE, str(instance)) if instance is not None else spec.field
    op, operand = spec.operator()
    return _COMPARE[op](key, operand)


def guard(spec: ConditionSpec, instance: int | None = None) -> Guard | None:
    """What ``spec`` needs of one field to hold, if it can say: ``eq`` and ``in`` name
    their values, ``all`` its first child's need. A value outside them makes the
    condition false, whatever the other fields say, so a rule whose ``when`` needs it can
    be passed over. A value is in the set exactly when it is ``==`` to one of them (the
    set compares by hash and ``==``, which agree for bools, numbers and strings)."""
    if spec.all_ is not None:
        for child in spec.all_:
            found = guard(child, instance)
            if found is not None:
                return found
        return None
    if spec.field is None:
        return None
    op, operand = spec.operator()
    if op not in ("eq", "in"):
        return None
    key = spec.field.replace(INSTANCE, str(instance)) if instance is not None else spec.field
    return key, frozenset(operand if op == "in" else (operand,))


def hysteresis_clear(when: ConditionSpec, band: float) -> ConditionSpec:
    """Clear only ``band`` past the threshold: raise at >= 80, clear below 75."""
    op, threshold = when.operator()
    if op in ("gt", "ge"):
        return ConditionSpec.model_validate({"field": when.field, "lt": threshold - band})
    return ConditionSpec.model_validate({"field": when.field, "gt": threshold + band})


def negate(cond: Condition) -> Condition:
    def not_(f: Values, s: Values) -> bool:
        return not cond(f, s)

    return not_


def _all(conds: list[Condition]) -> Condition:
    if len(conds) == 2:  # the common case, without a loop
        a, b = conds

        def both(f: Values, s: Values) -> bool:
            return a(f, s) and b(f, s)

        return both

    def all_(f: Values, s: Values) -> bool:
        return all(c(f, s) for c in conds)

    return all_


def _any(conds: list[Condition]) -> Condition:
    def any_(f: Values, s: Values) -> bool:
        return any(c(f, s) for c in conds)

    return any_


def _number_op(key: str, x: Any, test: Callable[[Any, Any], bool]) -> Condition:
    def compare(f: Values, s: Values) -> bool:
        v = f.get(key)
        if v is None:
            v = s.get(key)
        return v is not None and v.__class__ is not str and test(v, x)

    return compare


def _eq(key: str, x: Any) -> Condition:
    def eq(f: Values, s: Values) -> bool:
        v = f.get(key)
        if v is None:
            v = s.get(key)
        return v is not None and v == x

    return eq


def _ne(key: str, x: Any) -> Condition:
    def ne(f: Values, s: Values) -> bool:
        v = f.get(key)
        if v is None:
            v = s.get(key)
        return v is not None and v != x

    return ne


def _in(key: str, xs: list[FieldValue]) -> Condition:
    members = frozenset(xs)

    def in_(f: Values, s: Values) -> bool:
        v = f.get(key)
        if v is None:
            v = s.get(key)
        return v is not None and v in members

    return in_


def _changed(key: str, _: Any) -> Condition:
    def changed(f: Values, s: Values) -> bool:
        v = f.get(key)
        before = s.get(key)
        return v is not None and before is not None and v != before

    return changed


def _increased(key: str, _: Any) -> Condition:
    def increased(f: Values, s: Values) -> bool:
        v = f.get(key)
        before = s.get(key)
        return (
            v is not None
            and before is not None
            and v.__class__ is not str
            and before.__class__ is not str
            and v > before  # type: ignore[operator]  # both numbers here
        )

    return increased


_COMPARE: dict[str, Callable[[str, Any], Condition]] = {
    "eq": _eq,
    "ne": _ne,
    "gt": lambda k, x: _number_op(k, x, operator.gt),
    "ge": lambda k, x: _number_op(k, x, operator.ge),
    "lt": lambda k, x: _number_op(k, x, operator.lt),
    "le": lambda k, x: _number_op(k, x, operator.le),
    "in": _in,
    "changed": _changed,
    "increased": _increased,
}
