"""InfluxQL text built by the query module: escaping, validation, no injection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from estatewatch.influx.query import (
    format_duration,
    latest_query,
    quote_identifier,
    quote_string,
    series_query,
)

START = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
END = START + timedelta(hours=1)
START_NS = 1_795_507_200_000_000_000
END_NS = START_NS + 3_600_000_000_000

HOSTILE = [
    'elev-01" OR 1=1 --',
    "x'; DROP MEASUREMENT elevator",
    "elev-01'\nDROP MEASUREMENT elevator; SELECT '",
    "elev-01\\",
    "elev-01\\'; DROP DATABASE estatewatch; --",
    "\n'\"\\",
]

_ESCAPES = {"n": "\n", "\\": "\\", "'": "'", '"': '"'}


def _tokens(text: str) -> tuple[str, list[str]]:
    """``text`` with every quoted token replaced by Q, and those tokens unescaped.

    Follows InfluxQL's scanner: quotes open a token outside one, a backslash escapes
    ``\\n``, ``\\\\``, ``\\'`` and ``\\"``, anything else after it is a syntax error, and
    a raw newline inside a token is an error.
    """
    skeleton: list[str] = []
    literals: list[str] = []
    i = 0
    while i < len(text):
        quote = text[i]
        if quote not in "'\"":
            skeleton.append(quote)
            i += 1
            continue
        value: list[str] = []
        i += 1
        while text[i] != quote:
            assert text[i] != "\n", "raw newline inside a quoted token"
            if text[i] == "\\":
                value.append(_ESCAPES[text[i + 1]])
                i += 2
            else:
                value.append(text[i])
                i += 1
        i += 1
        skeleton.append(f"{quote}Q{quote}")
        literals.append("".join(value))
    return "".join(skeleton), literals


@pytest.mark.parametrize("name", ["elevator", 'a"b', "a\\b", "a'b", "two\nlines"])
def test_identifiers_round_trip_through_the_scanner(name: str) -> None:
    skeleton, literals = _tokens(quote_identifier(name))
    assert (skeleton, literals) == ('"Q"', [name])


@pytest.mark.parametrize("value", ["plain", "it's", "back\\slash", 'dq"', "a\nb", *HOSTILE])
def test_string_literals_round_trip_through_the_scanner(value: str) -> None:
    skeleton, literals = _tokens(quote_string(value))
    assert (skeleton, literals) == ("'Q'", [value])


def test_a_carriage_return_is_refused_since_influxql_cannot_express_it() -> None:
    # Dropping it instead would quietly match another device.
    with pytest.raises(ValueError, match="carriage return"):
        quote_string("elev-01\r")
    with pytest.raises(ValueError, match="carriage return"):
        quote_identifier("a\rb")


def test_latest_query_text() -> None:
    assert latest_query("elevator", site="demo", device_ids=["elev-01", "elev-02"]) == (
        'SELECT LAST(*) FROM "elevator" WHERE "site" = \'demo\' AND '
        '("device_id" = \'elev-01\' OR "device_id" = \'elev-02\') GROUP BY "device_id"; '
        'SELECT * FROM "elevator" WHERE "site" = \'demo\' AND '
        '("device_id" = \'elev-01\' OR "device_id" = \'elev-02\') GROUP BY "device_id" '
        "ORDER BY time DESC LIMIT 1; "
        'SHOW FIELD KEYS FROM "elevator"'
    )


def test_latest_on_ports_groups_by_port_too() -> None:
    assert latest_query("charger_port").startswith(
        'SELECT LAST(*) FROM "charger_port" GROUP BY "device_id", "port"; '
    )


def test_series_raw_text() -> None:
    assert series_query("elevator", "elev-01", ["floor", "speed"], START, END) == (
        'SELECT "floor", "speed" FROM "elevator" WHERE "device_id" = \'elev-01\' '
        f"AND time >= {START_NS} AND time < {END_NS}; "
        'SHOW FIELD KEYS FROM "elevator"'
    )


def test_series_downsampled_text() -> None:
    text = series_query(
        "charger_port",
        "chg-01",
        ["power"],
        START,
        END,
        every=timedelta(minutes=5),
        aggregate="max",
        port=3,
    )
    assert text == (
        'SELECT max("power") AS "power" FROM "charger_port" WHERE "device_id" = \'chg-01\' '
        f"AND \"port\" = '3' AND time >= {START_NS} AND time < {END_NS} "
        'GROUP BY time(300s) fill(none); SHOW FIELD KEYS FROM "charger_port"'
    )


def test_series_of_one_sites_device_quotes_the_site() -> None:
    text = series_query("elevator", "elev-01", ["floor"], START, END, site="o'neil\\")
    assert text.startswith(
        'SELECT "floor" FROM "elevator" WHERE "device_id" = \'elev-01\' '
        "AND \"site\" = 'o\\'neil\\\\' AND time >= "
    )


def test_series_on_ports_without_a_port_groups_by_port() -> None:
    text = series_query("charger_port", "chg-01", ["power"], START, END)
    assert 'GROUP BY "port";' in text


def test_times_are_converted_to_utc_nanoseconds() -> None:
    local = START.astimezone(timezone(timedelta(hours=8)))
    assert series_query("elevator", "e", ["floor"], local, END) == series_query(
        "elevator", "e", ["floor"], START, END
    )


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_device_ids_stay_inside_one_literal(hostile: str) -> None:
    benign_latest = _tokens(latest_query("elevator", device_ids=["elev-01"]))
    benign_series = _tokens(
        series_query("elevator", "elev-01", ["floor"], START, END, every=timedelta(seconds=1))
    )
    latest = _tokens(latest_query("elevator", device_ids=[hostile]))
    series = _tokens(
        series_query("elevator", hostile, ["floor"], START, END, every=timedelta(seconds=1))
    )
    # Same statements around the literal, and the literal is exactly the id.
    assert latest[0] == benign_latest[0]
    assert series[0] == benign_series[0]
    assert hostile in latest[1]
    assert hostile in series[1]


def test_hostile_sites_stay_inside_one_literal() -> None:
    skeleton, literals = _tokens(latest_query("elevator", site="x' OR '1'='1"))
    assert skeleton == _tokens(latest_query("elevator", site="demo"))[0]
    assert "x' OR '1'='1" in literals


@pytest.mark.parametrize(
    "name",
    ['elevator" OR 1=1', "elevator; DROP", "", "1abc", "a b", "a\nb", "é", "x" * 129, "_x"],
)
def test_measurement_and_field_names_outside_the_pattern_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="not a valid name"):
        latest_query(name)
    with pytest.raises(ValueError, match="not a valid name"):
        series_query(name, "e", ["floor"], START, END)
    with pytest.raises(ValueError, match="not a valid name"):
        series_query("elevator", "e", [name], START, END)


def test_catalogue_keys_are_valid_names() -> None:
    series_query("charger", "c", ["relay1.enabled", "total_power", "door-open"], START, END)


@pytest.mark.parametrize("aggregate", ["sum", "MEAN", "mean(*)", "mean) FROM x; --"])
def test_aggregates_come_from_the_allow_list(aggregate: str) -> None:
    with pytest.raises(ValueError, match="aggregate"):
        series_query(
            "elevator",
            "e",
            ["floor"],
            START,
            END,
            every=timedelta(seconds=1),
            aggregate=aggregate,  # type: ignore[arg-type]
        )


@pytest.mark.parametrize(
    ("every", "written"),
    [
        (timedelta(seconds=1), "1s"),
        (timedelta(minutes=5), "300s"),
        (timedelta(days=1), "86400s"),
        (timedelta(milliseconds=250), "250ms"),
        (timedelta(seconds=1, milliseconds=5), "1005ms"),
    ],
)
def test_durations_are_written_by_us(every: timedelta, written: str) -> None:
    assert format_duration(every) == written


@pytest.mark.parametrize(
    "every", [timedelta(0), timedelta(seconds=-1), timedelta(microseconds=1500), "1h; DROP", 60]
)
def test_bad_durations_are_refused(every: object) -> None:
    with pytest.raises(ValueError, match="every"):
        format_duration(every)  # type: ignore[arg-type]


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="start"):
        series_query("elevator", "e", ["floor"], START.replace(tzinfo=None), END)
    with pytest.raises(ValueError, match="end"):
        series_query("elevator", "e", ["floor"], START, "now()")  # type: ignore[arg-type]


def test_fields_must_be_a_non_empty_list_of_names() -> None:
    with pytest.raises(ValueError, match="fields"):
        series_query("elevator", "e", [], START, END)
    with pytest.raises(ValueError, match="fields"):
        series_query("elevator", "e", "floor", START, END)


@pytest.mark.parametrize("port", [0, -1, "3", True, 1.5])
def test_ports_must_be_positive_integers(port: object) -> None:
    with pytest.raises(ValueError, match="port"):
        series_query("charger_port", "c", ["power"], START, END, port=port)  # type: ignore[arg-type]


def test_an_empty_device_list_is_refused_rather_than_matching_everything() -> None:
    with pytest.raises(ValueError, match="device_ids"):
        latest_query("elevator", device_ids=[])
