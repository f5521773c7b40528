"""Door degradation: each door cycle's times against the same landing's own baseline.

Per (car, landing) and per metric (open time, close time) a 30-day rolling baseline
(:mod:`.baselines`). A cycle is judged once the baseline holds ``min_samples``:
``z = (seconds - mean) / max(std, min_std)``, one-sided (slow doors are the failure).
A cycle above ``z`` is an outlier and stays out of the baseline, so a failing door does
not teach the baseline that failing is normal; ``consecutive`` outliers in a row on one
metric raise the alarm (a single cycle held open by a passenger does not), and as many
cycles in a row below ``clear_z`` on every metric clear it.

A close that was reversed (the doors re-opened) is not a measure of the door's speed
and is skipped. The monitoring box's own 10 ms timings (``box_open_s``) are preferred to
the gateway's sampled ones (``open_s``). Each landing is its own alarm, with the rule id
``door_degradation/landing<n>``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from estatewatch.wire import FieldValue
from maintenance.domain.observations import DeviceEvent
from maintenance.domain.rules.baselines import DAY, RollingStats
from maintenance.domain.rules.detector import Detector
from maintenance.domain.rules.spec import DoorZScoreRule
from maintenance.domain.rules.state import DeviceState, device_key
from maintenance.domain.signals import Signal

__all__ = ["DoorZScore"]

_METRICS = (("open", ("box_open_s", "open_s")), ("close", ("box_close_s", "close_s")))


def _number(detail: dict[str, FieldValue] | Any, keys: tuple[str, ...]) -> float | None:
    for key in keys:
        value = detail.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
    return None


@dataclass(slots=True)
class _Landing:
    stats: dict[str, RollingStats]
    streak: dict[str, int] = field(default_factory=lambda: {"open": 0, "close": 0})
    calm: int = 0
    active: bool = False


class DoorZScore(Detector):
    def __init__(self, rule: DoorZScoreRule) -> None:
        super().__init__(rule)
        self.rule = rule
        self._days = max(1, round(rule.window / DAY))
        self._landings: dict[tuple[str, int], _Landing] = {}

    def event(self, dev: DeviceState, ev: DeviceEvent, out: list[Signal]) -> None:
        if ev.kind != "door_cycle":
            return
        landing = ev.detail.get("landing")
        if not isinstance(landing, int) or isinstance(landing, bool):
            return
        key = (device_key(dev.ref), landing)
        state = self._landings.get(key)
        if state is None:
            state = self._landings[key] = _Landing(
                {m: RollingStats(self._days) for m, _ in _METRICS}
            )
        t = ev.ts.timestamp()
        rule = self.rule
        judged = calm = False
        worst: tuple[float, str, float, float] | None = None  # z, metric, seconds, mean
        for metric, keys in _METRICS:
            if metric == "close" and ev.detail.get("reversals", 0):
                continue
            seconds = _number(ev.detail, keys)
            if seconds is None:
                continue
            stats = state.stats[metric]
            base = stats.baseline(t)
            if base.count < rule.min_samples:
                stats.add(t, seconds)
                continue
            z = (seconds - base.mean) / max(base.std, rule.min_std)
            if not judged:
                judged, calm = True, True
            calm = calm and z < rule.clear_z
            if z > rule.z:
                state.streak[metric] += 1
                if state.streak[metric] >= rule.consecutive and (worst is None or z > worst[0]):
                    worst = (z, metric, seconds, base.mean)
            else:
                state.streak[metric] = 0
                stats.add(t, seconds)
        if not judged:
            return
        state.calm = state.calm + 1 if calm else 0
        rule_id = f"{self.name}/landing{landing}"
        if worst is not None and not state.active:
            state.active = True
            z, metric, seconds, mean = worst
            detail: dict[str, FieldValue] = {
                "landing": landing,
                "metric": metric,
                "seconds": round(seconds, 2),
                "mean": round(mean, 2),
                "z": round(z, 1),
                "instance": f"landing{landing}",
            }
            out.append(
                self.announce.signal("raised", rule_id, dev.ref, dev.building, ev.ts, detail)
            )
        elif state.active and state.calm >= rule.consecutive:
            state.active = False
            state.streak = {m: 0 for m, _ in _METRICS}
            detail = {"landing": landing, "instance": f"landing{landing}"}
            out.append(
                self.announce.signal("cleared", rule_id, dev.ref, dev.building, ev.ts, detail)
            )

    def dump(self) -> Any:
        return [
            {
                "device": dev,
                "landing": landing,
                "stats": {m: s.dump() for m, s in state.stats.items()},
                "streak": dict(state.streak),
                "calm": state.calm,
                "active": state.active,
            }
            for (dev, landing), state in self._landings.items()
        ]

    def load(self, raw: Any) -> None:
        for item in raw:
            self._landings[(item["device"], item["landing"])] = _Landing(
                stats={m: RollingStats(self._days, b) for m, b in item["stats"].items()},
                streak=dict(item["streak"]),
                calm=item["calm"],
                active=item["active"],
            )

    def forget(self, owned: Callable[[str], bool]) -> None:
        self._landings = {k: s for k, s in self._landings.items() if owned(k[0])}
