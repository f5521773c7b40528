"""The owners' committee in SQL: the proposal and vote tables, and the proposal repository.

``committee_proposal`` holds a :class:`~maintenance.domain.proposals.SpendingProposal`
(its evidence as the JSON frozen at creation), ``committee_vote`` its one
:class:`~maintenance.domain.proposals.FundVote` (unique per proposal). :class:`SqlProposals`
is the unit of work's ``proposals`` repository: it maps rows to domain objects and back
and leaves the change tracking to SQLAlchemy's session (the rows are ORM objects in the
unit's identity map), so :meth:`SqlProposals.sync` only copies each tracked proposal onto
its rows; the unit of work then audits the proposals' pending events with the change.
The committee read model (:mod:`maintenance.db.read.committee`) reads the same rows with
:func:`vote_from_row`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Integer, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from maintenance.db.tables import Asset, Base, BigId, ExactDecimal, UtcDateTime
from maintenance.domain.proposals import DECIDED, OPEN, FundVote, SpendingProposal
from maintenance.domain.votes import Electorate

__all__ = ["ProposalRow", "SqlProposals", "VoteRow", "vote_from_row"]


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

    Columns as in :class:`~maintenance.domain.proposals.FundVote`; the electorate is
    ``owners_total`` and ``area_total_m2`` (None on the committee's emergency path).
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


def vote_from_row(row: VoteRow) -> FundVote:
    electorate = None
    if row.owners_total is not None and row.area_total_m2 is not None:
        electorate = Electorate(owners_total=row.owners_total, area_total_m2=row.area_total_m2)
    return FundVote(
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


def _proposal_from_rows(row: ProposalRow, vote: VoteRow | None) -> SpendingProposal:
    return SpendingProposal(
        id=row.id,
        title=row.title,
        amount=row.amount,
        emergency=row.emergency,
        justification=row.justification,
        asset_id=row.asset_id,
        evidence=row.evidence,
        status=OPEN if row.status == OPEN else DECIDED,
        created_by=row.created_by,
        created_at=row.created_at,
        decided_at=row.decided_at,
        vote=None if vote is None else vote_from_row(vote),
    )


def _proposal_columns(proposal: SpendingProposal) -> dict[str, Any]:
    return {
        "id": proposal.id,
        "asset_id": proposal.asset_id,
        "title": proposal.title,
        "amount": proposal.amount,
        "emergency": proposal.emergency,
        "justification": proposal.justification,
        "evidence": proposal.evidence,
        "status": proposal.status,
        "created_by": proposal.created_by,
        "created_at": proposal.created_at,
        "decided_at": proposal.decided_at,
    }


def _vote_columns(vote: FundVote) -> dict[str, Any]:
    electorate = vote.electorate
    return {
        "proposal_id": vote.proposal_id,
        "path": vote.path,
        "owners_total": None if electorate is None else electorate.owners_total,
        "area_total_m2": None if electorate is None else electorate.area_total_m2,
        "opened_by": vote.opened_by,
        "opened_at": vote.opened_at,
        "tally": vote.tally,
        "result": vote.result,
        "passed": vote.passed,
        "recorded_by": vote.recorded_by,
        "recorded_at": vote.recorded_at,
    }


def _copy(columns: dict[str, Any], row: Base) -> None:
    for name, value in columns.items():
        setattr(row, name, value)


class SqlProposals:
    """Proposals of one unit of work, tracked with the ORM rows they were read into."""

    def __init__(self, session: Callable[[], AsyncSession]) -> None:
        self._session = session
        self._tracked: dict[str, tuple[SpendingProposal, ProposalRow, VoteRow | None]] = {}

    async def add(self, proposal: SpendingProposal) -> None:
        row = ProposalRow(**_proposal_columns(proposal))
        self._session().add(row)
        self._tracked[proposal.id] = (proposal, row, None)

    async def get(self, proposal_id: str) -> SpendingProposal | None:
        if proposal_id in self._tracked:
            return self._tracked[proposal_id][0]
        session = self._session()
        row = await session.get(ProposalRow, proposal_id)
        if row is None:
            return None
        vote = await session.scalar(select(VoteRow).where(VoteRow.proposal_id == proposal_id))
        proposal = _proposal_from_rows(row, vote)
        self._tracked[proposal_id] = (proposal, row, vote)
        return proposal

    async def asset_exists(self, asset_id: int) -> bool:
        return await self._session().get(Asset, asset_id) is not None

    def tracked(self) -> list[SpendingProposal]:
        return [proposal for proposal, _, _ in self._tracked.values()]

    async def sync(self) -> None:
        """Copy every tracked proposal onto its rows and flush what changed.

        Proposals are flushed before votes are added: with no ``relationship()`` between
        the two rows, the flush would not otherwise know to insert the parent first.
        """
        if not self._tracked:
            return
        session = self._session()
        for proposal, row, _ in self._tracked.values():
            _copy(_proposal_columns(proposal), row)
        await session.flush()
        for proposal_id, (proposal, row, vote_row) in list(self._tracked.items()):
            if proposal.vote is None:
                continue
            if vote_row is None:
                vote_row = VoteRow(**_vote_columns(proposal.vote))
                session.add(vote_row)
                self._tracked[proposal_id] = (proposal, row, vote_row)
            else:
                _copy(_vote_columns(proposal.vote), vote_row)
        await session.flush()

    def forget(self) -> None:
        self._tracked.clear()
