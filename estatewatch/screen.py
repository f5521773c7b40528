"""The central checks: what a gateway sends, judged against the device catalogue (pure).

The wire schema (:func:`estatewatch.inbound.parse`) says a message is well formed; the
screen says it is believable, before ingest stores it or maintenance judges it. Both
take their messages from :meth:`Screen.__call__` (the decoder of their
:class:`~estatewatch.mqtt.WireConsumer`), so they accept exactly the same things. The
gateway's own checks stay as they are; these hold whatever reaches the broker, whoever
published it.

What is checked (the reason code of a refusal in brackets):

- a telemetry message names a catalogue profile of its own device type
  [``unknown_profile``] and carries at most ``max_readings`` readings
  [``too_many_readings``];
- each field of a reading is one the profile declares (register fields, payload fields,
  derived fields) [``unknown_field``], of the profile's type [``wrong_type``]: a bool is a
  bool, an integer field an int, a float field a float (an int is taken as the same
  float, so InfluxDB sees one type per field), a string a string; and within range
  [``out_of_range``]: a register field within what its registers can hold after scaling
  (a u16 at scale 0.001 is 0 to 65.535; a bit field within its bits), a payload or
  derived field within the profile's ``minimum``/``maximum`` (or its ``choices``), an
  integer without bounds within InfluxDB's int64, a float finite (NaN and infinities are
  ``out_of_range`` wherever they appear), a string at most 256 characters (a register
  string at most its registers' bytes);
- a reading's, event's or status's time is at most ``max_ahead`` after the message was
  received and at most ``max_age`` before [``time_ahead``, ``time_too_old``]: a gateway
  replays a buffered backlog, so the past window is the longest outage a gateway's buffer
  is meant to bridge;
- tags: only the keys in ``tag_keys`` [``unknown_tag``], values 1-64 characters of
  letters (any script), digits, spaces and ``_ - . : # ( ) +``, never ``..``
  [``bad_tag``];
- an event's device type is one the catalogue knows [``unknown_device_type``], its
  ``detail`` only the keys its kind has (:data:`EVENT_DETAIL`), values as
  for fields (finite, strings at most 256 characters) [``bad_detail``].

**Whole or part.** A refused profile or too many readings refuse the whole message. A
field, tag, detail key or reading (by its time) that fails is taken out and the rest goes
on: a reading with a NaN speed still carries its fault code to the rule engine. What was
taken out becomes one dead letter (:attr:`Parsed.refused`: the first problem's code, the
problems named, and the parts themselves as JSON), so nothing is dropped unseen. A
message left with no reading, or a status outside the time window, is refused whole.

**Bundles** (wire version 2, several devices' telemetry in one message): each device's
part is judged exactly as its version 1 message would be, and what a version 1 message
would lose whole (an unknown profile, too many readings, no reading left) only that
device's part loses. One dead letter for the bundle names every device's problems
(``elev-01: readings[0].speed: ...``) and keeps the parts taken out (``{"devices":
[...]}``); a bundle with no device left is refused whole.

Fast: the profile's fields are compiled into per-key rules once (:class:`Screen` builds
them at construction); a message costs a dictionary lookup and a type and range test per
field.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Final

from pydantic import BeforeValidator, Field
from pydantic_settings import BaseSettings, NoDecode

from estatewatch.catalogue.loader import Catalogue, Profile
from estatewatch.catalogue.model import DataType, RegisterField
from estatewatch.clock import Clock
from estatewatch.durations import parse_duration
from estatewatch.inbound import PAYLOAD_TEXT_LIMIT, Parsed, Rejected, parse, reject
from estatewatch.wire import (
    EventMessage,
    FieldValue,
    GatewayStatus,
    Reading,
    TelemetryBundle,
    TelemetryMessage,
)

__all__ = [
    "EVENT_DETAIL",
    "FieldRule",
    "Screen",
    "ScreenLimits",
    "ScreenSettings",
]

UNKNOWN_PROFILE: Final = "unknown_profile"
UNKNOWN_DEVICE_TYPE: Final = "unknown_device_type"
TOO_MANY_READINGS: Final = "too_many_readings"
UNKNOWN_FIELD: Final = "unknown_field"
WRONG_TYPE: Final = "wrong_type"
OUT_OF_RANGE: Final = "out_of_range"
TIME_AHEAD: Final = "time_ahead"
TIME_TOO_OLD: Final = "time_too_old"
UNKNOWN_TAG: Final = "unknown_tag"
BAD_TAG: Final = "bad_tag"
BAD_DETAIL: Final = "bad_detail"

EVENT_DETAIL: Final[Mapping[str, frozenset[str]]] = {
    # gateway/derive.py
    "door_cycle": frozenset(
        {"reversals", "reversal", "landing", "open_s", "close_s", "box_open_s", "box_close_s"}
    ),
    "trip": frozenset({"from_floor", "to_floor", "duration_s", "direction", "halted"}),
    # gateway/poller.py and gateway/mqtt_source.py: a device's health changed
    "device_online": frozenset({"state", "previous", "reason"}),
    "device_degraded": frozenset({"state", "previous", "reason"}),
    "device_offline": frozenset({"state", "previous", "reason"}),
    # gateway/smoke_normalise.py: what a smoke alarm said besides its heartbeat
    "message": frozenset({"message_type"}),
}
"""The detail keys each event kind may carry: each becomes a field of the ``event``
measurement, so an unknown one would be a new InfluxDB field key."""

_INT64: Final = (-(2**63), 2**63 - 1)
_F32_MAX: Final = 3.4028234663852886e38
_TEXT_MAX: Final = 256
_TAG_VALUE = re.compile(r"[\w .:#()+-]{1,64}")  # whole values only: fullmatch
_REGISTER_RANGE: Final = {
    DataType.U16: (0, 0xFFFF),
    DataType.I16: (-0x8000, 0x7FFF),
    DataType.U32: (0, 0xFFFF_FFFF),
    DataType.I32: (-0x8000_0000, 0x7FFF_FFFF),
    DataType.U32_BASE10K: (0, 99_999_999),
}
_MAX_LISTED: Final = 3  # problems named in a dead letter's reason
_FINE_TAGS_LIMIT: Final = 10_000


def _duration(value: object) -> object:
    return parse_duration(value) if isinstance(value, str) else value


def _names(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


Seconds = Annotated[float, BeforeValidator(_duration), Field(ge=0)]


class ScreenSettings(BaseSettings):
    """The screen's settings, shared by ingest and maintenance (each reads them under its
    own prefix: ``ESTATEWATCH_INGEST_MAX_AHEAD``, ``ESTATEWATCH_MAINTENANCE_MAX_AHEAD``)."""

    # How far after its receipt a reading may be dated (clocks drift; "5m").
    max_ahead: Seconds = 300.0
    # How far before its receipt: the longest outage a gateway's buffer bridges ("30d").
    max_age: Seconds = 30 * 86400.0
    max_readings: Annotated[int, Field(ge=1, le=100_000)] = 1000
    # The tag keys gateways may send ("building,location" in the environment).
    tag_keys: Annotated[tuple[str, ...], NoDecode, BeforeValidator(_names)] = (
        "building",
        "location",
    )

    @property
    def screen_limits(self) -> ScreenLimits:
        return ScreenLimits(
            max_ahead=timedelta(seconds=self.max_ahead),
            max_age=timedelta(seconds=self.max_age),
            max_readings=self.max_readings,
            tag_keys=frozenset(self.tag_keys),
        )


@dataclass(frozen=True, slots=True)
class ScreenLimits:
    max_ahead: timedelta = timedelta(minutes=5)
    max_age: timedelta = timedelta(days=30)
    max_readings: int = 1000
    tag_keys: frozenset[str] = frozenset({"building", "location"})


@dataclass(frozen=True, slots=True)
class FieldRule:
    """What one field may hold: ``kind`` is int, float, bool or str."""

    kind: str
    low: float = -math.inf
    high: float = math.inf
    max_length: int = _TEXT_MAX
    choices: frozenset[str] | None = None
    exact: type | None = dataclasses.field(init=False)
    """The type a value passes as it is (a number within ``low`` to ``high``, or a bool);
    None for strings, which take the full judgement."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "exact", _EXACT.get(self.kind))


