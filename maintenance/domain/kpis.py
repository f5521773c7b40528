"""KPIs of the maintenance service over a period ``[period_start, period_end)``, in pandas.

Input contract (what the persistence layer must produce; one row per item, extra columns
are ignored, every datetime timezone-aware, missing values as None/NaT/NaN; a frame left
out, as None, counts as empty):

``work_orders``
    ``id`` str; ``asset_id`` str or None; ``asset_kind`` str (``elevator``, ``charger``,
    ``smoke_alarm``, ...); ``building`` str or None; ``category`` str (spending category);
    ``priority`` ``P1``..``P4``; ``source`` (``alarm``, ``staff``, ``resident``);
    ``created_at``; ``acknowledged_at``, ``first_feedback_at``, ``resolved_at`` (the last
    resolution, after any failed verification), ``closed_at``: when it happened, or NaT;
    ``response_due_at``, ``feedback_due_at``: the due times as the SLA clocks finally put
    them (pauses on hold included), NaT when the priority has no such target;
    ``on_hold_minutes`` float, total time on hold; ``cost_actual`` float or NaN;
    ``rating`` 1-5 or NaN; ``repeat_of`` id of the order this one repeats, or None;
    ``resolution`` ``self_cleared`` for an order closed as self-cleared, else None.
``faults``
    ``asset_id``, ``at``: one row per elevator fault (any period; filtered here).
``trips``
    ``asset_id``, ``trips``: trips each elevator made in the period.
``operating_hours``
    ``asset_id``, ``hours``: running hours each elevator logged in the period.
``rescues``
    ``id`` (the rescue order), ``reported_at``; ``arrived_at``, ``released_at`` or NaT;
    ``arrive_within_minutes`` float, the site's target; ``false_alarm`` bool.

Which orders each figure looks at ("in the period" = ``period_start <= t < period_end``;
everything is seen as of ``period_end``, so a later event counts as not yet happened and a
past month's report does not change when it is re-run):

- SLA compliance, time to acknowledge, repeat faults: orders **created** in the period.
  An order is *met* when acknowledged (for feedback: first feedback given) by its due
  time, *breached* when done late or still not done once the due time has passed by
  period end (or by ``as_of``, the clock, when earlier: in the current month a deadline
  still ahead is no breach), and *pending* (left out of the share) when not done and not
  yet due.
  Orders with no due time are left out, and so is an order that closed as self-cleared
  (its alarm cleared before anyone acknowledged it) before its due time: nobody was late
  for it; one that cleared after its due time is a breach. Share = met / (met + breached).
- Self-cleared: orders **created** in the period and closed as self-cleared by its end;
  they are in ``orders_closed`` too but in no repair figure (never resolved or rated).
- Time to resolve: orders **resolved** in the period, minutes from creation to
  resolution less time on hold. MTTR is its mean (overall), and per elevator.
- Satisfaction and spending: orders **closed** in the period. Satisfied = rating >= 4.
  Spending without a category is reported as ``uncategorised``.
- Rescues: those **reported** in the period. Arrival time (report to the first arrival
  on site; on time when within the site's target) and rescue duration (report to the
  passengers' release), as of period end; false alarms are counted and left out of both.
- Per elevator: faults in the period, faults per 1,000 trips, MTBF in hours (operating
  hours / faults when the hours are known, else the period's calendar hours / faults,
  see :mod:`.evidence`; None without faults), MTTR, repeat faults. Elevators are those
  named in any of the frames (work orders of kind ``elevator`` included).

Statistics: mean, median and p90 (pandas' linear interpolation between ranks); None when
there is nothing to measure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

import pandas as pd
from pydantic import AwareDatetime, BaseModel, ConfigDict

from estatewatch.errors import EstatewatchError
from maintenance.domain.evidence import faults_per_1000_trips, mtbf_hours

__all__ = [
    "ElevatorKpis",
    "KpiFrames",
    "KpiInputError",
    "KpiRow",
    "Kpis",
    "MinutesStats",
    "RescueKpis",
    "Satisfaction",
    "SlaCompliance",
    "compute_kpis",
]

WORK_ORDER_COLUMNS: Final = (
    "id",
    "asset_id",
    "asset_kind",
    "building",
    "category",
    "priority",
    "source",
    "created_at",
    "acknowledged_at",
    "first_feedback_at",
    "resolved_at",
    "closed_at",
    "response_due_at",
    "feedback_due_at",
    "on_hold_minutes",
    "cost_actual",
    "rating",
    "repeat_of",
    "resolution",
)
_WORK_ORDER_TIMES: Final = (
    "created_at",
    "acknowledged_at",
    "first_feedback_at",
    "resolved_at",
    "closed_at",
    "response_due_at",
    "feedback_due_at",
)
RESCUE_COLUMNS: Final = (
    "id",
    "reported_at",
    "arrived_at",
    "released_at",
    "arrive_within_minutes",
    "false_alarm",
)
SATISFIED_FROM: Final = 4
UNCATEGORISED: Final = "uncategorised"
SELF_CLEARED: Final = "self_cleared"
ELEVATOR: Final = "elevator"

KpiRow = dict[str, str | float | int | None]
"""One CSV row: ``metric``, ``scope`` (a category or asset id, else empty), ``value``."""

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class KpiInputError(EstatewatchError):
    """A KPI input frame breaks the contract (missing column, naive datetimes)."""


@dataclass(frozen=True, slots=True)
class KpiFrames:
    """The inputs; see the module docstring for the columns. Missing frames are empty."""

    work_orders: pd.DataFrame | None = None
    faults: pd.DataFrame | None = None
    trips: pd.DataFrame | None = None
    operating_hours: pd.DataFrame | None = None
    rescues: pd.DataFrame | None = None


class SlaCompliance(BaseModel):
    model_config = _FROZEN

    met: int
    breached: int
    pending: int
    share: float | None


class MinutesStats(BaseModel):
    model_config = _FROZEN

    count: int
    mean: float | None
    median: float | None
    p90: float | None


class Satisfaction(BaseModel):
    model_config = _FROZEN

    rated: int
    average: float | None
    share_satisfied: float | None


class RescueKpis(BaseModel):
    model_config = _FROZEN

    reported: int
    false_alarms: int
    arrival_minutes: MinutesStats
    arrived_on_time_share: float | None
    """Share of arrivals within the site's target, of the rescues someone arrived at."""
    rescue_minutes: MinutesStats
    """From the report to the passengers' release."""


