"""The public notice board's figures from seeded orders, months counted in Shanghai time
(the seeded compound and its figures are described in ``board_support``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal

import pytest
from board_support import NOW, PERSONAL, seed_board
from sqlalchemy.ext.asyncio import AsyncEngine

from maintenance.db.engine import make_engine, make_sessionmaker
from maintenance.db.migrations import upgrade
from maintenance.domain.errors import NotFound
from maintenance.domain.inspections import InspectionStatus
from maintenance.domain.sla import SlaPolicy
from maintenance.public_board import PublicBoard, public_board

pytestmark = pytest.mark.integration

POLICY = SlaPolicy()


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(db_url)
    await upgrade(engine)
    await seed_board(make_sessionmaker(engine))
    yield engine
    await engine.dispose()


async def _board(engine: AsyncEngine) -> PublicBoard:
    async with make_sessionmaker(engine)() as session:
        return await public_board(session, "demo", now=NOW, policy=POLICY)


async def test_months_are_the_sites_thirteen_in_its_time_zone(engine: AsyncEngine) -> None:
    board = await _board(engine)
    assert (board.site, board.name, board.timezone) == ("demo", "Demo Compound", "Asia/Shanghai")
    assert [m.month for m in board.months][:2] == ["2025-12", "2026-01"]
    assert [m.month for m in board.months][-2:] == ["2026-11", "2026-12"]
    assert len(board.months) == 13
    quiet = board.months[0]
    assert (quiet.orders_created, quiet.response_sla.share, quiet.rating_average) == (0, None, None)
    assert quiet.spending_by_category == {}


async def test_november_figures_are_the_sites_own(engine: AsyncEngine) -> None:
    november = (await _board(engine)).months[-2]
    # WO-2 (ack 50 > 30 min) and WO-3 (never acknowledged) breach the response target;
    # WO-1 was created in Shanghai's December; the other site's WO-X is not counted.
    assert november.orders_created == 2
    sla = november.response_sla
    assert (sla.met, sla.breached, sla.pending, sla.share) == (0, 2, 0, 0.0)
    sla = november.feedback_sla
    assert (sla.met, sla.breached, sla.share) == (1, 1, 0.5)
    assert (november.rating_average, november.ratings) == (5.0, 1)
    assert november.spending_by_category == {"elevator": 800.0}
    assert november.spending_total == 800.0
    faults = {(c.building, c.device_id): c.faults for c in november.faults_by_car}
    assert faults == {
        ("B1", "elev-01"): 0,
        ("B1", "elev-04"): 1,
        ("B2", "elev-02"): 0,
        ("B2", "elev-05"): 0,
        ("B3", "elev-03"): 0,
        ("B3", "elev-06"): 0,
    }


async def test_the_current_month_counts_up_to_now(engine: AsyncEngine) -> None:
    december = (await _board(engine)).months[-1]
    assert december.orders_created == 1
    assert (december.response_sla.met, december.response_sla.share) == (1, 1.0)
    assert (december.feedback_sla.met, december.feedback_sla.share) == (1, 1.0)
    # Closed 04:00 on 1 December in Shanghai (20:00 UTC on 30 November), never rated.
    assert (december.rating_average, december.ratings) == (None, 0)
    assert december.spending_by_category == {"elevator": 500.0}
    faults = {c.device_id: c.faults for c in december.faults_by_car}
    assert faults["elev-01"] == 1
    assert sum(faults.values()) == 1


async def test_fund_decisions_show_the_sites_decided_votes_with_their_result(
    engine: AsyncEngine,
) -> None:
    (decision,) = (await _board(engine)).decisions
    assert (decision.title, decision.amount, decision.device_id) == (
        "Renew elev-06",
        Decimal("48000.50"),
        "elev-06",
    )
    assert (decision.month, decision.path, decision.passed) == ("2026-11", "owners", True)
    assert (decision.owners_total, decision.owners_for, decision.owners_against) == (300, 150, 40)
    assert decision.owners_abstain == 10
    assert decision.participation_by_headcount == pytest.approx(2 / 3)
    assert decision.participation_by_area == pytest.approx(2 / 3)
    assert (decision.approval_by_headcount, decision.approval_by_area) == (0.75, 0.7)
    assert decision.approval_of_members is None


async def test_each_car_s_certificate_shows_its_expiry_and_flags_an_expired_one(
    engine: AsyncEngine,
) -> None:
    board = await _board(engine)
    shown = {(c.building, c.device_id): (c.valid_until, c.status) for c in board.certificates}
    assert len(shown) == 6
    assert shown[("B1", "elev-01")] == (date(2027, 5, 19), InspectionStatus.VALID)
    # The demo's oldest car was last inspected on 2025-10-28: expired since 2026-10-28.
    assert shown[("B3", "elev-06")] == (date(2026, 10, 27), InspectionStatus.EXPIRED)
    expired = [c.device_id for c in board.certificates if c.status is InspectionStatus.EXPIRED]
    assert expired == ["elev-06"]


async def test_no_personal_data_appears_on_the_board(engine: AsyncEngine) -> None:
    text = (await _board(engine)).model_dump_json()
    assert "WO-" not in text  # order ids lead to people's requests: not shown either
    for personal in PERSONAL:
        assert personal not in text


async def test_an_unknown_site_has_no_board(engine: AsyncEngine) -> None:
    async with make_sessionmaker(engine)() as session:
        with pytest.raises(NotFound, match="no site 'nowhere'"):
            await public_board(session, "nowhere", now=NOW, policy=POLICY)
