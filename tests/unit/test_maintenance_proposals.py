"""Spending proposals and their vote, in the domain and through the committee services
over the in-memory unit of work (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from maintenance_fakes import FakeClock, FakeProposals, FakeUnitOfWork

from maintenance import services
from maintenance.domain.actors import Actor
from maintenance.domain.errors import CommitteeConflict, InvalidRequest, NotFound
from maintenance.domain.votes import CommitteeDecision, Electorate, Tally

T0 = datetime(2026, 11, 24, 9, tzinfo=UTC)
MANAGER = Actor("mgr-1", "manager")
CHAIR = Actor("chair", "committee")
ELECTORATE = Electorate(owners_total=300, area_total_m2=Decimal("30000"))
PASSING = Tally(for_owners=200, for_area_m2=Decimal(20000))


def ids() -> str:
    return "PRP-00000000000a"


async def test_a_proposal_is_opened_voted_and_decided_with_one_event_per_step() -> None:
    uow, clock = FakeUnitOfWork(), FakeClock(T0)
    uow.proposals = FakeProposals(asset_ids=frozenset({7}))
    proposal = await services.create_proposal(
        uow,
        MANAGER,
        clock,
        title="  New door operator ",
        amount=Decimal(48000),
        asset_id=7,
        new_id=ids,
    )
    assert (proposal.id, proposal.title, proposal.status) == (ids(), "New door operator", "open")
    clock.advance(days=1)
    opened = await services.open_vote(uow, CHAIR, clock, proposal.id, ELECTORATE)
    assert (opened.path, opened.electorate, opened.passed) == ("owners", ELECTORATE, None)
    clock.advance(days=7)
    vote = await services.record_tally(uow, CHAIR, clock, proposal.id, PASSING)
    assert vote is proposal.vote
    assert (vote.passed, vote.recorded_by, vote.recorded_at) == (True, "committee:chair", clock())
    assert (proposal.status, proposal.decided_at) == ("decided", T0 + timedelta(days=8))
    events = proposal.pull_events()
    assert [(e.action, e.from_status, e.to_status) for e in events] == [
        ("created", None, "open"),
        ("vote_opened", "open", "open"),
        ("decided", "open", "decided"),
    ]
    assert events[2].detail["tally"] == PASSING.model_dump(mode="json")
    assert uow.commits == 3
    with pytest.raises(CommitteeConflict, match="decided at"):
        await services.open_vote(uow, CHAIR, clock, proposal.id, ELECTORATE)


async def test_refusals_change_nothing() -> None:
    uow, clock = FakeUnitOfWork(), FakeClock(T0)
    with pytest.raises(NotFound, match="no asset with row id 7"):
        await services.create_proposal(
            uow, MANAGER, clock, title="Lift", amount=Decimal(1), asset_id=7
        )
    with pytest.raises(InvalidRequest, match="needs a justification"):
        await services.create_proposal(
            uow, MANAGER, clock, title="Lift", amount=Decimal(1), emergency=True
        )
    assert (uow.proposals.items, uow.commits) == ({}, 0)
    proposal = await services.create_proposal(
        uow,
        MANAGER,
        clock,
        title="Lift",
        amount=Decimal(1),
        emergency=True,
        justification="trapped",
    )
    with pytest.raises(CommitteeConflict, match="no owners' vote is open"):
        await services.record_tally(uow, CHAIR, clock, proposal.id, PASSING)
    await services.open_vote(uow, CHAIR, clock, proposal.id, ELECTORATE)
    with pytest.raises(CommitteeConflict, match="one was opened at"):
        await services.open_vote(uow, CHAIR, clock, proposal.id, ELECTORATE)
    decision = CommitteeDecision(members_total=5, for_members=3)
    with pytest.raises(CommitteeConflict, match="is under way"):
        await services.emergency_decision(uow, CHAIR, clock, proposal.id, decision)
    with pytest.raises(InvalidRequest, match="tally refused"):
        await services.record_tally(
            uow, CHAIR, clock, proposal.id, Tally(for_owners=301, for_area_m2=Decimal(1))
        )
    assert (proposal.status, proposal.vote is not None and proposal.vote.passed) == ("open", None)
    with pytest.raises(NotFound, match="no proposal PRP-nope"):
        await services.open_vote(uow, CHAIR, clock, "PRP-nope", ELECTORATE)
