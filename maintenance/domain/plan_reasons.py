"""Why a car's maintenance interval is what it is: each reason a code with its figures
(``params``) and an English sentence (:data:`REASON_TEXTS`), so the pages say it in the
reader's language (``api/web/plan_reasons.py`` holds the same sentences as msgids; a test
holds the two tables together) while the JSON API, the audit trail and the CLI keep the
English sentence. A plan stored before reasons had codes keeps its sentences: each reads
back as a :data:`RECORDED` reason whose only figure is the sentence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

__all__ = ["REASON_TEXTS", "RECORDED", "PlanReason", "ReasonCode"]

ReasonCode = Literal[
    "new_plan",
    "site_limit",
    "not_monitored",
    "inspection_invalid",
    "no_figures",
    "limits_changed",
    "frequent_faults",
    "faults_over_half",
    "door_slow",
    "door_drift_unknown",
    "alarms_severe",
    "alarms",
    "watched_age",
    "healthy",
    "shortened",
    "lengthened",
    "kept",
]

REASON_TEXTS: Final[dict[ReasonCode, str]] = {
    "new_plan": "new plan: the statutory 15 days within the site's limits",
    "site_limit": "the site's limit is %(max_days)d days",
    "not_monitored": "not monitored: the car is offline or sends no data",
    "inspection_invalid": "inspection certificate expired or unknown",
    "no_figures": "no monitoring figures: the statutory interval",
    "limits_changed": "the site's limits are now %(min_days)d to %(max_days)d days",
    "frequent_faults": "%(rate).2f faults per 1,000 trips (frequent: %(frequent)g)",
    "faults_over_half": "%(rate).2f faults per 1,000 trips (over half of %(frequent)g)",
    "door_slow": "door cycles %(drift_pct).0f %% slower than baseline",
    "door_drift_unknown": "door-time drift unknown: no baseline of door times yet",
    "alarms_severe": "%(alarms)d alarms since the last visit",
    "alarms": "%(alarms)d alarm(s) since the last visit",
    "watched_age": "%(age_years)d years old (watched from %(watch_age_years)d)",
    "healthy": "healthy: no finding since the last visit",
    "shortened": "shortened from %(from_days)d to %(days)d days",
    "lengthened": "lengthened from %(from_days)d to %(days)d days (limit %(max_days)d)",
    "kept": "kept at %(days)d days",
}

RECORDED: Final = "recorded"
"""The code of a sentence stored before reasons had codes (its one figure: ``text``)."""

Figure = int | float | str


@dataclass(frozen=True, slots=True)
class PlanReason:
    code: str  # a ReasonCode, or RECORDED
    params: dict[str, Figure] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The English sentence."""
        if self.code == RECORDED:
            return str(self.params["text"])
        return REASON_TEXTS[self.code] % self.params  # type: ignore[index]

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "params": dict(self.params)}

    @classmethod
    def from_json(cls, value: str | dict[str, Any]) -> PlanReason:
        """A stored reason: ``{"code", "params"}``, or a sentence stored before codes."""
        if isinstance(value, str):
            return cls(RECORDED, {"text": value})
        return cls(value["code"], dict(value["params"]))
