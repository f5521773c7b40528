"""Ingest's decoding (the central checks, points, line protocol) against a golden record of
what it produced before wire version 2, on the benchmark's own traffic and on hostile
messages, by the full path and by the worker's fast lane; the fast lane against the full
path on mutated messages; and bundles (wire version 2) against the version 1 messages
they replace.

``tests/fixtures/ingest_golden.json`` was written by :func:`golden` from commit 9076a72
(before the bundles); regenerate it only for a change meant to alter what ingest stores:
``python -m tests.unit.test_ingest_golden > tests/fixtures/ingest_golden.json``.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from bench.bench_ingest import START, build_traffic, bundled
from estatewatch.catalogue import builtin_catalogue
from estatewatch.inbound import MAX_WIRE_PAYLOAD_BYTES, Rejected
from estatewatch.screen import Screen, ScreenLimits
from estatewatch.wire import (
    TelemetryBundle,
    TelemetryMessage,
    bundle_topic,
    event_topic,
    status_topic,
    telemetry_topic,
)
from ingest.decode import Decoded, decode
from ingest.fast_lane import FastLane

GOLDEN = Path(__file__).parents[1] / "fixtures" / "ingest_golden.json"
NOW = START + timedelta(minutes=1)
SECONDS = 3  # of the benchmark's traffic: 960 messages, 2,880 points
TOPIC = telemetry_topic("site-01", "elevator", "elev-01")


def _screen() -> Screen:
    return Screen(builtin_catalogue(), ScreenLimits(), lambda: NOW)


@cache
def _traffic() -> tuple[tuple[str, bytes], ...]:
    return tuple(build_traffic(1, SECONDS)[0])


def _hostile() -> list[tuple[str, bytes]]:
    """One message for each way the central checks and the schema refuse something."""
    topic, payload = _traffic()[0]
    good: dict[str, Any] = json.loads(payload)
    fields = good["readings"][0]["fields"]

    def telemetry(**over: Any) -> bytes:
        return json.dumps({**good, **over}).encode()

    def reading(**changed: Any) -> list[dict[str, Any]]:
        return [{"ts": good["readings"][0]["ts"], "fields": {**fields, **changed}}]

    late = (NOW + timedelta(hours=1)).isoformat()
    event = {
        "gateway_id": "gw-site-01",
        "seq": 9,
        "site": "site-01",
        "device_type": "elevator",
        "device_id": "elev-01",
        "ts": NOW.isoformat(),
        "kind": "trip",
    }
    return [
        (topic, b'{"seq": 1,'),
        (topic, b"\xff\xfe garbage"),
        ("estatewatch/site-01/elevator/elev-01/other", payload),
        (telemetry_topic("site-01", "elevator", "elev-02"), payload),
        (topic, telemetry(readings=[])),
        (topic, telemetry(readings=reading(speed=math.nan))),
        (topic, telemetry(readings=reading(speed="fast", floor=1e300))),
        (topic, telemetry(readings=reading(secret_field=1))),
        (topic, telemetry(tags={"building": "b1", "owner": "x"})),
        (topic, telemetry(tags={"building": "../etc"})),
        (topic, telemetry(readings=[{"ts": late, "fields": fields}, *good["readings"]])),
        (topic, telemetry(readings=[{"ts": late, "fields": fields}])),
        (topic, telemetry(profile="charger-8port")),
        (topic, telemetry(readings=good["readings"] * 1001)),
        (topic, b" " * (MAX_WIRE_PAYLOAD_BYTES + 1)),
        (
            event_topic("site-01", "elevator", "elev-01"),
            json.dumps({**event, "detail": {"to_floor": 3, "colour": "red"}}).encode(),
        ),
        (
            event_topic("site-01", "lamp", "elev-01"),
            json.dumps({**event, "device_type": "lamp"}).encode(),
        ),
        (
            status_topic("site-01", "gw-site-01"),
            json.dumps(
                {"gateway_id": "gw-site-01", "site": "site-01", "state": "online", "ts": late}
            ).encode(),
        ),
    ]


def _outcome(messages: list[tuple[str, bytes]], lane: FastLane | None = None) -> dict[str, Any]:
    """What ingest stores (line protocol) and dead-letters, message by message: by the
    full path, or by ``lane``."""
    screen = _screen()
    lines = hashlib.sha256()
    points = 0
    dead: list[list[str]] = []
    for topic, payload in messages:
        result = (
            decode(topic, payload, screen=screen) if lane is None else lane.decode(topic, payload)
        )
        if isinstance(result, Rejected):
            dead.append([result.topic, result.code, result.reason, result.payload_text[:300]])
            continue
        lines.update(result.lines)
        points += result.points
        refused = result.refused
        if refused is not None:
            dead.append([refused.topic, refused.code, refused.reason, refused.payload_text[:300]])
    return {"points": points, "lines_sha256": lines.hexdigest(), "dead_letters": dead}


def golden() -> dict[str, Any]:
    return {"traffic": _outcome(list(_traffic())), "hostile": _outcome(_hostile())}


@pytest.mark.parametrize("corpus", ["traffic", "hostile"])
def test_ingest_stores_and_dead_letters_what_it_did_before(corpus: str) -> None:
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))[corpus]
    assert golden()[corpus] == expected


def test_the_fast_lane_stores_and_dead_letters_what_the_full_path_did_before() -> None:
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    traffic, hostile = FastLane(_screen()), FastLane(_screen())
    assert _outcome(list(_traffic()), traffic) == expected["traffic"]
    assert _outcome(bundled(list(_traffic())), traffic) == expected["traffic"]
    assert _outcome(_hostile(), hostile) == expected["hostile"]
    # The benchmark's telemetry all went the fast way; every hostile message the full way.
    assert (traffic.fast, traffic.full) == (len(_traffic()) + 8 * SECONDS, 0)
    assert hostile.fast == 0


def test_bundles_store_exactly_the_points_of_version_1_messages() -> None:
    traffic = list(_traffic())
    bundles = bundled(traffic)
    assert len(bundles) == 8 * SECONDS  # eight sites' gateways, one bundle a second
    v1, v2 = _outcome(traffic), _outcome(bundles)
    assert v2 == v1
    assert v1["points"] == 3 * len(traffic)
    assert not v1["dead_letters"]


def test_a_bundle_loses_only_what_its_devices_messages_would_lose() -> None:
    """Hostile parts inside a bundle: the points kept are those the same version 1
    messages keep, and the bundle's one dead letter names each device's problems."""
    good = [TelemetryMessage.model_validate_json(p) for _, p in _traffic()[:3]]
    bad = good[1].readings[0].fields | {"speed": 99.0, "secret": 1}
    hostile = [
        good[0],
        good[1].model_copy(
            update={"readings": [good[1].readings[0].model_copy(update={"fields": bad})]}
        ),
        good[2].model_copy(update={"profile": "charger-8port"}),
    ]
    one_by_one = [
        (telemetry_topic(m.site, m.device_type, m.device_id), m.model_dump_json().encode())
        for m in hostile
    ]
    bundle = TelemetryBundle.of("gw-site-01", 5, "site-01", hostile)
    result = decode(
        bundle_topic("site-01", "gw-site-01"), bundle.model_dump_json().encode(), screen=_screen()
    )
    assert isinstance(result, Decoded)
    expected = b"".join(
        r.lines
        for r in (decode(t, p, screen=_screen()) for t, p in one_by_one)
        if isinstance(r, Decoded)
    )
    assert result.lines == expected
    assert result.refused is not None
    assert result.refused.code == "out_of_range"
    assert result.refused.reason == (
        "taken out: elev-02: readings[0].speed: 99.0 is outside -0.0005 to 65.5355;"
        " elev-02: readings[0].secret: not a field of the profile;"
        " elev-03: profile charger-8port is no catalogue profile of device type elevator"
    )
    parts = json.loads(result.refused.payload_text)["devices"]
    assert parts[0] == {
        "device_id": "elev-02",
        "readings": [
            {"ts": good[1].readings[0].ts.isoformat(), "fields": {"speed": 99.0, "secret": 1}}
        ],
    }
    assert parts[1]["device_id"] == "elev-03"
    assert parts[1]["profile"] == "charger-8port"


def test_a_bundle_with_no_device_left_is_refused_whole() -> None:
    (_, payload), *_ = _traffic()
    message = TelemetryMessage.model_validate_json(payload)
    bundle = TelemetryBundle.of(
        "gw-site-01", 5, "site-01", [message.model_copy(update={"profile": "smoke-alarm"})]
    )
    result = decode(
        bundle_topic("site-01", "gw-site-01"), bundle.model_dump_json().encode(), screen=_screen()
    )
    assert isinstance(result, Rejected)
    assert result.code == "unknown_profile"
    assert (
        result.reason
        == "elev-01: profile smoke-alarm is no catalogue profile of device type elevator"
    )


def test_a_bundle_must_come_from_the_gateway_of_its_topic() -> None:
    (_, payload), *_ = _traffic()
    bundle = TelemetryBundle.of(
        "gw-site-01", 5, "site-01", [TelemetryMessage.model_validate_json(payload)]
    )
    result = decode(
        bundle_topic("site-01", "gw-other"), bundle.model_dump_json().encode(), screen=_screen()
    )
    assert isinstance(result, Rejected)
    assert result.code == "mismatch"
    assert "gateway_id is 'gw-other' in the topic" in result.reason


if __name__ == "__main__":
    print(json.dumps(golden(), indent=1, ensure_ascii=False))
