"""The committee's read model: spending proposals with their vote, for lists and details.

Proposals come with the site and device they are about (joined from the asset register)
and their vote as :class:`~maintenance.domain.proposals.FundVote`. Nothing here writes:
proposals and votes change through :mod:`maintenance.services.committee`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from maintenance.db.committee import ProposalRow, VoteRow, vote_from_row
from maintenance.db.tables import Asset, Site
from maintenance.domain.errors import NotFound
from maintenance.domain.proposals import DECIDED, OPEN, FundVote, ProposalStatus

__all__ = ["ProposalRecord", "get_proposal", "get_vote", "list_proposals", "proposals_between"]


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
    vote: FundVote | None


async def _records(session: AsyncSession, query: Select[Any]) -> list[ProposalRecord]:
    """The proposals ``query`` selects (with ``ProposalRow`` first), in its order."""
    rows = (
        await session.execute(
            query.add_columns(Site.code, Asset.device_id, VoteRow)
            .outerjoin(Asset, Asset.id == ProposalRow.asset_id)
            .outerjoin(Site, Site.id == Asset.site_id)
            .outerjoin(VoteRow, VoteRow.proposal_id == ProposalRow.id)
        )
    ).all()
    return [
        ProposalRecord(
            id=row.id,
            site=site,
            device_id=device,
            title=row.title,
            amount=row.amount,
            emergency=row.emergency,
            justification=row.justification,
            evidence=row.evidence,
            status=OPEN if row.status == OPEN else DECIDED,
            created_by=row.created_by,
            created_at=row.created_at,
            decided_at=row.decided_at,
            vote=None if vote is None else vote_from_row(vote),
        )
        for row, site, device, vote in rows
    ]


async def get_proposal(session: AsyncSession, proposal_id: str) -> ProposalRecord:
    """The proposal; NotFound when there is none."""
    found = await _records(session, select(ProposalRow).where(ProposalRow.id == proposal_id))
    if not found:
        raise NotFound(f"no proposal {proposal_id}")
    return found[0]


async def list_proposals(
    session: AsyncSession, status: ProposalStatus | None = None
) -> list[ProposalRecord]:
    """Proposals, newest first; only those in ``status`` if given."""
    query = select(ProposalRow).order_by(ProposalRow.created_at.desc(), ProposalRow.id)
    if status is not None:
        query = query.where(ProposalRow.status == status)
    return await _records(session, query)


async def get_vote(session: AsyncSession, proposal_id: str) -> FundVote | None:
    """The vote on a proposal (None if none was opened); NotFound for no proposal."""
    return (await get_proposal(session, proposal_id)).vote


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
    return await _records(session, query)
