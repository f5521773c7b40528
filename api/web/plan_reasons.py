"""The words for why a car's maintenance interval is what it is (the public notice board):
:data:`PLAN_REASONS` holds the domain's sentences (:data:`maintenance.domain.plan_reasons.
REASON_TEXTS`) as msgids with the same placeholders, so a page translates
``_(PLAN_REASONS[r.code], **r.params)``; a test holds the two tables together. A reason
stored before codes (``recorded``) is shown as its English sentence."""

from __future__ import annotations

from typing import Final

from api.web.i18n import N_
from maintenance.domain.plan_reasons import ReasonCode

__all__ = ["PLAN_REASONS"]

PLAN_REASONS: Final[dict[ReasonCode, str]] = {
    "new_plan": N_("new plan: the statutory 15 days within the site's limits"),
    "site_limit": N_("the site's limit is %(max_days)d days"),
    "not_monitored": N_("not monitored: the car is offline or sends no data"),
    "inspection_invalid": N_("inspection certificate expired or unknown"),
    "no_figures": N_("no monitoring figures: the statutory interval"),
    "limits_changed": N_("the site's limits are now %(min_days)d to %(max_days)d days"),
    "frequent_faults": N_("%(rate).2f faults per 1,000 trips (frequent: %(frequent)g)"),
    "faults_over_half": N_("%(rate).2f faults per 1,000 trips (over half of %(frequent)g)"),
    "door_slow": N_("door cycles %(drift_pct).0f %% slower than baseline"),
    "door_drift_unknown": N_("door-time drift unknown: no baseline of door times yet"),
    "alarms_severe": N_("%(alarms)d alarms since the last visit"),
    "alarms": N_("%(alarms)d alarm(s) since the last visit"),
    "watched_age": N_("%(age_years)d years old (watched from %(watch_age_years)d)"),
    "healthy": N_("healthy: no finding since the last visit"),
    "shortened": N_("shortened from %(from_days)d to %(days)d days"),
    "lengthened": N_("lengthened from %(from_days)d to %(days)d days (limit %(max_days)d)"),
    "kept": N_("kept at %(days)d days"),
}
