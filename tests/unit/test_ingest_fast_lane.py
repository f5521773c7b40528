"""The fast lane against the full path, on messages mutated where the two could part.

Every mutated message must come out of :meth:`FastLane.decode` exactly as it comes out of
:func:`ingest.decode.decode` with the same screen (the same lines and points, or the same
dead letter): whatever the fast lane takes it must take as the full path would, and
whatever it is unsure of it must hand over. The golden record
(``test_ingest_golden.py``) holds the full path itself.
"""

from __future__ import annotations

import json
import random
from datetime import timedelta
from typing import Any

from bench.bench_ingest import START, build_traffic, bundled
from estatewatch.catalogue import builtin_catalogue
from estatewatch.screen import Screen, ScreenLimits
from ingest.decode import decode
from ingest.fast_lane import FastLane

NOW = START + timedelta(minutes=1)

# What a value anywhere in a message may become: each is a way the wire schema, the
# central checks or line protocol may refuse or change something, or a harmless twin.
VALUES: list[Any] = [
    0, 1, -1, 2**63, -(2**63) - 1, 10**30, 0.0, -0.0, 1.5, 1e300, 1e-300, 65.5355, 70000,
    True, False, None, "", "x", "b1", "b2\n", "a b", "a,b=c", "..", "time", "../etc",
    "x" * 300, "é", "电梯", "\\", '"', [], {}, [1], {"a": 1},
    "2026-11-01T08:00:30Z", "2026-11-01T08:00:30.5+08:00", "2026-11-01T08:00:30",
    "2026-11-01 08:00:30Z", "2026-11-01T08:00:30.1234567Z", "2026-11-01T25:00:00Z",
    "2026-11-01T08:00:30-00:00", "2026-12-01T08:00:30Z", "2025-01-01T00:00:00Z",
    "elevator", "charger", "elevator-nice3000", "charger-8port", "gw-site-01", "site-01",
    "site-02",
]  # fmt: skip
# Keys a message, a device's part, a reading or its fields may gain.
KEYS = [
    "extra", "time", "port", "port3.power", "port99.power", "speed", "building", "owner",
    "schema_version", "units", "tags",
]  # fmt: skip


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a decoded JSON document."""
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*path, index))
    return found


def _mutated(document: Any, rng: random.Random) -> Any:
    """``document`` with one thing changed: a value replaced, a key added or removed,
    or a list's item repeated or dropped."""
    document = json.loads(json.dumps(document))
    path = rng.choice(_paths(document)[1:])
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    move = rng.randrange(4)
    if move == 0 or not isinstance(parent, dict | list):
        parent[last] = rng.choice(VALUES)
    elif move == 1 and isinstance(parent, dict):
        parent[rng.choice(KEYS)] = rng.choice(VALUES)
    elif move == 1:
        parent.append(parent[last])
    else:
        del parent[last]
    return document


def test_on_mutated_messages_the_fast_lane_decodes_as_the_full_path() -> None:
    rng = random.Random(20261207)
    traffic = build_traffic(1, 2)[0]
    messages = [*traffic[:80], *bundled(traffic)]
    screen = Screen(builtin_catalogue(), ScreenLimits(), lambda: NOW)
    lane = FastLane(Screen(builtin_catalogue(), ScreenLimits(), lambda: NOW))
    taken = handed_over = 0
    for round_ in range(3000):
        topic, payload = rng.choice(messages)
        document = _mutated(json.loads(payload), rng)
        text = json.dumps(document, ensure_ascii=round_ % 2 == 0, allow_nan=True)
        if round_ % 7 == 0:  # NaN and the infinities as JSON's extensions write them
            text = text.replace("1e300", rng.choice(["NaN", "Infinity", "-Infinity", "1e999"]))
        mutated = text.encode()
        before = (lane.fast, lane.full)
        assert lane.decode(topic, mutated) == decode(topic, mutated, screen), (topic, text)
        taken += lane.fast - before[0]
        handed_over += lane.full - before[1]
    # Both ways were tried: many mutations are harmless, many are not.
    assert taken > 300, (taken, handed_over)
    assert handed_over > 300, (taken, handed_over)


def test_bytes_that_are_no_plain_json_go_the_full_way() -> None:
    screen = Screen(builtin_catalogue(), ScreenLimits(), lambda: NOW)
    lane = FastLane(screen)
    topic, payload = build_traffic(1, 1)[0][0]
    cases = [
        payload.replace(b'"b', b'"\\ud800', 1),  # a lone surrogate: pydantic refuses it
        payload.replace(b'"b', b'"\\u00e9', 1),  # an escape pydantic takes
        payload[:-1],
        b"\xef\xbb\xbf" + payload,
        b"[" * 100_000 + b"]" * 100_000,
        payload.replace(b"}", b', "seq": 2}', 1),  # a key twice: the last one counts
    ]
    for mutated in cases:
        assert lane.decode(topic, mutated) == decode(topic, mutated, screen), mutated[:80]
    assert lane.fast <= 2  # the escape pydantic takes, and the repeated key, may go fast
