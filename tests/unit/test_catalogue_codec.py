"""The register codec: every data type in both word orders, extremes, known vectors.

The fields come from a synthetic profile loaded through ``load_profile``, so the codec is
tested on fields exactly as the loader resolves them.
"""

from __future__ import annotations

import math

import pytest

from estatewatch.catalogue import (
    CodecError,
    Profile,
    RegisterImage,
    Table,
    Value,
    decode_field,
    encode_field,
    load_profile,
)

F32_MAX = 3.4028234663852886e38  # largest finite float32
F32_TINY = 1.401298464324817e-45  # smallest positive (subnormal) float32

PROFILE = """\
profile: codec-test
device_type: test
protocol: modbus
poll_groups: {fast: 1.0}
fields:
  - {name: u16, address: 0, type: u16}
  - {name: i16, address: 1, type: i16}
  - {name: u32_big, address: 2, type: u32}
  - {name: u32_little, address: 4, type: u32, word_order: little}
  - {name: i32_big, address: 6, type: i32}
  - {name: i32_little, address: 8, type: i32, word_order: little}
  - {name: f32_big, address: 10, type: f32}
  - {name: f32_little, address: 12, type: f32, word_order: little}
  - {name: b10k_big, address: 14, type: u32_base10k}
  - {name: b10k_little, address: 16, type: u32_base10k, word_order: little}
  - {name: text, address: 18, type: string, length: 4}
  - {name: speed, address: 22, type: u16, scale: 0.001}
  - {name: temperature, address: 23, type: i16, scale: 0.1}
  - {name: energy, address: 24, type: u32, scale: 0.01}
  - {name: f32_scaled, address: 26, type: f32, scale: 0.1}
  - {name: flag_low, address: 30, type: bool, bits: 0}
  - {name: nibble, address: 30, type: u16, bits: 4-7}
  - {name: state, address: 30, type: u16, bits: 8-11}
  - {name: flag_high, address: 30, type: bool, bits: 15}
  - {name: relay, table: coil, address: 0, type: bool}
  - {name: contact, table: discrete, address: 0, type: bool}
"""


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Profile:
    path = tmp_path_factory.mktemp("codec") / "codec-test.yaml"
    path.write_text(PROFILE, encoding="utf-8")
    return load_profile(path)


ROUND_TRIPS: list[tuple[str, Value]] = [
    ("u16", 0),
    ("u16", 1),
    ("u16", 0xFFFF),
    ("i16", -0x8000),
    ("i16", -1),
    ("i16", 0),
    ("i16", 0x7FFF),
    *[(k, v) for k in ("u32_big", "u32_little") for v in (0, 0x1234_5678, 0xFFFF_FFFF)],
    *[(k, v) for k in ("i32_big", "i32_little") for v in (-(2**31), -1, 0, 2**31 - 1)],
    # float32-exact values, so equality is exact.
    *[
        (k, v)
        for k in ("f32_big", "f32_little")
        for v in (0.0, 1.5, -2.25, 1234.5, F32_MAX, -F32_MAX, F32_TINY)
    ],
    *[(k, v) for k in ("b10k_big", "b10k_little") for v in (0, 9999, 10000, 1_234_567, 9999_9999)],
    ("text", ""),
    ("text", "A"),
    ("text", "ELEV-001"),  # exactly 4 registers
    ("speed", 0.0),
    ("speed", 1.75),
    ("speed", 65.535),
    ("temperature", -3276.8),
    ("temperature", -12.5),
    ("temperature", 3276.7),
    ("energy", 42949672.95),
    ("f32_scaled", 12.5),
    ("flag_low", True),
    ("flag_low", False),
    ("nibble", 0),
    ("nibble", 10),
    ("nibble", 15),
    ("state", 6),
    ("flag_high", True),
    ("relay", True),
    ("relay", False),
    ("contact", True),
    ("contact", False),
]


@pytest.mark.parametrize(("key", "value"), ROUND_TRIPS)
def test_round_trip(profile: Profile, key: str, value: Value) -> None:
    field = profile.field(key)
    image = RegisterImage()
    image.set(field, value)
    decoded = image.get(field)
    assert decoded == value
    # bool and int compare equal; a bool field must not come back as 1.
    assert type(decoded) is type(value)


