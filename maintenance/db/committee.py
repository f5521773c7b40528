"""The owners' committee in SQL: spending proposals with their evidence, and their votes.

A proposal (``committee_proposal``) asks to spend the special maintenance fund; its
evidence (:class:`~maintenance.domain.evidence.ElevatorEvidence`, computed by the caller
with :mod:`maintenance.db.read.evidence`) is frozen into it at creation, so later data
cannot change what the owners voted on. A proposal is ``open`` until a vote on it is
decided, then ``decided``.

Each proposal has at most one vote (``committee_vote``, unique per proposal):

- owners' vote: :func:`open_vote` records the electorate (owners and floor area in
  total); :func:`record_tally` records the counted tally, applies the fund rule
  (:func:`maintenance.domain.votes.tally`) and decides the proposal;
- emergency path: :func:`emergency_decision` records the committee members' vote on an
  emergency proposal (:func:`maintenance.domain.votes.committee_decide`) and decides it,
  when no owners' vote has been opened on it.

The functions work in the caller's session and transaction and never commit: every change
and its audit entry (:func:`maintenance.db.audit.append`) commit together when the caller
commits. Errors: :class:`~maintenance.domain.errors.NotFound` (no such proposal or
asset), :class:`~maintenance.domain.errors.InvalidRequest` (input breaking a rule, e.g. an
emergency without justification, or a tally larger than the electorate),
:class:`CommitteeConflict` (the proposal's state forbids the step).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Literal

from pydantic import ValidationError
from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from maintenance.db.audit import append
from maintenance.db.tables import Asset, Base, BigId, ExactDecimal, Site, UtcDateTime
from maintenance.domain.actors import Actor
from maintenance.domain.audit import AuditEntry, JsonValue
from maintenance.domain.errors import DomainError, InvalidRequest, NotFound
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

__all__ = [
    "CommitteeConflict",
    "ProposalRecord",
    "ProposalRow",
    "VoteRecord",
    "VoteRow",
    "create_proposal",
    "emergency_decision",
    "get_proposal",
    "get_vote",
    "list_proposals",
    "open_vote",
    "proposals_between",
    "record_tally",
]

ProposalStatus = Literal["open", "decided"]
VotePath = Literal["owners", "committee_emergency"]
PROPOSAL: Final = "proposal"
OPEN: Final = "open"
DECIDED: Final = "decided"


class CommitteeConflict(DomainError):  # noqa: N818
    """The proposal's or vote's state forbids the step (already decided, vote open...)."""


class ProposalRow(Base):
    """A spending proposal; ``evidence`` is the JSON of the evidence at creation, if any."""

    __tablename__ = "committee_proposal"
    __table_args__ = (CheckConstraint("status IN ('open', 'decided')", name="status"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("asset.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    amount: Mapped[Decimal] = mapped_column(ExactDecimal)
    emergency: Mapped[bool] = mapped_column(Boolean)
    justification: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class VoteRow(Base):
    """The one vote on a proposal: the owners' (electorate, then tally) or the committee's.

    ``tally`` is the counted :class:`Tally` (owners) or :class:`CommitteeDecision`
    (emergency) as JSON, ``result`` the computed :class:`VoteResult` or
    :class:`CommitteeResult`; both None while an owners' vote is still open.
    """

    __tablename__ = "committee_vote"
    __table_args__ = (CheckConstraint("path IN ('owners', 'committee_emergency')", name="path"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    proposal_id: Mapped[str] = mapped_column(ForeignKey("committee_proposal.id"), unique=True)
    path: Mapped[str] = mapped_column(String(32))
    owners_total: Mapped[int | None] = mapped_column(Integer)
    area_total_m2: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    opened_by: Mapped[str] = mapped_column(String(200))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    tally: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    passed: Mapped[bool | None] = mapped_column(Boolean)
    recorded_by: Mapped[str | None] = mapped_column(String(200))
    recorded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


@dataclass(frozen=True, slots=True)
class VoteRecord:
    proposal_id: str
    path: VotePath
    electorate: Electorate | None
    opened_by: str
    opened_at: datetime
    tally: dict[str, Any] | None
    result: dict[str, Any] | None
    passed: bool | None
    recorded_by: str | None
    recorded_at: datetime | None


@dataclass(frozen=True, slots=True)
class ProposalRecord:
    id: str
    site: str | None
    device_id: str | None
    title: str
    amount: Decimal
    emergency: bool
    justification: str | None
    evidence: dict[str, Any] | None
    status: ProposalStatus
    created_by: str
    created_at: datetime
    decided_at: datetime | None
    vote: VoteRecord | None


def _actor(actor: Actor) -> str:
    return f"{actor.role}:{actor.user_id}"


def _vote_record(row: VoteRow) -> VoteRecord:
    electorate = None
    if row.owners_total is not None and row.area_total_m2 is not None:
        electorate = Electorate(owners_total=row.owners_total, area_total_m2=row.area_total_m2)
    return VoteRecord(
        proposal_id=row.proposal_id,
        path="owners" if row.path == "owners" else "committee_emergency",
        electorate=electorate,
        opened_by=row.opened_by,
        opened_at=row.opened_at,
        tally=row.tally,
        result=row.result,
        passed=row.passed,
        recorded_by=row.recorded_by,
        recorded_at=row.recorded_at,
    )


async def _record(session: AsyncSession, row: ProposalRow) -> ProposalRecord:
    site = device = None
    if row.asset_id is not None:
        found = (
            await session.execute(
                select(Site.code, Asset.device_id)
                .join(Asset, Asset.site_id == Site.id)
                .where(Asset.id == row.asset_id)
            )
        ).one()
        site, device = found
    vote = await session.scalar(select(VoteRow).where(VoteRow.proposal_id == row.id))
    return ProposalRecord(
        id=row.id,
        site=site,
        device_id=device,
        title=row.title,
        amount=row.amount,
        emergency=row.emergency,
        justification=row.justification,
        evidence=row.evidence,
        status="open" if row.status == OPEN else "decided",
        created_by=row.created_by,
        created_at=row.created_at,
        decided_at=row.decided_at,
        vote=None if vote is None else _vote_record(vote),
    )


async def _audit(
    session: AsyncSession,
    actor: Actor,
    now: datetime,
    action: str,
    proposal_id: str,
    from_state: str | None,
    to_state: str,
    detail: dict[str, JsonValue],
    reason: str | None = None,
) -> None:
    await append(
        session,
        AuditEntry(
            at=now,
            actor=_actor(actor),
            action=f"{PROPOSAL}.{action}",
            entity_type=PROPOSAL,
            entity_id=proposal_id,
            from_state=from_state,
            to_state=to_state,
            reason=reason,
            detail=detail,
        ),
    )


def _invalid(what: str, exc: ValidationError) -> InvalidRequest:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors()
    )
    return InvalidRequest(f"{what}: {problems}")


async def create_proposal(
    session: AsyncSession,
    actor: Actor,
    now: datetime,
    *,
    title: str,
    amount: Decimal,
    asset_id: int | None = None,
    emergency: bool = False,
    justification: str | None = None,
    evidence: ElevatorEvidence | None = None,
) -> ProposalRecord:
    """A new open proposal (``asset_id`` is the ``asset`` row id, if it is about one)."""
    proposal_id = f"PRP-{uuid.uuid4().hex[:12]}"
    try:
        Proposal(
            proposal_id=proposal_id,
            title=title.strip(),
            amount=amount,
            emergency=emergency,
            justification=justification,
        )
    except ValidationError as exc:
        raise _invalid("proposal refused", exc) from None
    if asset_id is not None and await session.get(Asset, asset_id) is None:
        raise NotFound(f"proposal refused: no asset with row id {asset_id}")
    row = ProposalRow(
        id=proposal_id,
        asset_id=asset_id,
        title=title.strip(),
        amount=amount,
        emergency=emergency,
        justification=justification,
        evidence=None if evidence is None else evidence.model_dump(mode="json"),
        status=OPEN,
        created_by=_actor(actor),
        created_at=now,
    )
    session.add(row)
    await session.flush()
    detail: dict[str, JsonValue] = {"title": row.title, "amount": str(amount)}
    detail["emergency"] = emergency
    if evidence is not None:
        detail["recommendation"] = evidence.recommendation
    await _audit(session, actor, now, "created", proposal_id, None, OPEN, detail, justification)
    return await _record(session, row)


async def _proposal_row(session: AsyncSession, proposal_id: str) -> ProposalRow:
    row = await session.get(ProposalRow, proposal_id)
    if row is None:
        raise NotFound(f"no proposal {proposal_id}")
    return row


async def get_proposal(session: AsyncSession, proposal_id: str) -> ProposalRecord:
    return await _record(session, await _proposal_row(session, proposal_id))


async def list_proposals(
    session: AsyncSession, status: ProposalStatus | None = None
) -> list[ProposalRecord]:
    """Proposals, newest first; only those in ``status`` if given."""
    query = select(ProposalRow).order_by(ProposalRow.created_at.desc(), ProposalRow.id)
    if status is not None:
        query = query.where(ProposalRow.status == status)
    return [await _record(session, row) for row in await session.scalars(query)]


async def get_vote(session: AsyncSession, proposal_id: str) -> VoteRecord | None:
    """The vote on a proposal (None if none was opened); NotFound for no proposal."""
    await _proposal_row(session, proposal_id)
    row = await session.scalar(select(VoteRow).where(VoteRow.proposal_id == proposal_id))
    return None if row is None else _vote_record(row)


async def _open_proposal(session: AsyncSession, proposal_id: str, step: str) -> ProposalRow:
    row = await _proposal_row(session, proposal_id)
    if row.status != OPEN:
        raise CommitteeConflict(
            f"proposal {proposal_id}: cannot {step}: it was decided at {row.decided_at}"
        )
    return row


async def open_vote(
    session: AsyncSession, actor: Actor, now: datetime, proposal_id: str, electorate: Electorate
) -> VoteRecord:
    """Open the owners' vote on an open proposal with no vote yet."""
    await _open_proposal(session, proposal_id, "open a vote")
    existing = await session.scalar(select(VoteRow).where(VoteRow.proposal_id == proposal_id))
    if existing is not None:
        raise CommitteeConflict(
            f"proposal {proposal_id}: cannot open a vote: one was opened at {existing.opened_at}"
        )
    row = VoteRow(
        proposal_id=proposal_id,
        path="owners",
        owners_total=electorate.owners_total,
        area_total_m2=electorate.area_total_m2,
        opened_by=_actor(actor),
        opened_at=now,
    )
    session.add(row)
    await session.flush()
    detail: dict[str, JsonValue] = {
        "owners_total": electorate.owners_total,
        "area_total_m2": str(electorate.area_total_m2),
    }
    await _audit(session, actor, now, "vote_opened", proposal_id, OPEN, OPEN, detail)
    return _vote_record(row)


