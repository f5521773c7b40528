"""``/me/notifications``: a person's own address, channels, quiet hours and language,
read and replaced by them alone; ``/users/{name}/email`` by whoever manages them; each
bad field a 422 that names it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import bearer, running_api
from sqlalchemy import select

from api.errors import PROBLEM_MEDIA_TYPE
from api.schemas.notify_settings import NotifySettingsIn
from maintenance.db.tables import AuditRow
from maintenance.db.user_tables import UserRow

# Every API here runs on SQLite and on PostgreSQL (api_db in tests/conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("api_db")]

ME = "/api/v1/me/notifications"
GOOD: dict[str, Any] = {
    "email": "li.tech@example.com",
    "channels": ["email", "chat"],
    "chat_handle": "13800000001",
    "quiet_hours": {"start": "22:00", "end": "07:00"},
    "language": "en",
}


def refused(response: httpx.Response, field: str) -> str:
    """The 422's detail, after checking it names ``field``."""
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    named = [error["field"] for error in body["errors"]]
    assert any(name == field or name.startswith(f"{field}.") for name in named), body
    return str(body["errors"])


async def test_a_person_reads_and_replaces_their_own_settings(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        tech = bearer(await api.user("li.tech", "technician", sites=["demo"]))
        other = bearer(await api.user("wang.tech", "technician", sites=["demo"]))

        first = await api.client.get(ME, headers=tech)
        assert first.status_code == 200
        assert first.json() == {  # everyone starts with mail, no address of their own
            "email": None,
            "channels": ["email"],
            "chat_handle": None,
            "quiet_hours": None,
            "language": None,
        }
        saved = await api.client.put(ME, json=GOOD, headers=tech)
        assert saved.status_code == 200, saved.text
        assert saved.json() == GOOD
        assert (await api.client.get(ME, headers=tech)).json() == GOOD
        assert (await api.client.get(ME, headers=other)).json()["email"] is None  # only mine

        async with api.services.readers() as session:
            row = await session.scalar(select(UserRow).where(UserRow.username == "li.tech"))
            entry = await session.scalar(
                select(AuditRow).where(AuditRow.action == "user.notify_settings_changed")
            )
        assert row is not None
        assert row.locale == "en"  # the web app's language too
        assert entry is not None
        assert entry.entity_id == "li.tech"
        assert entry.actor == "technician:li.tech"
        assert "li.tech@example.com" not in str(entry.detail)  # who changed it, not where

        back = await api.client.put(ME, json={"channels": ["email"]}, headers=tech)
        assert back.json()["quiet_hours"] is None  # a PUT replaces every field
        assert (await api.client.get(ME)).status_code == 401


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"email": "not-an-address"}, "email", "pattern"),
        ({"email": "a@b.c" + "x" * 260}, "email", "254"),
        ({"channels": ["sms"]}, "channels.0", "'email' or 'chat'"),
        ({"channels": []}, "channels", "at least 1"),
        ({"channels": ["email", "email"]}, "channels", "each channel once"),
        ({"channels": ["chat"], "chat_handle": None}, "chat_handle", "needs your chat handle"),
        ({"chat_handle": 'x"><script>'}, "chat_handle", "pattern"),
        ({"quiet_hours": {"start": "25:00", "end": "07:00"}}, "quiet_hours.start", "pattern"),
        ({"quiet_hours": {"start": "22:00"}}, "quiet_hours.end", "required"),
        ({"quiet_hours": {"start": "22:00", "end": "22:00"}}, "quiet_hours", "different"),
        ({"language": "fr"}, "language", "'zh-CN' or 'en'"),
        ({"colour": "red"}, "colour", "not permitted"),
    ],
)
async def test_a_bad_field_is_a_422_naming_it(
    tmp_path: Path, change: dict[str, Any], field: str, says: str
) -> None:
    async with running_api(tmp_path) as api:
        tech = bearer(await api.user("li.tech", "technician", sites=["demo"]))
        answer = await api.client.put(ME, json=GOOD | change, headers=tech)
        assert says in refused(answer, field)
        assert (await api.client.get(ME, headers=tech)).json()["email"] is None  # unchanged


def test_the_constraints_are_in_the_openapi_document() -> None:
    schema = NotifySettingsIn.model_json_schema()
    quiet = schema["$defs"]["QuietHoursIn"]["properties"]
    assert quiet["start"]["pattern"] == r"^([01]\d|2[0-3]):[0-5]\d$"
    channels = schema["properties"]["channels"]
    assert (channels["minItems"], channels["items"]["enum"]) == (1, ["email", "chat"])
    assert "pattern" in schema["properties"]["email"]["anyOf"][0]


async def test_an_admin_or_manager_sets_a_staff_members_address(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        admin = bearer(await api.user("root", "admin"))
        manager = bearer(await api.user("mgr", "manager", sites=["demo"]))
        far = bearer(await api.user("mgr-north", "manager", sites=["north"]))
        tech = bearer(await api.user("li.tech", "technician", sites=["demo"]))
        await api.user("boss", "manager", sites=["demo"])

        url = "/api/v1/users/li.tech/email"
        answer = await api.client.put(url, json={"email": "li@example.com"}, headers=manager)
        assert answer.status_code == 200, answer.text
        assert (await api.client.get(ME, headers=tech)).json()["email"] == "li@example.com"
        assert (await api.client.put(url, json={"email": None}, headers=admin)).status_code == 200
        assert (await api.client.get(ME, headers=tech)).json()["email"] is None

        # Not a technician of another site's manager, not a manager's peer, not by one's self.
        for who, target in ((far, "li.tech"), (manager, "boss"), (manager, "mgr")):
            denied = await api.client.put(
                f"/api/v1/users/{target}/email", json={"email": "x@example.com"}, headers=who
            )
            assert denied.status_code == 403, (target, denied.text)
        own = await api.client.put(url, json={"email": "x@example.com"}, headers=tech)
        assert own.status_code == 403  # a technician uses /me/notifications
        bad = await api.client.put(url, json={"email": "x@"}, headers=admin)
        refused(bad, "email")


async def test_an_admin_gives_a_new_user_their_address_when_adding_them(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        admin = bearer(await api.user("root", "admin"))
        new = {"username": "li.tech", "role": "technician", "sites": ["demo"]}
        bad = await api.client.post("/api/v1/users", json=new | {"email": "li@"}, headers=admin)
        refused(bad, "email")
        added = await api.client.post(
            "/api/v1/users", json=new | {"email": "li@example.com"}, headers=admin
        )
        assert added.status_code == 201, added.text
        assert "email" not in added.json()  # the address is theirs to read, not the list's
        async with api.services.readers() as session:
            row = await session.scalar(select(UserRow).where(UserRow.username == "li.tech"))
            assert row is not None
            assert row.email == "li@example.com"
            entry = await session.scalar(select(AuditRow).where(AuditRow.action == "user.created"))
            assert entry is not None
            assert "li@example.com" not in str(entry.detail)
