"""The words for an elevator's renewal evidence on the pages (the committee's proposals,
the asset page): its recommendation and each finding, by code, in the reader's language.

The domain (:mod:`maintenance.domain.evidence`) gives each finding a code, its figures
(``params``) and an English sentence; :data:`FINDINGS` holds the same sentences as msgids
with the same placeholders, so a page translates ``_(FINDINGS[f.code], **f.params)``. A
test holds the two tables to the same codes and sentences. Evidence frozen into a proposal
before findings had codes has none; a page shows its English ``reasons`` then.
"""

from __future__ import annotations

from typing import Final

from api.web.i18n import N_
from maintenance.domain.evidence import FindingCode, Recommendation

__all__ = ["FINDINGS", "RECOMMENDATIONS"]

RECOMMENDATIONS: Final[dict[Recommendation, str]] = {
    "keep_maintaining": N_("Keep maintaining"),
    "major_repair": N_("Major repair"),
    "safety_evaluation": N_("Safety evaluation"),
    "replace": N_("Replace the elevator"),
}

FINDINGS: Final[dict[FindingCode, str]] = {
    "past_life_frequent_faults": N_(
        "past its %(design_life_years)d-year design life, faults frequent"
    ),
    "old_and_costly": N_(
        "repairs to date %(cost_to_date)s reach %(share_percent)d%% of a new car"
        " (%(replacement_cost)s) at %(age_years)d years"
    ),
    "frequent_by_rate": N_(
        "faults are frequent: %(faults)d faults in %(trips)d trips = %(rate).3g per 1,000 trips"
        " (frequent from %(threshold)g)"
    ),
    "frequent_by_mtbf": N_(
        "faults are frequent: %(faults)d faults, one every %(mtbf_hours).0f h on average"
        " (frequent below %(threshold_hours)g h)"
    ),
    "past_design_life": N_(
        "%(age_years)d years old, past its %(design_life_years)d-year design life:"
        " it may keep running only after passing an evaluation"
    ),
    "inspection_never_recorded": N_("statutory inspection overdue (never recorded)"),
    "inspection_overdue": N_("statutory inspection overdue (last on %(last_inspection)s)"),
    "repeat_faults": N_("%(repeat_faults)d repeat faults: the same faults return"),
    "costly": N_("repairs to date %(cost_to_date)s are high"),
    "watched_not_frequent": N_(
        "%(age_years)d years old: under closer watch from %(watch_age_years)d,"
        " but faults are not frequent"
    ),
    "no_finding": N_("no finding: faults infrequent, inspection current"),
}
