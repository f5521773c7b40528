"""The fund vote rule at its edges: exactly 2/3, ties, abstentions, the emergency path."""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction

import pytest
from pydantic import ValidationError

from maintenance.domain.votes import (
    Choice,
    CommitteeDecision,
    Electorate,
    Owner,
    Proposal,
    Tally,
    VoteError,
    committee_decide,
    count_ballots,
    tally,
)

# Six flats of 100 m2 each: 6 owners, 600 m2.
SIX = [Owner(owner_id=f"o{i}", area_m2=Decimal(100)) for i in range(1, 7)]
SIX_ELECTORATE = Electorate(owners_total=6, area_total_m2=Decimal(600))


def _vote(ballots: dict[str, Choice]) -> Tally:
    return count_ballots(SIX, ballots)


def test_exactly_two_thirds_participation_passes() -> None:
    # 4 of 6 owners, 400 of 600 m2 take part: exactly 2/3 both ways; 3 of 4 agree.
    result = tally(SIX_ELECTORATE, _vote({"o1": "for", "o2": "for", "o3": "for", "o4": "against"}))
    assert result.participation_by_area == Fraction(2, 3)
    assert result.participation_by_headcount == Fraction(2, 3)
    assert result.approval_by_area == Fraction(3, 4)
    assert result.passed
    assert len(result.reasons) == 4  # all checks, reported as met


def test_exactly_two_thirds_is_exact_where_floats_are_not() -> None:
    # 148.7 + 6.0 + 108.1 = 262.8 m2 of 394.2 m2 is exactly 2/3, but summed as floats
    # it comes out just below 2/3: the rule must not depend on rounding.
    assert (148.7 + 6.0 + 108.1) / 394.2 < 2 / 3
    owners = [
        Owner(owner_id="a", area_m2=Decimal("148.7")),
        Owner(owner_id="b", area_m2=Decimal("6.0")),
        Owner(owner_id="c", area_m2=Decimal("108.1")),
        Owner(owner_id="d", area_m2=Decimal("131.4")),
    ]
    electorate = Electorate(owners_total=4, area_total_m2=Decimal("394.2"))
    result = tally(electorate, count_ballots(owners, {"a": "for", "b": "for", "c": "for"}))
    assert result.participation_by_area == Fraction(2, 3)
    assert result.passed


def test_just_below_two_thirds_by_area_fails_naming_area_only() -> None:
    # 4 of 6 owners (2/3 by headcount) but only 399.99 of 600 m2 take part.
    votes = Tally(for_owners=4, for_area_m2=Decimal("399.99"))
    result = tally(SIX_ELECTORATE, votes)
    assert not result.passed
    assert result.participation_by_headcount == Fraction(2, 3)
    assert len(result.reasons) == 1
    assert "participation by area" in result.reasons[0]
    assert "does not meet >= 2/3" in result.reasons[0]


def test_tie_by_headcount_fails_although_area_majority() -> None:
    # Participants: 4 owners, 400 m2 of 600 (quorum met exactly). For: 2 owners holding
    # 300 m2 -> by area 3/4 (passes), by headcount 2/4 = 1/2, a tie (fails).
    votes = Tally(
        for_owners=2, for_area_m2=Decimal(300), against_owners=2, against_area_m2=Decimal(100)
    )
    result = tally(SIX_ELECTORATE, votes)
    assert result.approval_by_area == Fraction(3, 4)
    assert result.approval_by_headcount == Fraction(1, 2)
    assert not result.passed
    assert [r.split(" is ")[0] for r in result.reasons] == [
        "approval by headcount among participants"
    ]


def test_tie_by_area_fails_although_headcount_majority() -> None:
    # For: 3 owners holding 200 m2; against: 1 owner holding 200 m2. Headcount 3/4 passes,
    # area 200/400 = 1/2 is a tie and fails.
    votes = Tally(
        for_owners=3, for_area_m2=Decimal(200), against_owners=1, against_area_m2=Decimal(200)
    )
    result = tally(SIX_ELECTORATE, votes)
    assert result.approval_by_headcount == Fraction(3, 4)
    assert result.approval_by_area == Fraction(1, 2)
    assert not result.passed
    assert [r.split(" is ")[0] for r in result.reasons] == ["approval by area among participants"]


