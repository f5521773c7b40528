"""On-demand maintenance intervals (按需维保): a monitored car's visit interval from its health.

National pilots let a lift that is remotely monitored and within its inspection validity
be serviced on an interval set from its condition. The site decides whether its cars may,
and within which limits (:class:`IntervalLimits`, e.g. 15 to 30 days); the platform never
goes beyond them. After each completed visit the service recomputes the interval with
:func:`on_demand_interval` and writes the result and its reasons on the plan, where the
committee and the public board read them.

The rule (figures from :mod:`.evidence`, thresholds in :class:`IntervalPolicy`):

1. Not eligible (the site allows no stretch, the car is offline or sends no data, or its
   inspection certificate has expired or is unknown): the statutory 15 days (less if the
   site's maximum is less; never more, whatever its minimum: :func:`statutory_interval`).
2. Otherwise each finding caps the interval, and the lowest cap wins:
   - faults per 1,000 trips since the last visit at or above the evidence policy's
     "frequent" rate (with its minimum of faults and trips: one fault is never frequent,
     and under 1,000 trips there is no rate): the minimum; above half of it: the middle;
   - door-time drift (:func:`door_drift_pct`: the mean door cycle since the last visit
     against the car's own baseline) at or above ``door_drift_pct_severe``: the minimum;
     at or above ``door_drift_pct``: the middle; not measured (no baseline yet), no cap,
     but the plan says so;
   - alarms since the last visit: ``alarms_severe`` or more, the minimum; any, the middle;
   - age at or above the evidence policy's watch age (15 years): the middle.
3. Healthy (no finding) the target is the maximum. The interval shrinks to a lower
   target at once, and stretches towards a higher one by at most ``stretch_step_days``
   per visit, so a car earns a long interval over several good visits.

Every number that decided is in the reasons, in English, for the plan's record.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from maintenance.domain.evidence import EvidencePolicy, faults_per_1000_trips
from maintenance.domain.plan_reasons import Figure, PlanReason
from maintenance.domain.plans import STATUTORY_INTERVAL_DAYS

__all__ = [
    "DOOR_BASELINE_DAYS",
    "DOOR_BASELINE_MIN_DAYS",
    "MAX_ON_DEMAND_DAYS",
    "CarHealth",
    "IntervalDecision",
    "IntervalLimits",
    "IntervalPolicy",
    "door_drift_pct",
    "on_demand_interval",
    "statutory_interval",
]

MAX_ON_DEMAND_DAYS: Final = 90
"""Public pilots speak of site visits every one to three months at most."""

DOOR_BASELINE_DAYS: Final = 90
"""A car's door baseline: the days before the period judged, this many back."""
DOOR_BASELINE_MIN_DAYS: Final = 7
"""Fewer days of door times than this before the period: no baseline, drift unknown."""


class IntervalLimits(BaseModel):
    """What the site allows: ``max_days`` 15 means no on-demand stretching at all."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_days: int = Field(default=STATUTORY_INTERVAL_DAYS, ge=1, le=MAX_ON_DEMAND_DAYS)
    max_days: int = Field(default=STATUTORY_INTERVAL_DAYS, ge=1, le=MAX_ON_DEMAND_DAYS)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min_days > self.max_days:
            raise ValueError(f"min_days {self.min_days} is above max_days {self.max_days}")
        return self

    def clamp(self, days: int) -> int:
        return max(self.min_days, min(self.max_days, days))

    @property
    def middle(self) -> int:
        return (self.min_days + self.max_days) // 2


class IntervalPolicy(BaseModel):
    """Thresholds of the on-demand rule (our choices, each documented)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    evidence: EvidencePolicy = EvidencePolicy()
    """The committee's thresholds: frequent faults and the watch age are the same figures."""
    door_drift_pct: float = Field(default=10.0, gt=0)
    """Door cycles 10 % slower than the car's baseline: worth a look sooner."""
    door_drift_pct_severe: float = Field(default=25.0, gt=0)
    alarms_severe: int = Field(default=3, ge=1)
    stretch_step_days: int = Field(default=5, ge=1)


@dataclass(frozen=True, slots=True)
class CarHealth:
    """What monitoring says about a car since its last visit."""

    online: bool
    inspection_valid: bool
    age_years: int
    trips: int
    faults: int
    alarms: int
    door_drift_pct: float | None = None
    """Mean door cycle time against the car's baseline, in percent (None: not measured,
    :func:`door_drift_pct`)."""

    @property
    def faults_per_1000_trips(self) -> float | None:
        return faults_per_1000_trips(self.faults, self.trips)


@dataclass(frozen=True, slots=True)
class IntervalDecision:
    days: int
    findings: tuple[PlanReason, ...]

    @property
    def reasons(self) -> tuple[str, ...]:
        """The findings as English sentences."""
        return tuple(f.text for f in self.findings)


