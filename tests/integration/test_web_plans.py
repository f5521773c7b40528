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

# Every API here runs on SQLite and on PostgreSQL (api_db in tests/conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("api_db")]

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


async def test_an_overdue_car_carries_a_badge_on_the_duty_board_not_a_fault(
    api: RunningApi,
) -> None:
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
    # An overdue visit is about the schedule, not the machine: the tile keeps the car's
    # own state (no telemetry here: no data) and shows the overdue visit as a badge.
    assert tile.group(1) == "unknown"
    assert re.search(
        r'class="badge notice-badge" title="maintenance visit overdue[^"]*">维保逾期<',
        tile.group(0),
    )


async def test_a_technician_records_the_visit_on_the_phone_and_the_manager_signs(
    api: RunningApi,
) -> None:
    services = api.services
    sessions = services.sessions
    now = services.clock()
    new = NewUser(username="sun", role="technician", sites=["demo"])
    await create_user(SqlUnitOfWork(sessions), new, actor="cli:t", at=now)
    await set_password(SqlUnitOfWork(sessions), "sun", PASSWORD, actor="cli:t", at=now)
    uow = SqlUnitOfWork(sessions, sla=services.sla_policy)
    await schedule_visits(uow, services.clock, load_checklist(), services.sla_policy)
    async with uow:
        visit = await uow.visits.pending_for("demo/elevator/elev-01")
        assert visit is not None
    order = visit.order_id

    qian = await person(api, "qian")
    board = await qian.get("/board")
    assert f'href="/visits/{order}"' in board.text
    await qian.post(f"/board/orders/{order}/assign", {"assignee": "sun"})
    sun = await person(api, "sun")
    page = await sun.get(f"/tech/orders/{order}")
    assert f'href="/tech/visits/{order}"' in page.text
    await sun.post(f"/tech/orders/{order}/acknowledge", {})

    form = await sun.get(f"/tech/visits/{order}")
    assert form.status_code == 200
    assert "层门锁紧元件啮合长度" in form.text  # the items in the page's language
    assert form.text.count('type="radio"') == 3 * 76
    fields = {"started_at": "2026-11-24T14:00", "ended_at": "2026-11-24T16:30"}
    for item in visit.items:
        fields[f"status-{item.name}"] = "done"
        if item.reading is not None:
            low, high = item.reading.min, item.reading.max
            fields[f"reading-{item.name}"] = str(low if low is not None else high)
    fields |= {"status-HM29": "defect", "reading-HM29": "5", "note-HM29": "7 楼 5 mm"}
    alone = await sun.post(f"/tech/visits/{order}", fields | {"others": ""})
    assert alone.status_code == 422
    assert "2 technicians must be present, got 1" in alone.text
    assert 'value="7 楼 5 mm"' in alone.text  # what was entered stays on the form
    sent = await sun.post(f"/tech/visits/{order}", fields | {"others": "zhou"})
    assert sent.status_code == 303, sent.text[:800]

    record = await qian.get(f"/visits/{order}")
    assert "sun, zhou" in record.text
    assert "2026-11-24 14:00" in record.text  # Shanghai time, as entered
    assert 'class="item defect"' in record.text
    signed = await qian.post(f"/visits/{order}/sign", {})
    assert signed.status_code == 303
    async with uow:
        stored = await uow.visits.get(order)
    assert stored is not None
    assert stored.signed_by == "qian"
    assert stored.technicians == ("sun", "zhou")
    assert "HM29" in stored.defect_orders