_EXACT: Final[Mapping[str, type]] = {"int": int, "float": float, "bool": bool}


def _register_rule(field: RegisterField) -> FieldRule:
    if field.type is DataType.BOOL:
        return FieldRule("bool")
    if field.type is DataType.STRING:
        return FieldRule("str", max_length=2 * field.length)
    if field.type is DataType.F32:
        return FieldRule("float", -_F32_MAX, _F32_MAX)
    low, high = (0, (1 << field.bits.width) - 1) if field.bits else _REGISTER_RANGE[field.type]
    if field.scale == 1.0:
        return FieldRule("int", low, high)
    # Half a step of slack: the gateway rounds the scaled value to the scale's precision.
    slack = abs(field.scale) / 2
    ends = sorted((low * field.scale, high * field.scale))
    return FieldRule("float", ends[0] - slack, ends[1] + slack)


def _declared_rule(kind: str, minimum: float | None, maximum: float | None) -> FieldRule:
    low, high = _INT64 if kind == "int" else (-math.inf, math.inf)
    return FieldRule(
        kind,
        low if minimum is None else minimum,
        high if maximum is None else maximum,
    )


def compile_profile(profile: Profile) -> dict[str, FieldRule]:
    """Every field key ``profile``'s readings may carry, with its rule."""
    rules = {field.key: _register_rule(field) for field in profile.fields}
    for spec in profile.payload:
        rule = _declared_rule(spec.type, spec.minimum, spec.maximum)
        if spec.choices:
            rule = FieldRule("str", choices=frozenset(spec.choices))
        rules[spec.name] = rule
    for derived in profile.derived:
        rules[derived.name] = _declared_rule(derived.type, derived.minimum, derived.maximum)
    return rules


