"""Profile loading: the built-in catalogue, and errors that name the file and the field."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from estatewatch.catalogue import (
    DataType,
    Profile,
    RegisterField,
    RegisterImage,
    Table,
    Value,
    builtin_catalogue,
    load_catalogue,
    load_profile,
)
from estatewatch.catalogue.loader import PROFILES_DIR
from estatewatch.errors import ConfigError

BUILTIN = builtin_catalogue()
MODBUS_FIELDS = [
    pytest.param(p.name, f.key, id=f"{p.name}:{f.key}")
    for p in BUILTIN.profiles.values()
    if p.protocol == "modbus"
    for f in p.fields
]

MODBUS_HEAD = """\
profile: test-device
device_type: test
protocol: modbus
poll_groups: {fast: 1.0, slow: 60.0}
"""


def write(tmp_path: Path, text: str, name: str = "test-device.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    return str(info.value)


# --- the built-in catalogue -------------------------------------------------------


def test_builtin_catalogue_has_the_three_device_kinds() -> None:
    kinds = {name: (p.device_type, p.protocol) for name, p in BUILTIN.profiles.items()}
    assert kinds == {
        "elevator-nice3000": ("elevator", "modbus"),
        "charger-8port": ("charger", "modbus"),
        "smoke-alarm": ("smoke_alarm", "mqtt"),
    }


def test_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown device profile 'lift'.*elevator-nice3000"):
        BUILTIN["lift"]


def _representative(field: RegisterField) -> Value:
    """A value near the top of the field's range, so wrong widths or orders show."""
    if field.type is DataType.BOOL:
        return True
    if field.type is DataType.STRING:
        return "SN12345678ABCDEF"[: 2 * field.length]
    if field.enum:
        return max(field.enum)
    if field.bits is not None:
        return (1 << field.bits.width) - 1
    raw: int | float = {
        DataType.U16: 54321,
        DataType.I16: -12345,
        DataType.U32: 3_000_000_123,
        DataType.I32: -2_000_000_123,
        DataType.U32_BASE10K: 87_654_321,
        DataType.F32: 1234.5,
    }[field.type]
    if field.scale == 1.0:
        return raw
    # The decimal product is the value a reader expects, e.g. 54321 * 0.001 = 54.321.
    return float(Decimal(repr(raw)) * Decimal(repr(field.scale)))


@pytest.mark.parametrize(("profile_name", "key"), MODBUS_FIELDS)
def test_every_builtin_field_round_trips(profile_name: str, key: str) -> None:
    field = BUILTIN[profile_name].field(key)
    image = RegisterImage()
    value = _representative(field)
    image.set(field, value)
    assert image.get(field) == value


@pytest.mark.parametrize("profile_name", ["elevator-nice3000", "charger-8port"])
def test_all_fields_of_a_builtin_profile_fit_in_one_image(profile_name: str) -> None:
    profile = BUILTIN[profile_name]
    values = {f.key: _representative(f) for f in profile.fields}
    image = RegisterImage()
    image.set_many({f.key: f for f in profile.fields}, values)
    assert image.get_many(profile.fields) == values


def test_elevator_matches_the_nice3000_register_map() -> None:
    elevator = BUILTIN["elevator-nice3000"]
    speed = elevator.field("speed")
    assert (speed.table, speed.address, speed.scale, speed.unit) == (
        Table.HOLDING,
        0x1010,
        0.001,
        "m/s",
    )
    run_count = elevator.field("run_count")
    assert (run_count.address, run_count.type, run_count.word_order) == (
        0xF90B,
        DataType.U32_BASE10K,
        "big",
    )
    assert elevator.field("running_hours").address == 0xF909
    assert elevator.field("heatsink_temperature").address == 0xFA07
    assert elevator.field("fault_code").address == 0x8000
    direction = elevator.field("direction")
    assert (direction.address, direction.enum) == (0x3000, {1: "up", 2: "down", 3: "stopped"})
    mode = elevator.field("mode")
    assert mode.address == 0x101D
    assert mode.bits is not None
    assert (mode.bits.low, mode.bits.high) == (4, 7)
    assert mode.label(7) == "automatic"
    assert mode.label(0) == "inspection"
    overload = elevator.field("overload")
    assert (overload.address, overload.type) == (0x101D, DataType.BOOL)
    assert overload.bits is not None
    assert overload.bits.low == 13


