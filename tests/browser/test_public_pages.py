"""The public notice board on a phone in Chinese (figures, charts, no person's data) and
the QR sheet the office prints."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from conftest import NewPage, WebServer, login_page
from playwright.sync_api import Page, expect
from seeding import PERSONAL, fixed_request, run
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from estatewatch.clock import utc_now
from maintenance.config_files import load_checklist
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.site_time import month_of
from maintenance.domain.sla import SlaPolicy
from maintenance.services.plans import ScheduleRun, schedule_visits
from maintenance.sites import derived_rescue_code


async def planned(sessions: async_sessionmaker[AsyncSession]) -> ScheduleRun:
    """Every car of the compound gets its maintenance plan (the worker's hourly run)."""
    policy = SlaPolicy()
    return await schedule_visits(SqlUnitOfWork(sessions), utc_now, load_checklist(), policy)


def test_the_public_board_on_a_phone_shows_the_months_figures_and_no_person(
    fresh_web: WebServer, phone: Page, shoot: Callable[[Page, str], Path]
) -> None:
    seeded = run(fresh_web.data_dir, fixed_request)
    phone.goto(fresh_web.url("/public/demo"))
    expect(phone.locator("h1")).to_have_text("Demo Compound · 公示栏")
    row = phone.locator(
        "tr", has=phone.locator("th", has_text=month_of(seeded.created_at, "Asia/Shanghai"))
    )
    expect(row.locator("td").nth(0)).to_have_text("1")  # one request
    expect(row.locator("td").nth(1)).to_have_text("100%")  # responded in time
    expect(row.locator("td").nth(3)).to_contain_text("5.0")  # rated 5
    expect(row.locator("td").nth(4)).to_have_text("¥380.50")
    expect(phone.locator("figure[data-chart] canvas").first).to_be_visible()  # uPlot drew
    expired = phone.locator("tr.certificate-expired")  # the demo's oldest car's certificate
    expect(expired.locator("th")).to_have_text("elev-06")
    expect(expired.locator(".badge.bad")).to_have_text("已过期")
    expect(phone.locator("tr.certificate-valid")).to_have_count(5)
    # The maintenance plans, once the scheduler has run; its visits are no requests, nor
    # faults (so the month's figures stay as they were).
    run(fresh_web.data_dir, planned)
    phone.reload()
    expect(row.locator("td").nth(0)).to_have_text("1")
    expect(phone.locator(".kpi .kpi-value").nth(4)).to_have_text("1")  # elevator faults
    upkeep = phone.locator("section[aria-labelledby=upkeep] tbody tr")
    expect(upkeep).to_have_count(6)
    expect(upkeep.first.locator("td").nth(0)).to_contain_text("15 天")
    expect(upkeep.first.locator("td").nth(0)).to_contain_text("按规定每 15 天一次")
    html = phone.content()
    for personal in PERSONAL:
        assert personal not in html
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 375  # nothing pushes the page sideways on a phone
    shoot(phone, "public-board-phone-zh")
    phone.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi
    phone.emulate_media(media="print")
    expect(phone.locator("header.top")).to_be_hidden()
    shoot(phone, "public-board-print")


def test_the_qr_sheet_has_a_code_per_building_and_car(
    web: WebServer, new_page: NewPage, shoot: Callable[[Page, str], Path]
) -> None:
    page = new_page()
    login_page(page, web, "manager")
    page.goto(web.url("/qr"))
    page.click("a[href='/qr/demo']")
    expect(page.locator("figure.qr-label")).to_have_count(10)  # 3 buildings, 6 cars, the board
    car = page.locator("figure.qr-label[data-place='B1/elev-01']")
    expect(car).to_contain_text("扫码报修")
    expect(car).to_contain_text("Scan to report a problem")
    link = web.url("/report?site=demo&building=B1&asset=elev-01")
    assert car.locator("a").get_attribute("href") == link
    shoot(page, "qr-sheet-desktop-zh")

    # A resident scans it: after logging in, the report form has the place filled in.
    resident = new_page(phone=True)
    resident.goto(link)
    who = web.logins["resident"]
    resident.fill("input[name=username]", who.username)
    resident.fill("input[name=password]", who.password)
    resident.click("form[action='/login'] button")
    expect(resident).to_have_url(link)
    expect(resident.locator("input[name=asset]")).to_have_value("elev-01")
    expect(resident.locator("input[name=building]")).to_have_value("B1")
    expect(resident.locator("input[name=place]")).to_have_value("elev-01")
    expect(resident.locator("select[name=category]")).to_have_value("elevator")
    page.emulate_media(media="print")
    expect(page.locator("header.top")).to_be_hidden()
    # Every label's text fits its cut-out box, a car's rescue code too.
    expect(car.locator(".rescue-code")).to_have_text(derived_rescue_code("demo", "elev-01"))
    spilled = page.eval_on_selector_all(
        "figure.qr-label",
        "ls => ls.filter(l => l.scrollHeight > l.clientHeight + 1)"
        ".map(l => `${l.dataset.place} ${l.scrollHeight}/${l.clientHeight}`)",
    )
    assert spilled == []
    shoot(page, "qr-sheet-print")
