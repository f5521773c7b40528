"""Owners' votes on spending the special maintenance fund, and the emergency path.

The rule (``/work/shared/domain.md``, "Aging elevators and who decides"): using the
residential special maintenance fund needs an owners' vote in which

1. **participation**: the owners taking part hold at least 2/3 of the total floor area
   *and* are at least 2/3 of all owners (headcount); and
2. **approval**: the owners who agree hold more than half of the floor area *of those
   taking part* *and* are more than half of those taking part (headcount).

All four checks must hold. Arithmetic is exact (:class:`fractions.Fraction`, areas as
:class:`~decimal.Decimal`), so a participation of exactly 2/3 passes, and an approval of
exactly 1/2 (a tie) fails: "majority" means strictly more than half.

Abstentions: an owner who returns an *abstain* ballot takes part (counts towards
participation) but does not agree, so for approval an abstention weighs like a vote
against. Owners who return no ballot do not take part.

Two inputs give the same result: individual ballots (:func:`count_ballots` turns owners
and ballots into a :class:`Tally`) or a :class:`Tally` recorded directly by the committee
(counts and areas per choice, as on a paper count sheet). :func:`tally` applies the rule.

Emergency path: when an elevator failure endangers people the committee may apply for
the fund directly. A :class:`Proposal` flagged ``emergency`` must carry a justification;
:func:`committee_decide` then decides it by the committee members' vote instead of the
owners': passed when more than half of *all sitting committee members* agree *(our
choice: absent members count as not agreeing, so a thin meeting cannot pass it)*. A
non-emergency proposal is refused on that path. The owners' vote stays valid for an
emergency proposal too.

Errors: :class:`VoteError` (an :class:`~estatewatch.errors.EstatewatchError`) for input
that cannot describe a real vote (more participants than owners, unknown voters, ...).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Final, Literal, Self, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from estatewatch.errors import EstatewatchError

__all__ = [
    "APPROVAL_ABOVE",
    "CHOICES",
    "PARTICIPATION_AT_LEAST",
    "Choice",
    "CommitteeDecision",
    "CommitteeResult",
    "Electorate",
    "Owner",
    "Proposal",
    "Tally",
    "VoteError",
    "VoteResult",
    "committee_decide",
    "count_ballots",
    "tally",
]

PARTICIPATION_AT_LEAST: Final = Fraction(2, 3)
APPROVAL_ABOVE: Final = Fraction(1, 2)

Choice = Literal["for", "against", "abstain"]
CHOICES: Final[tuple[Choice, ...]] = get_args(Choice)

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class VoteError(EstatewatchError):
    """Vote input that cannot describe a real vote."""


class Owner(BaseModel):
    model_config = _FROZEN

    owner_id: str = Field(min_length=1)
    area_m2: Decimal = Field(gt=0)


class Electorate(BaseModel):
    """Everyone entitled to vote: all owners of the buildings whose fund is used."""

    model_config = _FROZEN

    owners_total: int = Field(ge=1)
    area_total_m2: Decimal = Field(gt=0)


class Tally(BaseModel):
    """Owners and floor area per choice; owners who returned no ballot are not in it."""

    model_config = _FROZEN

    for_owners: int = Field(default=0, ge=0)
    for_area_m2: Decimal = Field(default=Decimal(0), ge=0)
    against_owners: int = Field(default=0, ge=0)
    against_area_m2: Decimal = Field(default=Decimal(0), ge=0)
    abstain_owners: int = Field(default=0, ge=0)
    abstain_area_m2: Decimal = Field(default=Decimal(0), ge=0)

    @model_validator(mode="after")
    def _owners_and_area_agree(self) -> Self:
        for choice, owners, area in (
            ("for", self.for_owners, self.for_area_m2),
            ("against", self.against_owners, self.against_area_m2),
            ("abstain", self.abstain_owners, self.abstain_area_m2),
        ):
            # Every owner holds some area, so no owners means no area and vice versa.
            if (owners == 0) != (area == 0):
                raise ValueError(f"'{choice}' has {owners} owners but {area} m2 of area")
        return self

    @property
    def participants(self) -> int:
        return self.for_owners + self.against_owners + self.abstain_owners

    @property
    def participating_area_m2(self) -> Decimal:
        return self.for_area_m2 + self.against_area_m2 + self.abstain_area_m2


class VoteResult(BaseModel):
    """The owners' vote under the fund rule; shares are exact fractions ("2/3" in JSON)."""

    model_config = _FROZEN

    path: Literal["owners"] = "owners"
    electorate: Electorate
    tally: Tally
    passed: bool
    participation_by_area: Fraction
    participation_by_headcount: Fraction
    approval_by_area: Fraction
    approval_by_headcount: Fraction
    reasons: tuple[str, ...]
    """The checks that failed; when passed, every check, as met."""


class Proposal(BaseModel):
    """A request to spend the fund, e.g. an elevator major repair or renewal."""

    model_config = _FROZEN

    proposal_id: str = Field(min_length=1)
    title: str = Field(min_length=1)
    amount: Decimal = Field(ge=0)
    asset_id: str | None = None
    emergency: bool = False
    justification: str | None = None

    @model_validator(mode="after")
    def _emergency_is_justified(self) -> Self:
        if self.emergency and not (self.justification and self.justification.strip()):
            raise ValueError("an emergency proposal needs a justification (who is endangered, how)")
        return self


