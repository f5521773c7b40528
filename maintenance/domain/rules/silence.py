"""Silent lift: no trip for longer than this car is ever quiet at this hour of day.

Learning: each gap between two trips is filed under the hour of day (UTC) the quiet
began in, keeping the longest gap per (hour, day) for ``keep_days`` days (24 x
``keep_days`` numbers per car). The limit for an hour is ``margin`` times the *median* of
those daily longest gaps (one long outage does not teach it that outages are normal),
and at least ``min_quiet``. Nothing is judged before the car has been watched for
``learning`` and an hour has three days of gaps.

Judging (on ``tick``): the quiet since the last trip, against the limit of the hour it
began in. A car that stopped reporting altogether is the offline rule's business, so a
car whose latest reading is older than ``min_quiet`` is not judged. The next trip clears.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from maintenance.domain.observations import DeviceEvent
from maintenance.domain.rules.baselines import DAY
from maintenance.domain.rules.detector import Detector
from maintenance.domain.rules.spec import SilentLiftRule
from maintenance.domain.rules.state import DeviceState, device_key
from maintenance.domain.signals import Signal

__all__ = ["SilentLift"]

MIN_DAYS_PER_HOUR = 3


def _hour(t: float) -> int:
    return int(t % DAY // 3600)


@dataclass(slots=True)
class _Car:
    watched_from: float
    last_trip: float | None = None
    # hour of day -> {day number: longest gap that began in that hour on that day}
    longest: dict[int, dict[int, float]] = field(default_factory=dict)
    active: bool = False


class SilentLift(Detector):
    def __init__(self, rule: SilentLiftRule) -> None:
        super().__init__(rule)
        self.rule = rule
        self._cars: dict[str, _Car] = {}

    def limit(self, key: str, hour: int) -> float | None:
        """The longest quiet that is normal for this car at ``hour``, once learned."""
        car = self._cars.get(key)
        if car is None:
            return None
        days = car.longest.get(hour, {})
        if len(days) < MIN_DAYS_PER_HOUR:
            return None
        return max(self.rule.min_quiet, self.rule.margin * statistics.median(days.values()))

    def event(self, dev: DeviceState, ev: DeviceEvent, out: list[Signal]) -> None:
        if ev.kind != "trip":
            return
        t = ev.ts.timestamp()
        car = self._cars.setdefault(device_key(dev.ref), _Car(watched_from=t))
        if car.last_trip is not None and t > car.last_trip:
            day = int(car.last_trip // DAY)
            days = car.longest.setdefault(_hour(car.last_trip), {})
            days[day] = max(days.get(day, 0.0), t - car.last_trip)
            for old in [d for d in days if d <= day - self.rule.keep_days]:
                del days[old]
        car.last_trip = t if car.last_trip is None else max(t, car.last_trip)
        if car.active:
            car.active = False
            out.append(self.announce.signal("cleared", self.name, dev.ref, dev.building, ev.ts, {}))

    def tick(self, now: float, devices: Iterable[DeviceState], out: list[Signal]) -> None:
        for dev in devices:
            car = self._cars.get(device_key(dev.ref))
            if car is None or car.active or car.last_trip is None:
                continue
            if now - car.watched_from < self.rule.learning:
                continue
            if dev.last_seen is None or now - dev.last_seen > self.rule.min_quiet:
                continue
            hour = _hour(car.last_trip)
            limit = self.limit(device_key(dev.ref), hour)
            quiet = now - car.last_trip
            if limit is None or quiet <= limit:
                continue
            car.active = True
            detail = {
                "quiet_min": round(quiet / 60, 1),
                "limit_min": round(limit / 60, 1),
                "hour": hour,
            }
            out.append(
                self.announce.signal("raised", self.name, dev.ref, dev.building, now, detail)
            )

    def dump(self) -> Any:
        return {
            key: {
                "watched_from": car.watched_from,
                "last_trip": car.last_trip,
                "longest": {
                    str(h): {str(d): g for d, g in days.items()} for h, days in car.longest.items()
                },
                "active": car.active,
            }
            for key, car in self._cars.items()
        }

    def load(self, raw: Any) -> None:
        for key, item in raw.items():
            self._cars[key] = _Car(
                watched_from=item["watched_from"],
                last_trip=item["last_trip"],
                longest={
                    int(h): {int(d): g for d, g in days.items()}
                    for h, days in item["longest"].items()
                },
                active=item["active"],
            )

    def forget(self, owned: Callable[[str], bool]) -> None:
        self._cars = {k: car for k, car in self._cars.items() if owned(k)}
