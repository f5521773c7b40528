"""Evidence for the owners' committee on an aging elevator, and a recommendation.

A proposal to repair, evaluate or replace an elevator (see :mod:`maintenance.domain.votes`)
carries figures computed from the data, over one observation period
``[period_start, period_end)`` (typically the last 12 months):

- **age**: completed years from installation to ``period_end``;
- **faults** in the period (faults outside it are ignored), by fault kind, and how many
  were **repeats** (the same fault back on the same car after a repair);
- **faults per 1,000 trips**: faults / trips in the period x 1,000 (None with no trips);
- **MTBF**, mean time between failures, in hours, two ways: *calendar* MTBF = length of
  the period in hours / faults, always available, and *operating* MTBF = running hours
  in the period (the controller's F9-09 counter) / faults, when known. Both are None
  with no fault (nothing to average; the car is reported as fault-free instead). The
  recommendation uses calendar MTBF, as passengers wait for a car by the calendar;
- **cost to date**: what its repairs have cost so far, as given by the caller.

Recommendation, most serious finding wins (thresholds in :class:`EvidencePolicy`):

    replace             past its design life with frequent faults, or older than the watch
                        age with repairs to date above a share of a new car's price
    safety_evaluation   older than the watch age (15 years) with frequent faults (what
                        many cities recommend or require), past its design life (it may
                        keep running only after passing an evaluation), or its yearly
                        statutory inspection is overdue
    major_repair        the same faults keep coming back (repeat faults), faults are
                        frequent on a younger car, or repairs to date are high
    keep_maintaining    none of the above

"Frequent" means at least ``min_faults_for_frequent`` faults and either a rate of at
least ``frequent_faults_per_1000_trips`` (over at least ``min_trips_for_rate`` trips, so a
quiet month does not turn one fault into a high rate) or a calendar MTBF below
``frequent_mtbf_hours``. The findings list every one, not just the deciding one, each as
a code with its figures (:class:`Finding`) and as an English sentence (``reasons``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from estatewatch.errors import EstatewatchError

__all__ = [
    "FINDING_TEXTS",
    "ElevatorEvidence",
    "ElevatorFacts",
    "ElevatorFigures",
    "EvidenceError",
    "EvidencePolicy",
    "FaultRecord",
    "Finding",
    "FindingCode",
    "FindingParam",
    "Recommendation",
    "build_evidence",
    "completed_years",
    "faults_per_1000_trips",
    "mtbf_hours",
    "recommend",
    "trips_from_run_counts",
]

Recommendation = Literal["keep_maintaining", "major_repair", "safety_evaluation", "replace"]
_SEVERITY: Final[tuple[Recommendation, ...]] = (
    "keep_maintaining",
    "major_repair",
    "safety_evaluation",
    "replace",
)

_FROZEN = ConfigDict(frozen=True, extra="forbid")

FindingCode = Literal[
    "past_life_frequent_faults",
    "old_and_costly",
    "frequent_by_rate",
    "frequent_by_mtbf",
    "past_design_life",
    "inspection_never_recorded",
    "inspection_overdue",
    "repeat_faults",
    "costly",
    "watched_not_frequent",
    "no_finding",
]
FindingParam = int | float | str

FINDING_TEXTS: Final[dict[FindingCode, str]] = {
    "past_life_frequent_faults": "past its %(design_life_years)d-year design life, faults frequent",
    "old_and_costly": (
        "repairs to date %(cost_to_date)s reach %(share_percent)d%% of a new car"
        " (%(replacement_cost)s) at %(age_years)d years"
    ),
    "frequent_by_rate": (
        "faults are frequent: %(faults)d faults in %(trips)d trips = %(rate).3g per 1,000 trips"
        " (frequent from %(threshold)g)"
    ),
    "frequent_by_mtbf": (
        "faults are frequent: %(faults)d faults, one every %(mtbf_hours).0f h on average"
        " (frequent below %(threshold_hours)g h)"
    ),
    "past_design_life": (
        "%(age_years)d years old, past its %(design_life_years)d-year design life:"
        " it may keep running only after passing an evaluation"
    ),
    "inspection_never_recorded": "statutory inspection overdue (never recorded)",
    "inspection_overdue": "statutory inspection overdue (last on %(last_inspection)s)",
    "repeat_faults": "%(repeat_faults)d repeat faults: the same faults return",
    "costly": "repairs to date %(cost_to_date)s are high",
    "watched_not_frequent": (
        "%(age_years)d years old: under closer watch from %(watch_age_years)d,"
        " but faults are not frequent"
    ),
    "no_finding": "no finding: faults infrequent, inspection current",
}
"""Each finding's English sentence, ``%``-formatted with its params. The web pages
translate the same sentences by code (``api/web/evidence.py``), with the same params."""


class EvidenceError(EstatewatchError):
    """Elevator data that cannot be turned into evidence."""


class EvidencePolicy(BaseModel):
    """Thresholds of the recommendation; each says whether it is a fact or our choice."""

    model_config = _FROZEN

    watch_age_years: int = Field(default=15, ge=1)
    """Fact (domain.md): many cities put elevators older than 15 years under closer watch."""
    design_life_years: int = Field(default=25, ge=1)
    """Our choice: a common design life for residential traction elevators."""
    frequent_faults_per_1000_trips: float = Field(default=0.1, gt=0)
    """Our choice: one fault per 10,000 trips, about one a month at 300 trips a day."""
    min_trips_for_rate: int = Field(default=1000, ge=1)
    """Our choice: below this many trips the rate is too noisy to call faults frequent."""
    frequent_mtbf_hours: float = Field(default=720.0, gt=0)
    """Our choice: on average less than 30 days between faults."""
    min_faults_for_frequent: int = Field(default=2, ge=1)
    """Our choice: one fault alone is never "frequent", however short the period."""
    repeat_faults_for_major_repair: int = Field(default=3, ge=1)
    """Our choice: a fault back three times means a part needs replacing, not adjusting."""
    inspection_interval_days: int = Field(default=365, ge=1)
    """Fact (domain.md): a statutory periodic inspection is due at least once a year."""
    high_cost_share: Decimal = Field(default=Decimal("0.5"), gt=0)
    """Our choice: repairs to date at half the price of a new car are high."""


class ElevatorFacts(BaseModel):
    """What the asset register knows about one car."""

    model_config = _FROZEN

    asset_id: str = Field(min_length=1)
    installed_on: date
    last_inspection_on: date | None = None
    replacement_cost: Decimal | None = Field(default=None, gt=0)


class FaultRecord(BaseModel):
    model_config = _FROZEN

    at: AwareDatetime
    fault_kind: str = Field(min_length=1)
    repeat: bool = False


class ElevatorFigures(BaseModel):
    """The measured figures of one car over one period."""

    model_config = _FROZEN

    asset_id: str
    period_start: AwareDatetime
    period_end: AwareDatetime
    installed_on: date
    age_years: int
    last_inspection_on: date | None
    faults: int
    faults_by_kind: dict[str, int]
    repeat_faults: int
    trips: int
    faults_per_1000_trips: float | None
    mtbf_calendar_hours: float | None
    mtbf_operating_hours: float | None
    cost_to_date: Decimal
    replacement_cost: Decimal | None


class Finding(BaseModel):
    """One finding behind a recommendation: a code and its figures, for a page to say in
    its reader's language, and the same in English (``text``) for the JSON API and logs."""

    model_config = _FROZEN

    code: FindingCode
    recommendation: Recommendation
    """The recommendation this finding alone supports."""
    params: dict[str, FindingParam]
    """The figures named in :data:`FINDING_TEXTS`; amounts and dates as text."""
    text: str