async def _decide(
    session: AsyncSession,
    actor: Actor,
    now: datetime,
    proposal: ProposalRow,
    vote: VoteRow,
    counted: Tally | CommitteeDecision,
    result: VoteResult | CommitteeResult,
) -> VoteRecord:
    vote.tally = counted.model_dump(mode="json")
    vote.result = result.model_dump(mode="json")
    vote.passed = result.passed
    vote.recorded_by = _actor(actor)
    vote.recorded_at = now
    proposal.status = DECIDED
    proposal.decided_at = now
    await session.flush()
    detail: dict[str, JsonValue] = {"path": result.path, "passed": result.passed}
    detail["tally"] = vote.tally
    await _audit(
        session,
        actor,
        now,
        "decided",
        proposal.id,
        OPEN,
        DECIDED,
        detail,
        "; ".join(result.reasons),
    )
    return _vote_record(vote)


async def record_tally(
    session: AsyncSession, actor: Actor, now: datetime, proposal_id: str, counted: Tally
) -> VoteRecord:
    """Record the owners' tally on the open vote, compute the result, decide the proposal."""
    proposal = await _open_proposal(session, proposal_id, "record a tally")
    vote = await session.scalar(select(VoteRow).where(VoteRow.proposal_id == proposal_id))
    if vote is None or vote.path != "owners":
        raise CommitteeConflict(
            f"proposal {proposal_id}: cannot record a tally: no owners' vote is open on it"
        )
    electorate = _vote_record(vote).electorate
    assert electorate is not None  # an owners' vote row always carries its electorate
    try:
        result = tally(electorate, counted)
    except VoteError as exc:
        raise InvalidRequest(f"proposal {proposal_id}: tally refused: {exc}") from None
    return await _decide(session, actor, now, proposal, vote, counted, result)


