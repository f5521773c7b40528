"""The public notice board and the QR sheet over HTTP in-process (the browser test in
tests/browser/test_public_pages.py looks at them in Chromium)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from api_support import SettableClock, running_api, web_login
from board_support import NOW, PERSONAL, seed_board

from maintenance.config_files import load_checklist
from maintenance.db.uow import SqlUnitOfWork
from maintenance.services.plans import schedule_visits

# Every API here runs on SQLite and on PostgreSQL (api_db in tests/conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("api_db")]

HTML = {"Accept": "text/html"}


async def test_the_board_needs_no_login_and_shows_the_months_figures(tmp_path: Path) -> None:
    async with running_api(tmp_path, SettableClock(NOW)) as api:
        await seed_board(api.services.sessions)
        page = await api.client.get("/public/demo", headers=HTML | {"Accept-Language": "en"})
    assert page.status_code == 200
    text = page.text
    assert "Demo Compound · Public notice board" in text
    november = re.search(r"<th scope=\"row\">2026-11</th>(.*?)</tr>", text, re.S)
    assert november is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", november.group(1), re.S)
    # 2 requests; 0 % responded in time (2 late); 50 % feedback in time; 5.0 from 1 rating
    assert cells[0] == "2"
    assert cells[1].startswith("0%")
    assert "2 late" in cells[1]
    assert cells[2].startswith("50%")
    assert cells[3].startswith("5.0")
    assert cells[4] == "¥800.00"
    assert "Renew elev-06" in text  # the fund decision, passed
    assert "150 for, 40 against, 10 abstained, of 300 owners" in text
    assert "Renew other car" not in text
    # Each car's certificate; the demo's oldest car's ran out on 2026-10-27.
    old_car = re.search(
        r'<tr class="certificate-(\w+)">\s*<th scope="row">elev-06</th>(.*?)</tr>', text, re.S
    )
    assert old_car is not None
    assert old_car.group(1) == "expired"
    assert "2026-10-27" in old_car.group(2)
    assert '<span class="badge bad">Expired</span>' in old_car.group(2)
    assert text.count('<tr class="certificate-valid">') == 5


async def test_the_board_speaks_chinese_by_default_and_leaks_no_person(tmp_path: Path) -> None:
    async with running_api(tmp_path, SettableClock(NOW)) as api:
        await seed_board(api.services.sessions)
        # Staff who made, worked and voted on the seeded records have accounts too.
        for username, role in (("ouyang-feng", "manager"), ("huang-yaoshi", "committee")):
            await api.user(username, role, sites=["demo"])  # type: ignore[arg-type]
        page = await api.client.get("/public/demo", headers=HTML)
        missing = await api.client.get("/public/nowhere", headers=HTML)
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text
    assert "公示栏" in page.text
    assert "电梯定期检验合格证" in page.text
    assert '<span class="badge bad">已过期</span>' in page.text
    for personal in (*PERSONAL, "WO-"):
        assert personal not in page.text
    assert missing.status_code == 404


async def test_the_qr_sheet_is_for_the_office_and_links_every_place(tmp_path: Path) -> None:
    async with running_api(tmp_path, SettableClock(NOW)) as api:
        await seed_board(api.services.sessions)
        anonymous = await api.client.get("/qr/demo", headers=HTML)
        await web_login(api, "qian", "manager", sites=["demo"])
        sheet = await api.client.get("/qr/demo", headers=HTML)
        index = await api.client.get("/qr", headers=HTML)
    assert anonymous.status_code == 303  # to the login page
    assert sheet.status_code == 200
    links = re.findall(r'<a href="(http://api/report\?[^"]+)"', sheet.text)
    # 3 buildings and 6 cars, one sticker each
    assert len(links) == 9
    assert links[0] == "http://api/report?site=demo&amp;building=B1"
    assert links[1] == "http://api/report?site=demo&amp;building=B1&amp;asset=elev-01"
    assert sum("asset=elev-" in link for link in links) == 6
    assert sheet.text.count("<svg") == 10  # and one for the public notice board
    assert '<a href="http://api/public/demo"' in sheet.text
    assert "扫码报修" in sheet.text
    assert "Scan to report a problem" in sheet.text
    assert "/qr/other" in index.text


async def test_a_resident_may_not_print_the_qr_sheet(tmp_path: Path) -> None:
    async with running_api(tmp_path, SettableClock(NOW)) as api:
        await seed_board(api.services.sessions)
        await web_login(api, "wu", "resident", sites=["demo"], unit="3-201")
        sheet = await api.client.get("/qr/demo", headers=HTML)
    assert sheet.status_code == 403


async def test_the_boards_index_lists_the_compounds_without_login(tmp_path: Path) -> None:
    async with running_api(tmp_path, SettableClock(NOW)) as api:
        await seed_board(api.services.sessions)
        index = await api.client.get("/public", headers=HTML)
    assert index.status_code == 200
    assert '<a href="/public/demo">Demo Compound</a>' in index.text
    assert '<a href="/public/other">Other Compound</a>' in index.text


async def test_the_board_shows_each_cars_maintenance_interval_and_an_overdue_visit(
    tmp_path: Path,
) -> None:
    clock = SettableClock(NOW - timedelta(days=20))
    async with running_api(tmp_path, clock) as api:
        await seed_board(api.services.sessions)
        policy = api.services.sla_policy
        uow = SqlUnitOfWork(api.services.sessions, sla=policy)
        await schedule_visits(uow, clock, load_checklist(), policy)  # plans from 20 days ago
        clock.now = NOW
        await schedule_visits(uow, clock, load_checklist(), policy)
        page = await api.client.get("/public/demo", headers=HTML)
    assert page.status_code == 200
    section = re.search(
        r'<section class="card" aria-labelledby="upkeep">(.*?)</section>', page.text, re.S
    )
    assert section is not None
    rows = re.findall(r"<tr>\s*<th scope=\"row\">(elev-\d+)</th>(.*?)</tr>", section.group(1), re.S)
    assert [car for car, _ in rows] == [f"elev-0{n}" for n in range(1, 7)]
    for _, cells in rows:
        assert "15 天" in cells
        assert "按规定每 15 天一次" in cells
        assert "已超时" in cells  # no visit since the plan began 20 days ago
        # Why: the plan's reason in the reader's language, from its code, not in English.
        assert '<li data-reason="new_plan">新建计划：在小区上下限内按法定 15 天</li>' in cells  # noqa: RUF001
        assert 'lang="en"' not in cells
    assert "WO-" not in page.text
