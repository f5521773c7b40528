"""Logging in and out in a real browser, in Chinese and English; CSRF, throttling and the
session cookie's flags as Chromium sees them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from conftest import NewPage, WebServer, login_page
from playwright.sync_api import Page, expect


def test_log_in_and_out_in_chinese_on_a_phone(
    web: WebServer, phone: Page, shoot: Callable[[Page, str], Path]
) -> None:
    phone.goto(web.url("/account"))
    expect(phone).to_have_url(web.url("/login?next=%2Faccount"))
    expect(phone.locator("h1")).to_have_text("登录")
    shoot(phone, "login-phone-zh")
    who = web.logins["technician"]
    phone.fill("input[name=username]", who.username)
    phone.fill("input[name=password]", who.password)
    phone.click("form[action='/login'] button")
    expect(phone).to_have_url(web.url("/account"))
    expect(phone.locator("h1")).to_have_text("我的账号")
    expect(phone.locator(".facts")).to_contain_text("维修技师")
    shoot(phone, "account-phone-zh")
    phone.click("form[action='/logout'] button")
    expect(phone).to_have_url(web.url("/login"))
    phone.goto(web.url("/account"))
    expect(phone.locator("h1")).to_have_text("登录")


def test_log_in_in_english_and_switch_language(fresh_web: WebServer, new_page: NewPage) -> None:
    # Its own server: the switch is the manager's saved setting, which would otherwise
    # carry into every later test that logs the manager in.
    page = new_page(locale="en-US")
    page.goto(fresh_web.url("/login"))
    expect(page.locator("h1")).to_have_text("Log in")
    login_page(page, fresh_web, "manager")
    page.goto(fresh_web.url("/account"))
    expect(page.locator("h1")).to_have_text("My account")
    page.click("header form.lang button")
    expect(page.locator("h1")).to_have_text("我的账号")
    page.click("header form.lang button")
    expect(page.locator("h1")).to_have_text("My account")


def test_wrong_password_then_throttled_with_a_clear_message(
    fresh_web: WebServer, desktop: Page
) -> None:
    desktop.goto(fresh_web.url("/login"))
    for _attempt in range(5):
        desktop.fill("input[name=username]", "sun")
        desktop.fill("input[name=password]", "not-the-password")
        desktop.click("form[action='/login'] button")
    expect(desktop.locator(".error")).to_contain_text("登录失败次数过多")
    login_page_attempt = fresh_web.logins["technician"]
    desktop.fill("input[name=username]", login_page_attempt.username)
    desktop.fill("input[name=password]", login_page_attempt.password)
    desktop.click("form[action='/login'] button")
    expect(desktop.locator(".error")).to_contain_text("请在")
    expect(desktop).to_have_url(fresh_web.url("/login"))


def test_a_form_without_its_csrf_token_is_refused(
    web: WebServer, desktop: Page, login: Callable[..., None]
) -> None:
    login(desktop, "resident")
    desktop.goto(web.url("/account"))
    desktop.evaluate(
        "document.querySelector(\"form[action='/logout/everywhere'] input[name=csrf_token]\")"
        ".remove()"
    )
    desktop.click("form[action='/logout/everywhere'] button")
    expect(desktop.locator("h1")).to_have_text("403")
    desktop.goto(web.url("/account"))
    expect(desktop.locator("h1")).to_have_text("我的账号")  # still logged in: nothing done


def test_the_session_cookie_is_httponly_and_samesite(
    web: WebServer, desktop: Page, login: Callable[..., None]
) -> None:
    login(desktop, "committee")
    cookies = {c["name"]: c for c in desktop.context.cookies()}
    session = cookies["ew_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Lax"
    assert session["secure"] is False  # plain http on loopback; https sets Secure
    assert desktop.evaluate("document.cookie").find("ew_session") == -1
