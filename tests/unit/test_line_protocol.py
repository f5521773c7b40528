"""Line protocol encoding: escaping, types, ordering, and what cannot be written."""

from __future__ import annotations

import enum

import pytest

from ingest.line_protocol import FieldValue, Point, Problem, encode


def _line(
    measurement: str = "m",
    tags: dict[str, str] | None = None,
    fields: dict[str, FieldValue] | None = None,
    problems: list[Problem] | None = None,
) -> str:
    point = Point(measurement, tags or {}, fields if fields is not None else {"f": 1}, 7)
    return encode([point], problems).decode()


def test_a_plain_point_is_one_terminated_line() -> None:
    assert _line("elevator", {"site": "demo"}, {"floor": 3}) == "elevator,site=demo floor=3i 7\n"


def test_several_points_are_several_lines() -> None:
    points = [Point("m", {}, {"f": i}, i) for i in range(3)]
    assert encode(points) == b"m f=0i 0\nm f=1i 1\nm f=2i 2\n"


def test_no_points_is_an_empty_body() -> None:
    assert encode([]) == b""


@pytest.mark.parametrize(
    ("measurement", "written"),
    [("a,b", "a\\,b"), ("a b", "a\\ b"), ("a=b", "a=b"), ('a"b', 'a"b')],
)
def test_measurement_escapes_commas_and_spaces(measurement: str, written: str) -> None:
    assert _line(measurement) == f"{written} f=1i 7\n"


@pytest.mark.parametrize(
    ("raw", "written"),
    [("a,b", "a\\,b"), ("a=b", "a\\=b"), ("a b", "a\\ b"), ('a"b', 'a"b'), ("a\\b", "a\\b")],
)
def test_tag_keys_tag_values_and_field_keys_escape_commas_equals_spaces(
    raw: str, written: str
) -> None:
    assert _line(tags={raw: "v"}) == f"m,{written}=v f=1i 7\n"
    assert _line(tags={"t": raw}) == f"m,t={written} f=1i 7\n"
    assert _line(fields={raw: 1}) == f"m {written}=1i 7\n"


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('say "hi"', '"say \\"hi\\""'),
        ("C:\\dir", '"C:\\\\dir"'),
        ('\\"', '"\\\\\\""'),
        ("a,b=c d", '"a,b=c d"'),
        ("two\nlines\r", '"two\\nlines\\r"'),
        ("", '""'),
    ],
)
def test_string_fields_escape_quotes_and_backslashes_and_never_break_the_line(
    value: str, written: str
) -> None:
    line = _line(fields={"s": value})
    assert line == f"m s={written} 7\n"
    assert line.count("\n") == 1


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (3, "3i"),
        (-3, "-3i"),
        (0, "0i"),
        (2**63 - 1, f"{2**63 - 1}i"),
        (3.0, "3.0"),
        (0.1, "0.1"),
        (-2.5e-7, "-2.5e-07"),
        (1e300, "1e+300"),
        (True, "true"),
        (False, "false"),
        ("3", '"3"'),
    ],
)
def test_types_bool_is_not_int_ints_get_i_floats_are_repr(value: FieldValue, written: str) -> None:
    assert _line(fields={"f": value}) == f"m f={written} 7\n"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), 2**63, -(2**63) - 1])
def test_unwritable_numbers_are_left_out_and_reported(value: float) -> None:
    problems: list[Problem] = []
    assert _line(fields={"bad": value, "ok": 1}, problems=problems) == "m ok=1i 7\n"
    assert [(p.measurement, p.key) for p in problems] == [("m", "bad")]
    assert "cannot be written" in problems[0].reason


def test_a_point_with_no_writable_field_is_left_out_and_reported() -> None:
    problems: list[Problem] = []
    assert _line(fields={"bad": float("nan")}, problems=problems) == ""
    assert [p.key for p in problems] == ["bad", ""]
    assert _line(fields={}) == ""


def test_tags_are_sorted_by_key_and_empty_values_dropped() -> None:
    line = _line(tags={"site": "s", "building": "", "device_id": "d", "b": "x"})
    assert line == "m,b=x,device_id=d,site=s f=1i 7\n"


def test_tag_order_does_not_depend_on_the_mapping_order() -> None:
    first = _line(tags={"a": "1", "b": "2"})
    assert _line(tags={"b": "2", "a": "1"}) == first


@pytest.mark.parametrize(
    ("measurement", "tags", "fields"),
    [
        ("two\nlines", {}, {"f": 1}),
        ("#comment", {}, {"f": 1}),
        ("", {}, {"f": 1}),
        ("ends\\", {}, {"f": 1}),
        ("m", {"t": "two\nlines"}, {"f": 1}),
        ("m", {"t\r": "v"}, {"f": 1}),
        ("m", {"t": "ends\\"}, {"f": 1}),
        ("m", {"": "v"}, {"f": 1}),
    ],
)
def test_names_that_cannot_be_written_drop_the_point_and_are_reported(
    measurement: str, tags: dict[str, str], fields: dict[str, FieldValue]
) -> None:
    problems: list[Problem] = []
    good = Point("m", {}, {"f": 1}, 1)
    body = encode([Point(measurement, tags, fields, 7), good], problems)
    # The neighbour survives: one odd point never costs a batch.
    assert body == b"m f=1i 1\n"
    assert len(problems) == 1


@pytest.mark.parametrize("key", ["two\nlines", "", "ends\\", "time"])
def test_field_keys_that_cannot_be_written_are_left_out_and_reported(key: str) -> None:
    problems: list[Problem] = []
    assert _line(fields={key: 1, "ok": 2}, problems=problems) == "m ok=2i 7\n"
    assert [(p.key, p.reason) for p in problems] == [(key, "field key cannot be written")]


def test_a_field_named_time_is_refused_even_after_time_was_a_tag_value() -> None:
    assert _line(tags={"t": "time"}, fields={"f": 1}) == "m,t=time f=1i 7\n"
    for _ in range(2):
        assert _line(fields={"time": 1, "ok": 2}) == "m ok=2i 7\n"


def test_problems_are_reported_on_every_encode_not_only_the_first() -> None:
    # Series keys are memoised; a bad one must not be memoised into silence.
    bad = Point("m", {"t": "x\n"}, {"f": 1}, 1)
    for _ in range(2):
        problems: list[Problem] = []
        assert encode([bad], problems) == b""
        assert len(problems) == 1


def test_no_problems_list_means_silently_left_out() -> None:
    assert encode([Point("m", {}, {"f": float("nan")}, 1)]) == b""


def test_subclasses_of_the_field_types_encode_as_their_base_type() -> None:
    class Code(int):
        pass

    class Label(str):
        __slots__ = ()

    class Colour(str, enum.Enum):  # noqa: UP042 - the mixin whose str() is its name
        RED = "red"

    class Level(enum.IntEnum):
        HIGH = 5

    assert _line(fields={"c": Code(4), "l": Label("x")}) == 'm c=4i,l="x" 7\n'
    assert _line(fields={"c": Colour.RED, "l": Level.HIGH}) == 'm c="red",l=5i 7\n'