def test_elevator_run_count_decodes_as_nice3000_base10k_words() -> None:
    field = BUILTIN["elevator-nice3000"].field("run_count")
    image = RegisterImage()
    # F9-11 = 123 (high), F9-12 = 4567 (low): 123 * 10000 + 4567 runs.
    image.write(Table.HOLDING, 0xF90B, [123, 4567])
    assert image.get(field) == 1_234_567


def test_elevator_level_5_faults_are_the_ones_that_stop_the_car() -> None:
    faults = BUILTIN["elevator-nice3000"].faults
    assert {code for code, f in faults.items() if f.level == 5} == {41, 42, 48, 49, 53}
    assert faults[39].name == "E39"


def test_charger_ports_are_expanded_at_their_stride() -> None:
    charger = BUILTIN["charger-8port"]
    assert charger.instances("port") == list(range(1, 9))
    assert charger.field("port1.state").address == 0x0100
    power = charger.field("port3.power")
    assert (power.table, power.address, power.group, power.instance, power.name) == (
        Table.INPUT,
        0x0123,
        "port",
        3,
        "power",
    )
    assert charger.field("port8.energy").word_order == "little"
    assert charger.field("relay8.enabled").address == 7


def test_fields_default_to_the_first_poll_group(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, MODBUS_HEAD + "fields:\n  - {name: a, address: 0}\n"))
    assert profile.field("a").poll == "fast"


def test_profile_without_poll_groups_gets_the_default_group(tmp_path: Path) -> None:
    text = "profile: p\ndevice_type: d\nprotocol: modbus\nfields:\n  - {name: a, address: 0}\n"
    profile = load_profile(write(tmp_path, text))
    assert profile.poll_groups == {"default": 1.0}
    assert profile.field("a").poll == "default"


def test_bools_on_different_bits_of_one_register_load(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MODBUS_HEAD
        + textwrap.dedent(
            """\
        fields:
          - {name: a, address: 5, type: bool, bits: 0}
          - {name: b, address: 5, type: bool, bits: 1}
          - {name: c, address: 5, type: u16, bits: 2-15}
        """
        ),
    )
    assert [f.key for f in load_profile(path).fields] == ["a", "b", "c"]


# --- errors name the file and the field ---------------------------------------------

FIELD_ERRORS = {
    "bad type": (
        "  - {name: speed, address: 0x10, type: u17}\n",
        ["fields[0] (speed).type: Input should be 'u16'"],
    ),
    "unknown key": (
        "  - {name: speed, address: 0x10, colour: red}\n",
        ["fields[0] (speed).colour: Extra inputs are not permitted"],
    ),
    "overlap": (
        "  - {name: speed, address: 0x10, type: u32}\n  - {name: load, address: 0x11}\n",
        ["load", "overlaps field speed", "0x0011"],
    ),
    "duplicate key": (
        "  - {name: speed, address: 0x10}\n  - {name: speed, address: 0x20}\n",
        ["speed", "used twice"],
    ),
    "unknown poll group": (
        "  - {name: speed, address: 0x10, poll: turbo}\n",
        ["speed.poll", "'turbo'", "declared: fast, slow"],
    ),
    "bool without bits": (
        "  - {name: alarm, address: 0x10, type: bool}\n",
        ["alarm", "needs a single bit"],
    ),
    "bool on several bits": (
        "  - {name: alarm, address: 0x10, type: bool, bits: 2-3}\n",
        ["alarm", "needs a single bit"],
    ),
    "same bit twice": (
        "  - {name: door, address: 0x10, type: bool, bits: 3}\n"
        "  - {name: mode, address: 0x10, type: u16, bits: 0-3}\n",
        ["mode", "overlaps field door"],
    ),
    "reversed bits": (
        "  - {name: mode, address: 0x10, type: u16, bits: 7-4}\n",
        ["mode", "reversed"],
    ),
    "bits on a coil": (
        "  - {name: relay, table: coil, address: 0, type: bool, bits: 3}\n",
        ["relay", "one bit already"],
    ),
    "coil that is not bool": (
        "  - {name: relay, table: coil, address: 0, type: u16}\n",
        ["relay", "must have type bool"],
    ),
    "string without length": (
        "  - {name: serial, address: 0x10, type: string}\n",
        ["serial", "length"],
    ),
    "past the last address": (
        "  - {name: total, address: 0xFFFF, type: u32}\n",
        ["total", "past address 0xFFFF"],
    ),
    "bad name": (
        "  - {name: Speed, address: 0x10}\n",
        ["Speed", "name"],
    ),
}


