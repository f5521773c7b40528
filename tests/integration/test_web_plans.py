"""A car overdue for its maintenance visit on the duty board: red, saying why."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path

import pytest
from api_support import RunningApi, running_api
from test_web_orders import PASSWORD, person

from api.users import NewUser, create_user, set_password
from maintenance.config_files import load_checklist
from maintenance.db.uow import SqlUnitOfWork
from maintenance.services.plans import schedule_visits
from maintenance.sites import load_site_file

pytestmark = pytest.mark.integration

DEMO = Path(__file__).parents[2] / "infra" / "sites" / "demo-compound.yaml"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[RunningApi]:
    async with running_api(tmp_path) as api, AsyncExitStack() as clients:
        api.app.state.test_clients = clients
        now = api.services.clock()
        sessions = api.services.sessions
        async with SqlUnitOfWork(sessions) as uow:
            await uow.sites.import_file(load_site_file(DEMO), actor="cli:t", at=now, source="t")
            await uow.commit()
        new = NewUser(username="qian", role="manager")
        await create_user(SqlUnitOfWork(sessions), new, actor="cli:t", at=now)
        await set_password(SqlUnitOfWork(sessions), "qian", PASSWORD, actor="cli:t", at=now)
        yield api


async def test_an_overdue_car_is_red_on_the_duty_board(api: RunningApi) -> None:
    services = api.services
    uow = SqlUnitOfWork(services.sessions, sla=services.sla_policy)
    now = services.clock()
    # The plans began 20 days ago and nobody has been since: every car is overdue.
    await schedule_visits(
        uow, lambda: now - timedelta(days=20), load_checklist(), services.sla_policy
    )
    qian = await person(api, "qian")
    before = await qian.get("/board")
    assert 'class="tile fault"' not in before.text
    run = await schedule_visits(uow, services.clock, load_checklist(), services.sla_policy)
    assert len(run.overdue) == 6
    board = await qian.get("/board")
    tile = re.search(
        r'<li class="tile (\w+)"[^>]*>(?:(?!</li>).)*elev-01(?:(?!</li>).)*</li>', board.text, re.S
    )
    assert tile is not None, board.text[:2000]
    assert tile.group(1) == "fault"
    assert "maintenance visit overdue" in tile.group(0)
