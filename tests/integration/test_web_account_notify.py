"""The account page's notification settings over HTTP in-process: the form saves what
``PUT /me/notifications`` saves, refuses each bad field beside it in the reader's
language, and needs its CSRF token (tests/browser/test_account.py drives it in Chromium)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from api_support import csrf_of, running_api, web_login

from maintenance.db.user_tables import UserRow

# Every API here runs on SQLite and on PostgreSQL (api_db in tests/conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("api_db")]

ZH = {"Accept": "text/html", "Accept-Language": "zh-CN"}


def beside(html: str, field: str) -> str:
    """The message the page shows beside ``field`` ('' when none)."""
    found = re.search(rf'<span class="field-error" id="{field}-error">([^<]*)</span>', html)
    return found.group(1) if found else ""


async def test_the_form_saves_my_settings_and_shows_them_back(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        await web_login(api, "li.tech", "technician", sites=["demo"])
        page = await api.client.get("/account", headers=ZH)
        assert page.status_code == 200
        assert "通知设置" in page.text
        assert "P1 工单和困人救援通知随时立即发送" in page.text

        saved = await api.client.post(
            "/account/notifications",
            data={
                "csrf_token": csrf_of(page.text),
                "email": " li@example.com ",
                "channels": ["email", "chat"],
                "chat_handle": "lisi",
                "quiet_start": "22:00",
                "quiet_end": "07:00",
            },
            headers=ZH,
        )
        assert saved.status_code == 303
        assert saved.headers["location"] == "/account?saved=notify#notifications"
        again = await api.client.get("/account?saved=notify", headers=ZH)
        assert "通知设置已保存。" in again.text
        assert 'value="li@example.com"' in again.text
        assert 'value="22:00"' in again.text
        assert 'value="chat" checked' in again.text

        async with api.services.readers() as session:
            row = await session.get(UserRow, 1)
        assert row is not None
        assert (row.email, row.chat_handle, row.notify_chat) == ("li@example.com", "lisi", True)
        assert row.locale is None  # the language stays as the Language buttons set it

        # Clearing the quiet hours and unticking chat.
        cleared = await api.client.post(
            "/account/notifications",
            data={"csrf_token": csrf_of(again.text), "channels": ["email"], "email": ""},
            headers=ZH,
        )
        assert cleared.status_code == 303
        async with api.services.readers() as session:
            row = await session.get(UserRow, 1)
        assert row is not None
        assert (row.email, row.notify_chat, row.quiet_start) == (None, False, None)


async def test_bad_fields_are_refused_beside_them_and_nothing_is_saved(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        await web_login(api, "li.tech", "technician", sites=["demo"])
        page = await api.client.get("/account", headers=ZH)
        refused = await api.client.post(
            "/account/notifications",
            data={
                "csrf_token": csrf_of(page.text),
                "email": "li-at-example",
                "chat_handle": 'li"><b>',
                "quiet_start": "22:00",
            },
            headers=ZH,
        )
        assert refused.status_code == 422
        html = refused.text
        assert "未保存：请修改下面标出的内容。" in html  # noqa: RUF001
        assert beside(html, "email") == "请填写正确的邮箱地址，例如 wang@example.com。"  # noqa: RUF001
        assert beside(html, "channels") == "请至少选择一种提醒方式。"
        assert beside(html, "chat_handle").startswith("聊天账号最多 64 个字符")
        assert beside(html, "quiet_hours") == "请填写免打扰时段的开始和结束时间（时:分）。"  # noqa: RUF001
        assert 'value="li-at-example" aria-invalid="true"' in html  # what was typed stays
        assert "&lt;b&gt;" in html  # escaped, never markup

        chat_alone = await api.client.post(
            "/account/notifications",
            data={"csrf_token": csrf_of(html), "channels": "chat"},
            headers={"Accept": "text/html", "Accept-Language": "en"},
        )
        assert chat_alone.status_code == 422
        assert beside(chat_alone.text, "chat_handle") == "Chat needs your chat handle."

        async with api.services.readers() as session:
            row = await session.get(UserRow, 1)
        assert row is not None
        assert (row.email, row.notify_chat, row.quiet_start) == (None, False, None)


async def test_the_form_needs_its_csrf_token(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        await web_login(api, "li.tech", "technician", sites=["demo"])
        forged = await api.client.post(
            "/account/notifications",
            data={"email": "evil@example.com", "channels": "email"},
            headers=ZH,
        )
        assert forged.status_code == 403
        async with api.services.readers() as session:
            row = await session.get(UserRow, 1)
        assert row is not None
        assert row.email is None