class ElevatorKpis(BaseModel):
    model_config = _FROZEN

    asset_id: str
    faults: int
    trips: int | None
    faults_per_1000_trips: float | None
    mtbf_hours: float | None
    mtbf_basis: Literal["operating", "calendar"]
    mttr_minutes: float | None
    repeat_faults: int


class Kpis(BaseModel):
    """The period's KPIs; JSON-able for the API, :meth:`to_rows` for a CSV report."""

    model_config = _FROZEN

    period_start: AwareDatetime
    period_end: AwareDatetime
    orders_created: int
    orders_resolved: int
    orders_closed: int
    orders_self_cleared: int
    """Created in the period and closed as self-cleared: in ``orders_closed`` too."""
    response_sla: SlaCompliance
    feedback_sla: SlaCompliance
    time_to_acknowledge_minutes: MinutesStats
    time_to_resolve_minutes: MinutesStats
    """Its mean is the overall MTTR."""
    repeat_faults: int
    satisfaction: Satisfaction
    spending_by_category: dict[str, float]
    spending_total: float
    rescues: RescueKpis
    elevators: tuple[ElevatorKpis, ...]

    def to_rows(self) -> list[KpiRow]:
        """Flat ``metric, scope, value`` rows: scope is the category or elevator, if any."""
        rows: list[KpiRow] = []

        def walk(prefix: str, value: Any) -> None:
            if isinstance(value, dict):
                for key, item in value.items():
                    walk(f"{prefix}.{key}" if prefix else key, item)
            else:
                rows.append({"metric": prefix, "scope": "", "value": value})

        walk("", self.model_dump(mode="json", exclude={"spending_by_category", "elevators"}))
        rows.extend(
            {"metric": "spending", "scope": category, "value": amount}
            for category, amount in self.spending_by_category.items()
        )
        for elevator in self.elevators:
            for name, value in elevator.model_dump(mode="json", exclude={"asset_id"}).items():
                rows.append(
                    {"metric": f"elevator.{name}", "scope": elevator.asset_id, "value": value}
                )
        return rows