def test_abstention_counts_for_participation_but_not_for_approval() -> None:
    with_abstention = tally(
        SIX_ELECTORATE, _vote({"o1": "for", "o2": "for", "o3": "against", "o4": "abstain"})
    )
    # Taking part: 4/6 (quorum met); agreeing: 2 of 4 = 1/2, a tie, so it fails.
    assert with_abstention.participation_by_headcount == Fraction(2, 3)
    assert with_abstention.approval_by_headcount == Fraction(1, 2)
    assert not with_abstention.passed
    # Without the abstaining ballot the quorum is missed instead (3/6), and the same
    # three voters would carry it 2/3 if the quorum were there.
    without = tally(SIX_ELECTORATE, _vote({"o1": "for", "o2": "for", "o3": "against"}))
    assert without.participation_by_headcount == Fraction(1, 2)
    assert without.approval_by_headcount == Fraction(2, 3)
    assert not without.passed
    assert all("participation" in r for r in without.reasons)


def test_ballots_and_recorded_tally_agree() -> None:
    ballots: dict[str, Choice] = {"o1": "for", "o2": "abstain", "o5": "against", "o6": "for"}
    recorded = Tally(
        for_owners=2,
        for_area_m2=Decimal(200),
        against_owners=1,
        against_area_m2=Decimal(100),
        abstain_owners=1,
        abstain_area_m2=Decimal(100),
    )
    assert _vote(ballots) == recorded
    assert tally(SIX_ELECTORATE, recorded) == tally(SIX_ELECTORATE, _vote(ballots))


def test_shares_serialise_as_exact_fractions() -> None:
    result = tally(SIX_ELECTORATE, _vote({"o1": "for", "o2": "for", "o3": "for", "o4": "against"}))
    document = json.loads(result.model_dump_json())
    assert document["participation_by_area"] == "2/3"
    assert document["path"] == "owners"
    assert document["tally"]["for_area_m2"] == "300"  # the count it was decided on


def test_impossible_inputs_are_refused() -> None:
    with pytest.raises(VoteError, match="not in the register: x9"):
        count_ballots(SIX, {"o1": "for", "x9": "for"})
    with pytest.raises(VoteError, match="got o2: 'yes'"):
        count_ballots(SIX, {"o1": "for", "o2": "yes"})  # type: ignore[dict-item]
    with pytest.raises(VoteError, match="only 6"):
        tally(SIX_ELECTORATE, Tally(for_owners=7, for_area_m2=Decimal(500)))
    with pytest.raises(VoteError, match="only 600"):
        tally(SIX_ELECTORATE, Tally(for_owners=5, for_area_m2=Decimal(601)))
    with pytest.raises(ValidationError, match="'against' has 2 owners but 0 m2"):
        Tally(for_owners=1, for_area_m2=Decimal(1), against_owners=2)


def test_emergency_proposal_needs_a_justification() -> None:
    with pytest.raises(ValidationError, match="needs a justification"):
        Proposal(proposal_id="p1", title="Replace brake", amount=Decimal(1), emergency=True)
    with pytest.raises(ValidationError, match="needs a justification"):
        Proposal(proposal_id="p1", title="x", amount=Decimal(1), emergency=True, justification="  ")


def test_committee_decides_emergency_by_majority_of_all_members() -> None:
    proposal = Proposal(
        proposal_id="p7",
        title="Replace elev-01 brake",
        amount=Decimal("48000"),
        asset_id="elev-01",
        emergency=True,
        justification="brake slipped twice with passengers inside",
    )
    three_of_five = committee_decide(proposal, CommitteeDecision(members_total=5, for_members=3))
    assert three_of_five.passed
    assert three_of_five.approval_of_members == Fraction(3, 5)
    assert "brake slipped" in three_of_five.reasons[0]
    # 3 for, 1 against at a meeting of 4 of 7: a majority of those present, but not
    # more than half of the committee.
    thin = committee_decide(
        proposal, CommitteeDecision(members_total=7, for_members=3, against_members=1)
    )
    assert not thin.passed
    tie = committee_decide(proposal, CommitteeDecision(members_total=4, for_members=2))
    assert not tie.passed


def test_committee_path_refuses_ordinary_proposals() -> None:
    ordinary = Proposal(proposal_id="p8", title="Modernise elev-02", amount=Decimal(1))
    with pytest.raises(VoteError, match="needs the owners' vote"):
        committee_decide(ordinary, CommitteeDecision(members_total=5, for_members=5))
    with pytest.raises(ValidationError, match="6 members voted"):
        CommitteeDecision(members_total=5, for_members=4, against_members=2)