def door_drift_pct(baseline_days: Sequence[float], period_days: Sequence[float]) -> float | None:
    """How much slower the car's doors were in the period than usual, in percent.

    Both arguments are daily mean door cycle times (opening plus closing, seconds), one
    per day with readings: ``baseline_days`` from the :data:`DOOR_BASELINE_DAYS` before
    the period, ``period_days`` since the last visit. The baseline is the *median* day, so
    a few odd days (a door held open by movers) do not move it; the period is the mean
    of its days, so a door that slowed over the period shows. A car's own history is the
    yardstick because door operators, door widths and their settings differ from car to
    car. Negative when the doors got faster; None without a baseline (fewer than
    :data:`DOOR_BASELINE_MIN_DAYS` days) or with no day in the period.
    """
    if len(baseline_days) < DOOR_BASELINE_MIN_DAYS or not period_days:
        return None
    baseline = statistics.median(baseline_days)
    if baseline <= 0:
        return None
    return round((statistics.fmean(period_days) / baseline - 1) * 100, 1)


def _findings(
    health: CarHealth, limits: IntervalLimits, policy: IntervalPolicy
) -> list[tuple[int, PlanReason]]:
    low, mid = limits.min_days, limits.middle
    caps: list[tuple[int, PlanReason]] = []
    evidence = policy.evidence
    frequent = evidence.frequent_faults_per_1000_trips
    # The committee's rule for a rate: enough trips to judge, and one fault is never frequent.
    rate = health.faults_per_1000_trips if health.trips >= evidence.min_trips_for_rate else None
    if rate is not None and rate >= frequent and health.faults >= evidence.min_faults_for_frequent:
        caps.append((low, PlanReason("frequent_faults", {"rate": rate, "frequent": frequent})))
    elif rate is not None and rate > frequent / 2:
        caps.append((mid, PlanReason("faults_over_half", {"rate": rate, "frequent": frequent})))
    drift = health.door_drift_pct
    if drift is not None and drift >= policy.door_drift_pct_severe:
        caps.append((low, PlanReason("door_slow", {"drift_pct": drift})))
    elif drift is not None and drift >= policy.door_drift_pct:
        caps.append((mid, PlanReason("door_slow", {"drift_pct": drift})))
    if health.alarms >= policy.alarms_severe:
        caps.append((low, PlanReason("alarms_severe", {"alarms": health.alarms})))
    elif health.alarms:
        caps.append((mid, PlanReason("alarms", {"alarms": health.alarms})))
    watch = policy.evidence.watch_age_years
    if health.age_years >= watch:
        age: dict[str, Figure] = {"age_years": health.age_years, "watch_age_years": watch}
        caps.append((mid, PlanReason("watched_age", age)))
    return caps


def statutory_interval(limits: IntervalLimits) -> int:
    """A car the on-demand rule does not cover: 15 days, or less if the site's maximum is
    less; never more, whatever the site's minimum."""
    return min(STATUTORY_INTERVAL_DAYS, limits.max_days)


def on_demand_interval(
    current_days: int,
    health: CarHealth,
    limits: IntervalLimits,
    policy: IntervalPolicy | None = None,
) -> IntervalDecision:
    """The next interval for a car now on ``current_days``, within ``limits``."""
    policy = policy or IntervalPolicy()
    fixed = statutory_interval(limits)
    if limits.max_days <= STATUTORY_INTERVAL_DAYS:
        return IntervalDecision(fixed, (PlanReason("site_limit", {"max_days": limits.max_days}),))
    if not health.online:
        return IntervalDecision(fixed, (PlanReason("not_monitored"),))
    if not health.inspection_valid:
        return IntervalDecision(fixed, (PlanReason("inspection_invalid"),))
    findings = _findings(health, limits, policy)
    if findings:
        target = min(cap for cap, _ in findings)
        reasons = [reason for _, reason in findings]
    else:
        target, reasons = limits.max_days, [PlanReason("healthy")]
    if health.door_drift_pct is None:
        # No cap (the door rule's alarms still count), but the reader is told it is unknown.
        reasons.append(PlanReason("door_drift_unknown"))
    current = limits.clamp(current_days)
    if target < current:
        days = target
        reasons.append(PlanReason("shortened", {"from_days": current_days, "days": days}))
    elif target > current:
        days = min(target, current + policy.stretch_step_days)
        span: dict[str, Figure] = {
            "from_days": current_days,
            "days": days,
            "max_days": limits.max_days,
        }
        reasons.append(PlanReason("lengthened", span))
    else:
        days = current
        reasons.append(PlanReason("kept", {"days": days}))
    return IntervalDecision(days, tuple(reasons))