@pytest.mark.parametrize(("fields", "expected"), FIELD_ERRORS.values(), ids=FIELD_ERRORS.keys())
def test_field_errors_name_file_and_field(tmp_path: Path, fields: str, expected: list[str]) -> None:
    path = write(tmp_path, MODBUS_HEAD + "fields:\n" + fields)
    message = load_error(path)
    assert message.startswith(f"{path}: ")
    for part in expected:
        assert part in message
    assert "\n" not in message


def test_repeats_whose_stride_is_too_small_overlap(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MODBUS_HEAD
        + textwrap.dedent(
            """\
        repeats:
          - name: port
            count: 3
            base: 0x100
            stride: 2
            fields:
              - {name: state, address: 0}
              - {name: power, address: 1, type: u32}
        """
        ),
    )
    message = load_error(path)
    assert message.startswith(f"{path}: field port2.state.address: overlaps field port1.power")


def test_errors_inside_repeats_name_the_group_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MODBUS_HEAD
        + textwrap.dedent(
            """\
        repeats:
          - name: port
            count: 2
            base: 0x100
            stride: 16
            fields:
              - {name: state, address: 0}
              - {name: power, address: 1, type: u64}
        """
        ),
    )
    assert load_error(path).startswith(f"{path}: repeats[0] (port).fields[1] (power).type: ")


def test_undeclared_poll_group_is_rejected_without_poll_groups(tmp_path: Path) -> None:
    text = "profile: p\ndevice_type: d\nprotocol: modbus\nfields:\n"
    text += "  - {name: speed, address: 0, poll: fast}\n"
    path = write(tmp_path, text)
    assert load_error(path) == (
        f"{path}: field speed.poll: unknown poll group 'fast' (declared: default)"
    )


def test_invalid_yaml_gives_the_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MODBUS_HEAD + "fields:\n  - {name: speed, address: 0x10\n  - {name: load}\n",
    )
    message = load_error(path)
    assert message.startswith(f"{path}: not valid YAML at line ")
    # The unclosed mapping opened on line 6 is found to be broken on line 7.
    assert "at line 7," in message


def test_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    assert load_error(path) == f"{path}: cannot read: No such file or directory"


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "- just\n- a list\n")
    assert load_error(path) == f"{path}: expected a mapping at the top level"


def test_missing_top_level_key_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "profile: p\nprotocol: modbus\n")
    assert load_error(path) == f"{path}: device_type: Field required"


MQTT_HEAD = """\
profile: alarm
device_type: smoke_alarm
protocol: mqtt
topic: "vendor/{device_id}/up"
"""


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            "  - {name: battery, key: bat, type: int}\n  - {name: battery, key: b2, type: int}\n",
            "payload battery: the name is used twice",
        ),
        (
            "  - {name: battery, key: bat, type: int}\n  - {name: level, key: bat, type: int}\n",
            "payload level.key: 'bat' is used twice",
        ),
        (
            "  - {name: battery, key: bat, type: integer}\n",
            "payload[0] (battery).type: Input should be",
        ),
    ],
    ids=["duplicate name", "duplicate vendor key", "bad type"],
)
def test_payload_errors_name_file_and_field(tmp_path: Path, payload: str, expected: str) -> None:
    path = write(tmp_path, MQTT_HEAD + "payload:\n" + payload)
    message = load_error(path)
    assert message.startswith(f"{path}: ")
    assert expected in message