class ElevatorEvidence(ElevatorFigures):
    """What a major-repair or renewal proposal carries; JSON-able for the API."""

    recommendation: Recommendation
    reasons: tuple[str, ...]
    """Each finding's English text, most serious first."""
    findings: tuple[Finding, ...] = ()
    """The same findings as codes and figures; empty in evidence frozen into a proposal
    before findings had codes (a page shows its English ``reasons`` then)."""


def completed_years(since: date, on: date) -> int:
    """Whole years from ``since`` to ``on`` (a birthday-style age)."""
    return on.year - since.year - ((on.month, on.day) < (since.month, since.day))


def trips_from_run_counts(at_start: int, at_end: int) -> int:
    """Trips in a period from the controller's run counter (F9-11/F9-12) at both ends."""
    if at_end < at_start:
        raise EvidenceError(
            f"run count went backwards ({at_start} -> {at_end}): the controller was replaced "
            "or reset in the period; give the trip count instead"
        )
    return at_end - at_start


def faults_per_1000_trips(faults: int, trips: int) -> float | None:
    return faults * 1000 / trips if trips > 0 else None


def mtbf_hours(observed_hours: float, faults: int) -> float | None:
    """Mean time between failures: hours observed (calendar or operating) per fault."""
    return observed_hours / faults if faults > 0 else None


