"""The device catalogue's data model: what a profile file may say, and what it means.

A profile describes one kind of device. Modbus profiles list register fields (table,
address, data type, word order, scale, unit); fields may sit in repeated groups (the 8
ports of a charger) that the loader expands into concrete fields. MQTT profiles describe
the vendor JSON payload instead. Everything here is pure data: no I/O.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from estatewatch.gbt24476 import CODES


class Table(StrEnum):
    """The four Modbus data tables."""

    HOLDING = "holding"
    INPUT = "input"
    COIL = "coil"
    DISCRETE = "discrete"

    @property
    def is_bit(self) -> bool:
        return self in (Table.COIL, Table.DISCRETE)


class DataType(StrEnum):
    U16 = "u16"
    I16 = "i16"
    U32 = "u32"
    I32 = "i32"
    F32 = "f32"
    # Two words, high word first by default, each holding 0-9999: NICE3000 run counters.
    U32_BASE10K = "u32_base10k"
    STRING = "string"
    BOOL = "bool"

    @property
    def is_integer(self) -> bool:
        return self not in (DataType.F32, DataType.STRING, DataType.BOOL)


WordOrder = Literal["big", "little"]

_WIDTH = {
    DataType.U16: 1,
    DataType.I16: 1,
    DataType.BOOL: 1,
    DataType.U32: 2,
    DataType.I32: 2,
    DataType.F32: 2,
    DataType.U32_BASE10K: 2,
}

_Strict = ConfigDict(extra="forbid", frozen=True)


class BitRange(BaseModel):
    """Bits ``low``..``high`` (inclusive) of a 16-bit register."""

    model_config = _Strict
    low: Annotated[int, Field(ge=0, le=15)]
    high: Annotated[int, Field(ge=0, le=15)]

    @model_validator(mode="after")
    def _ordered(self) -> BitRange:
        if self.high < self.low:
            raise ValueError(f"bit range {self.low}-{self.high} is reversed")
        return self

    @property
    def width(self) -> int:
        return self.high - self.low + 1

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.low


def _parse_bits(value: object) -> object:
    """Accept ``bits: 12`` or ``bits: "4-7"`` as well as the explicit mapping."""
    if isinstance(value, int):
        return {"low": value, "high": value}
    if isinstance(value, str):
        low, sep, high = value.partition("-")
        if not sep:
            high = low
        try:
            return {"low": int(low), "high": int(high)}
        except ValueError:
            raise ValueError(f"bits must look like 12 or '4-7', not {value!r}") from None
    return value


class FieldSpec(BaseModel):
    """One field as written in a profile file (address relative to its group, if any)."""

    model_config = _Strict
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    table: Table = Table.HOLDING
    address: Annotated[int, Field(ge=0, le=0xFFFF)]
    type: DataType = DataType.U16
    word_order: WordOrder | None = None
    bits: BitRange | None = None
    length: Annotated[int, Field(ge=1, le=64)] | None = None
    scale: float = 1.0
    unit: str = ""
    poll: str | None = None
    enum: dict[int, str] | None = None
    description: str = ""
    # A change goes to the central services at once instead of with the gateway's next
    # batch: faults and alarms, which maintenance turns into work orders.
    urgent: bool = False

    _bits_shorthand = field_validator("bits", mode="before")(_parse_bits)

    @model_validator(mode="after")
    def _consistent(self) -> FieldSpec:
        if self.table.is_bit and self.type is not DataType.BOOL:
            raise ValueError(f"a {self.table} field must have type bool, not {self.type}")
        if self.table.is_bit and self.bits is not None:
            # A coil or discrete input is a single bit already; a mask would read it as 0.
            raise ValueError(f"a {self.table} field is one bit already; remove bits")
        if self.bits is not None and self.type not in (DataType.U16, DataType.BOOL):
            raise ValueError("bits can only select from a u16 or bool register field")
        if (
            self.type is DataType.BOOL
            and not self.table.is_bit
            and (self.bits is None or self.bits.width != 1)
        ):
            raise ValueError("a bool in a register needs a single bit, e.g. bits: 7")
        if (self.type is DataType.STRING) != (self.length is not None):
            raise ValueError("length (in registers) is required for, and only for, strings")
        if self.scale == 0:
            raise ValueError("scale must not be 0")
        return self


class RepeatSpec(BaseModel):
    """A group of fields repeated ``count`` times, ``stride`` registers apart."""

    model_config = _Strict
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    count: Annotated[int, Field(ge=1, le=256)]
    base: Annotated[int, Field(ge=0, le=0xFFFF)]
    stride: Annotated[int, Field(ge=1)]
    fields: list[FieldSpec]


class PayloadFieldSpec(BaseModel):
    """One key of a vendor JSON payload and the normalised field it becomes."""

    model_config = _Strict
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    key: str
    type: Literal["int", "float", "str", "bool"]
    required: bool = True
    minimum: float | None = None
    maximum: float | None = None
    choices: list[str] | None = None
    unit: str = ""
    description: str = ""


class DerivedFieldSpec(BaseModel):
    """A field the gateway computes from successive readings rather than reads (an
    elevator's ``speed_percent``): declared here so the central checks know its type and
    range like any register's."""

    model_config = _Strict
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    type: Literal["int", "float", "bool"]
    minimum: float | None = None
    maximum: float | None = None
    unit: str = ""
    description: str = ""


class FaultSpec(BaseModel):
    model_config = _Strict
    name: str
    level: Annotated[int, Field(ge=1, le=5)]
    description: str = ""
    gbt24476: str | None = None
    """The GB/T 24476 fault code regulators know this fault by (none for most)."""

    @field_validator("gbt24476")
    @classmethod
    def _known_fault_code(cls, code: str | None) -> str | None:
        if code is not None and (code not in CODES or CODES[code].kind != "fault"):
            faults = ", ".join(c for c, entry in CODES.items() if entry.kind == "fault")
            raise ValueError(f"{code!r} is no GB/T 24476 fault code; one of {faults}")
        return code


class ProfileSpec(BaseModel):
    """A whole profile file."""

    model_config = _Strict
    profile: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    device_type: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    protocol: Literal["modbus", "mqtt"]
    description: str = ""
    word_order: WordOrder = "big"
    poll_groups: dict[str, Annotated[float, Field(gt=0)]] = {}
    fields: list[FieldSpec] = []
    repeats: list[RepeatSpec] = []
    payload: list[PayloadFieldSpec] = []
    derived: list[DerivedFieldSpec] = []
    # Where the vendor publishes, with {device_id} filled in; MQTT profiles only.
    topic: str | None = None
    faults: dict[int, FaultSpec] = {}

    @model_validator(mode="after")
    def _protocol_parts(self) -> ProfileSpec:
        if self.protocol == "modbus" and self.payload:
            raise ValueError("a modbus profile has fields, not a payload")
        if self.protocol == "mqtt" and (self.fields or self.repeats):
            raise ValueError("an mqtt profile has a payload, not register fields")
        if self.protocol == "mqtt" and (not self.topic or "{device_id}" not in self.topic):
            raise ValueError("an mqtt profile needs a topic containing {device_id}")
        return self


class RegisterField(BaseModel):
    """A concrete, fully resolved register field of a loaded profile."""

    model_config = ConfigDict(frozen=True)
    key: str  # unique in the profile: "speed", or "port3.power" inside a repeat
    name: str  # the field name shared by every instance of a repeat: "power"
    group: str | None  # the repeat it belongs to ("port"), if any
    instance: int | None  # 1-based instance number within the repeat
    table: Table
    address: int
    type: DataType
    word_order: WordOrder
    bits: BitRange | None
    length: int
    scale: float
    unit: str
    poll: str
    enum: dict[int, str] | None
    description: str
    urgent: bool = False

    @property
    def end(self) -> int:
        """One past the last register (or bit) the field occupies."""
        return self.address + self.length

    def label(self, value: int) -> str | None:
        """The enum label of a decoded value, if the field has one."""
        return None if self.enum is None else self.enum.get(value)


def register_width(type_: DataType, length: int | None) -> int:
    if type_ is DataType.STRING:
        assert length is not None  # guaranteed by FieldSpec validation
        return length
    return _WIDTH[type_]
