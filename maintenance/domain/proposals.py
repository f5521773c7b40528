"""Spending proposals to the owners' committee, and the one vote that decides each.

A :class:`SpendingProposal` asks to spend the special maintenance fund. Its evidence
(:class:`~maintenance.domain.evidence.ElevatorEvidence`, when it is about an elevator) is
frozen into it at creation as plain JSON, so later data cannot change what the owners
voted on. It is ``open`` until its vote is decided, then ``decided``. It has at most one
:class:`FundVote`:

- owners' vote: :meth:`~SpendingProposal.open_vote` records the electorate (owners and
  floor area in total); :meth:`~SpendingProposal.record_tally` records the counted tally,
  applies the fund rule (:func:`maintenance.domain.votes.tally`) and decides;
- emergency path: :meth:`~SpendingProposal.decide_emergency` records the committee
  members' vote on an emergency proposal (:func:`maintenance.domain.votes.committee_decide`)
  and decides, when no owners' vote has been opened on it.

Every change appends a :class:`~maintenance.domain.events.DomainEvent` (subject
``proposal``: ``created``, ``vote_opened``, ``decided``), which the unit of work writes to
the audit trail with the change. Errors: :class:`InvalidRequest` (input breaking a rule:
an emergency without justification, a tally larger than the electorate),
:class:`CommitteeConflict` (the proposal's state forbids the step).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Literal

from pydantic import ValidationError

from maintenance.domain.actors import Actor
from maintenance.domain.errors import CommitteeConflict, InvalidRequest
from maintenance.domain.events import DomainEvent, JsonValue
from maintenance.domain.evidence import ElevatorEvidence
from maintenance.domain.votes import (
    CommitteeDecision,
    CommitteeResult,
    Electorate,
    Proposal,
    Tally,
    VoteError,
    VoteResult,
    committee_decide,
    tally,
)

__all__ = ["DECIDED", "OPEN", "FundVote", "ProposalStatus", "SpendingProposal", "VotePath"]

ProposalStatus = Literal["open", "decided"]
VotePath = Literal["owners", "committee_emergency"]
OPEN: Final = "open"
DECIDED: Final = "decided"


@dataclass(slots=True)
class FundVote:
    """The one vote on a proposal: the owners' (electorate, then tally) or the committee's.

    ``tally`` is the counted :class:`Tally` (owners) or :class:`CommitteeDecision`
    (emergency) as JSON, ``result`` the computed :class:`VoteResult` or
    :class:`CommitteeResult` as JSON (fractions as ``"2/3"``), as recorded; both None
    while an owners' vote is still open. People are named ``role:user_id``.
    """

    proposal_id: str
    path: VotePath
    electorate: Electorate | None
    opened_by: str
    opened_at: datetime
    tally: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    passed: bool | None = None
    recorded_by: str | None = None
    recorded_at: datetime | None = None


@dataclass(slots=True)
class SpendingProposal:
    """``asset_id`` is the registered asset's row id, if the proposal is about one."""

    id: str
    title: str
    amount: Decimal
    emergency: bool
    justification: str | None
    asset_id: int | None
    evidence: dict[str, Any] | None
    status: ProposalStatus
    created_by: str
    created_at: datetime
    decided_at: datetime | None = None
    vote: FundVote | None = None
    pending_events: list[DomainEvent] = field(default_factory=list, repr=False)

    @classmethod
    def create(
        cls,
        *,
        id: str,
        title: str,
        amount: Decimal,
        actor: Actor,
        now: datetime,
        asset_id: int | None = None,
        emergency: bool = False,
        justification: str | None = None,
        evidence: ElevatorEvidence | None = None,
    ) -> SpendingProposal:
        title = title.strip()
        try:
            Proposal(
                proposal_id=id,
                title=title,
                amount=amount,
                emergency=emergency,
                justification=justification,
            )
        except ValidationError as exc:
            raise _invalid("proposal refused", exc) from None
        proposal = cls(
            id=id,
            title=title,
            amount=amount,
            emergency=emergency,
            justification=justification,
            asset_id=asset_id,
            evidence=None if evidence is None else evidence.model_dump(mode="json"),
            status=OPEN,
            created_by=actor.audit_name,
            created_at=now,
        )
        detail: dict[str, JsonValue] = {"title": title, "amount": str(amount)}
        detail["emergency"] = emergency
        if evidence is not None:
            detail["recommendation"] = evidence.recommendation
        proposal._emit("created", actor, now, None, detail, justification)
        return proposal

    def pull_events(self) -> list[DomainEvent]:
        events, self.pending_events = self.pending_events, []
        return events

    def open_vote(self, actor: Actor, now: datetime, electorate: Electorate) -> FundVote:
        """Open the owners' vote on an open proposal with no vote yet."""
        self._require_open("open a vote")
        if self.vote is not None:
            raise CommitteeConflict(
                f"proposal {self.id}: cannot open a vote: one was opened at {self.vote.opened_at}"
            )
        self.vote = FundVote(self.id, "owners", electorate, actor.audit_name, now)
        detail: dict[str, JsonValue] = {
            "owners_total": electorate.owners_total,
            "area_total_m2": str(electorate.area_total_m2),
        }
        self._emit("vote_opened", actor, now, OPEN, detail)
        return self.vote

    def record_tally(self, actor: Actor, now: datetime, counted: Tally) -> FundVote:
        """Record the owners' tally on the open vote, compute the result, decide."""
        self._require_open("record a tally")
        vote = self.vote
        if vote is None or vote.electorate is None:
            raise CommitteeConflict(
                f"proposal {self.id}: cannot record a tally: no owners' vote is open on it"
            )
        try:
            result = tally(vote.electorate, counted)
        except VoteError as exc:
            raise InvalidRequest(f"proposal {self.id}: tally refused: {exc}") from None
        return self._decide(actor, now, vote, counted, result)

    def decide_emergency(
        self, actor: Actor, now: datetime, decision: CommitteeDecision
    ) -> FundVote:
        """Decide an emergency proposal by the committee members' vote."""
        self._require_open("decide it as an emergency")
        if self.vote is not None:
            raise CommitteeConflict(
                f"proposal {self.id}: cannot decide it as an emergency: the owners' vote "
                f"opened at {self.vote.opened_at} is under way; record its tally"
            )
        proposal = Proposal(
            proposal_id=self.id,
            title=self.title,
            amount=self.amount,
            emergency=self.emergency,
            justification=self.justification,
        )
        try:
            result = committee_decide(proposal, decision)
        except VoteError as exc:
            raise CommitteeConflict(str(exc)) from None
        vote = FundVote(self.id, "committee_emergency", None, actor.audit_name, now)
        self.vote = vote
        return self._decide(actor, now, vote, decision, result)

    def _require_open(self, step: str) -> None:
        if self.status != OPEN:
            raise CommitteeConflict(
                f"proposal {self.id}: cannot {step}: it was decided at {self.decided_at}"
            )

    def _decide(
        self,
        actor: Actor,
        now: datetime,
        vote: FundVote,
        counted: Tally | CommitteeDecision,
        result: VoteResult | CommitteeResult,
    ) -> FundVote:
        vote.tally = counted.model_dump(mode="json")
        vote.result = result.model_dump(mode="json")
        vote.passed = result.passed
        vote.recorded_by = actor.audit_name
        vote.recorded_at = now
        self.status = DECIDED
        self.decided_at = now
        detail: dict[str, JsonValue] = {"path": result.path, "passed": result.passed}
        detail["tally"] = vote.tally
        self._emit("decided", actor, now, OPEN, detail, "; ".join(result.reasons))
        return vote

    def _emit(
        self,
        action: str,
        actor: Actor,
        now: datetime,
        before: ProposalStatus | None,
        detail: dict[str, JsonValue],
        reason: str | None = None,
    ) -> None:
        self.pending_events.append(
            DomainEvent(
                subject="proposal",
                subject_id=self.id,
                action=action,
                at=now,
                actor=actor,
                from_status=before,
                to_status=self.status,
                reason=reason,
                detail=detail,
            )
        )


def _invalid(what: str, exc: ValidationError) -> InvalidRequest:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors()
    )
    return InvalidRequest(f"{what}: {problems}")
