"""Edge-derived elevator signals: what the rules need but no register holds.

Pure: fed one car's successive fast-group readings with their times (seconds), it
returns derived fields and events.

- ``door_cycle`` events, from ``car_state`` (1 opening, 2 open-hold, 3 closing,
  4 closed-hold, 5 running, 6 stopped): the landing, how long the doors took to open and
  to close, and reversals (closing doors that opened again before shutting). Readings
  are samples, so a transition is placed midway between the sample before and the one
  after it; at a 1 s poll the sampled durations are good to about a second, which is why
  the event also carries the monitoring box's own 10 ms measurements (``box_open_s``,
  ``box_close_s``) when the poll read them.
- ``trip`` events: the car ran and stopped (or opened) at another floor; from/to floor,
  duration, direction.
- ``stopped_outside_zone_s``, a field: how long the car has stood still outside a door
  zone with its doors closed (0 when it is not), the core of the entrapment rule.
- ``speed_percent``, a field: the running speed as a share of the rated speed (which the
  slow group reads), for the overspeed rule; absent until the rated speed is known.

A gap between readings longer than ``max_gap_s`` (a device offline, a missed poll)
forgets any half-seen cycle or trip rather than report a duration it did not observe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from estatewatch.catalogue import Value
from estatewatch.wire import EventKind, FieldValue

OPENING, OPEN, CLOSING, CLOSED, RUNNING, STOPPED = 1, 2, 3, 4, 5, 6
_DOORS_SHUT = (CLOSED, RUNNING, STOPPED)
DIRECTIONS = {1: "up", 2: "down"}

STOPPED_OUTSIDE_ZONE = "stopped_outside_zone_s"
SPEED_PERCENT = "speed_percent"
DERIVED_UNITS = {STOPPED_OUTSIDE_ZONE: "s", SPEED_PERCENT: "%"}


@dataclass(frozen=True, slots=True)
class DerivedEvent:
    kind: EventKind
    detail: dict[str, FieldValue]


@dataclass(slots=True)
class Derived:
    fields: dict[str, FieldValue] = field(default_factory=dict)
    events: list[DerivedEvent] = field(default_factory=list)


@dataclass(slots=True)
class _DoorCycle:
    landing: int | None
    opening_at: float | None  # None: the opening was not seen
    open_s: float | None = None
    closing_at: float | None = None
    reversals: int = 0


@dataclass(slots=True)
class _Trip:
    from_floor: int
    started: float
    direction: int | None


def _int(value: Value | None) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class ElevatorSignals:
    """Derived signals of one car; call ``update`` with every fast-group reading."""

    def __init__(self, *, max_gap_s: float = 5.0) -> None:
        self.max_gap_s = max_gap_s
        self._t: float | None = None
        self._state: int | None = None
        self._floor: int | None = None
        self._cycle: _DoorCycle | None = None
        self._trip: _Trip | None = None
        self._still_since: float | None = None
        self._rated_speed: float | None = None

    def update(self, t: float, values: Mapping[str, Value]) -> Derived:
        out = Derived()
        rated = values.get("rated_speed")
        if isinstance(rated, int | float) and not isinstance(rated, bool) and rated > 0:
            self._rated_speed = float(rated)
        state = _int(values.get("car_state"))
        if state is None:
            return out  # not a reading of the status block (another group, a failed read)
        floor = _int(values.get("floor"))
        if self._t is not None and t - self._t > self.max_gap_s:
            self._forget()
        if self._t is not None and self._state is not None and state != self._state:
            edge = (self._t + t) / 2  # the transition happened between the two samples
            self._doors(self._state, state, edge, floor, values, out)
            self._trips(self._state, state, edge, floor, values, out)
        self._stillness(t, values, out)
        self._speed_share(values, out)
        self._t, self._state, self._floor = t, state, floor
        return out

    def _forget(self) -> None:
        self._state = self._floor = None
        self._cycle = self._trip = None
        self._still_since = None

    # --- doors ---------------------------------------------------------------------------

    def _doors(
        self,
        before: int,
        after: int,
        edge: float,
        floor: int | None,
        values: Mapping[str, Value],
        out: Derived,
    ) -> None:
        cycle = self._cycle
        if after in (OPENING, OPEN):
            if cycle is not None and before == CLOSING:
                cycle.reversals += 1  # the doors opened again before they shut
                cycle.closing_at = None
            elif cycle is None and before in _DOORS_SHUT:
                cycle = self._cycle = _DoorCycle(floor, edge if after == OPENING else None)
            if (
                cycle is not None
                and after == OPEN
                and before == OPENING
                and cycle.opening_at is not None
                and cycle.open_s is None
            ):
                cycle.open_s = edge - cycle.opening_at
        elif after == CLOSING:
            if cycle is not None:
                cycle.closing_at = edge
        elif after in _DOORS_SHUT and cycle is not None:
            detail: dict[str, FieldValue] = {"reversals": cycle.reversals}
            detail["reversal"] = cycle.reversals > 0
            if cycle.landing is not None:
                detail["landing"] = cycle.landing
            if cycle.open_s is not None:
                detail["open_s"] = round(cycle.open_s, 1)
            if cycle.closing_at is not None and before == CLOSING:
                detail["close_s"] = round(edge - cycle.closing_at, 1)
            for key, box in (
                ("box_open_s", "door_open_duration"),
                ("box_close_s", "door_close_duration"),
            ):
                value = values.get(box)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    detail[key] = value
            out.events.append(DerivedEvent("door_cycle", detail))
            self._cycle = None

    # --- trips ---------------------------------------------------------------------------

    def _trips(
        self,
        before: int,
        after: int,
        edge: float,
        floor: int | None,
        values: Mapping[str, Value],
        out: Derived,
    ) -> None:
        if after == RUNNING:
            if self._floor is not None:
                self._trip = _Trip(self._floor, edge, _int(values.get("direction")))
            return
        trip, self._trip = self._trip, None
        if before != RUNNING or trip is None or floor is None or floor == trip.from_floor:
            return  # not the end of a run, or a re-levelling at the same landing
        detail: dict[str, FieldValue] = {
            "from_floor": trip.from_floor,
            "to_floor": floor,
            "duration_s": round(edge - trip.started, 1),
            "direction": "up" if floor > trip.from_floor else "down",
        }
        if after == STOPPED:
            detail["halted"] = True  # stopped by a fault, not at a call
        out.events.append(DerivedEvent("trip", detail))

    def _speed_share(self, values: Mapping[str, Value], out: Derived) -> None:
        speed = values.get("speed")
        if self._rated_speed is not None and isinstance(speed, int | float):
            out.fields[SPEED_PERCENT] = round(100.0 * speed / self._rated_speed, 1)

    # --- standing still outside a door zone --------------------------------------------

    def _stillness(self, t: float, values: Mapping[str, Value], out: Derived) -> None:
        speed = values.get("speed")
        in_zone = values.get("in_door_zone")
        front = values.get("door_close_limit_front")
        rear = values.get("door_close_limit_rear")
        if not isinstance(speed, int | float) or in_zone is None or front is None:
            return  # the poll did not read what the condition needs
        closed = bool(front) or bool(rear)
        if speed == 0 and not in_zone and closed:
            if self._still_since is None:
                self._still_since = t
            out.fields[STOPPED_OUTSIDE_ZONE] = round(t - self._still_since, 1)
        else:
            self._still_since = None
            out.fields[STOPPED_OUTSIDE_ZONE] = 0.0