def _judge(rule: FieldRule, value: FieldValue) -> tuple[str, str] | None:
    """``(code, why)`` when ``value`` breaks ``rule``."""
    kind, type_ = rule.kind, type(value)
    if kind == "float" or kind == "int":
        if type_ is not int and (kind == "int" or type_ is not float):
            return WRONG_TYPE, f"{_shown(value)} is not {'an int' if kind == 'int' else 'a number'}"
        assert isinstance(value, int | float)
        if not rule.low <= value <= rule.high:  # also NaN, which compares false
            return OUT_OF_RANGE, f"{_shown(value)} is outside {rule.low:g} to {rule.high:g}"
        return None
    if kind == "bool":
        return None if type_ is bool else (WRONG_TYPE, f"{_shown(value)} is not a bool")
    if type_ is not str:
        return WRONG_TYPE, f"{_shown(value)} is not a string"
    assert isinstance(value, str)
    if rule.choices is not None and value not in rule.choices:
        return OUT_OF_RANGE, f"{_shown(value)} is not one of {', '.join(sorted(rule.choices))}"
    if len(value) > rule.max_length:
        return OUT_OF_RANGE, f"{len(value)} characters, more than {rule.max_length}"
    return None


def _shown(value: object) -> str:
    """A value in a reason: its repr, shortened."""
    return _short(repr(value))


def _label(name: str) -> str:
    """A key or name in a reason: as it is, unless it is not plain text (a control
    character in a dead letter's log line could forge a line), then its repr."""
    return _short(name if name.isprintable() else repr(name))


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def _judge_detail(value: FieldValue) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value!r} is not a finite number"
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and not _INT64[0] <= value <= _INT64[1]
    ):
        return f"{_shown(value)} does not fit 64 bits"
    if isinstance(value, str) and len(value) > _TEXT_MAX:
        return f"{len(value)} characters, more than {_TEXT_MAX}"
    return None