class CommitteeDecision(BaseModel):
    """The committee members' vote on an emergency proposal."""

    model_config = _FROZEN

    members_total: int = Field(ge=1)
    for_members: int = Field(ge=0)
    against_members: int = Field(default=0, ge=0)
    abstain_members: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _fits_the_committee(self) -> Self:
        voted = self.for_members + self.against_members + self.abstain_members
        if voted > self.members_total:
            raise ValueError(f"{voted} members voted but the committee has {self.members_total}")
        return self


class CommitteeResult(BaseModel):
    model_config = _FROZEN

    path: Literal["committee_emergency"] = "committee_emergency"
    proposal_id: str
    passed: bool
    approval_of_members: Fraction
    reasons: tuple[str, ...]


def count_ballots(owners: Iterable[Owner], ballots: Mapping[str, Choice]) -> Tally:
    """The tally of individual ballots (owner id -> choice); one ballot per owner."""
    area_of: dict[str, Decimal] = {}
    for owner in owners:
        if owner.owner_id in area_of:
            raise VoteError(f"owner {owner.owner_id!r} is listed twice in the owner register")
        area_of[owner.owner_id] = owner.area_m2
    unknown = sorted(set(ballots) - set(area_of))
    if unknown:
        raise VoteError(f"ballots from owners not in the register: {', '.join(unknown)}")
    bad = sorted(
        f"{owner_id}: {choice!r}" for owner_id, choice in ballots.items() if choice not in CHOICES
    )
    if bad:
        raise VoteError(f"ballots must be one of {', '.join(CHOICES)}; got {'; '.join(bad)}")
    owners_by: dict[Choice, int] = {"for": 0, "against": 0, "abstain": 0}
    area_by: dict[Choice, Decimal] = {
        "for": Decimal(0),
        "against": Decimal(0),
        "abstain": Decimal(0),
    }
    for owner_id, choice in ballots.items():
        owners_by[choice] += 1
        area_by[choice] += area_of[owner_id]
    return Tally(
        for_owners=owners_by["for"],
        for_area_m2=area_by["for"],
        against_owners=owners_by["against"],
        against_area_m2=area_by["against"],
        abstain_owners=owners_by["abstain"],
        abstain_area_m2=area_by["abstain"],
    )


def _share(part: int | Decimal, whole: int | Decimal) -> Fraction:
    return Fraction(part) / Fraction(whole) if whole else Fraction(0)


def tally(electorate: Electorate, votes: Tally) -> VoteResult:
    """Apply the fund rule: participation >= 2/3 and approval > 1/2, by area and headcount."""
    if votes.participants > electorate.owners_total:
        raise VoteError(
            f"{votes.participants} owners took part but the electorate has only "
            f"{electorate.owners_total}"
        )
    if votes.participating_area_m2 > electorate.area_total_m2:
        raise VoteError(
            f"{votes.participating_area_m2} m2 took part but the electorate holds only "
            f"{electorate.area_total_m2} m2"
        )
    part_area = _share(votes.participating_area_m2, electorate.area_total_m2)
    part_heads = _share(votes.participants, electorate.owners_total)
    yes_area = _share(votes.for_area_m2, votes.participating_area_m2)
    yes_heads = _share(votes.for_owners, votes.participants)
    checks = (
        (part_area >= PARTICIPATION_AT_LEAST, "participation by area", part_area, ">= 2/3"),
        (part_heads >= PARTICIPATION_AT_LEAST, "participation by headcount", part_heads, ">= 2/3"),
        (yes_area > APPROVAL_ABOVE, "approval by area among participants", yes_area, "> 1/2"),
        (
            yes_heads > APPROVAL_ABOVE,
            "approval by headcount among participants",
            yes_heads,
            "> 1/2",
        ),
    )
    passed = all(met for met, *_ in checks)
    reasons = tuple(
        f"{name} is {value} ({float(value):.1%}), {'meets' if met else 'does not meet'} {rule}"
        for met, name, value, rule in checks
        if passed or not met
    )
    return VoteResult(
        electorate=electorate,
        tally=votes,
        passed=passed,
        participation_by_area=part_area,
        participation_by_headcount=part_heads,
        approval_by_area=yes_area,
        approval_by_headcount=yes_heads,
        reasons=reasons,
    )


def committee_decide(proposal: Proposal, decision: CommitteeDecision) -> CommitteeResult:
    """Decide an emergency proposal by the committee: more than half of all members agree."""
    if not proposal.emergency:
        raise VoteError(
            f"proposal {proposal.proposal_id!r} is not an emergency: spending the fund on it "
            "needs the owners' vote, not the committee's"
        )
    share = Fraction(decision.for_members, decision.members_total)
    passed = share > APPROVAL_ABOVE
    verdict = "more" if passed else "not more"
    reason = (
        f"{decision.for_members} of {decision.members_total} committee members agree "
        f"({share}), {verdict} than half; emergency: {proposal.justification}"
    )
    return CommitteeResult(
        proposal_id=proposal.proposal_id,
        passed=passed,
        approval_of_members=share,
        reasons=(reason,),
    )
