"""The whole loop in the browser, each person on their own screen: a resident on a phone
raises a request with a photo; the manager assigns it on the desktop duty board; the
technician acknowledges it on a phone within the SLA and resolves it with a photo; a
supervisor verifies it; the manager closes it on the board; the resident rates it; the
public notice board counts it in the month's figures (satisfaction counts closed
orders)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from conftest import NewPage, WebServer, login_page
from photo_samples import jpeg_with_gps
from playwright.sync_api import Page, expect

from maintenance.domain.site_time import month_of

Shoot = Callable[[Page, str], Path]


def test_a_request_goes_round_the_loop_and_reaches_the_notice_board(
    fresh_web: WebServer, new_page: NewPage, tmp_path: Path, shoot: Shoot
) -> None:
    web = fresh_web  # a database of its own: the board's figures count this order alone
    photo = tmp_path / "IMG_2001.jpg"
    photo.write_bytes(jpeg_with_gps((1200, 900)))

    # The resident raises it on a 375x812 phone, with a photo.
    resident = new_page(phone=True)
    login_page(resident, web, "resident")
    resident.goto(web.url("/report"))
    resident.select_option("select[name=category]", "elevator")
    resident.fill("input[name=place]", "2号梯 轿厢内")
    resident.fill("textarea[name=description]", "电梯按钮失灵 按了没反应")
    resident.set_input_files("input[name=photos]", str(photo))
    resident.click("form[action='/report'] button.primary")
    expect(resident.locator(".notice")).to_contain_text("报修已提交")
    order_id = re.search(r"WO-\d{4}-\d{6}", resident.url).group(0)  # type: ignore[union-attr]

    # The manager sees it on the duty board and assigns it in one click.
    board = new_page()
    login_page(board, web, "manager")
    board.goto(web.url("/board"))
    row = board.locator(f"tr[data-order='{order_id}']")
    expect(row).to_contain_text("电梯按钮失灵")
    row.locator(".assign button").click()
    expect(row.locator(".assign button")).to_have_text("改派")
    technician = web.logins["technician"].username
    expect(row.locator(".assign select")).to_have_value(technician)

    # The technician, on a phone, acknowledges within the SLA and resolves with a photo.
    tech = new_page(phone=True)
    login_page(tech, web, "technician")
    tech.goto(web.url("/tech"))
    tech.locator(f"a.order-card[href='/tech/orders/{order_id}']").click()
    tech.click("form.action.acknowledge button")
    expect(tech.locator(".facts")).to_contain_text("已接单")
    tech.fill("form.action.resolve textarea[name=note]", "更换了按钮板")
    tech.set_input_files("form.action.resolve input[name=photos]", str(photo))
    tech.click("form.action.resolve button")
    expect(tech.locator(".facts")).to_contain_text("已修复")
    expect(tech.locator(".photos img")).to_have_count(2)

    # The supervisor verifies the repair.
    supervisor = new_page(phone=True)
    login_page(supervisor, web, "supervisor")
    supervisor.goto(web.url("/supervise"))
    waiting = supervisor.locator(f"[data-order='{order_id}']")
    waiting.locator("textarea[name=note]").fill("已试按各楼层按钮")
    waiting.locator("form[action$='/verify'] button").click()
    expect(supervisor.locator(".notice")).to_have_text("已验收通过。")

    # Verified work waits on the duty board until the manager closes it.
    board.goto(web.url("/board"))
    row.locator("form.close button").click()
    expect(row).to_have_count(0)
    shoot(board, "loop-board-desktop-zh")

    # The resident sees the fix and rates it.
    resident.goto(web.url(f"/my/requests/{order_id}"))
    expect(resident.locator(".timeline")).to_contain_text("更换了按钮板")
    resident.click("label[for=star5]")
    resident.click(f"form[action='/my/requests/{order_id}/rate'] button")
    expect(resident.locator("main")).to_contain_text("★★★★★")

    # The public notice board counts it in this month's figures, without a login.
    public = new_page(phone=True)
    public.goto(web.url("/public/demo"))
    month = month_of(datetime.now(UTC), "Asia/Shanghai")
    figures = public.locator("tr", has=public.locator("th", has_text=month)).locator("td")
    expect(figures.nth(0)).to_have_text("1")  # one request
    expect(figures.nth(1)).to_have_text("100%")  # responded in time
    expect(figures.nth(2)).to_have_text("100%")  # feedback in time
    expect(figures.nth(3)).to_contain_text("5.0")  # rated five stars
    # Nobody is named on it. In the visible text, as a word: the markup's random tokens
    # held the resident's two letters by chance ("...Rrwuj...") once.
    name = re.escape(web.logins["resident"].username)
    assert not re.search(rf"\b{name}\b", public.locator("body").inner_text(), re.IGNORECASE)
    shoot(public, "loop-public-board-phone-zh")
