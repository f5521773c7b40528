"""The owners' committee use cases: spending proposals and the vote that decides each.

Each function opens the unit of work, loads the proposal once, lets the domain
(:mod:`maintenance.domain.proposals`) decide, and commits; the change and its audit entry
commit together. A proposal that does not exist is :class:`NotFound`; the domain's
:class:`~maintenance.domain.errors.CommitteeConflict` and ``InvalidRequest`` propagate.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal

from estatewatch.clock import Clock
from maintenance.domain.actors import Actor
from maintenance.domain.errors import NotFound
from maintenance.domain.evidence import ElevatorEvidence
from maintenance.domain.ports import UnitOfWork
from maintenance.domain.proposals import FundVote, SpendingProposal
from maintenance.domain.votes import CommitteeDecision, Electorate, Tally

__all__ = [
    "create_proposal",
    "emergency_decision",
    "new_proposal_id",
    "open_vote",
    "record_tally",
]


def new_proposal_id() -> str:
    return f"PRP-{uuid.uuid4().hex[:12]}"


async def create_proposal(
    uow: UnitOfWork,
    actor: Actor,
    clock: Clock,
    *,
    title: str,
    amount: Decimal,
    asset_id: int | None = None,
    emergency: bool = False,
    justification: str | None = None,
    evidence: ElevatorEvidence | None = None,
    new_id: Callable[[], str] = new_proposal_id,
) -> SpendingProposal:
    """A new open proposal (``asset_id`` is the ``asset`` row id, if it is about one)."""
    proposal = SpendingProposal.create(
        id=new_id(),
        title=title,
        amount=amount,
        actor=actor,
        now=clock(),
        asset_id=asset_id,
        emergency=emergency,
        justification=justification,
        evidence=evidence,
    )
    async with uow:
        if asset_id is not None and not await uow.proposals.asset_exists(asset_id):
            raise NotFound(f"proposal refused: no asset with row id {asset_id}")
        await uow.proposals.add(proposal)
        await uow.commit()
    return proposal


async def open_vote(
    uow: UnitOfWork, actor: Actor, clock: Clock, proposal_id: str, electorate: Electorate
) -> FundVote:
    """Open the owners' vote on an open proposal with no vote yet."""
    async with uow:
        proposal = await _get(uow, proposal_id)
        vote = proposal.open_vote(actor, clock(), electorate)
        await uow.commit()
    return vote


async def record_tally(
    uow: UnitOfWork, actor: Actor, clock: Clock, proposal_id: str, counted: Tally
) -> FundVote:
    """Record the owners' tally on the open vote; the fund rule decides the proposal."""
    async with uow:
        proposal = await _get(uow, proposal_id)
        vote = proposal.record_tally(actor, clock(), counted)
        await uow.commit()
    return vote


async def emergency_decision(
    uow: UnitOfWork, actor: Actor, clock: Clock, proposal_id: str, decision: CommitteeDecision
) -> FundVote:
    """Decide an emergency proposal by the committee members' vote."""
    async with uow:
        proposal = await _get(uow, proposal_id)
        vote = proposal.decide_emergency(actor, clock(), decision)
        await uow.commit()
    return vote


async def _get(uow: UnitOfWork, proposal_id: str) -> SpendingProposal:
    proposal = await uow.proposals.get(proposal_id)
    if proposal is None:
        raise NotFound(f"no proposal {proposal_id}")
    return proposal
