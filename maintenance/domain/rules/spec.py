"""The rule file: YAML validated with pydantic; every error names the file and the field.

A file holds ``rules:``, a list. A rule is either a *condition rule* (a declarative
condition over a device's reading fields) or a *detector* (``detector:`` names a
statistical or time-based detector with its own parameters). Both share the outcome
fields: ``name`` (the rule id), ``device_type``, ``severity``, ``priority`` (or
``notice: true`` for a counted notice that opens no work order), ``fault_kind``,
``message`` and, optionally, ``gbt24476``: the GB/T 24476 code the alarms carry, either
fixed (``gbt24476: "09"``) or ``{field: fault_code}``, the controller's fault code in that
reading field translated through the device profiles' map (the field must be in the
rule's ``detail``). See ``maintenance/rules/default.yaml`` for every kind in use.

Condition syntax (one node per mapping)::

    {all: [...]}  {any: [...]}  {not: {...}}
    {field: car_load, gt: 0}     operators: eq ne gt ge lt le in changed increased

``changed``/``increased`` hold when the reading carries the field with a value that
differs from / is above the device's previous value.
"""

from __future__ import annotations

import string
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from estatewatch.durations import parse_duration
from estatewatch.errors import ConfigError
from estatewatch.gbt24476 import CODES
from estatewatch.validation import format_validation_error, validate
from maintenance.domain.signals import Priority, Severity

__all__ = [
    "COMPARISONS",
    "ConditionRule",
    "ConditionSpec",
    "DoorZScoreRule",
    "GatewayOfflineRule",
    "GbtFromField",
    "OfflineRule",
    "RuleSpec",
    "SilentLiftRule",
    "detail_name",
    "parse_rules",
]

Duration = Annotated[float, BeforeValidator(parse_duration)]


def _scalar(value: object) -> bool | int | float | str:
    if isinstance(value, bool | int | float | str):
        return value
    raise ValueError(f"{value!r} is not a number, true/false or text")


def _number(value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    raise ValueError(f"{value!r} is not a number")


# One validator each instead of a union, so an error reads "when.gt: ..." rather than
# one line per union member.
Scalar = Annotated[bool | int | float | str, PlainValidator(_scalar)]
Number = Annotated[float, PlainValidator(_number)]
RuleName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
INSTANCE = "{n}"  # stands for the instance number in the fields of a per-port rule

COMPARISONS = ("eq", "ne", "gt", "ge", "lt", "le", "in", "changed", "increased")
_GROUPS = ("all", "any", "not")
_Spec = ConfigDict(extra="forbid", frozen=True)


def _problem(template: str, **context: Any) -> PydanticCustomError:
    return PydanticCustomError("rule", template, context)


def detail_name(field: str) -> str:
    """A detail field's key in the signal and its message: ``port{n}.power`` is ``power``."""
    return field.rsplit(".", 1)[-1]


class ConditionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    all_: list[ConditionSpec] | None = Field(None, alias="all", min_length=1)
    any_: list[ConditionSpec] | None = Field(None, alias="any", min_length=1)
    not_: ConditionSpec | None = Field(None, alias="not")
    field: str | None = None
    eq: Scalar | None = None
    ne: Scalar | None = None
    gt: Number | None = None
    ge: Number | None = None
    lt: Number | None = None
    le: Number | None = None
    in_: list[Scalar] | None = Field(None, alias="in", min_length=1)
    changed: Literal[True] | None = None
    increased: Literal[True] | None = None

    def operator(self) -> tuple[str, Any]:
        """The one comparison of a field node: (name, operand)."""
        for op in COMPARISONS:
            value = getattr(self, op + "_" if op == "in" else op)
            if value is not None:
                return op, value
        raise AssertionError("validated nodes always have an operator")

    def fields(self) -> set[str]:
        if self.field is not None:
            return {self.field}
        children = self.all_ or self.any_ or ([self.not_] if self.not_ else [])
        return set().union(*(c.fields() for c in children))

    @model_validator(mode="after")
    def _one_shape(self) -> ConditionSpec:
        groups = [g for g in _GROUPS if getattr(self, g + "_") is not None]
        ops = [
            op for op in COMPARISONS if getattr(self, op + "_" if op == "in" else op) is not None
        ]
        if self.field is None:
            if ops:
                raise _problem("operator {ops} needs a 'field'", ops=", ".join(ops))
            if len(groups) != 1:
                raise _problem(
                    "give exactly one of all, any, not, or a field with an operator"
                    " (e.g. {example})",
                    example="{field: car_load, gt: 0}",
                )
        elif groups:
            raise _problem("a node with a field cannot also have {g}", g=", ".join(groups))
        elif len(ops) != 1:
            raise _problem(
                "field {field}: give exactly one operator of {all}",
                field=self.field,
                all=" ".join(COMPARISONS),
            )
        return self


class RepeatSpec(BaseModel):
    """Fire when the condition becomes true ``count`` times within ``within``."""

    model_config = _Spec
    count: Annotated[int, Field(ge=2)]
    within: Annotated[Duration, Field(gt=0)]


class EachSpec(BaseModel):
    """Evaluate the rule once per instance of a repeated group (charger ports 1..count)."""

    model_config = _Spec
    group: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    count: Annotated[int, Field(ge=1, le=64)]


class PriorityWhen(BaseModel):
    model_config = _Spec
    when: ConditionSpec
    priority: Priority


class GbtFromField(BaseModel):
    """The code of the controller fault code in ``field`` (through the profiles' map)."""

    model_config = _Spec
    field: str


def _gbt(value: object) -> str | GbtFromField:
    if isinstance(value, str) and value in CODES:
        return value
    if isinstance(value, dict) and list(value) == ["field"] and isinstance(value["field"], str):
        return GbtFromField(field=value["field"])
    raise ValueError(
        f'{value!r} is no GB/T 24476 code; give one of {", ".join(CODES)} (quoted: "09")'
        " or {field: fault_code}"
    )


# One validator instead of a union, so an error is one line about what may be written.
Gbt = Annotated[str | GbtFromField, PlainValidator(_gbt)]


class _RuleBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: RuleName
    description: str = ""
    device_type: Annotated[str, Field(min_length=1)]
    severity: Severity | None = None
    priority: Priority | None = None
    notice: bool = False
    fault_kind: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    message: Annotated[str, Field(min_length=1)]
    gbt24476: Gbt | None = None

    @model_validator(mode="after")
    def _outcome(self) -> _RuleBase:
        if self.notice:
            if self.priority is not None:
                raise _problem("priority: a notice opens no work order, so it has no priority")
            if self.severity not in (None, "notice"):
                raise _problem("severity: a notice has severity 'notice' (or none given)")
        else:
            if self.priority is None:
                raise _problem("priority: required (P1-P4), or set notice: true")
            if self.severity is None or self.severity == "notice":
                raise _problem("severity: required (critical, major or minor) for a non-notice")
        return self

    @property
    def effective_severity(self) -> Severity:
        return "notice" if self.notice else (self.severity or "minor")

    def message_names(self) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(self.message) if name}


