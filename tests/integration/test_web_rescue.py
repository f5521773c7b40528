"""Rescue pages over HTTP in-process with the demo compound: a trapped resident's one-tap
report from a car's QR page (and a code typed in), the rescue on the duty board, the
technician's arrival with a photo and the rest of the timeline, and the code on the QR
sheet (tests/browser drives the same pages in Chromium)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path

import pytest
from api_support import T0, RunningApi, SettableClock, running_api
from test_web_orders import PASSWORD, person, photo_file

from api.users import NewUser, create_user, set_password
from maintenance.db.uow import SqlUnitOfWork
from maintenance.sites import derived_rescue_code, load_site_file

# Every API here runs on SQLite and on PostgreSQL (api_db in tests/conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("api_db")]

DEMO = Path(__file__).parents[2] / "infra" / "sites" / "demo-compound.yaml"
CODE = derived_rescue_code("demo", "elev-01")


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[RunningApi]:
    async with running_api(tmp_path, SettableClock()) as api, AsyncExitStack() as clients:
        api.app.state.test_clients = clients
        now = api.services.clock()
        sessions = api.services.sessions
        async with SqlUnitOfWork(sessions) as uow:
            await uow.sites.import_file(load_site_file(DEMO), actor="cli:t", at=now, source="t")
            await uow.commit()
        people = {
            "wu": NewUser(username="wu", role="resident", sites=["demo"], unit="1-1203"),
            "sun": NewUser(username="sun", role="technician", sites=["demo"]),
            "qian": NewUser(username="qian", role="manager"),
        }
        for name, new in people.items():
            await create_user(SqlUnitOfWork(sessions), new, actor="cli:t", at=now)
            await set_password(SqlUnitOfWork(sessions), name, PASSWORD, actor="cli:t", at=now)
        yield api


def at(api: RunningApi, minutes: int) -> None:
    clock = api.services.clock
    assert isinstance(clock, SettableClock)
    clock.now = T0 + timedelta(minutes=minutes)


async def test_a_rescue_from_the_car_to_back_in_service_in_the_pages(api: RunningApi) -> None:
    wu = await person(api, "wu")
    form = await wu.get("/report?site=demo&building=B1&asset=elev-01")
    assert f'name="rescue_code" value="{CODE}"' in form.text
    sent = await wu.post("/report/trapped", {"rescue_code": CODE})
    assert sent.status_code == 200, sent.text[:500]
    assert "elev-01" in sent.text
    order_id = re.search(r"WO-\d{4}-\d{6}", sent.text)
    assert order_id, sent.text[:800]
    order = order_id.group(0)

    qian = await person(api, "qian")
    board = await qian.get("/board")
    rescues = board.text[board.text.find('id="h-rescues"') :]
    assert f'data-order="{order}"' in rescues
    assert 'data-stage="reported"' in rescues
    assert "Eastern District Lift Rescue Team" in rescues
    await qian.post(f"/board/orders/{order}/assign", {"assignee": "sun"})

    sun = await person(api, "sun")
    page = await sun.get(f"/tech/orders/{order}")
    assert f'action="/tech/orders/{order}/arrive"' in page.text
    assert "data-locate" in page.text
    at(api, 3)
    await sun.post(f"/tech/orders/{order}/acknowledge", {})
    await sun.get(f"/tech/orders/{order}")
    at(api, 17)
    arrived = await sun.post(
        f"/tech/orders/{order}/arrive",
        {"latitude": "31.230416", "longitude": "121.473701"},
        files={"photos": photo_file()["photos"]},
    )
    assert arrived.status_code == 303, arrived.text[:500]
    page = await sun.get(f"/tech/orders/{order}")
    assert re.search(r'class="done" data-stage="arrived"', page.text)
    assert "/thumbnail" in page.text  # the photo on site
    assert f'action="/tech/orders/{order}/release"' in page.text
    at(api, 25)
    await sun.post(f"/tech/orders/{order}/release", {"note": "两人已安全撤出"})
    await sun.get(f"/tech/orders/{order}")
    done = await sun.post(f"/tech/orders/{order}/return_to_service", {})
    assert done.status_code == 303
    page = await sun.get(f"/tech/orders/{order}")
    assert 'data-stage="back_in_service"' in page.text
    # The public notice board counts it.
    at(api, 60)
    board = await wu.get("/public/demo")
    tiles = re.findall(r'kpi-value">([^<]+)</span><span class="kpi-label">([^<]+)<', board.text)
    assert ("1", "电梯困人次数") in tiles
    assert ("17 分钟", "平均到场用时") in tiles
    assert ("25 分钟", "平均解救用时") in tiles
    # And so does the committee's monthly report.
    report = await qian.get("/committee/report?month=2026-11")
    assert report.status_code == 200
    figures = re.findall(r'kpi-value">([^<]+)</span><span class="kpi-label">([^<·(]+)', report.text)
    assert ("1", "电梯困人次数") in figures
    assert ("17", "平均到场分钟数 ") in figures


async def test_a_typed_code_reports_and_a_wrong_one_is_named(api: RunningApi) -> None:
    wu = await person(api, "wu")
    await wu.get("/report/trapped")
    wrong = await wu.post("/report/trapped", {"rescue_code": "ZZZZ99"})
    assert wrong.status_code == 422
    assert "ZZZZ99" in wrong.text
    bad = await wu.post("/report/trapped", {"rescue_code": "no!"})
    assert bad.status_code == 422
    assert 'role="alert"' in bad.text
    sent = await wu.post("/report/trapped", {"rescue_code": CODE.lower(), "description": "2 人"})
    assert sent.status_code == 200
    assert re.search(r"WO-\d{4}-\d{6}", sent.text)


async def test_the_qr_sheet_shows_each_cars_rescue_code(api: RunningApi) -> None:
    qian = await person(api, "qian")
    sheet = await qian.get("/qr/demo")
    assert sheet.status_code == 200
    codes = re.findall(r'class="rescue-code">([0-9A-Z]+)<', sheet.text)
    assert len(codes) == 6
    assert CODE in codes
