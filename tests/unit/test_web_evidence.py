"""The pages' words for evidence findings match the domain's codes and sentences."""

from __future__ import annotations

from typing import get_args

from api.web.evidence import FINDINGS, RECOMMENDATIONS
from maintenance.domain.evidence import FINDING_TEXTS, FindingCode, Recommendation


def test_every_finding_code_has_the_domains_sentence_as_its_msgid() -> None:
    assert set(FINDINGS) == set(get_args(FindingCode)) == set(FINDING_TEXTS)
    for code, msgid in FINDINGS.items():
        assert msgid == FINDING_TEXTS[code], code


def test_every_recommendation_has_a_name() -> None:
    assert set(RECOMMENDATIONS) == set(get_args(Recommendation))
