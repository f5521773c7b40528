"""Elevator evidence: figures computed by hand, and each branch of the recommendation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from maintenance.domain.evidence import (
    FINDING_TEXTS,
    ElevatorEvidence,
    ElevatorFacts,
    EvidenceError,
    FaultRecord,
    build_evidence,
    completed_years,
    trips_from_run_counts,
)

# 2026-01-01 .. 2026-07-01: 31+28+31+30+31+30 = 181 days = 4,344 hours.
START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2026, 7, 1, tzinfo=UTC)
CURRENT_INSPECTION = date(2026, 3, 10)


def _faults(
    count: int, *, repeats: int = 0, every: timedelta = timedelta(days=20)
) -> list[FaultRecord]:
    return [
        FaultRecord(
            at=START + timedelta(days=3) + i * every,
            fault_kind="E49" if i % 2 else "E22",
            repeat=i < repeats,
        )
        for i in range(count)
    ]


def _facts(installed: date, inspected: date | None = CURRENT_INSPECTION) -> ElevatorFacts:
    return ElevatorFacts(
        asset_id="elev-01",
        installed_on=installed,
        last_inspection_on=inspected,
        replacement_cost=Decimal(400_000),
    )


def test_figures_of_a_17_year_old_car_with_frequent_faults() -> None:
    outside = [
        FaultRecord(at=START - timedelta(seconds=1), fault_kind="E41"),  # before the period
        FaultRecord(at=END, fault_kind="E41"),  # the period end is excluded
    ]
    evidence = build_evidence(
        _facts(date(2008, 9, 1)),
        _faults(6, repeats=2) + outside,
        trips=30_000,
        operating_hours=900.0,
        cost_to_date=Decimal(120_000),
        period_start=START,
        period_end=END,
    )
    assert evidence.age_years == 17  # 2008-09-01 .. 2026-07-01
    assert evidence.faults == 6
    assert evidence.faults_by_kind == {"E22": 3, "E49": 3}
    assert evidence.repeat_faults == 2
    assert evidence.faults_per_1000_trips == pytest.approx(0.2)  # 6 * 1000 / 30,000
    assert evidence.mtbf_calendar_hours == pytest.approx(724.0)  # 4,344 h / 6
    assert evidence.mtbf_operating_hours == pytest.approx(150.0)  # 900 h / 6
    # Older than 15 and 0.2 >= 0.1 per 1,000 trips: safety evaluation (cost 30 % < 50 %).
    assert evidence.recommendation == "safety_evaluation"
    assert len(evidence.reasons) == 1
    assert "0.2 per 1,000 trips" in evidence.reasons[0]


def test_past_design_life_with_frequent_faults_is_replace_and_lists_every_finding() -> None:
    evidence = build_evidence(
        _facts(date(2000, 5, 1)),  # 26 years old at 2026-07-01
        _faults(6),
        trips=30_000,
        cost_to_date=Decimal(0),
        period_start=START,
        period_end=END,
    )
    assert evidence.recommendation == "replace"
    assert evidence.reasons[0].startswith("past its 25-year design life")
    assert any(r.startswith("faults are frequent") for r in evidence.reasons)
    assert any("may keep running only after passing an evaluation" in r for r in evidence.reasons)


def test_high_repair_cost_on_a_watched_car_is_replace() -> None:
    evidence = build_evidence(
        _facts(date(2010, 1, 1)),  # 16 years old
        [],
        trips=30_000,
        cost_to_date=Decimal(200_000),  # exactly 50 % of 400,000
        period_start=START,
        period_end=END,
    )
    assert evidence.recommendation == "replace"
    assert "reach 50%" in evidence.reasons[0]


def test_repeat_faults_on_a_young_car_call_for_major_repair() -> None:
    # 3 faults in 100,000 trips = 0.03 per 1,000 (not frequent); MTBF 4,344 / 3 = 1,448 h
    # (not frequent); but all 3 are repeats.
    evidence = build_evidence(
        _facts(date(2020, 1, 1)),
        _faults(3, repeats=3),
        trips=100_000,
        cost_to_date=Decimal(9_000),
        period_start=START,
        period_end=END,
    )
    assert evidence.faults_per_1000_trips == pytest.approx(0.03)
    assert evidence.mtbf_calendar_hours == pytest.approx(1448.0)
    assert evidence.recommendation == "major_repair"
    assert evidence.reasons == ("3 repeat faults: the same faults return",)


@pytest.mark.parametrize(
    ("fault_count", "expected"), [(2, "major_repair"), (1, "keep_maintaining")]
)
def test_mtbf_decides_when_too_few_trips_for_a_rate(fault_count: int, expected: str) -> None:
    # A 30-day period (720 h) with 500 trips: below the 1,000 trips a rate needs, so the
    # rate (4 per 1,000 with two faults) is ignored; two faults give MTBF 360 h < 720 h.
    # One fault alone is never frequent.
    end = START + timedelta(days=30)
    evidence = build_evidence(
        _facts(date(2020, 1, 1)),
        _faults(fault_count, every=timedelta(days=5)),
        trips=500,
        cost_to_date=Decimal(0),
        period_start=START,
        period_end=end,
    )
    assert evidence.recommendation == expected
    if fault_count == 2:
        assert evidence.mtbf_calendar_hours == pytest.approx(360.0)
        assert "one every 360 h" in evidence.reasons[0]


@pytest.mark.parametrize(
    ("inspected", "expected"),
    [
        (None, "safety_evaluation"),
        (date(2025, 6, 30), "safety_evaluation"),  # 366 days before 2026-07-01
        (date(2025, 7, 1), "keep_maintaining"),  # 365 days: still within the year
    ],
)
def test_overdue_inspection(inspected: date | None, expected: str) -> None:
    evidence = build_evidence(
        _facts(date(2020, 1, 1), inspected),
        [],
        trips=50_000,
        cost_to_date=Decimal(0),
        period_start=START,
        period_end=END,
    )
    assert evidence.recommendation == expected
    assert evidence.faults_per_1000_trips == 0.0
    assert evidence.mtbf_calendar_hours is None  # no fault: nothing to average
    assert evidence.mtbf_operating_hours is None


def test_watched_car_without_findings_is_kept_with_a_note() -> None:
    evidence = build_evidence(
        _facts(date(2008, 9, 1)),
        _faults(1),
        trips=30_000,
        cost_to_date=Decimal(0),
        period_start=START,
        period_end=END,
    )
    assert evidence.recommendation == "keep_maintaining"
    assert "under closer watch from 15" in evidence.reasons[0]


def test_helpers_and_refusals() -> None:
    assert completed_years(date(2008, 7, 2), date(2026, 7, 1)) == 17
    assert completed_years(date(2008, 7, 1), date(2026, 7, 1)) == 18
    assert trips_from_run_counts(1_234_567, 1_240_000) == 5_433
    with pytest.raises(EvidenceError, match="run count went backwards"):
        trips_from_run_counts(5_000, 10)
    with pytest.raises(EvidenceError, match="aware"):
        build_evidence(
            _facts(date(2020, 1, 1)),
            [],
            trips=1,
            cost_to_date=Decimal(0),
            period_start=START.replace(tzinfo=None),
            period_end=END,
        )
    with pytest.raises(EvidenceError, match="not after its start"):
        build_evidence(
            _facts(date(2020, 1, 1)),
            [],
            trips=1,
            cost_to_date=Decimal(0),
            period_start=END,
            period_end=START,
        )


def test_findings_carry_a_code_and_figures_that_make_the_english_reason() -> None:
    evidence = build_evidence(
        _facts(date(2000, 5, 1), inspected=None),  # 26 years old, never inspected
        _faults(6, repeats=3),
        trips=30_000,
        cost_to_date=Decimal(0),
        period_start=START,
        period_end=END,
    )
    codes = [(f.code, f.recommendation) for f in evidence.findings]
    assert codes == [
        ("past_life_frequent_faults", "replace"),
        ("frequent_by_rate", "safety_evaluation"),
        ("past_design_life", "safety_evaluation"),
        ("inspection_never_recorded", "safety_evaluation"),
        ("repeat_faults", "major_repair"),
    ]
    rate = evidence.findings[1]
    assert rate.params == {"faults": 6, "trips": 30_000, "rate": 0.2, "threshold": 0.1}
    assert evidence.findings[4].params == {"repeat_faults": 3}
    for finding in evidence.findings:
        assert finding.text == FINDING_TEXTS[finding.code] % finding.params
    assert evidence.reasons == tuple(f.text for f in evidence.findings)


def test_evidence_frozen_before_findings_had_codes_still_reads() -> None:
    evidence = build_evidence(
        _facts(date(2020, 1, 1)),
        [],
        trips=0,
        cost_to_date=Decimal(0),
        period_start=START,
        period_end=END,
    )
    stored = evidence.model_dump(mode="json")
    del stored["findings"]  # a proposal's JSON from before the codes
    old = ElevatorEvidence.model_validate(stored)
    assert old.findings == ()
    assert old.reasons == ("no finding: faults infrequent, inspection current",)
