"""Maintenance plans (pure): checklists as data, levels, the schedule, on-demand intervals
and the visit record."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from estatewatch.errors import ConfigError
from maintenance.config_files import DEFAULT_CHECKLIST, load_checklist
from maintenance.domain.actors import Actor
from maintenance.domain.checklists import LEVELS
from maintenance.domain.errors import InvalidRequest, NotPermitted
from maintenance.domain.intervals import (
    DOOR_BASELINE_MIN_DAYS,
    CarHealth,
    IntervalLimits,
    door_drift_pct,
    on_demand_interval,
)
from maintenance.domain.plans import Plan, level_for, schedule
from maintenance.domain.visits import ItemResult, Visit

ANCHOR = date(2026, 1, 5)
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TECH = Actor("tech-li", "technician")
MANAGER = Actor("mgr-wang", "manager")


# -- checklists ------------------------------------------------------------------------


def test_the_shipped_catalogue_is_cumulative_with_the_codes_counts() -> None:
    checklist = load_checklist()
    own = Counter(item.level for item in checklist.items)
    assert [own[level] for level in LEVELS] == [31, 13, 15, 17]
    sizes = [len(checklist.items_for(level)) for level in LEVELS]
    assert sizes == [31, 44, 59, 76]
    quarterly = {item.name for item in checklist.items_for("quarterly")}
    assert {item.name for item in checklist.items_for("half_monthly")} < quarterly
    lock = checklist.item("HM29")
    assert lock is not None
    assert lock.reading is not None
    assert lock.reading.min == 7


def _write(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _shipped() -> dict[str, object]:
    raw: dict[str, object] = yaml.safe_load(DEFAULT_CHECKLIST.read_text(encoding="utf-8"))
    return raw


def test_a_bad_catalogue_names_the_file_the_item_and_the_field(tmp_path: Path) -> None:
    raw = _shipped()
    items = raw["items"]
    assert isinstance(items, list)
    items[27]["level"] = "monthly"
    bad = _write(tmp_path / "bad.yaml", raw)
    with pytest.raises(ConfigError) as caught:
        load_checklist(bad)
    message = str(caught.value)
    assert message.startswith(f"{bad}: items[27] (HM28).level:")
    assert "half_monthly" in message


def test_a_catalogue_without_a_level_is_refused(tmp_path: Path) -> None:
    raw = _shipped()
    items = raw["items"]
    assert isinstance(items, list)
    raw["items"] = [item for item in items if item["level"] != "yearly"]
    bad = _write(tmp_path / "no-yearly.yaml", raw)
    with pytest.raises(ConfigError, match=r"no-yearly.yaml: .*no items for the level\(s\) yearly"):
        load_checklist(bad)


def test_a_site_extends_the_catalogue_and_a_bad_extra_file_is_named(tmp_path: Path) -> None:
    item = {
        "name": "S01",
        "level": "quarterly",
        "area": "car",
        "title": "Emergency phone line test call",
        "title_zh": "紧急电话线路测试",
        "requirement": "The duty room answers",
    }
    extra = _write(tmp_path / "site.yaml", {"items": [item]})
    checklist = load_checklist(extras=[extra])
    assert "S01" in {i.name for i in checklist.items_for("quarterly")}
    assert "S01" not in {i.name for i in checklist.items_for("half_monthly")}

    clash = _write(tmp_path / "clash.yaml", {"items": [item | {"name": "HM05"}]})
    with pytest.raises(ConfigError, match=r"clash.yaml: items\[0\] \(HM05\).name: .*already"):
        load_checklist(extras=[clash])
    no_title = _write(
        tmp_path / "untitled.yaml", {"items": [{k: v for k, v in item.items() if k != "title_zh"}]}
    )
    with pytest.raises(
        ConfigError, match=r"untitled.yaml: items\[0\] \(S01\).title_zh: Field required"
    ):
        load_checklist(extras=[no_title])


# -- levels and the schedule -----------------------------------------------------------


def test_a_year_of_15_day_visits_has_each_level_the_right_number_of_times() -> None:
    plan = Plan("site/elevator/e1", "site", ANCHOR)
    year = schedule(plan, ANCHOR + timedelta(days=364))
    assert all(b.due_on - a.due_on == timedelta(days=15) for a, b in itertools.pairwise(year))
    levels = Counter(v.level for v in year)
    assert levels == {"yearly": 1, "half_yearly": 1, "quarterly": 2, "half_monthly": len(year) - 4}
    assert year[0].level == "yearly"
    assert year[0].due_on == ANCHOR
    # Items counted cumulatively: half-yearly items twice a year, quarterly four times.
    above = {"quarterly": 0, "half_yearly": 0}
    for visit in year:
        for level in above:
            above[level] += LEVELS.index(visit.level) >= LEVELS.index(level)
    assert above == {"quarterly": 4, "half_yearly": 2}
    second = schedule(plan, ANCHOR + timedelta(days=2 * 365))
    assert Counter(v.level for v in second)["yearly"] == 2


def test_the_level_counts_what_was_done_not_what_was_planned() -> None:
    plan = Plan("a", "site", ANCHOR).visited(ANCHOR, "yearly")
    # Three months later the first visit of the quarter is quarterly, the next is not.
    day = ANCHOR + timedelta(days=92)
    assert plan.next_level(day) == "quarterly"
    plan = plan.visited(day, "quarterly")
    assert plan.next_level(day + timedelta(days=15)) == "half_monthly"
    # A plan with a 30-day interval still gets its quarterly and half-yearly visits.
    monthly = schedule(Plan("b", "site", ANCHOR, interval_days=30), ANCHOR + timedelta(days=364))
    assert Counter(v.level for v in monthly) == {
        "yearly": 1,
        "half_yearly": 1,
        "quarterly": 2,
        "half_monthly": len(monthly) - 4,
    }
    assert level_for(ANCHOR, ANCHOR, {}) == "yearly"


def test_a_car_is_overdue_from_the_day_after_its_due_date() -> None:
    plan = Plan("a", "site", ANCHOR).visited(ANCHOR, "yearly")
    assert plan.next_due() == ANCHOR + timedelta(days=15)
    assert not plan.overdue_on(ANCHOR + timedelta(days=15))
    assert plan.overdue_on(ANCHOR + timedelta(days=16))
    with pytest.raises(InvalidRequest, match="before the last one"):
        plan.visited(ANCHOR - timedelta(days=1), "half_monthly")


# -- on-demand intervals ---------------------------------------------------------------

LIMITS = IntervalLimits(min_days=15, max_days=30)


def _health(**change: object) -> CarHealth:
    base: dict[str, object] = {
        "online": True,
        "inspection_valid": True,
        "age_years": 6,
        "trips": 9000,
        "faults": 0,
        "alarms": 0,
        "door_drift_pct": 2.0,
    }
    return CarHealth(**(base | change))  # type: ignore[arg-type]


def test_a_healthy_car_stretches_step_by_step_and_never_past_the_limit() -> None:
    days, seen = 15, []
    for _ in range(6):
        decision = on_demand_interval(days, _health(), LIMITS)
        days = decision.days
        seen.append(days)
        assert "healthy" in decision.reasons[0]
    assert seen == [20, 25, 30, 30, 30, 30]


def test_findings_shrink_the_interval_at_once_with_the_figures_as_reasons() -> None:
    faults = on_demand_interval(30, _health(faults=2, trips=9000), LIMITS)
    assert faults.days == 15
    assert "0.22 faults per 1,000 trips" in faults.reasons[0]
    assert faults.reasons[-1] == "shortened from 30 to 15 days"
    door = on_demand_interval(30, _health(door_drift_pct=14.0), LIMITS)
    assert door.days == LIMITS.middle == 22
    assert "door cycles 14 % slower" in door.reasons[0]
    alarms = on_demand_interval(30, _health(alarms=3), LIMITS)
    assert alarms.days == 15
    old = on_demand_interval(30, _health(age_years=18), LIMITS)
    assert old.days == 22
    assert "18 years old" in old.reasons[0]


def test_door_drift_is_the_periods_mean_against_the_baselines_median_day() -> None:
    usual = [6.0, 6.2, 5.8, 6.0, 6.1, 5.9, 6.0]  # median 6.0 s a cycle
    held_open = [*usual, 30.0, 30.0]  # movers' days: the median does not move
    assert door_drift_pct(usual, [7.8, 7.8]) == 30.0
    assert door_drift_pct(held_open, [7.8, 7.8]) == 30.0
    # Slowing through the period: the mean of its days (6.6 s) against 6.0 s.
    assert door_drift_pct(usual, [6.0, 6.6, 7.2]) == 10.0
    assert door_drift_pct(usual, [5.4]) == -10.0  # faster doors: a negative drift
    # No baseline yet (too few days) or no day in the period: not measured.
    assert door_drift_pct(usual[: DOOR_BASELINE_MIN_DAYS - 1], [7.8]) is None
    assert door_drift_pct(usual, []) is None


def test_slow_doors_shrink_the_interval_and_unmeasured_doors_are_said() -> None:
    slowed = on_demand_interval(30, _health(door_drift_pct=30.0), LIMITS)
    assert slowed.days == LIMITS.min_days == 15
    assert [f.code for f in slowed.findings] == ["door_slow", "shortened"]
    assert slowed.reasons[0] == "door cycles 30 % slower than baseline"
    unknown = on_demand_interval(15, _health(door_drift_pct=None), LIMITS)
    # Unknown is no finding: a healthy car still earns its stretch, and the plan says so.
    assert unknown.days == 20
    assert [f.code for f in unknown.findings] == ["healthy", "door_drift_unknown", "lengthened"]
    faster = on_demand_interval(15, _health(door_drift_pct=-8.0), LIMITS)
    assert [f.code for f in faster.findings] == ["healthy", "lengthened"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"online": False}, "offline"),
        ({"inspection_valid": False}, "inspection certificate"),
    ],
)
def test_an_unmonitored_car_keeps_the_statutory_15_days(
    change: dict[str, object], reason: str
) -> None:
    decision = on_demand_interval(30, _health(**change), LIMITS)
    assert decision.days == 15
    assert reason in decision.reasons[0]


def test_a_site_without_on_demand_keeps_15_days_and_limits_are_checked() -> None:
    decision = on_demand_interval(15, _health(), IntervalLimits())
    assert decision.days == 15
    # A site's minimum never lengthens the interval of a car the rule does not cover.
    unmonitored = on_demand_interval(
        15, _health(online=False), IntervalLimits(min_days=20, max_days=30)
    )
    assert unmonitored.days == 15
    with pytest.raises(ValueError, match="min_days 20 is above max_days 15"):
        IntervalLimits(min_days=20, max_days=15)
    with pytest.raises(ValueError, match="less than or equal to 90"):
        IntervalLimits(max_days=120)


# -- the visit record ------------------------------------------------------------------


def _visit(level: str = "half_monthly") -> Visit:
    checklist = load_checklist()
    return Visit.plan(
        order_id="WO-2026-000001",
        asset="site/elevator/e1",
        site="site",
        level=level,  # type: ignore[arg-type]
        due_on=NOW.date(),
        items=checklist.items_for(level),  # type: ignore[arg-type]
        now=NOW - timedelta(days=5),
    )


def _all_done(visit: Visit) -> list[ItemResult]:
    return [
        ItemResult(
            i.name,
            "done",
            reading=(i.reading.min if i.reading and i.reading.min is not None else 0.3),
        )
        for i in visit.items
    ]


START, END = NOW - timedelta(hours=2), NOW - timedelta(hours=1)


def _record(
    visit: Visit,
    results: list[ItemResult],
    technicians: tuple[str, ...] = ("tech-li", "tech-zhao"),
    start: datetime = START,
    end: datetime = END,
) -> None:
    visit.record(
        TECH, NOW, technicians=list(technicians), started_at=start, ended_at=end, results=results
    )


def test_a_visit_is_recorded_once_with_two_technicians_and_a_result_per_item() -> None:
    visit = _visit()
    results = _all_done(visit)
    with pytest.raises(InvalidRequest, match="2 technicians must be present, got 1"):
        _record(visit, results, technicians=("tech-li", " tech-li "))
    with pytest.raises(InvalidRequest, match="no result for 1 item"):
        _record(visit, results[1:])
    with pytest.raises(InvalidRequest, match="end by now"):
        _record(visit, results, start=END, end=START)
    _record(visit, results)
    assert visit.recorded
    assert visit.technicians == ("tech-li", "tech-zhao")
    assert [e.action for e in visit.pull_events()] == ["planned", "recorded"]
    with pytest.raises(InvalidRequest, match="was recorded"):
        _record(visit, results)


def _with(visit: Visit, replacement: ItemResult) -> list[ItemResult]:
    """Every item done, but ``replacement`` for its item."""
    return [replacement if r.code == replacement.code else r for r in _all_done(visit)]


def test_a_reading_outside_its_limits_is_a_defect_and_defects_need_a_note() -> None:
    visit = _visit()
    with pytest.raises(
        InvalidRequest, match="HM29: 5 mm is outside its limits; record it as a defect"
    ):
        _record(visit, _with(visit, ItemResult("HM29", "done", reading=5.0)))
    with pytest.raises(InvalidRequest, match="HM29: defect needs a note"):
        _record(visit, _with(visit, ItemResult("HM29", "defect")))
    _record(visit, _with(visit, ItemResult("HM29", "defect", "5 mm on floor 7", 5.0)))
    assert [d.code for d in visit.defects] == ["HM29"]


def test_only_the_safety_manager_signs_and_only_a_recorded_visit() -> None:
    visit = _visit()
    with pytest.raises(InvalidRequest, match="record the visit before signing"):
        visit.sign_off(MANAGER, NOW)
    _record(visit, _all_done(visit))
    with pytest.raises(NotPermitted, match="elevator safety manager signs"):
        visit.sign_off(TECH, NOW)
    visit.sign_off(MANAGER, NOW)
    assert visit.signed_by == "mgr-wang"
    with pytest.raises(InvalidRequest, match="was signed by mgr-wang"):
        visit.sign_off(MANAGER, NOW)


def test_one_fault_or_a_few_trips_never_make_a_rate_frequent() -> None:
    one = on_demand_interval(30, _health(faults=1, trips=5000), LIMITS)
    assert one.days == LIMITS.middle  # 0.20 per 1,000 trips: over half the rate, not frequent
    assert "over half of 0.1" in one.reasons[0]
    quiet = on_demand_interval(30, _health(faults=2, trips=500), LIMITS)
    assert quiet.days == 30  # under 1,000 trips: no rate to judge
