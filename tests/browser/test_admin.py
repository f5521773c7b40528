"""The admin's day in the browser: people, an invite link with its QR code, and the
invited resident creating their account on a phone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from conftest import NewPage, WebServer
from playwright.sync_api import Page, expect

Shoot = Callable[[Page, str], Path]


def test_an_admin_invites_a_resident_who_joins_on_a_phone(
    web: WebServer, desktop: Page, new_page: NewPage, login: Callable[..., None], shoot: Shoot
) -> None:
    login(desktop, "admin")
    expect(desktop).to_have_url(web.url("/admin/users"))
    expect(desktop.locator("table.list")).to_contain_text("维修技师")
    shoot(desktop, "admin-users-desktop-zh")

    desktop.click("text=邀请新用户")
    desktop.select_option("select[name=role]", "resident")
    desktop.fill("input[name=building]", "B1")
    desktop.fill("input[name=unit]", "5-502")
    desktop.click("form[action='/admin/invites'] button.primary")
    expect(desktop.locator(".qr-box svg")).to_be_visible()
    shoot(desktop, "admin-invite-link-zh")
    link = desktop.locator(".link-text a").get_attribute("href")
    assert link is not None
    assert "/invite/" in link

    phone = new_page(phone=True)
    phone.goto(link)
    expect(phone.locator("h1")).to_have_text("创建账号")
    phone.fill("input[name=username]", "invited-lin")
    phone.fill("input[name=display_name]", "林女士")
    phone.fill("input[name=password]", "Lotus-Garden-2026")
    phone.fill("input[name=again]", "Lotus-Garden-2026")
    shoot(phone, "invite-accept-phone-zh")
    phone.click("form button.primary")
    expect(phone).to_have_url(web.url("/report"))  # logged in, on a resident's home page
    phone.goto(web.url("/account"))
    expect(phone.locator("h1")).to_have_text("我的账号")
    expect(phone.locator(".facts")).to_contain_text("5-502")

    again = new_page(phone=True)
    again.goto(link)
    expect(again.locator("h1")).to_have_text("404")  # the link worked once


def test_the_admin_pages_in_english(
    web: WebServer, new_page: NewPage, login: Callable[..., None], shoot: Shoot
) -> None:
    page = new_page(locale="en-US")
    login(page, "admin")
    page.click("nav >> text=Sites")
    expect(page.locator("table.list")).to_contain_text("Asia/Shanghai")
    page.click("nav >> text=API tokens")
    page.select_option("select[name=user]", web.logins["manager"].username)
    page.click("text=Show tokens")
    page.fill("input[name=label]", "duty screen")
    page.click("form[action='/admin/tokens'] button.primary")
    expect(page.locator(".notice")).to_contain_text("cannot be shown again")
    shoot(page, "admin-token-issued-en")


def test_a_manager_invites_from_a_phone(
    web: WebServer, phone: Page, login: Callable[..., None], shoot: Shoot
) -> None:
    login(phone, "manager")
    phone.goto(web.url("/admin/invites"))
    options = phone.locator("select[name=role] option")
    expect(options).to_have_count(4)  # technician, committee, supervisor, resident
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scroll
    shoot(phone, "admin-invites-phone-zh")
    phone.goto(web.url("/admin/users"))
    expect(phone.locator("table.list")).to_contain_text("维修技师")
    shoot(phone, "admin-users-phone-zh")