def _require(frame: pd.DataFrame, name: str, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KpiInputError(f"KPI input '{name}' lacks column(s): {', '.join(missing)}")


def _utc(frame: pd.DataFrame, name: str, column: str) -> pd.Series:
    series = pd.to_datetime(frame[column])
    if series.dt.tz is not None:
        return series.dt.tz_convert("UTC")
    if series.notna().any():
        raise KpiInputError(
            f"KPI input '{name}' column '{column}' holds naive datetimes; give them in UTC"
        )
    return series.dt.tz_localize("UTC")  # all missing: nothing to misread


def _orders(frame: pd.DataFrame | None) -> pd.DataFrame:
    orders = _optional(frame, "work_orders", WORK_ORDER_COLUMNS).copy()
    for column in _WORK_ORDER_TIMES:
        orders[column] = _utc(orders, "work_orders", column)
    for column in ("on_hold_minutes", "cost_actual", "rating"):
        orders[column] = pd.to_numeric(orders[column]).astype("float64")
    orders["on_hold_minutes"] = orders["on_hold_minutes"].fillna(0.0)
    orders["category"] = orders["category"].fillna(UNCATEGORISED)
    return orders


def _optional(frame: pd.DataFrame | None, name: str, columns: tuple[str, ...]) -> pd.DataFrame:
    if frame is None:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    _require(frame, name, columns)
    return frame.loc[:, list(columns)]


def _between(times: pd.Series, start: datetime, end: datetime) -> pd.Series:
    return (times >= start) & (times < end)


def _none_if_nan(value: Any) -> float | None:
    return None if pd.isna(value) else float(value)


def _sla(
    orders: pd.DataFrame, done_column: str, due_column: str, end: datetime, as_of: datetime
) -> SlaCompliance:
    due = orders[due_column]
    # As of the period end: an event after it has not happened yet.
    done = orders[done_column].where(orders[done_column] < end)
    cleared = orders["closed_at"].where(_self_cleared(orders, end))
    with_due = due.notna() & ~(cleared <= due)
    met = with_due & done.notna() & (done <= due)
    # Not done is a breach only once the deadline has passed by ``as_of``.
    breached = with_due & ((done.notna() & (done > due)) | (done.isna() & (due < as_of)))
    met_count, breached_count = int(met.sum()), int(breached.sum())
    judged = met_count + breached_count
    return SlaCompliance(
        met=met_count,
        breached=breached_count,
        pending=int((with_due & ~met & ~breached).sum()),
        share=met_count / judged if judged else None,
    )


def _self_cleared(orders: pd.DataFrame, end: datetime) -> pd.Series:
    """Orders closed as self-cleared by ``end``."""
    return (orders["resolution"] == SELF_CLEARED) & (orders["closed_at"] < end)


def _stats(minutes: pd.Series) -> MinutesStats:
    minutes = minutes.dropna()
    if minutes.empty:
        return MinutesStats(count=0, mean=None, median=None, p90=None)
    return MinutesStats(
        count=len(minutes),
        mean=float(minutes.mean()),
        median=float(minutes.median()),
        p90=float(minutes.quantile(0.9)),
    )


def _minutes(later: pd.Series, earlier: pd.Series) -> pd.Series:
    return (later - earlier).dt.total_seconds() / 60


def _elevators(
    frames: KpiFrames,
    orders: pd.DataFrame,
    resolve_minutes: pd.Series,
    start: datetime,
    end: datetime,
) -> tuple[ElevatorKpis, ...]:
    faults = _optional(frames.faults, "faults", ("asset_id", "at"))
    fault_times = _utc(faults, "faults", "at")
    fault_counts = faults.loc[_between(fault_times, start, end), "asset_id"].value_counts()
    trips = (
        _optional(frames.trips, "trips", ("asset_id", "trips")).groupby("asset_id")["trips"].sum()
    )
    hours = _optional(frames.operating_hours, "operating_hours", ("asset_id", "hours"))
    hours_by_asset = hours.groupby("asset_id")["hours"].sum()

    is_elevator = orders["asset_kind"] == ELEVATOR
    mttr = resolve_minutes[is_elevator].groupby(orders.loc[is_elevator, "asset_id"]).mean()
    created = is_elevator & _between(orders["created_at"], start, end)
    repeats = orders.loc[created & orders["repeat_of"].notna(), "asset_id"].value_counts()

    calendar_hours = (end - start).total_seconds() / 3600
    assets = set(fault_counts.index) | set(trips.index) | set(hours_by_asset.index)
    assets |= set(orders.loc[is_elevator, "asset_id"].dropna())
    result = []
    for asset in sorted(assets):
        count = int(fault_counts.get(asset, 0))
        asset_trips = int(trips[asset]) if asset in trips.index else None
        operating = _none_if_nan(hours_by_asset.get(asset))
        result.append(
            ElevatorKpis(
                asset_id=asset,
                faults=count,
                trips=asset_trips,
                faults_per_1000_trips=(
                    None if asset_trips is None else faults_per_1000_trips(count, asset_trips)
                ),
                mtbf_hours=mtbf_hours(calendar_hours if operating is None else operating, count),
                mtbf_basis="calendar" if operating is None else "operating",
                mttr_minutes=_none_if_nan(mttr.get(asset)),
                repeat_faults=int(repeats.get(asset, 0)),
            )
        )
    return tuple(result)


def _rescues(frame: pd.DataFrame | None, start: datetime, end: datetime) -> RescueKpis:
    rescues = _optional(frame, "rescues", RESCUE_COLUMNS).copy()
    times = {c: _utc(rescues, "rescues", c) for c in ("reported_at", "arrived_at", "released_at")}
    reported = _between(times["reported_at"], start, end)
    false_alarm = rescues["false_alarm"].astype("boolean").fillna(False).astype(bool)
    real = reported & ~false_alarm
    arrival = _minutes(times["arrived_at"], times["reported_at"]).where(
        real & (times["arrived_at"] < end)
    )
    released = _minutes(times["released_at"], times["reported_at"]).where(
        real & (times["released_at"] < end)
    )
    target = pd.to_numeric(rescues["arrive_within_minutes"]).astype("float64")
    arrived = arrival.dropna()
    return RescueKpis(
        reported=int(reported.sum()),
        false_alarms=int((reported & false_alarm).sum()),
        arrival_minutes=_stats(arrival),
        arrived_on_time_share=(
            float((arrived <= target[arrived.index]).mean()) if len(arrived) else None
        ),
        rescue_minutes=_stats(released),
    )


def compute_kpis(
    frames: KpiFrames,
    period_start: datetime,
    period_end: datetime,
    *,
    as_of: datetime | None = None,
) -> Kpis:
    """The KPIs of ``[period_start, period_end)`` (both timezone-aware), with deadlines
    judged at ``as_of`` (the clock; default and at most the period end): in a period still
    running, a deadline not yet passed is no breach."""
    if period_start.tzinfo is None or period_end.tzinfo is None:
        raise KpiInputError("the KPI period must be given in aware (UTC) datetimes")
    if period_end <= period_start:
        raise KpiInputError(f"KPI period end {period_end} is not after its start {period_start}")
    orders = _orders(frames.work_orders)
    start, end = period_start, period_end
    judged = end if as_of is None else min(end, as_of)
    created = orders[_between(orders["created_at"], start, end)]
    resolved_mask = _between(orders["resolved_at"], start, end)
    closed = orders[_between(orders["closed_at"], start, end)]

    acknowledged = created[created["acknowledged_at"] < end]
    resolve_minutes = (
        _minutes(orders["resolved_at"], orders["created_at"]) - orders["on_hold_minutes"]
    ).where(resolved_mask)

    ratings = closed["rating"].dropna()
    costs = closed.dropna(subset=["cost_actual"])
    spending = costs.groupby("category")["cost_actual"].sum().sort_index()
    return Kpis(
        period_start=start,
        period_end=end,
        orders_created=len(created),
        orders_resolved=int(resolved_mask.sum()),
        orders_closed=len(closed),
        orders_self_cleared=int(_self_cleared(created, end).sum()),
        response_sla=_sla(created, "acknowledged_at", "response_due_at", end, judged),
        feedback_sla=_sla(created, "first_feedback_at", "feedback_due_at", end, judged),
        time_to_acknowledge_minutes=_stats(
            _minutes(acknowledged["acknowledged_at"], acknowledged["created_at"])
        ),
        time_to_resolve_minutes=_stats(resolve_minutes),
        repeat_faults=int(created["repeat_of"].notna().sum()),
        satisfaction=Satisfaction(
            rated=len(ratings),
            average=float(ratings.mean()) if len(ratings) else None,
            share_satisfied=float((ratings >= SATISFIED_FROM).mean()) if len(ratings) else None,
        ),
        spending_by_category={str(k): round(float(v), 2) for k, v in spending.items()},
        spending_total=round(float(costs["cost_actual"].sum()), 2),
        rescues=_rescues(frames.rescues, start, end),
        elevators=_elevators(frames, orders, resolve_minutes, start, end),
    )