def build_evidence(
    facts: ElevatorFacts,
    faults: Iterable[FaultRecord],
    *,
    trips: int,
    cost_to_date: Decimal,
    period_start: AwareDatetime,
    period_end: AwareDatetime,
    operating_hours: float | None = None,
    policy: EvidencePolicy | None = None,
) -> ElevatorEvidence:
    """Evidence for one car over ``[period_start, period_end)``, with its recommendation."""
    if trips < 0:
        raise EvidenceError(f"{facts.asset_id}: trips must not be negative, got {trips}")
    if period_start.tzinfo is None or period_end.tzinfo is None:
        raise EvidenceError(f"{facts.asset_id}: the period must be given in aware (UTC) datetimes")
    if period_end <= period_start:
        raise EvidenceError(
            f"{facts.asset_id}: period end {period_end} is not after its start {period_start}"
        )
    in_period = [f for f in faults if period_start <= f.at < period_end]
    count = len(in_period)
    calendar_hours = (period_end - period_start).total_seconds() / 3600
    figures = ElevatorFigures(
        asset_id=facts.asset_id,
        period_start=period_start,
        period_end=period_end,
        installed_on=facts.installed_on,
        age_years=completed_years(facts.installed_on, period_end.date()),
        last_inspection_on=facts.last_inspection_on,
        faults=count,
        faults_by_kind=dict(sorted(Counter(f.fault_kind for f in in_period).items())),
        repeat_faults=sum(f.repeat for f in in_period),
        trips=trips,
        faults_per_1000_trips=faults_per_1000_trips(count, trips),
        mtbf_calendar_hours=mtbf_hours(calendar_hours, count),
        mtbf_operating_hours=(
            None if operating_hours is None else mtbf_hours(operating_hours, count)
        ),
        cost_to_date=cost_to_date,
        replacement_cost=facts.replacement_cost,
    )
    action, findings = recommend(figures, policy or EvidencePolicy())
    return ElevatorEvidence(
        **dict(figures),
        recommendation=action,
        reasons=tuple(finding.text for finding in findings),
        findings=findings,
    )


def _finding(level: Recommendation, code: FindingCode, **params: FindingParam) -> Finding:
    return Finding(
        code=code, recommendation=level, params=params, text=FINDING_TEXTS[code] % params
    )


def _frequent(
    evidence: ElevatorFigures, policy: EvidencePolicy, level: Recommendation
) -> Finding | None:
    """Why the faults count as frequent (as a finding at ``level``), or None."""
    if evidence.faults < policy.min_faults_for_frequent:
        return None
    rate = evidence.faults_per_1000_trips
    if (
        rate is not None
        and evidence.trips >= policy.min_trips_for_rate
        and rate >= policy.frequent_faults_per_1000_trips
    ):
        return _finding(
            level,
            "frequent_by_rate",
            faults=evidence.faults,
            trips=evidence.trips,
            rate=rate,
            threshold=policy.frequent_faults_per_1000_trips,
        )
    mtbf = evidence.mtbf_calendar_hours
    if mtbf is not None and mtbf < policy.frequent_mtbf_hours:
        return _finding(
            level,
            "frequent_by_mtbf",
            faults=evidence.faults,
            mtbf_hours=mtbf,
            threshold_hours=policy.frequent_mtbf_hours,
        )
    return None


def recommend(
    evidence: ElevatorFigures, policy: EvidencePolicy
) -> tuple[Recommendation, tuple[Finding, ...]]:
    """The most serious recommendation the figures support, and every finding behind it."""
    age = evidence.age_years
    watched = age >= policy.watch_age_years
    past_life = age >= policy.design_life_years
    frequent = _frequent(evidence, policy, "safety_evaluation" if watched else "major_repair")
    high_cost = (
        evidence.replacement_cost is not None
        and evidence.cost_to_date >= policy.high_cost_share * evidence.replacement_cost
    )
    as_of = evidence.period_end.date()
    inspected = evidence.last_inspection_on
    overdue = inspected is None or (as_of - inspected).days > policy.inspection_interval_days
    life = policy.design_life_years
    cost = str(evidence.cost_to_date)

    findings: list[Finding] = []
    if past_life and frequent:
        findings.append(_finding("replace", "past_life_frequent_faults", design_life_years=life))
    if watched and high_cost:
        findings.append(
            _finding(
                "replace",
                "old_and_costly",
                cost_to_date=cost,
                share_percent=round(policy.high_cost_share * 100),
                replacement_cost=str(evidence.replacement_cost),
                age_years=age,
            )
        )
    if frequent:
        findings.append(frequent)
    if past_life:
        findings.append(
            _finding("safety_evaluation", "past_design_life", age_years=age, design_life_years=life)
        )
    if overdue and inspected is None:
        findings.append(_finding("safety_evaluation", "inspection_never_recorded"))
    elif overdue:
        findings.append(
            _finding("safety_evaluation", "inspection_overdue", last_inspection=str(inspected))
        )
    if evidence.repeat_faults >= policy.repeat_faults_for_major_repair:
        findings.append(
            _finding("major_repair", "repeat_faults", repeat_faults=evidence.repeat_faults)
        )
    if high_cost and not watched:
        findings.append(_finding("major_repair", "costly", cost_to_date=cost))
    if watched and not findings:
        findings.append(
            _finding(
                "keep_maintaining",
                "watched_not_frequent",
                age_years=age,
                watch_age_years=policy.watch_age_years,
            )
        )
    if not findings:
        return "keep_maintaining", (_finding("keep_maintaining", "no_finding"),)
    findings.sort(key=lambda finding: _SEVERITY.index(finding.recommendation), reverse=True)
    return findings[0].recommendation, tuple(findings)
