"""The resident's and the technician's phone pages in Chromium (375x812, Chinese): a
request raised with a photo and followed on its timeline, a <script> shown as text,
someone else's request and another site's order as 404 pages, and the technician
acknowledging and resolving with a photo."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
from conftest import NewPage, WebServer, login_page
from photo_samples import jpeg_with_gps
from playwright.sync_api import Page, expect

from api.settings import ApiSettings
from api.users import NewUser, create_user, issue_token, set_password
from estatewatch.clock import utc_now
from maintenance.db.engine import make_sessionmaker, open_engine
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.actors import Role

PASSWORD = "Estate-2026-extra"
XSS = "<script>document.title='pwned'</script>"


def add_person(web: WebServer, username: str, role: Role, **fields: object) -> str | None:
    """A person beside the fixture's (same database); a manager also gets a bearer token."""

    async def add() -> str | None:
        url = ApiSettings(data_dir=web.data_dir).database_url
        async with open_engine(url) as engine:
            sessions = make_sessionmaker(engine)
            now = utc_now()
            new = NewUser(username=username, role=role, **fields)  # type: ignore[arg-type]
            await create_user(SqlUnitOfWork(sessions), new, actor="cli:test", at=now)
            await set_password(SqlUnitOfWork(sessions), username, PASSWORD, actor="cli:t", at=now)
            if role != "manager":
                return None
            issued = await issue_token(
                SqlUnitOfWork(sessions),
                username,
                expires_at=now + timedelta(hours=1),
                label=None,
                actor="cli:test",
                at=now,
            )
            return issued.secret

    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API owns this thread's loop
        return pool.submit(lambda: asyncio.run(add())).result()


def log_in_as(page: Page, web: WebServer, username: str) -> None:
    page.goto(web.url("/login"))
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/login'] button")
    page.wait_for_url(lambda url: "/login" not in url)


def test_a_request_with_a_photo_from_report_to_resolved(
    web: WebServer, new_page: NewPage, tmp_path: Path, shoot: Callable[[Page, str], Path]
) -> None:
    photo = tmp_path / "IMG_0001.jpg"
    photo.write_bytes(jpeg_with_gps((1600, 1200)))
    resident = new_page(phone=True)
    login_page(resident, web, "resident")

    # A QR code's link fills in the building and the place.
    resident.goto(web.url("/report?site=demo&building=B1&asset=elev-01"))
    expect(resident.locator("h1")).to_have_text("我要报修")
    expect(resident.locator("input[name=place]")).to_have_value("elev-01")
    resident.fill("input[name=place]", "5楼走廊")
    resident.select_option("select[name=category]", "lighting")
    resident.fill("textarea[name=description]", f"走廊灯不亮 晚上很黑 {XSS}")
    resident.set_input_files("input[name=photos]", str(photo))
    shoot(resident, "resident-report-phone-zh")
    resident.click("form[action='/report'] button.primary")
    expect(resident).to_have_url(re.compile(r"/my/requests/WO-\d{4}-\d{6}$|\?sent=1$"))
    order_id = re.search(r"WO-\d{4}-\d{6}", resident.url).group(0)  # type: ignore[union-attr]
    expect(resident.locator(".notice")).to_contain_text("报修已提交")
    expect(resident.locator(".facts")).to_contain_text(XSS)  # shown as text, never run
    assert resident.title() != "pwned"
    shot = resident.locator(".timeline img.shot")
    expect(shot).to_have_count(1)
    expect(shot).to_have_js_property("complete", True)
    assert shot.evaluate("img => img.naturalWidth") == 240  # the upright 320 px thumbnail
    shoot(resident, "resident-request-phone-zh")
    resident.goto(web.url("/my/requests"))
    expect(resident.locator(".orders")).to_contain_text(order_id)
    shoot(resident, "resident-list-phone-zh")

    # Another resident gets the 404 page, as for a request that does not exist.
    add_person(web, "zheng", "resident", sites=["demo"], building="B2", unit="1-101")
    neighbour = new_page(phone=True)
    log_in_as(neighbour, web, "zheng")
    answer = neighbour.goto(web.url(f"/my/requests/{order_id}"))
    assert answer is not None
    assert answer.status == 404

    # The manager assigns it (the duty board's job; here through the JSON API).
    token = add_person(web, "chu", "manager")
    assigned = httpx.post(
        web.url(f"/api/v1/work-orders/{order_id}/assign"),
        json={"assignee": web.logins["technician"].username},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert assigned.status_code == 200, assigned.text

    # A technician of another site cannot open it.
    add_person(web, "feng", "technician", sites=["elsewhere"])
    stranger = new_page(phone=True)
    log_in_as(stranger, web, "feng")
    answer = stranger.goto(web.url(f"/tech/orders/{order_id}"))
    assert answer is not None
    assert answer.status == 404

    # The technician acknowledges, then resolves with a photo of the repair.
    tech = new_page(phone=True)
    login_page(tech, web, "technician")
    tech.goto(web.url("/tech"))
    expect(tech.locator("h1")).to_have_text("我的工单")
    card = tech.locator(f"a.order-card[href='/tech/orders/{order_id}']")
    expect(card).to_contain_text(re.compile(r"剩余 1[01][0-9] 分钟"))  # a P3: respond within 2 h
    shoot(tech, "tech-list-phone-zh")
    card.click()
    expect(tech.locator(".facts")).to_contain_text("已派单")
    expect(tech.locator("form.action.resolve")).to_have_count(0)
    shoot(tech, "tech-order-phone-zh")
    tech.click("form.action.acknowledge button")
    expect(tech.locator(".facts")).to_contain_text("已接单")
    tech.fill("form.action.resolve textarea[name=note]", "更换了灯管")
    tech.set_input_files("form.action.resolve input[name=photos]", str(photo))
    tech.click("form.action.resolve button")
    expect(tech.locator(".facts")).to_contain_text("已修复")
    expect(tech.locator(".photos img")).to_have_count(2)
    expect(tech.locator(".timeline")).to_contain_text("更换了灯管")
    shoot(tech, "tech-order-resolved-phone-zh")
    english = new_page(locale="en-US", phone=True)
    login_page(english, web, "technician")
    english.goto(web.url(f"/tech/orders/{order_id}"))
    expect(english.locator(".facts")).to_contain_text("Resolved")
    expect(english.locator("section h2").first).to_have_text("SLA clocks")
    shoot(english, "tech-order-phone-en")

    # The resident sees the fix on the timeline, confirms it and rates it.
    resident.goto(web.url(f"/my/requests/{order_id}"))
    expect(resident.locator(".timeline")).to_contain_text("更换了灯管")
    resident.click(f"form[action='/my/requests/{order_id}/confirm'] button")
    expect(resident.locator(".facts")).to_contain_text("已确认")
    resident.click("label[for=star5]")
    resident.click(f"form[action='/my/requests/{order_id}/rate'] button")
    expect(resident.locator("main")).to_contain_text("★★★★★")
    shoot(resident, "resident-request-rated-phone-zh")