def test_round_trip_through_words_matches_image(profile: Profile) -> None:
    field = profile.field("u32_little")
    words = encode_field(field, 0xCAFE_F00D)
    assert len(words) == field.length == 2
    assert decode_field(field, words) == 0xCAFE_F00D


KNOWN_WORDS: list[tuple[str, Value, list[int]]] = [
    ("u16", 0xBEEF, [0xBEEF]),
    ("i16", -1, [0xFFFF]),
    ("i16", -0x8000, [0x8000]),
    ("u32_big", 0x1234_5678, [0x1234, 0x5678]),
    ("u32_little", 0x1234_5678, [0x5678, 0x1234]),
    ("i32_big", -2, [0xFFFF, 0xFFFE]),
    ("i32_little", -2, [0xFFFE, 0xFFFF]),
    ("i32_big", 0x0001_0000, [0x0001, 0x0000]),
    # 1.0f is 0x3F800000; the meter order "CDAB" puts the low word first.
    ("f32_big", 1.0, [0x3F80, 0x0000]),
    ("f32_little", 1.0, [0x0000, 0x3F80]),
    ("f32_big", -2.5, [0xC020, 0x0000]),
    # 1 + 2**-23 is 0x3F800001: a non-zero low word shows the swap both ways.
    ("f32_big", 1.0000001192092896, [0x3F80, 0x0001]),
    ("f32_little", 1.0000001192092896, [0x0001, 0x3F80]),
    ("b10k_big", 1_234_567, [123, 4567]),
    ("b10k_little", 1_234_567, [4567, 123]),
    ("text", "AB", [0x4142, 0, 0, 0]),
    ("text", "ELEV-001", [0x454C, 0x4556, 0x2D30, 0x3031]),
    ("speed", 1.234, [1234]),
    ("temperature", -0.5, [0xFFFB]),
    ("f32_scaled", 1.0, [0x4120, 0x0000]),  # raw 10.0f
    ("nibble", 0xA, [0x00A0]),
    ("state", 5, [0x0500]),
    ("flag_high", True, [0x8000]),
    ("relay", True, [1]),
    ("contact", False, [0]),
]


@pytest.mark.parametrize(("key", "value", "words"), KNOWN_WORDS)
def test_known_vectors(profile: Profile, key: str, value: Value, words: list[int]) -> None:
    field = profile.field(key)
    assert encode_field(field, value) == words
    assert decode_field(field, words) == value


def test_known_vector_scaled_u32(profile: Profile) -> None:
    field = profile.field("energy")
    # 700000.00 at scale 0.01 is raw 70,000,000 = 0x042C_1D80.
    assert encode_field(field, 700000.0) == [0x042C, 0x1D80]
    assert decode_field(field, [0x042C, 0x1D80]) == 700000.0


def test_decoding_sign_extends_i16_and_i32(profile: Profile) -> None:
    assert decode_field(profile.field("i16"), [0x8000]) == -0x8000
    assert decode_field(profile.field("i32_big"), [0x8000, 0x0000]) == -(2**31)
    assert decode_field(profile.field("i32_little"), [0x0000, 0x8000]) == -(2**31)


def test_string_decoding_drops_padding(profile: Profile) -> None:
    assert decode_field(profile.field("text"), [0x4142, 0x4300, 0, 0]) == "ABC"


def test_scaled_values_decode_to_the_step_not_float_noise(profile: Profile) -> None:
    field = profile.field("speed")
    # 300 * 0.001 is 0.30000000000000004 in plain float arithmetic.
    assert repr(decode_field(field, [300])) == "0.3"
    assert repr(decode_field(profile.field("temperature"), [0xFFFF])) == "-0.1"


def test_scaled_encoding_rounds_to_the_nearest_step(profile: Profile) -> None:
    field = profile.field("temperature")
    assert encode_field(field, 21.46) == [215]
    assert encode_field(field, 21.44) == [214]


def test_f32_round_trip_is_float32_precise(profile: Profile) -> None:
    field = profile.field("f32_little")
    decoded = decode_field(field, encode_field(field, 0.1))
    assert isinstance(decoded, float)
    assert decoded == pytest.approx(0.1, rel=1e-7)


def test_f32_carries_nan_and_infinity(profile: Profile) -> None:
    field = profile.field("f32_big")
    assert encode_field(field, math.inf) == [0x7F80, 0x0000]
    nan = decode_field(field, encode_field(field, math.nan))
    assert isinstance(nan, float)
    assert math.isnan(nan)