class _Refusals:
    """The parts taken out of one message, and why."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []  # (code, "where: why")
        self.parts: dict[str, object] = {}

    def add(self, code: str, where: str, why: str) -> None:
        self.problems.append((code, f"{where}: {why}"))

    def whole(self, code: str, why: str) -> None:
        """The message as a whole is refused, and ``why`` is the reason."""
        self.problems = [(code, why)]

    def reason(self) -> str:
        listed = "; ".join(text for _, text in self.problems[:_MAX_LISTED])
        more = len(self.problems) - _MAX_LISTED
        return listed + (f" (and {more} more)" if more > 0 else "")

    def rejected(self, topic: str) -> Rejected:
        text = json.dumps(self.parts, default=str)[:PAYLOAD_TEXT_LIMIT]
        return Rejected(topic, f"taken out: {self.reason()}", text, self.problems[0][0])


class Screen:
    """Parses and checks one broker message; its :meth:`__call__` is a consumer's decoder.

    ``clock`` gives the receive time the time window is counted from.
    """

    def __init__(self, catalogue: Catalogue, limits: ScreenLimits, clock: Clock) -> None:
        self.limits, self._clock = limits, clock
        self._profiles = {
            name: (profile.device_type, compile_profile(profile))
            for name, profile in catalogue.profiles.items()
        }
        self._device_types = frozenset(device_type for device_type, _ in self._profiles.values())
        self._fine_tags: set[str] = set()

    def window(self) -> tuple[datetime, datetime]:
        """The earliest and latest time a message received now may carry."""
        now = self._clock()
        return now - self.limits.max_age, now + self.limits.max_ahead

    def profile(self, name: str) -> tuple[str, Mapping[str, FieldRule]] | None:
        """The device type of catalogue profile ``name`` and its fields' rules."""
        return self._profiles.get(name)

    def fine_tag(self, key: str, value: str) -> bool:
        """Whether tag ``key`` may be sent with ``value``."""
        return key in self.limits.tag_keys and (value in self._fine_tags or self._fine_tag(value))

    def __call__(self, topic: str, payload: bytes) -> Parsed | Rejected:
        parsed = parse(topic, payload)
        if isinstance(parsed, Rejected):
            return parsed
        message = parsed.message
        window = self.window()
        if isinstance(message, GatewayStatus):
            problem = _outside(message.ts, window)
            if problem is not None:
                return reject(topic, f"ts: {problem[1]}", payload, code=problem[0])
            return parsed
        if isinstance(message, TelemetryBundle):
            return self._bundle(parsed, message, window, payload)
        refusals = _Refusals()
        kept = self._device(message, window, refusals)
        if kept is None:
            return reject(topic, refusals.reason(), payload, code=refusals.problems[0][0])
        if kept is message:
            return parsed
        refused = refusals.rejected(topic) if refusals.problems else None
        return Parsed(parsed.topic, parsed.kind, kept, parsed.gateway_id, parsed.seq, refused)

    def _device(
        self,
        message: TelemetryMessage | EventMessage,
        window: tuple[datetime, datetime],
        refusals: _Refusals,
    ) -> TelemetryMessage | EventMessage | None:
        """What of ``message`` passes (``message`` itself if all of it); None if nothing
        does, or it is refused whole. ``refusals`` gets the problems."""
        tags = self._tags(message.tags, refusals)
        if isinstance(message, TelemetryMessage):
            known = self._profiles.get(message.profile)
            if known is None or known[0] != message.device_type:
                why = (
                    f"profile {_label(message.profile)} is no catalogue profile of"
                    f" device type {message.device_type}"
                )
                refusals.whole(UNKNOWN_PROFILE, why)
                return None
            if len(message.readings) > self.limits.max_readings:
                why = f"{len(message.readings)} readings, more than {self.limits.max_readings}"
                refusals.whole(TOO_MANY_READINGS, why)
                return None
            return self._telemetry(message, known[1], tags, window, refusals)
        if message.device_type not in self._device_types:
            why = f"device type {message.device_type} is in no catalogue profile"
            refusals.whole(UNKNOWN_DEVICE_TYPE, why)
            return None
        return self._event(message, tags, window, refusals)

    def _bundle(
        self,
        parsed: Parsed,
        bundle: TelemetryBundle,
        window: tuple[datetime, datetime],
        payload: bytes,
    ) -> Parsed | Rejected:
        """Each device's part screened as its version 1 message would be; one dead letter
        for the bundle names every device's problems, and keeps the parts taken out."""
        kept: list[TelemetryMessage] = []
        problems: list[tuple[str, str]] = []
        parts: list[dict[str, object]] = []
        changed = False
        for message in parsed.messages:  # built once, and kept for the consumer
            assert isinstance(message, TelemetryMessage)
            refusals = _Refusals()
            passed = self._device(message, window, refusals)
            assert passed is None or isinstance(passed, TelemetryMessage)
            changed = changed or passed is not message
            if passed is not None:
                kept.append(passed)
            device = message.device_id
            problems += [(code, f"{device}: {text}") for code, text in refusals.problems]
            if passed is None:
                # Refused whole: the device's part goes to the dead letter as it came.
                parts.append(message.model_dump(mode="json", exclude={"schema_version"}))
            elif refusals.parts:
                parts.append({"device_id": device, **refusals.parts})
        if not changed:
            return parsed
        taken_out = _Refusals()
        taken_out.problems, taken_out.parts = problems, {"devices": parts}
        if not kept:
            return reject(parsed.topic, taken_out.reason(), payload, code=problems[0][0])
        return Parsed(
            parsed.topic,
            parsed.kind,
            TelemetryBundle.of(bundle.gateway_id, bundle.seq, bundle.site, kept),
            parsed.gateway_id,
            parsed.seq,
            taken_out.rejected(parsed.topic) if problems else None,
        )

    def _tags(self, tags: dict[str, str], refusals: _Refusals) -> dict[str, str]:
        allowed = self.limits.tag_keys
        bad: dict[str, str] = {}
        for key, value in tags.items():
            if key not in allowed:
                refusals.add(UNKNOWN_TAG, f"tag {_label(key)}", "not a known tag key")
                bad[key] = value
            elif value not in self._fine_tags and not self._fine_tag(value):
                why = f"value {_shown(value)} is not 1-64 letters, digits, spaces or _-.:#()+"
                refusals.add(BAD_TAG, f"tag {key}", why)
                bad[key] = value
        if not bad:
            return tags
        refusals.parts["tags"] = bad
        return {key: value for key, value in tags.items() if key not in bad}

    def _fine_tag(self, value: str) -> bool:
        """Whether ``value`` may be a tag's value; remembered if so, since a site's few
        buildings and locations come in every message (forgotten past a limit, so a
        stream of new values cannot eat memory)."""
        if not _TAG_VALUE.fullmatch(value) or ".." in value:
            return False
        if len(self._fine_tags) >= _FINE_TAGS_LIMIT:
            self._fine_tags.clear()
        self._fine_tags.add(value)
        return True

    def _telemetry(
        self,
        message: TelemetryMessage,
        rules: dict[str, FieldRule],
        tags: dict[str, str],
        window: tuple[datetime, datetime],
        refusals: _Refusals,
    ) -> TelemetryMessage | None:
        readings: list[Reading] = []
        refused: list[dict[str, object]] = []
        changed = tags is not message.tags
        for index, reading in enumerate(message.readings):
            problem = _outside(reading.ts, window)
            if problem is not None:
                refusals.add(problem[0], f"readings[{index}].ts", problem[1])
                refused.append({"ts": reading.ts.isoformat(), "fields": reading.fields})
                changed = True
                continue
            fields = _fields(reading.fields, rules, index, refusals)
            if fields is reading.fields:
                readings.append(reading)
                continue
            changed = True
            gone = {key: value for key, value in reading.fields.items() if key not in fields}
            if gone:
                refused.append({"ts": reading.ts.isoformat(), "fields": gone})
            if fields:
                readings.append(Reading.model_construct(ts=reading.ts, fields=fields))
        if refused:
            refusals.parts["readings"] = refused
        if not readings:
            return None
        if not changed:
            return message
        return message.model_copy(update={"readings": readings, "tags": tags})

    def _event(
        self,
        message: EventMessage,
        tags: dict[str, str],
        window: tuple[datetime, datetime],
        refusals: _Refusals,
    ) -> EventMessage | None:
        problem = _outside(message.ts, window)
        if problem is not None:
            refusals.add(problem[0], "ts", problem[1])
            return None
        allowed = EVENT_DETAIL[message.kind]
        bad: dict[str, FieldValue] = {}
        for key, value in message.detail.items():
            why = "not a detail of this kind" if key not in allowed else _judge_detail(value)
            if why is not None:
                refusals.add(BAD_DETAIL, f"detail {_label(key)}", why)
                bad[key] = value
        if bad:
            refusals.parts["detail"] = bad
        if not bad and tags is message.tags:
            return message
        detail = {key: value for key, value in message.detail.items() if key not in bad}
        return message.model_copy(update={"detail": detail, "tags": tags})


