"""The owners' committee: pending approvals, spending proposals with evidence, votes, and
the monthly report.

Reading is for the committee, the manager, admins and owners' supervisors; proposals are
made by the manager, the committee or an admin; votes are recorded by the committee or an
admin. A proposal about an elevator carries its evidence, computed when it is made
(trips from InfluxDB when it answers; without it the evidence leaves the trip rate out).
State clashes (a decided proposal, a vote already open) are the domain's
``CommitteeConflict``, a 409 like the other domain errors (:mod:`api.errors`). Changes go
through :mod:`maintenance.services.committee`, reads through
:mod:`maintenance.db.read.committee`.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import AppServices, Clock, CurrentUser, ReadSession, Uow
from api.errors import Problem
from api.policy import allow
from api.routes.assets import evidence_for, with_telemetry
from api.routes.work_orders import release
from api.schemas.committee import (
    PROPOSAL_ID_PATTERN,
    CommitteeDecisionIn,
    ElectorateIn,
    PendingApprovalOut,
    ProposalIn,
    ProposalOut,
    TallyIn,
    VoteOut,
)
from api.schemas.formats import FormatQuery, csv_response, wants_csv
from estatewatch.clock import Clock as ClockFn
from estatewatch.influx.query import InfluxReader
from maintenance import services as use_cases
from maintenance.db.read import committee
from maintenance.db.read.assets import find_asset
from maintenance.db.read.work_orders import awaiting_approval
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.actors import Actor, Role
from maintenance.reports import MonthlyReport, monthly_report, report_csv

__all__ = ["APPROVAL_READERS", "PROPOSERS", "READERS", "VOTERS", "propose", "router"]

router = APIRouter(prefix="/committee", tags=["committee"])

# Who may do what, also read by the committee's web pages (api.web.routes.committee).
READERS: Final[tuple[Role, ...]] = ("admin", "manager", "committee", "supervisor")
PROPOSERS: Final[tuple[Role, ...]] = ("admin", "manager", "committee")
VOTERS: Final[tuple[Role, ...]] = ("admin", "committee")
APPROVAL_READERS: Final[tuple[Role, ...]] = ("admin", "manager", "committee")

_READ = allow(*READERS)
_PROPOSE = allow(*PROPOSERS)
_VOTE = allow(*VOTERS)
_APPROVALS = allow(*APPROVAL_READERS)

ProposalId = Annotated[str, Path(pattern=PROPOSAL_ID_PATTERN, description="PRP-<12 hex>")]
Month = Annotated[
    str, Query(pattern=r"^[12]\d{3}-(0[1-9]|1[0-2])$", description="YYYY-MM, e.g. 2026-11")
]


@router.get("/approvals", dependencies=[_APPROVALS])
async def pending_approvals(session: ReadSession) -> list[PendingApprovalOut]:
    """Work orders awaiting the committee's approval of their cost, oldest first."""
    return [PendingApprovalOut.of(order) for order in await awaiting_approval(session)]


@router.post("/proposals", status_code=201, dependencies=[_PROPOSE])
async def create_proposal(
    body: ProposalIn,
    me: CurrentUser,
    uow: Uow,
    session: ReadSession,
    clock: Clock,
    services: AppServices,
) -> ProposalOut:
    proposal_id = await propose(body, me.actor, uow, session, clock, services.influx)
    return ProposalOut.of(await committee.get_proposal(session, proposal_id))


async def propose(
    body: ProposalIn,
    actor: Actor,
    uow: SqlUnitOfWork,
    session: AsyncSession,
    clock: ClockFn,
    influx: InfluxReader | None,
) -> str:
    """Create a proposal (also the committee's web form); its id. An elevator's renewal
    evidence is a snapshot taken now. ``NotFound`` for a device not in the register."""
    asset_id = evidence = None
    if body.device_id is not None:
        asset = await find_asset(session, body.device_id, body.site)
        asset_id = asset.row_id
        if asset.kind == "elevator":
            evidence, _ = await evidence_for(session, asset, clock(), influx)
        await release(session)  # a new read below sees the proposal once committed
    proposal = await use_cases.create_proposal(
        uow,
        actor,
        clock,
        title=body.title,
        amount=body.amount,
        asset_id=asset_id,
        emergency=body.emergency,
        justification=body.justification,
        evidence=evidence,
    )
    return proposal.id


@router.get("/proposals", dependencies=[_READ])
async def list_proposals(
    session: ReadSession, status: Literal["open", "decided"] | None = None
) -> list[ProposalOut]:
    """Proposals, newest first."""
    return [ProposalOut.of(p) for p in await committee.list_proposals(session, status)]


@router.get("/proposals/{proposal_id}", dependencies=[_READ])
async def get_proposal(proposal_id: ProposalId, session: ReadSession) -> ProposalOut:
    return ProposalOut.of(await committee.get_proposal(session, proposal_id))


@router.post("/proposals/{proposal_id}/vote", status_code=201, dependencies=[_VOTE])
async def open_vote(
    proposal_id: ProposalId, body: ElectorateIn, me: CurrentUser, uow: Uow, clock: Clock
) -> VoteOut:
    """Open the owners' vote: the electorate is every owner of the buildings concerned."""
    electorate = body.to_domain()
    return VoteOut.of(await use_cases.open_vote(uow, me.actor, clock, proposal_id, electorate))


@router.post("/proposals/{proposal_id}/vote/tally", dependencies=[_VOTE])
async def record_tally(
    proposal_id: ProposalId, body: TallyIn, me: CurrentUser, uow: Uow, clock: Clock
) -> VoteOut:
    """Record the counted ballots; the result follows the fund rule and decides it."""
    counted = body.to_domain()
    return VoteOut.of(await use_cases.record_tally(uow, me.actor, clock, proposal_id, counted))


@router.get("/proposals/{proposal_id}/vote", dependencies=[_READ])
async def vote_result(proposal_id: ProposalId, session: ReadSession) -> VoteOut:
    vote = await committee.get_vote(session, proposal_id)
    if vote is None:
        raise Problem(404, f"proposal {proposal_id} has no vote yet", kind="not-found")
    return VoteOut.of(vote)


@router.post("/proposals/{proposal_id}/emergency-decision", dependencies=[_VOTE])
async def emergency_decision(
    proposal_id: ProposalId,
    body: CommitteeDecisionIn,
    me: CurrentUser,
    uow: Uow,
    clock: Clock,
) -> VoteOut:
    """The committee decides an emergency proposal itself (more than half of all members)."""
    decision = body.to_domain()
    vote = await use_cases.emergency_decision(uow, me.actor, clock, proposal_id, decision)
    return VoteOut.of(vote)


@router.get(
    "/reports/monthly",
    dependencies=[_READ],
    response_model=MonthlyReport,
    responses={200: {"content": {"text/csv": {}}, "description": "JSON, or CSV when asked"}},
)
async def monthly(
    request: Request,
    month: Month,
    session: ReadSession,
    services: AppServices,
    clock: Clock,
    fmt: FormatQuery = None,
) -> MonthlyReport | Response:
    """KPIs, P1/P2 orders open at the month's end (the current month: as of now),
    approvals and proposals of the month."""
    report, _ = await with_telemetry(
        services.influx,
        lambda reader: monthly_report(
            session, month, now=clock(), policy=services.sla_policy, reader=reader
        ),
    )
    if wants_csv(request, fmt):
        return csv_response(report_csv(report), f"estatewatch-report-{month}.csv")
    return report
