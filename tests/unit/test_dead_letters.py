"""Dead letters under a flood: every one kept in the file, the log bounded and counted."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from estatewatch.dead_letters import LOG_EVERY_S, DeadLetters


class Ticks:
    """Monotonic seconds that advance by ``step`` at every reading."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_a_flood_of_1000_dead_letters_logs_a_few_lines_whose_counts_add_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = logging.getLogger("tests.dead_letters")
    clock = Ticks(0.03)  # 1,000 letters over 30 s: three rate-limit windows
    dead = DeadLetters(tmp_path / "dead.jsonl", log, clock=clock)
    with caplog.at_level(logging.WARNING, logger=log.name):
        for n in range(1000):
            dead.record(f"estatewatch/s1/elevator/e{n}/telemetry", "schema error", "{}", code="x")
        dead.close()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) <= 30 / LOG_EVERY_S + 2, lines
    assert lines[0] == "dead letter from estatewatch/s1/elevator/e0/telemetry: schema error"
    left_out = [int(n) for line in lines for n in re.findall(r"(\d+) more dead letters", line)]
    shown = [line for line in lines if line.startswith("dead letter from ")]
    assert len(shown) + sum(left_out) == 1000, lines
    assert lines[-1].endswith("more dead letters since the last report")
    assert all(r.levelno == logging.WARNING for r in caplog.records)
    kept = (tmp_path / "dead.jsonl").read_text().splitlines()
    assert len(kept) == 1000
    assert json.loads(kept[-1])["topic"] == "estatewatch/s1/elevator/e999/telemetry"
    assert (dead.count, dead.by_reason["x"]) == (1000, 1000)


def test_a_single_dead_letter_is_one_line_and_closing_adds_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = logging.getLogger("tests.dead_letters")
    dead = DeadLetters(tmp_path / "dead.jsonl", log, clock=Ticks(1.0))
    with caplog.at_level(logging.WARNING, logger=log.name):
        dead.record(
            "", "InfluxDB refused points: bad", "x", code="influx_refused", source="influxdb"
        )
        dead.close()
    assert [r.getMessage() for r in caplog.records] == [
        "dead letter from influxdb: InfluxDB refused points: bad"
    ]
