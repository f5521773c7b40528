"""A hostile-but-valid flood (issue 16) against real processes: ``estatewatch ingest run``
writing to InfluxDB and ``estatewatch maintenance run`` judging the same site.

10,000 payloads a buggy or malicious publisher on the broker could send: not JSON, deep
nesting, 1 MB, NaN, wrong types, unknown schema versions and profiles, thousands of
fields, injection strings as tag keys and values, readings dated 2249 and 1970, a device
(``ghost-lift-99``) and a gateway (``gw-spoof``) the asset register does not have. After
it: both processes are up; every refused message is a dead letter with its reason code,
in ingest's file and the worker's alike; InfluxDB has the measurements, field keys, tag
keys and shards it had before, and the valid traffic after the flood is stored and is
the car's last value; the worker opened no work order for the spoofed senders and lists
them in its quarantine.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from process_support import estatewatch, start, stop, until
from sqlalchemy import select
from test_ingest_e2e import Ingest, influxql

from estatewatch.clock import utc_now
from estatewatch.wire import status_topic, telemetry_topic
from infra.local import InfluxInstance, MosquittoInstance
from maintenance.db.engine import default_url, make_sessionmaker, open_engine
from maintenance.db.read.quarantine import quarantine_entries
from maintenance.db.tables import WorkOrderRow

pytestmark = pytest.mark.e2e

FLOOD = 10_000
GATEWAY = "gw-flood"
CAR = "elev-01"
# Every field an honest car's reading here carries: what the flood's partly good
# messages leave over is a subset, so no field key is new to InfluxDB.
HONEST: dict[str, Any] = {
    "run_count": 1,
    "speed": 1.5,
    "floor": 7,
    "car_load": 20.0,
    "alarm_button": False,
    "fault_code": 0,
    "stopped_outside_zone_s": 0.0,
}
# A passenger trapped: what would open a P1 order for a car the worker believed.
TRAPPED = HONEST | {"speed": 0.0, "alarm_button": True, "stopped_outside_zone_s": 31.0}

Payload = tuple[str, bytes, str]
"""(topic, payload, the dead letter's reason code; "" for a valid message)"""


class Publisher:
    """Messages of one site as its gateway (or an impostor) would publish them."""

    def __init__(self, site: str) -> None:
        self.site, self.seq = site, 0

    def body(
        self, *, device_id: str = CAR, gateway_id: str = GATEWAY, **changes: Any
    ) -> dict[str, Any]:
        self.seq += 1
        body: dict[str, Any] = {
            "schema_version": 1,
            "gateway_id": gateway_id,
            "seq": self.seq,
            "site": self.site,
            "device_type": "elevator",
            "device_id": device_id,
            "profile": "elevator-nice3000",
            "tags": {"building": "B1"},
            "units": {},
            "readings": [{"ts": utc_now().isoformat(), "fields": dict(HONEST)}],
        }
        return body | changes

    def telemetry(self, body: dict[str, Any], raw: str | None = None) -> tuple[str, bytes]:
        topic = telemetry_topic(self.site, "elevator", body["device_id"])
        return topic, (raw if raw is not None else json.dumps(body)).encode()

    def reading(self, fields: dict[str, Any], *, at: datetime | None = None) -> dict[str, Any]:
        return {"ts": (at or utc_now()).isoformat(), "fields": fields}

    def status(self, gateway_id: str, state: str) -> tuple[str, bytes]:
        body = {"gateway_id": gateway_id, "site": self.site, "state": state}
        body["ts"] = utc_now().isoformat()
        return status_topic(self.site, gateway_id), json.dumps(body).encode()


def hostile(gw: Publisher) -> Iterator[Payload]:
    """One round of the flood: each kind of hostile payload once."""
    topic = telemetry_topic(gw.site, "elevator", CAR)
    yield topic, b"\x00\xff not json {", "schema"
    yield topic, b'{"gateway_id": "gw-flood", "seq": ', "schema"
    yield topic, json.dumps(gw.body(schema_version=99)).encode(), "schema"
    yield (*gw.telemetry(gw.body(profile="elevator-evil")), "unknown_profile")
    # A NaN speed (JSON's NaN literal): the speed is taken out, the rest stored.
    nan = gw.body()
    yield (
        *gw.telemetry(nan, json.dumps(nan).replace('"speed": 1.5', '"speed": NaN')),
        "out_of_range",
    )
    yield (
        *gw.telemetry(gw.body(readings=[gw.reading(HONEST | {"run_count": "many"})])),
        "wrong_type",
    )
    yield (
        *gw.telemetry(gw.body(readings=[gw.reading(HONEST | {"car_load": 1e300})])),
        "out_of_range",
    )
    yield (
        *gw.telemetry(gw.body(readings=[gw.reading(HONEST | {"car_load_x": 1.0})])),
        "unknown_field",
    )
    yield (*gw.telemetry(gw.body(tags={"../../etc/passwd": "x"})), "unknown_tag")
    yield (*gw.telemetry(gw.body(tags={"building": 'x" OR 1=1 --'})), "bad_tag")
    yield (*gw.telemetry(gw.body(tags={"building": "../../B1"})), "bad_tag")
    far = datetime(2249, 1, 1, tzinfo=UTC)
    yield (*gw.telemetry(gw.body(readings=[gw.reading(HONEST, at=far)])), "time_ahead")
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    yield (*gw.telemetry(gw.body(readings=[gw.reading(HONEST, at=epoch)])), "time_too_old")
    # Spoofed ids: valid messages from senders the register does not have.
    yield (*gw.telemetry(gw.body(device_id="ghost-lift-99", readings=[gw.reading(TRAPPED)])), "")
    yield (*gw.telemetry(gw.body(gateway_id="gw-spoof", readings=[gw.reading(TRAPPED)])), "")


def heavy(gw: Publisher) -> Iterator[Payload]:
    """The flood's expensive payloads (sent a few times, not thousands)."""
    topic = telemetry_topic(gw.site, "elevator", CAR)
    yield topic, ('{"a": ' * 50_000 + "1" + "}" * 50_000).encode(), "schema"
    megabyte = gw.body(readings=[gw.reading(HONEST | {"message": "x" * 2**20})])
    yield (*gw.telemetry(megabyte), "unknown_field")
    many = {f"f{n}": n for n in range(20_000)}
    yield (*gw.telemetry(gw.body(readings=[gw.reading(HONEST | many)])), "unknown_field")
    readings = [gw.reading(HONEST) for _ in range(5_000)]
    yield (*gw.telemetry(gw.body(readings=readings)), "too_many_readings")


def flood(gw: Publisher) -> list[Payload]:
    payloads = [p for _ in range(3) for p in heavy(gw)]
    payloads.append((*gw.status("gw-spoof", "offline"), ""))
    while len(payloads) < FLOOD:
        payloads.extend(hostile(gw))
    return payloads[:FLOOD]


async def publish(broker: MosquittoInstance, payloads: list[tuple[str, bytes]]) -> None:
    async with aiomqtt.Client(broker.host, broker.port, max_queued_outgoing_messages=0) as client:
        for topic, payload in payloads:
            await client.publish(topic, payload, qos=1)


async def influx_schema(influxdb: InfluxInstance, database: str) -> dict[str, Any]:
    """What the flood must not change: measurements, field keys with their types, tag
    keys, and the database's shards."""
    shards = await influxql(influxdb, "", "SHOW SHARDS")
    return {
        statement: sorted(
            (s.get("name", ""), tuple(row))
            for s in await influxql(influxdb, database, statement)
            for row in s["values"]
        )
        for statement in ("SHOW MEASUREMENTS", "SHOW FIELD KEYS", "SHOW TAG KEYS")
    } | {"shards": sum(len(s["values"]) for s in shards if s["name"] == database)}


def register(work: Path, site: str) -> Path:
    """The site's register: car elev-01 in B1, gateway gw-flood (not ghost-lift-99, not
    gw-spoof); the worker's data directory."""
    data = work / "maintenance"
    register = {
        "site": site,
        "name": site,
        "gateways": [GATEWAY],
        "buildings": [
            {
                "name": "B1",
                "elevators": [
                    {
                        "name": CAR,
                        "make": "Monarch",
                        "model": "NICE3000+",
                        "install_date": "2015-06-01",
                        "rated_load_kg": 1000,
                        "rated_speed_mps": 1.75,
                        "floors_served": 20,
                    }
                ],
            }
        ],
    }
    (work / "site.yaml").write_text(json.dumps(register))  # JSON is YAML
    estatewatch("maintenance", "db", "upgrade", "--data-dir", str(data), cwd=work)
    estatewatch(
        "maintenance", "import-site", str(work / "site.yaml"), "--data-dir", str(data), cwd=work
    )
    return data


def dead_codes(path: Path, site: str) -> Counter[str]:
    if not path.exists():
        return Counter()
    letters = [json.loads(line) for line in path.read_text().splitlines()]
    return Counter(d["code"] for d in letters if d["topic"].split("/")[1:2] == [site])


async def test_a_hostile_flood_is_dead_lettered_and_changes_nothing(
    tmp_path: Path, mosquitto: MosquittoInstance, influxdb: InfluxInstance, influx_database: str
) -> None:
    site = f"f{uuid.uuid4().hex[:10]}"
    gw = Publisher(site)
    data = register(tmp_path, site)
    ingest = Ingest(tmp_path, mosquitto, influxdb, influx_database, max_age="30d")
    worker_log = tmp_path / "maintenance.log"
    worker = start(
        [
            "maintenance", "run", "--mqtt-host", mosquitto.host,
            "--mqtt-port", str(mosquitto.port), "--client-id", f"{site}-maint",
            "--sites", site, "--data-dir", str(data), "--gateway-offline-grace", "0.5",
            "--tick-interval", "0.2",
        ],
        tmp_path,
        worker_log,
    )  # fmt: skip
    try:
        ingester = await ingest.start("1", sites=site)
        ready = f"maintenance {site}-maint (sites"  # logged once it is subscribed
        await until(lambda: ready in worker_log.read_text(), 60, "the worker to subscribe")

        # Before: the honest gateway's status and a car's reading, as every day.
        await publish(mosquitto, [gw.status(GATEWAY, "online"), gw.telemetry(gw.body())])

        async def stored(count: int) -> bool:
            rows = await influxql(
                influxdb,
                influx_database,
                f"SELECT count(run_count) FROM elevator WHERE site = '{site}'",
            )
            return bool(rows) and rows[0]["values"][0][1] >= count

        await until(lambda: stored(1), 30, "the honest reading")
        before = await influx_schema(influxdb, influx_database)

        payloads = flood(gw)
        await publish(mosquitto, [(topic, payload) for topic, payload, _ in payloads])
        refused = Counter(code for *_, code in payloads if code)
        total = sum(refused.values())
        worker_letters = data / "dead_letters.jsonl"

        def all_dead_lettered() -> bool:
            done = sum(dead_codes(ingest.dead_letter_path, site).values()) >= total
            return done and sum(dead_codes(worker_letters, site).values()) >= total

        await until(all_dead_lettered, 600, "every refused message's dead letter")
        assert dead_codes(ingest.dead_letter_path, site) == refused
        assert dead_codes(worker_letters, site) == refused

        # After: the honest gateway's next reading is stored and is the car's last value.
        after = gw.body(readings=[gw.reading(HONEST | {"run_count": 424242})])
        await publish(mosquitto, [gw.telemetry(after)])

        async def last_is_honest() -> bool:
            rows = await influxql(
                influxdb,
                influx_database,
                f"SELECT last(run_count) FROM elevator WHERE site = '{site}'"
                f" AND device_id = '{CAR}'",
            )
            return bool(rows) and rows[0]["values"][0][1] == 424242

        await until(last_is_honest, 120, "the reading after the flood")
        assert await influx_schema(influxdb, influx_database) == before
        assert ingester.process.poll() is None
        assert worker.poll() is None

        # The worker believed neither impostor: no order, both quarantined.
        async with open_engine(default_url(data)) as engine:
            sessions = make_sessionmaker(engine)

            async def quarantined() -> list[tuple[str, str]] | None:
                async with sessions() as session:
                    found = await quarantine_entries(session, sites=[site])
                senders = sorted((e.device_type, e.device_id) for e in found)
                return senders if len(senders) == 2 else None

            await until(quarantined, 30, "both impostors in the quarantine")
            async with sessions() as session:
                entries = await quarantine_entries(session, sites=[site])
                assets = set(
                    await session.scalars(
                        select(WorkOrderRow.asset).where(WorkOrderRow.site == site)
                    )
                )
        assert sorted((e.device_type, e.device_id) for e in entries) == [
            ("elevator", "ghost-lift-99"),
            ("gateway", "gw-spoof"),
        ]
        assert all(e.messages >= 1 for e in entries)
        # The registered car has its scheduled visit; the trapped readings came from
        # impostors, so there is no entrapment, and nothing at all for them.
        assert f"{site}/elevator/ghost-lift-99" not in assets
        assert f"{site}/gateway/gw-spoof" not in assets
        async with open_engine(default_url(data)) as engine, make_sessionmaker(engine)() as session:
            kinds = set(
                await session.scalars(
                    select(WorkOrderRow.fault_kind).where(WorkOrderRow.site == site)
                )
            )
        assert not any(kind in {"entrapment", "offline"} for kind in kinds), kinds
        assert stop(worker) == 0, worker_log.read_text()
        assert "Traceback" not in worker_log.read_text()
    finally:
        stop(worker)
        await ingest.close()
