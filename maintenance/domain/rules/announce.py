"""Building the ``Signal`` a rule emits: its outcome fields, message and detail."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from estatewatch.wire import FieldValue
from maintenance.domain.rules.spec import GbtFromField, RuleSpec
from maintenance.domain.signals import DeviceRef, Priority, Signal, SignalKind

__all__ = ["Announcer", "at"]


class _Blanks(dict[str, object]):
    """Message values: a field the reading lacked reads as '?' instead of failing."""

    def __missing__(self, key: str) -> str:
        return "?"


def at(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


class Announcer:
    """The outcome half of one rule: every signal it emits says the same things.

    ``fault_codes`` maps the device type's controller fault codes to GB/T 24476 codes
    (:func:`estatewatch.gbt24476.controller_codes`), for a rule whose code comes from a
    fault-code field; a fault code the map lacks gives no code.
    """

    def __init__(self, rule: RuleSpec, fault_codes: Mapping[int, str] | None = None) -> None:
        self.rule = rule.name
        self.severity = rule.effective_severity
        self.priority: Priority | None = None if rule.notice else rule.priority
        self.notice = rule.notice
        self.fault_kind = rule.fault_kind
        self.template = rule.message
        gbt = rule.gbt24476
        self._code = gbt if isinstance(gbt, str) else None
        self._code_field = gbt.field if isinstance(gbt, GbtFromField) else None
        self._fault_codes = fault_codes or {}

    def code(self, detail: Mapping[str, FieldValue]) -> str | None:
        if self._code_field is None:
            return self._code
        number = detail.get(self._code_field)
        return self._fault_codes.get(number) if isinstance(number, int) else None

    def signal(
        self,
        kind: SignalKind,
        rule_id: str,
        device: DeviceRef,
        building: str | None,
        when: datetime | float,
        detail: Mapping[str, FieldValue],
        priority: Priority | None = None,
    ) -> Signal:
        return Signal(
            kind=kind,
            rule=rule_id,
            device=device,
            at=when if isinstance(when, datetime) else at(when),
            severity=self.severity,
            priority=None if self.notice else (priority or self.priority),
            fault_kind=self.fault_kind,
            message=self.template.format_map(_Blanks(detail)),
            building=building,
            detail=dict(detail),
            code=self.code(detail),
        )