OUT_OF_RANGE: list[tuple[str, Value]] = [
    ("u16", -1),
    ("u16", 0x1_0000),
    ("i16", -0x8001),
    ("i16", 0x8000),
    ("u32_big", -1),
    ("u32_little", 2**32),
    ("i32_big", -(2**31) - 1),
    ("i32_little", 2**31),
    ("b10k_big", -1),
    ("b10k_little", 10**8),
    ("speed", 65.536),  # raw 65536
    ("speed", -0.001),
    ("temperature", 3276.8),
    ("energy", 42949672.96),
    ("f32_big", 1e39),
    ("f32_little", -1e39),
    ("f32_scaled", F32_MAX),  # raw is 10 times larger than float32 can hold
    ("nibble", 16),
    ("nibble", -1),
    ("state", 0x10),
    ("text", "ELEV-0001"),  # 9 chars in 4 registers
    ("text", "温度"),
    ("text", 12),
    ("u16", "12"),
    ("u16", math.nan),
    ("u16", math.inf),
    ("u32_big", 10**400),
]


@pytest.mark.parametrize(
    ("key", "value"), OUT_OF_RANGE, ids=[f"{k}-{v!r:.16}" for k, v in OUT_OF_RANGE]
)
def test_unencodable_values_raise_codec_error_naming_the_field(
    profile: Profile, key: str, value: Value
) -> None:
    field = profile.field(key)
    image = RegisterImage()
    image.write(field.table, field.address, [0x5A5A] * field.length)
    with pytest.raises(CodecError, match=rf"^{key}: "):
        image.set(field, value)
    # A rejected value leaves the registers as they were.
    assert image.read(field.table, field.address, field.length) == [0x5A5A] * field.length


def test_base10k_rejects_words_that_are_not_base10k_digits(profile: Profile) -> None:
    with pytest.raises(CodecError, match=r"^b10k_big: words 10000, 0"):
        decode_field(profile.field("b10k_big"), [10000, 0])


@pytest.mark.parametrize(("key", "words"), [("u16", []), ("u32_big", [1]), ("text", [0, 0])])
def test_decoding_the_wrong_number_of_words_names_the_field(
    profile: Profile, key: str, words: list[int]
) -> None:
    with pytest.raises(CodecError, match=rf"^{key}: needs \d+ words, got {len(words)}"):
        decode_field(profile.field(key), words)


def test_bit_fields_sharing_a_register_do_not_clobber_each_other(profile: Profile) -> None:
    flag_low, nibble = profile.field("flag_low"), profile.field("nibble")
    state, flag_high = profile.field("state"), profile.field("flag_high")
    image = RegisterImage()
    # Bits 1-3 and 12-14 belong to no field; a device may still set them.
    image.write(Table.HOLDING, 30, [0x700E])

    image.set(flag_low, True)
    image.set(nibble, 9)
    image.set(state, 5)
    image.set(flag_high, True)
    assert image.read(Table.HOLDING, 30, 1) == [0xF59F]

    image.set(nibble, 0)
    image.set(flag_low, False)
    assert image.read(Table.HOLDING, 30, 1) == [0xF50E]
    assert image.get_many([flag_low, nibble, state, flag_high]) == {
        "flag_low": False,
        "nibble": 0,
        "state": 5,
        "flag_high": True,
    }


def test_encode_field_keeps_the_other_bits_of_current(profile: Profile) -> None:
    assert encode_field(profile.field("nibble"), 3, current=[0xFFFF]) == [0xFF3F]
    assert encode_field(profile.field("flag_low"), False, current=[0xFFFF]) == [0xFFFE]


def test_fields_next_to_each_other_do_not_overlap(profile: Profile) -> None:
    image = RegisterImage()
    values: dict[str, Value] = {
        "u32_big": 0xFFFF_FFFF,
        "u32_little": 0x1234_5678,
        "i32_big": -1,
        "text": "ABCDEFGH",
        "speed": 4.5,
    }
    image.set_many({f.key: f for f in profile.fields}, values)
    assert image.get_many(profile.field(k) for k in values) == values


def test_unwritten_registers_read_as_zero(profile: Profile) -> None:
    image = RegisterImage()
    assert image.get(profile.field("i32_little")) == 0
    assert image.get(profile.field("text")) == ""
    assert image.get(profile.field("relay")) is False