async def emergency_decision(
    session: AsyncSession,
    actor: Actor,
    now: datetime,
    proposal_id: str,
    decision: CommitteeDecision,
) -> VoteRecord:
    """Decide an emergency proposal by the committee members' vote."""
    proposal = await _open_proposal(session, proposal_id, "decide it as an emergency")
    existing = await session.scalar(select(VoteRow).where(VoteRow.proposal_id == proposal_id))
    if existing is not None:
        raise CommitteeConflict(
            f"proposal {proposal_id}: cannot decide it as an emergency: the owners' vote "
            f"opened at {existing.opened_at} is under way; record its tally"
        )
    domain = Proposal(
        proposal_id=proposal.id,
        title=proposal.title,
        amount=proposal.amount,
        emergency=proposal.emergency,
        justification=proposal.justification,
    )
    try:
        result = committee_decide(domain, decision)
    except VoteError as exc:
        raise CommitteeConflict(str(exc)) from None
    vote = VoteRow(
        proposal_id=proposal_id, path="committee_emergency", opened_by=_actor(actor), opened_at=now
    )
    session.add(vote)
    return await _decide(session, actor, now, proposal, vote, decision, result)


async def proposals_between(
    session: AsyncSession, start: datetime, end: datetime
) -> list[ProposalRecord]:
    """Proposals created or decided in ``[start, end)``, oldest first (the monthly report)."""
    query = (
        select(ProposalRow)
        .where(
            or_(
                (ProposalRow.created_at >= start) & (ProposalRow.created_at < end),
                (ProposalRow.decided_at >= start) & (ProposalRow.decided_at < end),
            )
        )
        .order_by(ProposalRow.created_at, ProposalRow.id)
    )
    return [await _record(session, row) for row in await session.scalars(query)]