class ConditionRule(_RuleBase):
    when: ConditionSpec
    for_: Annotated[Duration, Field(gt=0)] | None = Field(None, alias="for")
    repeat: RepeatSpec | None = None
    clear: ConditionSpec | None = None
    hysteresis: Annotated[float, Field(gt=0)] | None = None
    priority_when: list[PriorityWhen] = []
    each: EachSpec | None = None
    detail: list[str] = []

    @model_validator(mode="after")
    def _consistent(self) -> ConditionRule:
        if self.for_ is not None and self.repeat is not None:
            raise _problem("for, repeat: give a duration or a repeat count, not both")
        if self.clear is not None and self.hysteresis is not None:
            raise _problem("hysteresis: give a clear condition or a hysteresis, not both")
        if self.hysteresis is not None:
            op = self.when.operator()[0] if self.when.field is not None else None
            if op not in ("gt", "ge", "lt", "le"):
                raise _problem(
                    "hysteresis: needs 'when' to be one comparison (gt, ge, lt or le);"
                    " write a clear condition instead"
                )
        if self.notice and self.priority_when:
            raise _problem("priority_when: a notice has no priority")
        if isinstance(self.gbt24476, GbtFromField) and self.gbt24476.field not in self.detail:
            raise _problem(
                "gbt24476.field: {f} must be one of the rule's detail fields",
                f=self.gbt24476.field,
            )
        used = self.when.fields().union(self.detail, *(p.when.fields() for p in self.priority_when))
        if self.clear is not None:
            used |= self.clear.fields()
        templated = sorted(f for f in used if INSTANCE in f)
        if self.each is None and templated:
            raise _problem(
                "each: fields {f} use {marker} but the rule has no 'each'",
                f=", ".join(templated),
                marker=INSTANCE,
            )
        if self.each is not None and not templated:
            raise _problem(
                "each: no field uses {marker}, so every instance would be the same",
                marker=INSTANCE,
            )
        offered = {detail_name(f) for f in self.detail} | {"instance"}
        if self.each is not None:
            offered.add(self.each.group)
        if self.repeat is not None:
            offered.add("count")
        unknown = self.message_names() - offered
        if unknown:
            raise _problem(
                "message: names {u}; it may name {ok}",
                u=", ".join(sorted(unknown)),
                ok=", ".join(sorted(offered)),
            )
        return self


