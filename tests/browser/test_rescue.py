"""A rescue in Chromium (Chinese): a resident trapped in a car taps "I am trapped" on its
QR page (phone), the rescue shows first on the duty board (desktop) and is assigned, and
the technician acknowledges, confirms arrival with the phone's location, releases the
passengers and returns the car to service (phone, 375x812)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from conftest import NewPage, WebServer, login_page
from playwright.sync_api import Page, expect

from maintenance.sites import derived_rescue_code

SHANGHAI = {"latitude": 31.230416, "longitude": 121.473701}


def fits_a_phone(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_a_rescue_from_the_car_to_back_in_service(
    fresh_web: WebServer, new_page: NewPage, shoot: Callable[[Page, str], Path]
) -> None:
    web = fresh_web
    resident = new_page(phone=True)
    login_page(resident, web, "resident")
    resident.goto(web.url("/report?site=demo&building=B3&asset=elev-06"))
    trapped = resident.locator("form.trapped button")
    expect(trapped).to_have_text("我被困在这部电梯里")
    expect(resident.locator("form.trapped")).to_contain_text(derived_rescue_code("demo", "elev-06"))
    assert fits_a_phone(resident)
    shoot(resident, "resident-trapped-phone-zh")
    trapped.click()
    expect(resident.locator("h1")).to_have_text("救援正在赶来")
    expect(resident.locator(".trapped-sent")).to_contain_text("30 分钟内到场")
    order_id = re.search(r"WO-\d{4}-\d{6}", resident.locator(".trapped-sent").inner_text())
    assert order_id
    order = order_id.group(0)
    shoot(resident, "resident-trapped-sent-phone-zh")

    manager = new_page()
    login_page(manager, web, "manager")
    manager.goto(web.url("/board"))
    card = manager.locator(f".rescues article[data-order='{order}']")
    expect(card.locator(".rescue-steps li.done")).to_have_text(re.compile("已报修"))
    expect(card.locator(".rescue-chain")).to_contain_text("Eastern District Lift Rescue Team")
    expect(card.locator(".due")).to_contain_text("分钟")
    row = manager.locator(f"tr.order-row[data-order='{order}']")
    row.locator("form.assign button").click()
    expect(manager.locator(f"tr.order-row[data-order='{order}'] .state")).to_have_text("已派单")
    shoot(manager, "board-rescue-desktop-zh")

    tech = new_page(phone=True)
    tech.context.grant_permissions(["geolocation"])
    tech.context.set_geolocation(SHANGHAI)
    login_page(tech, web, "technician")
    tech.goto(web.url(f"/tech/orders/{order}"))
    expect(tech.locator(".card.rescue")).to_contain_text("须 30 分钟内到场")
    tech.click("form.action.acknowledge button")
    expect(tech.locator(".rescue-steps li[data-stage='responded']")).to_have_class("done")
    tech.click("form.action.arrive button")
    expect(tech.locator(".rescue-steps li[data-stage='arrived']")).to_have_class("done")
    expect(tech.locator(".timeline")).to_contain_text("已到场")
    tech.fill("form.action.release textarea[name=note]", "两人已安全撤出")
    tech.click("form.action.release button")
    expect(tech.locator(".rescue-steps li[data-stage='released']")).to_have_class("done")
    assert fits_a_phone(tech)
    shoot(tech, "tech-rescue-phone-zh")
    tech.click("form.action.return_to_service button")
    expect(tech.locator(".rescue-steps li[data-stage='back_in_service']")).to_be_visible()
    expect(tech.locator(".facts")).to_contain_text("已修复")
