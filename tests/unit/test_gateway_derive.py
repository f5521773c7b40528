"""Derived elevator signals from scripted reading sequences (one reading per second)."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from estatewatch.catalogue import Value
from gateway.derive import CLOSED, CLOSING, OPEN, OPENING, RUNNING, STOPPED, ElevatorSignals

AT_LANDING: dict[str, Value] = {
    "speed": 0.0,
    "in_door_zone": True,
    "door_close_limit_front": True,
    "door_close_limit_rear": False,
    "direction": 3,
}


def reading(state: int, floor: int, **extra: Value) -> dict[str, Value]:
    values: dict[str, Value] = {**AT_LANDING, "car_state": state, "floor": floor}
    if state == RUNNING:
        values |= {"speed": 1.5, "in_door_zone": False}
    if state in (OPENING, OPEN, CLOSING):
        values["door_close_limit_front"] = False
    return values | extra


def feed(
    signals: ElevatorSignals, script: Iterable[dict[str, Value]], start: float = 0.0
) -> list[tuple[float, str, dict[str, Value]]]:
    """Feed one reading per second; return every event with the time it came out."""
    events: list[tuple[float, str, dict[str, Value]]] = []
    for n, values in enumerate(script):
        t = start + n
        for event in signals.update(t, values).events:
            events.append((t, event.kind, dict(event.detail)))
    return events


def test_a_trip_then_a_door_cycle_at_the_landing() -> None:
    script = (
        [reading(CLOSED, 3)]
        + [reading(RUNNING, f, direction=1) for f in (3, 4, 5, 6, 7)]  # t = 1..5
        + [reading(OPENING, 7)] * 3  # t = 6..8
        + [reading(OPEN, 7)] * 4  # t = 9..12
        + [reading(CLOSING, 7)] * 3  # t = 13..15
        + [reading(CLOSED, 7, door_open_duration=2.61, door_close_duration=3.12)]  # t = 16
    )
    events = feed(ElevatorSignals(), script)
    assert [(t, kind) for t, kind, _ in events] == [(6, "trip"), (16, "door_cycle")]
    # Transitions are placed midway between samples: ran 0.5 .. 5.5.
    assert events[0][2] == {"from_floor": 3, "to_floor": 7, "duration_s": 5.0, "direction": "up"}
    # Opening 5.5 .. 8.5, closing 12.5 .. 15.5; the box's own timings ride along.
    assert events[1][2] == {
        "landing": 7,
        "open_s": 3.0,
        "close_s": 3.0,
        "reversals": 0,
        "reversal": False,
        "box_open_s": 2.61,
        "box_close_s": 3.12,
    }


def test_closing_doors_that_open_again_are_a_reversal() -> None:
    script = (
        [reading(CLOSED, 2)]
        + [reading(OPENING, 2)] * 2
        + [reading(OPEN, 2)] * 2
        + [reading(CLOSING, 2)]
        + [reading(OPENING, 2)]  # re-opened: light curtain
        + [reading(OPEN, 2)] * 2
        + [reading(CLOSING, 2)] * 3
        + [reading(CLOSED, 2)]
    )
    [(_, kind, detail)] = feed(ElevatorSignals(), script)
    assert kind == "door_cycle"
    assert detail["reversal"] is True
    assert detail["reversals"] == 1
    assert detail["open_s"] == 2.0  # the first opening
    assert detail["close_s"] == 3.0  # the closing that made it


def test_a_reopening_too_short_to_be_sampled_still_counts() -> None:
    script = [
        reading(CLOSED, 2),
        reading(OPENING, 2),
        reading(OPEN, 2),
        reading(CLOSING, 2),
        reading(OPEN, 2),  # the brief re-opening fell between two polls
        reading(CLOSING, 2),
        reading(CLOSED, 2),
    ]
    [(_, _, detail)] = feed(ElevatorSignals(), script)
    assert detail["reversals"] == 1


def test_a_cycle_seen_from_the_middle_reports_what_it_saw() -> None:
    # The gateway started while the doors were open: no opening time, no landing guess
    # beyond the reading's floor.
    script = [reading(OPEN, 5), reading(CLOSING, 5), reading(CLOSING, 5), reading(CLOSED, 5)]
    assert feed(ElevatorSignals(), script) == []  # the cycle's start was never seen
    script = [reading(CLOSED, 5), reading(OPEN, 5), reading(CLOSING, 5), reading(CLOSED, 5)]
    [(_, _, detail)] = feed(ElevatorSignals(), script)
    assert "open_s" not in detail
    assert detail["close_s"] == 1.0
    assert detail["landing"] == 5


def test_a_relevelling_run_at_the_same_landing_is_no_trip() -> None:
    script = [reading(CLOSED, 4), reading(RUNNING, 4), reading(CLOSED, 4)]
    assert feed(ElevatorSignals(), script) == []


def test_a_car_halted_between_floors_ends_its_trip_as_halted() -> None:
    script = [
        reading(CLOSED, 1),
        reading(RUNNING, 1, direction=1),
        reading(RUNNING, 2, direction=1),
        reading(STOPPED, 3, in_door_zone=False),
    ]
    [(_, kind, detail)] = feed(ElevatorSignals(), script)
    assert kind == "trip"
    assert detail == {
        "from_floor": 1,
        "to_floor": 3,
        "duration_s": 2.0,
        "direction": "up",
        "halted": True,
    }


def test_stopped_outside_the_door_zone_counts_up_and_resets() -> None:
    signals = ElevatorSignals()
    trapped = reading(STOPPED, 3, in_door_zone=False)
    seen = [signals.update(t, trapped).fields["stopped_outside_zone_s"] for t in range(0, 40, 5)]
    assert seen == [0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0]
    assert signals.update(41.0, reading(OPENING, 3)).fields == {"stopped_outside_zone_s": 0.0}


@pytest.mark.parametrize(
    "condition",
    [
        {"speed": 0.3},  # still moving (re-levelling)
        {"in_door_zone": True},  # at a landing
        {"door_close_limit_front": False, "door_close_limit_rear": False},  # doors open
    ],
)
def test_the_entrapment_duration_needs_every_part_of_the_condition(
    condition: dict[str, Value],
) -> None:
    signals = ElevatorSignals()
    values = reading(STOPPED, 3, in_door_zone=False) | condition
    assert signals.update(0.0, values).fields == {"stopped_outside_zone_s": 0.0}
    assert signals.update(10.0, values).fields == {"stopped_outside_zone_s": 0.0}


def test_rear_door_closed_limit_counts_as_closed() -> None:
    signals = ElevatorSignals()
    values = reading(STOPPED, 3, in_door_zone=False, door_close_limit_front=False)
    values["door_close_limit_rear"] = True
    signals.update(0.0, values)
    assert signals.update(3.0, values).fields == {"stopped_outside_zone_s": 3.0}


def test_a_gap_in_the_readings_forgets_what_was_half_seen() -> None:
    signals = ElevatorSignals(max_gap_s=5.0)
    feed(signals, [reading(CLOSED, 3), reading(OPENING, 3), reading(OPEN, 3)])
    # Ten seconds without readings (the device was offline): the cycle is dropped.
    later = feed(signals, [reading(CLOSING, 3), reading(CLOSED, 3)], start=12.0)
    assert later == []
    trapped = reading(STOPPED, 3, in_door_zone=False)
    signals.update(20.0, trapped)
    assert signals.update(30.0, trapped).fields == {"stopped_outside_zone_s": 0.0}


def test_readings_without_the_status_block_are_ignored() -> None:
    signals = ElevatorSignals()
    assert signals.update(0.0, {"heatsink_temperature": 40}).fields == {}
    assert signals.update(1.0, {}).events == []


def test_speed_percent_of_rated_once_the_rated_speed_was_read() -> None:
    signals = ElevatorSignals()
    assert "speed_percent" not in signals.update(0, reading(RUNNING, 3)).fields
    signals.update(1, {"rated_speed": 1.75})  # the slow group: no car state
    assert signals.update(2, reading(RUNNING, 3, speed=2.1)).fields["speed_percent"] == 120.0
    assert signals.update(3, reading(CLOSED, 4)).fields["speed_percent"] == 0.0
