"""Pure register codec shared by the simulators (encode) and the gateway (decode).

Values travel as 16-bit words, big-endian within each word as Modbus defines. 32-bit
types span two words in the field's word order. Bit fields select bits of one register,
so encoding them is read-modify-write on the current word. Scaled fields decode to floats
rounded to the scale's precision, so 0.001 m/s steps never print as 0.30000000000000004.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from functools import cache

from estatewatch.catalogue.model import DataType, RegisterField, Table
from estatewatch.errors import EstatewatchError

Value = int | float | bool | str


class CodecError(EstatewatchError):
    """A value cannot be encoded into, or decoded from, a field's registers."""


@cache
def _decimals(scale: float) -> int:
    exponent = Decimal(repr(scale)).normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _join(words: Sequence[int], order: str) -> int:
    hi, lo = (words[0], words[1]) if order == "big" else (words[1], words[0])
    return (hi << 16) | lo


def _split(raw: int, order: str) -> list[int]:
    hi, lo = (raw >> 16) & 0xFFFF, raw & 0xFFFF
    return [hi, lo] if order == "big" else [lo, hi]


def _raw_from_words(field: RegisterField, words: Sequence[int]) -> int | float | str:
    t = field.type
    if t is DataType.STRING:
        data = b"".join(w.to_bytes(2, "big") for w in words)
        return data.rstrip(b"\x00 ").decode("ascii", errors="replace")
    if t is DataType.U32_BASE10K:
        hi, lo = (words[0], words[1]) if field.word_order == "big" else (words[1], words[0])
        if hi > 9999 or lo > 9999:
            raise CodecError(f"{field.key}: words {hi}, {lo} are not base-10000 digits")
        return hi * 10000 + lo
    if t in (DataType.U32, DataType.I32, DataType.F32):
        joined = _join(words, field.word_order)
        if t is DataType.U32:
            return joined
        if t is DataType.I32:
            return joined - (1 << 32) if joined & 0x8000_0000 else joined
        value: float = struct.unpack(">f", joined.to_bytes(4, "big"))[0]
        return value
    word = words[0]
    if field.bits is not None:
        return (word & field.bits.mask) >> field.bits.low
    if t is DataType.I16:
        return word - 0x10000 if word & 0x8000 else word
    return word


def decode_field(field: RegisterField, words: Sequence[int]) -> Value:
    """Decode a field from exactly its own words (or its one bit, as 0/1)."""
    if len(words) != field.length:
        raise CodecError(f"{field.key}: needs {field.length} words, got {len(words)}")
    raw = _raw_from_words(field, words)
    if field.type is DataType.BOOL:
        return bool(raw)
    if isinstance(raw, str):
        return raw
    if field.scale == 1.0:
        return raw
    return round(raw * field.scale, _decimals(field.scale))


def encode_field(field: RegisterField, value: Value, current: Sequence[int] = ()) -> list[int]:
    """Encode ``value`` into the field's words; ``current`` supplies bits a field leaves alone."""
    t = field.type
    if t is DataType.STRING:
        if not isinstance(value, str):
            raise CodecError(f"{field.key}: expected text, got {value!r}")
        try:
            data = value.encode("ascii", errors="strict")
        except UnicodeEncodeError as exc:
            raise CodecError(f"{field.key}: {value!r} is not ASCII text") from exc
        if len(data) > 2 * field.length:
            raise CodecError(f"{field.key}: {value!r} is longer than {2 * field.length} chars")
        data = data.ljust(2 * field.length, b"\x00")
        return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    if t is DataType.BOOL:
        bit = 1 if value else 0
        if field.table.is_bit:
            return [bit]
        assert field.bits is not None  # checked when the profile was loaded
        word = current[0] if current else 0
        return [(word & ~field.bits.mask & 0xFFFF) | (bit << field.bits.low)]
    if isinstance(value, str):
        raise CodecError(f"{field.key}: expected a number, got {value!r}")
    if t is DataType.F32:
        try:
            packed = struct.pack(">f", float(value) / field.scale)
        except OverflowError as exc:
            raise CodecError(f"{field.key}: {value!r} is out of range for {t}") from exc
        return _split(int.from_bytes(packed, "big"), field.word_order)
    try:
        raw = round(float(value) / field.scale)
    except (OverflowError, ValueError) as exc:  # inf, nan, or an int too large for a float
        raise CodecError(f"{field.key}: {value!r} is out of range for {t}") from exc
    low, high = _RANGES[t] if field.bits is None else (0, (1 << field.bits.width) - 1)
    if not low <= raw <= high:
        raise CodecError(f"{field.key}: {value!r} is out of range for {t}")
    if field.bits is not None:
        word = current[0] if current else 0
        return [(word & ~field.bits.mask & 0xFFFF) | (raw << field.bits.low)]
    if t is DataType.U32_BASE10K:
        hi, lo = divmod(raw, 10000)
        return [hi, lo] if field.word_order == "big" else [lo, hi]
    if t in (DataType.U32, DataType.I32):
        return _split(raw & 0xFFFF_FFFF, field.word_order)
    return [raw & 0xFFFF]


_RANGES: dict[DataType, tuple[int, int]] = {
    DataType.U16: (0, 0xFFFF),
    DataType.I16: (-0x8000, 0x7FFF),
    DataType.U32: (0, 0xFFFF_FFFF),
    DataType.I32: (-0x8000_0000, 0x7FFF_FFFF),
    DataType.U32_BASE10K: (0, 9999_9999),
}


class RegisterImage:
    """The four data tables of one Modbus device, as plain integers.

    Unwritten addresses read as 0, like the reserved words of a parameter group.
    Coils and discrete inputs hold 0 or 1 per address.
    """

    def __init__(self) -> None:
        self._tables: dict[Table, dict[int, int]] = {t: {} for t in Table}

    def read(self, table: Table, address: int, count: int) -> list[int]:
        cells = self._tables[table]
        return [cells.get(a, 0) for a in range(address, address + count)]

    def write(self, table: Table, address: int, words: Sequence[int]) -> None:
        cells = self._tables[table]
        for offset, word in enumerate(words):
            cells[address + offset] = word

    def set(self, field: RegisterField, value: Value) -> None:
        current = self.read(field.table, field.address, field.length)
        self.write(field.table, field.address, encode_field(field, value, current))

    def get(self, field: RegisterField) -> Value:
        return decode_field(field, self.read(field.table, field.address, field.length))

    def set_many(self, fields: Mapping[str, RegisterField], values: Mapping[str, Value]) -> None:
        for key, value in values.items():
            self.set(fields[key], value)

    def get_many(self, fields: Iterable[RegisterField]) -> dict[str, Value]:
        return {f.key: self.get(f) for f in fields}
