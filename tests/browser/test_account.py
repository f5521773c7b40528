"""The account page's notification settings in Chromium, on a phone, in Chinese: a bad
form refused beside its fields, then saved and shown back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from conftest import NewPage, WebServer, login_page
from playwright.sync_api import Page, expect


def test_notification_settings_on_a_phone(
    fresh_web: WebServer, new_page: NewPage, shoot: Callable[[Page, str], Path]
) -> None:
    # Its own server: the technician's saved settings would carry into later tests.
    phone = new_page(phone=True)
    login_page(phone, fresh_web, "technician")
    phone.goto(fresh_web.url("/account#notifications"))
    section = phone.locator("#notifications")
    expect(section.locator("h2")).to_have_text("通知设置")
    expect(section.locator("input[name=channels][value=email]")).to_be_checked()

    section.locator("input[name=email]").fill("wang-at-example")
    section.locator("input[name=channels][value=email]").uncheck()
    section.locator("input[name=channels][value=chat]").check()
    section.locator("input[name=quiet_start]").fill("22:00")
    section.locator("button.primary").click()
    section = phone.locator("#notifications")
    expect(section.locator(".error")).to_have_text("未保存：请修改下面标出的内容。")  # noqa: RUF001
    expect(section.locator("#email-error")).to_contain_text("请填写正确的邮箱地址")
    expect(section.locator("#chat_handle-error")).to_have_text(
        "选择群聊提醒时，请填写您的聊天账号。"  # noqa: RUF001
    )
    expect(section.locator("#quiet_hours-error")).to_contain_text("请填写免打扰时段")
    expect(section.locator("input[name=email]")).to_have_attribute("aria-invalid", "true")
    section.scroll_into_view_if_needed()
    shoot(phone, "account-notify-refused-phone-zh")

    section.locator("input[name=email]").fill("wang@example.com")
    section.locator("input[name=chat_handle]").fill("13800000001")
    section.locator("input[name=quiet_end]").fill("07:00")
    section.locator("button.primary").click()
    expect(phone.locator("p.notice")).to_have_text("通知设置已保存。")
    section = phone.locator("#notifications")
    expect(section.locator("input[name=email]")).to_have_value("wang@example.com")
    expect(section.locator("input[name=channels][value=chat]")).to_be_checked()
    expect(section.locator("input[name=channels][value=email]")).not_to_be_checked()
    expect(section.locator("input[name=quiet_start]")).to_have_value("22:00")
    expect(section.locator("input[name=quiet_end]")).to_have_value("07:00")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scroll
    shoot(phone, "account-notify-saved-phone-zh")