def test_mqtt_topic_must_hold_the_device_id(tmp_path: Path) -> None:
    path = write(tmp_path, MQTT_HEAD.replace("{device_id}", "all"))
    assert "needs a topic containing {device_id}" in load_error(path)


def test_mqtt_profile_cannot_have_register_fields(tmp_path: Path) -> None:
    path = write(tmp_path, MQTT_HEAD + "fields:\n  - {name: a, address: 0}\n")
    assert "an mqtt profile has a payload, not register fields" in load_error(path)


def test_catalogue_rejects_a_profile_name_defined_twice(tmp_path: Path) -> None:
    first = write(tmp_path, MODBUS_HEAD + "fields:\n  - {name: a, address: 0}\n", "a.yaml")
    second = write(tmp_path, first.read_text(), "b.yaml")
    with pytest.raises(ConfigError) as info:
        load_catalogue(tmp_path)
    assert str(info.value) == f"{second}: profile: 'test-device' is already defined"


def test_catalogue_loads_every_yaml_in_a_directory(tmp_path: Path) -> None:
    write(tmp_path, MODBUS_HEAD + "fields:\n  - {name: a, address: 0}\n", "a.yaml")
    write(tmp_path, MQTT_HEAD + "payload:\n  - {name: b, key: b, type: int}\n", "b.yaml")
    write(tmp_path, "not: a profile\n", "notes.txt")
    profiles: dict[str, Profile] = load_catalogue(tmp_path).profiles
    assert sorted(profiles) == ["alarm", "test-device"]


def test_a_fault_mapped_to_no_gbt24476_fault_code_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MODBUS_HEAD
        + "fields:\n  - {name: code, address: 0x10}\n"
        + 'faults:\n  41: {name: E41, level: 5, gbt24476: "44"}\n',
    )
    message = load_error(path)
    assert message.startswith(f"{path}: ")
    assert "faults[41].gbt24476" in message
    assert "'44' is no GB/T 24476 fault code" in message


def test_a_derived_field_loads_with_its_type_and_range(tmp_path: Path) -> None:
    text = MODBUS_HEAD + textwrap.dedent("""\
        fields:
          - {name: speed, address: 0}
        derived:
          - {name: speed_percent, type: float, minimum: 0, maximum: 200, unit: "%"}
        """)
    (derived,) = load_profile(write(tmp_path, text)).derived
    assert (derived.name, derived.type, derived.minimum, derived.maximum) == (
        "speed_percent",
        "float",
        0,
        200,
    )


def test_a_derived_field_may_not_take_a_register_fields_name(tmp_path: Path) -> None:
    text = MODBUS_HEAD + textwrap.dedent("""\
        fields:
          - {name: speed, address: 0}
        derived:
          - {name: speed, type: float}
        """)
    with pytest.raises(
        ConfigError, match=r"test-device.yaml: derived speed: the name is used twice"
    ):
        load_profile(write(tmp_path, text))


def test_enum_labels_are_a_device_types_own_and_left_out_where_profiles_disagree(
    tmp_path: Path,
) -> None:
    builtin = builtin_catalogue()
    assert builtin.enum_labels("elevator")["car_state"][6] == "stopped"
    # A charger's enumerated fields are its ports' (a measurement of their own).
    assert builtin.enum_labels("charger") == {}
    # A second elevator profile that numbers car_state otherwise: a 6 from an unknown
    # profile could be either, so car_state gets no label; mode still agrees.
    source = (PROFILES_DIR / "elevator-nice3000.yaml").read_text()
    other = source.replace("profile: elevator-nice3000", "profile: elevator-other").replace(
        "5: running, 6: stopped}", "5: stopped, 6: running}"
    )
    assert other != source.replace("profile: elevator-nice3000", "profile: elevator-other")
    (tmp_path / "a.yaml").write_text(source)
    (tmp_path / "b.yaml").write_text(other)
    labels = load_catalogue(tmp_path).enum_labels("elevator")
    assert "car_state" not in labels
    assert labels["mode"][7] == "automatic"
