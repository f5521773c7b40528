"""The pages' words for evidence findings match the domain's codes and sentences."""

from __future__ import annotations

from typing import get_args

from api.web.evidence import FINDINGS, RECOMMENDATIONS
from api.web.i18n import load_catalogues
from api.web.plan_reasons import PLAN_REASONS
from maintenance.domain.evidence import FINDING_TEXTS, FindingCode, Recommendation
from maintenance.domain.plan_reasons import REASON_TEXTS, RECORDED, PlanReason, ReasonCode


def test_every_finding_code_has_the_domains_sentence_as_its_msgid() -> None:
    assert set(FINDINGS) == set(get_args(FindingCode)) == set(FINDING_TEXTS)
    for code, msgid in FINDINGS.items():
        assert msgid == FINDING_TEXTS[code], code


def test_every_recommendation_has_a_name() -> None:
    assert set(RECOMMENDATIONS) == set(get_args(Recommendation))


def test_every_plan_reason_code_has_the_domains_sentence_as_its_msgid() -> None:
    assert set(PLAN_REASONS) == set(get_args(ReasonCode)) == set(REASON_TEXTS)
    for code, msgid in PLAN_REASONS.items():
        assert msgid == REASON_TEXTS[code], code


def test_a_plan_reason_reads_back_and_an_old_sentence_stays_english() -> None:
    reason = PlanReason("lengthened", {"from_days": 15, "days": 20, "max_days": 30})
    assert reason.text == "lengthened from 15 to 20 days (limit 30)"
    assert PlanReason.from_json(reason.to_json()) == reason
    old = PlanReason.from_json("kept at 15 days")
    assert (old.code, old.text) == (RECORDED, "kept at 15 days")
    chinese = load_catalogues()["zh_CN"]
    assert chinese.gettext(PLAN_REASONS["lengthened"]) % reason.params == (
        "由 15 天延长至 20 天（上限 30 天）"  # noqa: RUF001
    )
