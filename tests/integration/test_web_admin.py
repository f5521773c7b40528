"""The admin pages over HTTP: invites and reset links (one use, expiry, who may make
them), deactivating people, API tokens."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from api_support import RunningApi, SettableClock, bearer, running_api
from test_web_login import HTML, PASSWORD, _csrf, _login, _person

# Every API here runs on SQLite and on PostgreSQL (api_db in tests/conftest.py).
pytestmark = pytest.mark.usefixtures("api_db")


def _link(page: httpx.Response) -> str:
    found = re.search(r'href="(http://api/invite/[A-Za-z0-9_-]+)"', page.text)
    assert found, page.text[:800]
    return found.group(1).removeprefix("http://api")


async def _invite(api: RunningApi, **fields: str | list[str]) -> httpx.Response:
    form = await api.client.get("/admin/invites", headers=HTML)
    return await api.client.post(
        "/admin/invites", data={"csrf_token": _csrf(form), **fields}, headers=HTML
    )


def _client(api: RunningApi) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(api.app), base_url="http://api")


async def test_an_invite_makes_one_account_once(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        await _person(api, "boss", "admin")
        await _login(api.client, "boss")
        refused = await _invite(api, role="resident")
        assert refused.status_code == 422  # a resident needs a unit
        made = await _invite(api, role="resident", building="B1", unit="3-201")
        assert made.status_code == 200
        assert "<svg" in made.text  # the printable QR code
        link = _link(made)
        async with _client(api) as newcomer:
            form = await newcomer.get(link, headers=HTML)
            assert form.status_code == 200
            fields = {"csrf_token": _csrf(form), "username": "chen", "display_name": "陈"}
            differ = await newcomer.post(
                link, data={**fields, "password": PASSWORD, "again": PASSWORD + "x"}
            )
            assert differ.status_code == 422
            weak = await newcomer.post(link, data={**fields, "password": "short", "again": "short"})
            assert weak.status_code == 422
            joined = await newcomer.post(
                link, data={**fields, "password": PASSWORD, "again": PASSWORD}
            )
            assert joined.status_code == 303
            account = await newcomer.get("/account", headers=HTML)
            assert "陈" in account.text
            assert "3-201" in account.text
        async with _client(api) as second:
            assert (await second.get(link, headers=HTML)).status_code == 404  # used


async def test_an_invite_expires(tmp_path: Path) -> None:
    clock = SettableClock()
    async with running_api(tmp_path, clock) as api:
        await _person(api, "boss", "admin")
        await _login(api.client, "boss")
        link = _link(await _invite(api, role="technician", sites=["demo"]))
        clock.now += api.services.settings.invite_lifetime + timedelta(seconds=1)
        async with _client(api) as late:
            assert (await late.get(link, headers=HTML)).status_code == 404


async def test_a_manager_invites_staff_but_not_admins_and_issues_no_tokens(
    tmp_path: Path,
) -> None:
    async with running_api(tmp_path) as api:
        await _person(api, "mei", "manager")
        await _login(api.client, "mei")
        page = await api.client.get("/admin/invites", headers=HTML)
        assert 'value="technician"' in page.text
        assert 'value="admin"' not in page.text
        assert (await _invite(api, role="admin")).status_code == 422
        assert (await api.client.get("/admin/tokens", headers=HTML)).status_code == 403


async def test_a_reset_link_sets_a_new_password_and_ends_old_sessions(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        await _person(api, "boss", "admin")
        await _person(api, "sun", "technician")
        async with _client(api) as phone:
            await _login(phone, "sun")
            await _login(api.client, "boss")
            users = await api.client.get("/admin/users", headers=HTML)
            made = await api.client.post(
                "/admin/users/sun/reset", data={"csrf_token": _csrf(users)}, headers=HTML
            )
            link = _link(made)
            async with _client(api) as reset:
                form = await reset.get(link, headers=HTML)
                new = "Another-Long-Secret"
                done = await reset.post(
                    link, data={"csrf_token": _csrf(form), "password": new, "again": new}
                )
                assert done.status_code == 303
            assert (await phone.get("/account", headers=HTML)).status_code == 303  # ended
            assert (await _login(phone, "sun")).status_code == 401  # the old password
            assert (await _login(phone, "sun", new)).status_code == 303


async def test_deactivating_someone_ends_their_session(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        await _person(api, "mei", "manager")
        await _person(api, "sun", "technician")
        await _person(api, "boss", "admin")
        async with _client(api) as phone:
            await _login(phone, "sun")
            await _login(api.client, "mei")
            users = await api.client.get("/admin/users", headers=HTML)
            assert "/admin/users/boss/active" not in users.text  # a manager's reach
            off = await api.client.post(
                "/admin/users/sun/active", data={"csrf_token": _csrf(users), "active": "0"}
            )
            assert off.status_code == 303
            assert (await phone.get("/account", headers=HTML)).status_code == 303
            not_mine = await api.client.post(
                "/admin/users/boss/active",
                data={"csrf_token": _csrf(users), "active": "0"},
                headers=HTML,
            )
            assert not_mine.status_code == 403


async def test_an_admin_issues_a_token_shown_once_and_revokes_it(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        await _person(api, "boss", "admin")
        await _person(api, "bot", "manager")
        await _login(api.client, "boss")
        page = await api.client.get("/admin/tokens?user=bot", headers=HTML)
        issued = await api.client.post(
            "/admin/tokens",
            data={"csrf_token": _csrf(page), "username": "bot", "label": "scada", "days": "7"},
            headers=HTML,
        )
        secret = re.search(r'<code class="secret">([^<]+)</code>', issued.text)
        assert secret, issued.text[:500]
        me = await api.client.get("/api/v1/me", headers=bearer(secret.group(1)))
        assert me.json()["username"] == "bot"
        listed = await api.client.get("/admin/tokens?user=bot", headers=HTML)
        assert secret.group(1) not in listed.text
        ids = re.findall(r'action="/admin/tokens/(\d+)/revoke"', listed.text)
        assert len(ids) == 2  # the one api.user made and this one
        await api.client.post(
            f"/admin/tokens/{max(ids, key=int)}/revoke", data={"csrf_token": _csrf(listed)}
        )
        refused = await api.client.get("/api/v1/me", headers=bearer(secret.group(1)))
        assert refused.status_code == 401


async def test_a_manager_changes_a_technicians_sites_but_makes_no_manager(
    tmp_path: Path,
) -> None:
    async with running_api(tmp_path) as api:
        await _person(api, "mei", "manager")
        await _person(api, "sun", "technician")
        await _login(api.client, "mei")
        page = await api.client.get("/admin/users/sun", headers=HTML)
        assert page.status_code == 200
        csrf = _csrf(page)
        moved = await api.client.post(
            "/admin/users/sun",
            data={"csrf_token": csrf, "role": "technician", "sites": ["north", "demo"]},
        )
        assert moved.status_code == 303
        async with api.services.readers() as reader:
            from api.users import get_user

            assert (await get_user(reader, "sun")).sites == ("north", "demo")
        promoted = await api.client.post(
            "/admin/users/sun", data={"csrf_token": csrf, "role": "manager"}, headers=HTML
        )
        assert promoted.status_code == 403  # not a role a manager hands out
        homeless = await api.client.post(
            "/admin/users/sun", data={"csrf_token": csrf, "role": "resident"}, headers=HTML
        )
        assert homeless.status_code == 422  # a resident needs a unit
        myself = await api.client.get("/admin/users/mei", headers=HTML)
        assert myself.status_code == 403


async def test_a_name_with_markup_shows_as_text(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        await _person(api, "boss", "admin")
        await _login(api.client, "boss")
        link = _link(await _invite(api, role="technician", sites=["demo"]))
        async with _client(api) as newcomer:
            form = await newcomer.get(link, headers=HTML)
            await newcomer.post(
                link,
                data={
                    "csrf_token": _csrf(form),
                    "username": "mallory",
                    "display_name": "<script>alert(1)</script>",
                    "password": PASSWORD,
                    "again": PASSWORD,
                },
            )
        users = await api.client.get("/admin/users", headers=HTML)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in users.text
        assert "<script>alert(1)</script>" not in users.text