class _DetectorBase(_RuleBase):
    @model_validator(mode="after")
    def _message(self) -> _DetectorBase:
        if isinstance(self.gbt24476, GbtFromField):
            raise _problem('gbt24476: a detector reads no fault code; give a fixed code ("09")')
        unknown = self.message_names() - self.message_fields()
        if unknown:
            raise _problem(
                "message: names {u}; this detector offers {ok}",
                u=", ".join(sorted(unknown)),
                ok=", ".join(sorted(self.message_fields())),
            )
        return self

    def message_fields(self) -> set[str]:
        return set()


class DoorZScoreRule(_DetectorBase):
    """Door open/close time z-score per (car, landing) against a rolling baseline."""

    detector: Literal["door_zscore"]
    z: Annotated[float, Field(gt=0)] = 3.0
    clear_z: Annotated[float, Field(ge=0)] = 2.0
    consecutive: Annotated[int, Field(ge=1)] = 5
    window: Annotated[Duration, Field(ge=86400)] = 30 * 86400.0
    min_samples: Annotated[int, Field(ge=2)] = 50
    min_std: Annotated[float, Field(gt=0)] = 0.05

    @model_validator(mode="after")
    def _order(self) -> DoorZScoreRule:
        if self.clear_z >= self.z:
            raise _problem("clear_z: must be below z ({z}) for hysteresis", z=self.z)
        return self

    def message_fields(self) -> set[str]:
        return {"instance", "landing", "metric", "seconds", "mean", "z"}


class SilentLiftRule(_DetectorBase):
    """No trip for longer than learned for the hour of day the quiet began in."""

    detector: Literal["silent_lift"]
    learning: Annotated[Duration, Field(gt=0)] = 7 * 86400.0
    margin: Annotated[float, Field(ge=1)] = 1.5
    min_quiet: Annotated[Duration, Field(gt=0)] = 900.0
    keep_days: Annotated[int, Field(ge=1, le=366)] = 28

    def message_fields(self) -> set[str]:
        return {"quiet_min", "limit_min", "hour"}


class OfflineRule(_DetectorBase):
    """No data for ``missed`` intervals (given, or learned per device), or a gateway says so."""

    detector: Literal["offline"]
    missed: Annotated[int, Field(ge=1)] = 3
    interval: Annotated[Duration, Field(gt=0)] | None = None
    min_silence: Duration = 0.0

    def message_fields(self) -> set[str]:
        return {"silent_s", "reason"}


class GatewayOfflineRule(_DetectorBase):
    detector: Literal["gateway_offline"]
    device_type: Literal["gateway"] = "gateway"


RuleSpec = ConditionRule | DoorZScoreRule | SilentLiftRule | OfflineRule | GatewayOfflineRule
_DETECTORS: dict[str, type[_DetectorBase]] = {
    "door_zscore": DoorZScoreRule,
    "silent_lift": SilentLiftRule,
    "offline": OfflineRule,
    "gateway_offline": GatewayOfflineRule,
}


class _RuleFile(BaseModel):
    model_config = _Spec
    rules: list[dict[str, Any]]


def _validate_rule(model: type[RuleSpec], item: dict[str, Any], source: str) -> RuleSpec:
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        # Whole-rule checks name their field in the text; drop the "(top level)" prefix.
        text = format_validation_error(source, exc, item)
        raise ConfigError(text.replace("(top level): ", "")) from exc


def parse_rules(raw: Any, source: str) -> list[RuleSpec]:
    """Validate a parsed rule file; ConfigError names ``source``, the rule and the field."""
    items = validate(_RuleFile, raw, source).rules
    rules: list[RuleSpec] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        name = item.get("name")
        where = f"rules[{i}]" + (f" ({name})" if isinstance(name, str) else "")
        detector = item.get("detector")
        model: type[RuleSpec]
        if detector is None:
            model = ConditionRule
        elif isinstance(detector, str) and detector in _DETECTORS:
            model = _DETECTORS[detector]  # type: ignore[assignment]
        else:
            raise ConfigError(
                f"{source}: {where}.detector: unknown detector {detector!r};"
                f" one of {', '.join(_DETECTORS)}"
            )
        rule = _validate_rule(model, item, f"{source}: {where}")
        if rule.name in seen:
            raise ConfigError(f"{source}: {where}.name: rule {rule.name!r} is defined twice")
        seen.add(rule.name)
        rules.append(rule)
    return rules