def _fields(
    fields: dict[str, FieldValue], rules: dict[str, FieldRule], index: int, refusals: _Refusals
) -> dict[str, FieldValue]:
    """``fields`` itself when every one passes, else a new dict of those that do (ints of
    float fields as floats)."""
    # The common case alone first: every value of its rule's exact type (a bool, whose
    # range is everything, or a number in range). One field otherwise and the reading
    # takes the full judgement.
    for key, value in fields.items():
        rule = rules.get(key)
        if (
            rule is None or type(value) is not rule.exact or not rule.low <= value <= rule.high  # type: ignore[operator]  # bool or number
        ):
            return _judged(fields, rules, index, refusals)
    return fields


def _judged(
    fields: dict[str, FieldValue], rules: dict[str, FieldRule], index: int, refusals: _Refusals
) -> dict[str, FieldValue]:
    """:func:`_fields`, field by field."""
    kept: dict[str, FieldValue] | None = None
    for key, value in fields.items():
        rule = rules.get(key)
        # The common case first, without a call: a number of its rule's type in range,
        # or a bool. Anything else takes the full judgement below.
        if rule is not None:
            kind = rule.kind
            if (
                (type(value) is float and kind == "float") or (type(value) is int and kind == "int")
            ) and rule.low <= value <= rule.high:
                if kept is not None:
                    kept[key] = value
                continue
            if type(value) is bool and kind == "bool":
                if kept is not None:
                    kept[key] = value
                continue
        if rule is None:
            problem: tuple[str, str] | None = (UNKNOWN_FIELD, "not a field of the profile")
        else:
            problem = _judge(rule, value)
        if problem is None and not (
            rule is not None and rule.kind == "float" and type(value) is int
        ):
            if kept is not None:
                kept[key] = value
            continue
        if kept is None:
            kept = {k: v for k, v in _before(fields, key)}
        if problem is None:
            kept[key] = float(value)
        else:
            refusals.add(problem[0], f"readings[{index}].{_label(key)}", problem[1])
    return fields if kept is None else kept


def _before(fields: dict[str, FieldValue], stop: str) -> Iterable[tuple[str, FieldValue]]:
    for key, value in fields.items():
        if key == stop:
            return
        yield key, value


def _outside(ts: datetime, window: tuple[datetime, datetime]) -> tuple[str, str] | None:
    earliest, latest = window
    if ts > latest:
        return (
            TIME_AHEAD,
            f"{ts.isoformat()} is after {latest.isoformat()} (the receive time + max_ahead)",
        )
    if ts < earliest:
        return (
            TIME_TOO_OLD,
            f"{ts.isoformat()} is before {earliest.isoformat()} (the receive time - max_age)",
        )
    return None
