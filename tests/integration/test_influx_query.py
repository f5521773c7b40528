"""Points written as ingest writes them come back from the query module exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pandas as pd
import pytest

from estatewatch.influx.query import InfluxQueryError, InfluxReader
from estatewatch.wire import Reading, TelemetryMessage
from infra.local import InfluxInstance
from ingest.line_protocol import encode
from ingest.points import points_from_telemetry

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 24, 8, 0, 0, 123456, tzinfo=UTC)
HOSTILE_IDS = [
    'elev-01" OR 1=1 --',
    "x'; DROP MEASUREMENT elevator",
    "elev-01'\nDROP MEASUREMENT elevator",
    "elev-01\\",
    "elev-01\r",
]


def _elevator(
    device_id: str, seq: int, floors: list[int], *, start: datetime = T0
) -> TelemetryMessage:
    readings = [
        Reading(
            ts=start + timedelta(seconds=i),
            fields={
                "floor": floor,
                "speed": 1.0 + i,  # 1.0, 2.0, ...: integral floats must stay floats
                "door_open_limit_front": i % 2 == 0,
                "mode_name": "automatic",
            },
        )
        for i, floor in enumerate(floors)
    ]
    return TelemetryMessage(
        gateway_id="gw-1",
        seq=seq,
        site="demo",
        device_type="elevator",
        device_id=device_id,
        profile="elevator-nice3000",
        tags={"building": "B1"},
        readings=readings,
    )


def _charger(seq: int, *, at: datetime = T0) -> TelemetryMessage:
    fields: dict[str, bool | int | float | str] = {"total_power": 250.5, "door_open": False}
    for port in (1, 2):
        fields[f"port{port}.state"] = port
        fields[f"port{port}.power"] = 100.0 * port
    return TelemetryMessage(
        gateway_id="gw-1",
        seq=seq,
        site="demo",
        device_type="charger",
        device_id="chg-01",
        profile="charger-8port",
        tags={"building": "B2"},
        readings=[Reading(ts=at, fields=fields)],
    )


async def _write(influxdb: InfluxInstance, database: str, *messages: TelemetryMessage) -> None:
    body = encode(p for m in messages for p in points_from_telemetry(m))
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{influxdb.url}/write", params={"db": database, "precision": "ns"}, content=body
        )
    assert response.status_code == 204, response.text


async def test_latest_returns_each_devices_last_values_typed(
    influxdb: InfluxInstance, influx_database: str
) -> None:
    await _write(influxdb, influx_database, _elevator("elev-01", 1, [1, 2, 3]))
    await _write(influxdb, influx_database, _elevator("elev-02", 2, [7]))

    async with InfluxReader(influxdb.url, influx_database) as reader:
        frame = await reader.latest("elevator")

    assert list(frame["device_id"]) == ["elev-01", "elev-02"]
    assert list(frame["floor"]) == [3, 7]
    assert list(frame["speed"]) == [3.0, 1.0]
    assert list(frame["door_open_limit_front"]) == [True, True]
    assert list(frame["mode_name"]) == ["automatic", "automatic"]
    assert frame["floor"].dtype == "int64"
    assert frame["speed"].dtype == "float64"
    assert frame["door_open_limit_front"].dtype == "bool"
    assert str(frame["time"].dtype) == "datetime64[ns, UTC]"
    assert list(frame["time"]) == [pd.Timestamp(T0 + timedelta(seconds=2)), pd.Timestamp(T0)]


async def test_latest_filters_by_site_and_devices(
    influxdb: InfluxInstance, influx_database: str
) -> None:
    await _write(
        influxdb, influx_database, _elevator("elev-01", 1, [1]), _elevator("elev-02", 2, [2])
    )

    async with InfluxReader(influxdb.url, influx_database) as reader:
        chosen = await reader.latest("elevator", site="demo", device_ids=["elev-02"])
        elsewhere = await reader.latest("elevator", site="other")

    assert list(chosen["device_id"]) == ["elev-02"]
    assert list(chosen["floor"]) == [2]
    assert elsewhere.empty


async def test_charger_ports_are_rows_of_their_own(
    influxdb: InfluxInstance, influx_database: str
) -> None:
    await _write(influxdb, influx_database, _charger(1))

    async with InfluxReader(influxdb.url, influx_database) as reader:
        ports = await reader.latest("charger_port")
        cabinet = await reader.latest("charger")
        port2 = await reader.series(
            "charger_port", "chg-01", ["power", "state"], T0, T0 + timedelta(seconds=1), port=2
        )
        every_port = await reader.series(
            "charger_port", "chg-01", ["power"], T0, T0 + timedelta(seconds=1)
        )

    assert list(ports["port"]) == [1, 2]
    assert ports["port"].dtype == "int64"
    assert list(ports["state"]) == [1, 2]
    assert list(ports["power"]) == [100.0, 200.0]
    assert list(cabinet["total_power"]) == [250.5]
    assert list(port2["power"]) == [200.0]
    assert list(port2["state"]) == [2]
    assert list(every_port.columns) == ["port", "time", "power"]
    assert list(every_port["port"]) == [1, 2]
    assert list(every_port["power"]) == [100.0, 200.0]


async def test_series_raw_and_downsampled(influxdb: InfluxInstance, influx_database: str) -> None:
    await _write(influxdb, influx_database, _elevator("elev-01", 1, [1, 2, 3, 4]))
    start, end = T0 - timedelta(microseconds=123456), T0 + timedelta(minutes=1)

    async with InfluxReader(influxdb.url, influx_database) as reader:
        raw = await reader.series("elevator", "elev-01", ["floor", "speed"], start, end)
        means = await reader.series(
            "elevator", "elev-01", ["floor", "speed"], start, end, every=timedelta(seconds=2)
        )
        maxima = await reader.series(
            "elevator",
            "elev-01",
            ["floor"],
            start,
            end,
            every=timedelta(seconds=2),
            aggregate="max",
        )
        counts = await reader.series(
            "elevator",
            "elev-01",
            ["floor"],
            start,
            end,
            every=timedelta(minutes=1),
            aggregate="count",
        )

    assert list(raw.columns) == ["time", "floor", "speed"]
    assert list(raw["floor"]) == [1, 2, 3, 4]
    assert raw["floor"].dtype == "int64"
    assert list(raw["speed"]) == [1.0, 2.0, 3.0, 4.0]
    assert raw["speed"].dtype == "float64"
    assert list(raw["time"]) == [pd.Timestamp(T0 + timedelta(seconds=i)) for i in range(4)]

    assert list(means["floor"]) == [1.5, 3.5]
    assert means["floor"].dtype == "float64"
    assert list(means["time"]) == [pd.Timestamp(start), pd.Timestamp(start + timedelta(seconds=2))]
    assert list(maxima["floor"]) == [2, 4]
    assert maxima["floor"].dtype == "int64"
    assert list(counts["floor"]) == [4]
    assert counts["floor"].dtype == "int64"


async def test_a_replayed_message_adds_no_rows(
    influxdb: InfluxInstance, influx_database: str
) -> None:
    message = _elevator("elev-01", 1, [1, 2, 3])
    await _write(influxdb, influx_database, message)
    await _write(influxdb, influx_database, message, message)
    start, end = T0 - timedelta(seconds=1), T0 + timedelta(minutes=1)

    async with InfluxReader(influxdb.url, influx_database) as reader:
        raw = await reader.series("elevator", "elev-01", ["floor"], start, end)
        counts = await reader.series(
            "elevator",
            "elev-01",
            ["floor"],
            start,
            end,
            every=timedelta(hours=1),
            aggregate="count",
        )

    assert list(raw["floor"]) == [1, 2, 3]
    assert list(counts["floor"]) == [3]


async def test_slow_fields_keep_their_last_value_next_to_fast_ones(
    influxdb: InfluxInstance, influx_database: str
) -> None:
    # The slow poll group (run_count, once a minute) is absent from most readings.
    message = _elevator("elev-01", 1, [1, 2]).model_copy(
        update={
            "readings": [
                Reading(ts=T0, fields={"floor": 1, "run_count": 1234}),
                Reading(ts=T0 + timedelta(seconds=1), fields={"floor": 2}),
            ]
        }
    )
    await _write(influxdb, influx_database, message)

    async with InfluxReader(influxdb.url, influx_database) as reader:
        frame = await reader.latest("elevator")

    assert frame[["floor", "run_count"]].to_dict("records") == [{"floor": 2, "run_count": 1234}]
    assert list(frame["time"]) == [pd.Timestamp(T0 + timedelta(seconds=1))]


async def test_awkward_tag_and_string_values_round_trip(
    influxdb: InfluxInstance, influx_database: str
) -> None:
    note = 'say "hi", C:\\dir = x\nnext'
    message = _elevator("elev-01", 1, [1]).model_copy(
        update={
            "tags": {"building": "B 1,=east", "location": ""},
            "readings": [Reading(ts=T0, fields={"floor": 1, "note": note})],
        }
    )
    await _write(influxdb, influx_database, message)

    async with (
        httpx.AsyncClient() as client,
        InfluxReader(influxdb.url, influx_database, client=client) as reader,
    ):
        frame = await reader.latest("elevator", device_ids=["elev-01"])
        tags = await client.post(
            f"{influxdb.url}/query",
            data={
                "db": influx_database,
                "q": 'SHOW TAG VALUES FROM "elevator" WITH KEY = "building"',
            },
        )
        # A client passed in belongs to the caller and stays open.
        assert not client.is_closed

    # Newlines cannot be written: they arrive as the two characters backslash, n.
    assert list(frame["note"]) == [note.replace("\n", "\\n")]
    assert tags.json()["results"][0]["series"][0]["values"] == [["building", "B 1,=east"]]


async def test_an_unknown_measurement_is_an_empty_frame(
    influxdb: InfluxInstance, influx_database: str
) -> None:
    async with InfluxReader(influxdb.url, influx_database) as reader:
        latest = await reader.latest("nothing_here")
        raw = await reader.series("nothing_here", "e", ["x"], T0, T0 + timedelta(hours=1))

    assert latest.empty
    assert list(latest.columns) == ["device_id", "time"]
    assert raw.empty
    assert list(raw.columns) == ["time", "x"]


@pytest.mark.parametrize("hostile", HOSTILE_IDS)
async def test_injection_through_a_device_id_finds_nothing_and_harms_nothing(
    influxdb: InfluxInstance, influx_database: str, hostile: str
) -> None:
    await _write(influxdb, influx_database, _elevator("elev-01", 1, [1, 2]))
    start, end = T0 - timedelta(seconds=1), T0 + timedelta(minutes=1)

    async with InfluxReader(influxdb.url, influx_database) as reader:
        latest = await reader.latest("elevator", device_ids=[hostile])
        raw = await reader.series("elevator", hostile, ["floor"], start, end)
        means = await reader.series(
            "elevator", hostile, ["floor"], start, end, every=timedelta(seconds=1)
        )
        by_site = await reader.latest("elevator", site=hostile)
        survivors = await reader.latest("elevator")
        history = await reader.series("elevator", "elev-01", ["floor"], start, end)
    async with httpx.AsyncClient() as client:
        shown = await client.post(
            f"{influxdb.url}/query", data={"db": influx_database, "q": "SHOW MEASUREMENTS"}
        )

    assert latest.empty
    assert raw.empty
    assert means.empty
    assert by_site.empty
    assert shown.json()["results"][0]["series"][0]["values"] == [["elevator"]]
    assert list(survivors["device_id"]) == ["elev-01"]
    assert list(survivors["floor"]) == [2]
    assert list(history["floor"]) == [1, 2]


async def test_influxdb_errors_become_project_errors(
    influxdb: InfluxInstance, influx_database: str
) -> None:
    async with InfluxReader(influxdb.url, "no_such_database") as reader:
        with pytest.raises(InfluxQueryError, match="no_such_database"):
            await reader.latest("elevator")


async def test_an_unreachable_influxdb_is_a_project_error() -> None:
    async with InfluxReader("http://127.0.0.1:9", "estatewatch", timeout=2) as reader:
        with pytest.raises(InfluxQueryError, match="unreachable"):
            await reader.latest("elevator")
