"""The web app's login, sessions, CSRF, throttling and role gate, over HTTP in-process
(the browser tests in tests/browser drive the same pages in Chromium)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from api_support import RunningApi, SettableClock, running_api

from api.users import set_password
from api.web.deps import PageGate, PagePublic
from api.web.sessions import CSRF_HEADER, LOGIN_CSRF_COOKIE, SESSION_COOKIE
from maintenance.db.uow import SqlUnitOfWork

# Every API here runs on SQLite and on PostgreSQL (api_db in tests/conftest.py).
pytestmark = pytest.mark.usefixtures("api_db")

PASSWORD = "correct horse battery"
HTML = {"Accept": "text/html"}


async def _person(api: RunningApi, username: str, role: str = "manager") -> None:
    await api.user(username, role, unit="3-201" if role == "resident" else None)  # type: ignore[arg-type]
    await set_password(
        SqlUnitOfWork(api.services.sessions),
        username,
        PASSWORD,
        actor="cli:test",
        at=api.services.clock(),
    )


def _csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


async def _login(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD, next_path: str = "/"
) -> httpx.Response:
    form = await client.get("/login", headers=HTML)
    return await client.post(
        "/login",
        data={
            "csrf_token": _csrf(form),
            "username": username,
            "password": password,
            "next": next_path,
        },
        headers=HTML,
    )


async def test_login_sets_a_hardened_session_cookie_and_logout_ends_it(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        await _person(api, "mei")
        answer = await _login(api.client, "mei", next_path="/account")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/account"
        cookie = next(
            value
            for name, value in answer.headers.multi_items()
            if name == "set-cookie" and value.startswith(f"{SESSION_COOKIE}=")
        )
        flags = cookie.lower()
        assert "httponly" in flags
        assert "samesite=lax" in flags
        assert "secure" not in flags  # plain http here; see the https test below

        account = await api.client.get("/account", headers=HTML)
        assert account.status_code == 200
        assert "mei" in account.text
        assert account.headers["content-security-policy"].startswith("default-src 'self'")

        await api.client.post("/logout", data={"csrf_token": _csrf(account)}, headers=HTML)
        api.client.cookies.delete(SESSION_COOKIE)
        api.client.cookies.set(SESSION_COOKIE, cookie.split(";")[0].split("=", 1)[1])
        again = await api.client.get("/account", headers=HTML)
        assert again.status_code == 303  # the old cookie no longer opens anything
        assert again.headers["location"] == "/login?next=%2Faccount"


async def test_cookie_is_secure_behind_https(tmp_path: Path) -> None:
    async with running_api(tmp_path, public_base_url="https://estate.example") as api:
        await _person(api, "mei")
        api.client.base_url = httpx.URL("https://api")  # as behind the TLS proxy
        answer = await _login(api.client, "mei")
        cookies = [v.lower() for k, v in answer.headers.multi_items() if k == "set-cookie"]
        assert any(v.startswith(SESSION_COOKIE) and "; secure" in v for v in cookies)


async def test_a_post_without_the_csrf_token_is_refused(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        await _person(api, "mei")
        await _login(api.client, "mei")
        page = await api.client.get("/account", headers=HTML)
        refused = await api.client.post("/logout/everywhere", data={}, headers=HTML)
        assert refused.status_code == 403
        wrong = await api.client.post(
            "/logout/everywhere", data={"csrf_token": "x" * 43}, headers=HTML
        )
        assert wrong.status_code == 403
        still = await api.client.get("/account", headers=HTML)
        assert still.status_code == 200  # nothing was done
        by_header = await api.client.post("/logout/everywhere", headers={CSRF_HEADER: _csrf(page)})
        assert by_header.status_code == 303


async def test_the_login_form_needs_its_pre_session_token(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        await _person(api, "mei")
        form = await api.client.get("/login", headers=HTML)
        assert LOGIN_CSRF_COOKIE in form.cookies
        answer = await api.client.post(
            "/login", data={"username": "mei", "password": PASSWORD}, headers=HTML
        )
        assert answer.status_code == 403
        assert SESSION_COOKIE not in answer.cookies


async def test_five_failures_throttle_the_username_until_fifteen_minutes_pass(
    tmp_path: Path,
) -> None:
    clock = SettableClock()
    async with running_api(tmp_path, clock) as api:
        await _person(api, "mei")
        for attempt in range(4):
            wrong = await _login(api.client, "mei", "not the password")
            assert wrong.status_code == 401, attempt
            clock.now += timedelta(seconds=30)
        fifth = await _login(api.client, "mei", "not the password")
        assert fifth.status_code == 429
        # Shown in the site's zone: T0 is 09:00 UTC, the first failure +15 min = 17:15 Shanghai.
        assert "17:15" in fifth.text
        right_but_blocked = await _login(api.client, "mei")
        assert right_but_blocked.status_code == 429
        clock.now = clock.now.replace(hour=9, minute=15, second=1)
        allowed = await _login(api.client, "mei")
        assert allowed.status_code == 303


async def test_unknown_users_and_wrong_passwords_read_the_same(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        await _person(api, "mei")
        unknown = await _login(api.client, "nobody", "whatever-pass")
        wrong = await _login(api.client, "mei", "whatever-pass")
        assert unknown.status_code == wrong.status_code == 401
        assert "Wrong username or password" in unknown.text or "用户名或密码错误" in unknown.text


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example", "/\\evil.example", "javascript:x"]
)
async def test_next_never_leaves_the_site(tmp_path: Path, target: str) -> None:
    async with running_api(tmp_path) as api:
        await _person(api, "mei")
        answer = await _login(api.client, "mei", next_path=target)
        assert answer.headers["location"] == "/"


async def test_logout_everywhere_ends_every_session(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        await _person(api, "mei")
        transport = httpx.ASGITransport(api.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as phone:
            await _login(phone, "mei")
            await _login(api.client, "mei")
            page = await api.client.get("/account", headers=HTML)
            await api.client.post("/logout/everywhere", data={"csrf_token": _csrf(page)})
            assert (await phone.get("/account", headers=HTML)).status_code == 303


async def test_language_follows_browser_then_switch_then_user_setting(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        await _person(api, "mei")
        chinese = await api.client.get("/login", headers=HTML)
        assert "登录" in chinese.text
        assert '<html lang="zh-CN">' in chinese.text
        english = await api.client.get("/login", headers={**HTML, "Accept-Language": "en-GB"})
        assert ">Log in<" in english.text
        await _login(api.client, "mei")
        page = await api.client.get("/account", headers=HTML)
        await api.client.post(
            "/language", data={"csrf_token": _csrf(page), "locale": "en", "next": "/account"}
        )
        api.client.cookies.delete("ew_lang")  # the user's setting holds without the cookie
        assert "My account" in (await api.client.get("/account", headers=HTML)).text


async def test_role_gate_and_login_redirect(tmp_path: Path) -> None:
    from fastapi.responses import HTMLResponse

    from api.web.deps import PageDep, page_allow, page_router

    router = page_router()

    @router.get("/only-committee", dependencies=[page_allow("committee")])
    async def only(page: PageDep) -> HTMLResponse:
        return page.render("error.html", {"status": 200, "message": "committee"})

    async with running_api(tmp_path) as api:
        api.app.include_router(router)
        await _person(api, "mei")
        anonymous = await api.client.get("/only-committee?x=1", headers=HTML)
        assert anonymous.status_code == 303
        assert anonymous.headers["location"] == "/login?next=%2Fonly-committee%3Fx%3D1"
        htmx = await api.client.get("/only-committee", headers={"HX-Request": "true"})
        assert htmx.status_code == 401
        assert htmx.headers["hx-redirect"].startswith("/login")
        await _login(api.client, "mei")
        assert (await api.client.get("/only-committee", headers=HTML)).status_code == 403
        missing = await api.client.get("/no-such-page", headers=HTML)
        assert missing.status_code == 404
        assert "<html" in missing.text
        api_missing = await api.client.get("/api/v1/no-such", headers=HTML)
        assert api_missing.headers["content-type"] == "application/problem+json"


async def test_every_page_route_declares_exactly_one_gate(tmp_path: Path) -> None:
    from api.web.gates import page_routes

    async with running_api(tmp_path) as api:
        routes = page_routes(api.app)
        assert {"/login", "/logout", "/account"} <= {route.path for route in routes}
        ungated = [route.path for route in routes if route.gate is None]
        assert not ungated, f"pages without exactly one page_allow/page_public: {ungated}"
        assert all(isinstance(route.gate, PageGate | PagePublic) for route in routes)


async def test_five_failures_from_one_address_throttle_every_username(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        await _person(api, "mei")
        for guess in ("a1", "b2", "c3", "d4", "e5"):  # a spray across usernames
            await _login(api.client, f"user-{guess}", "not the password")
        blocked = await _login(api.client, "mei")
        assert blocked.status_code == 429


async def test_sessions_ended_a_month_ago_are_deleted_at_the_next_login(tmp_path: Path) -> None:
    from sqlalchemy import func, select

    from maintenance.db.web_tables import WebSessionRow

    async def sessions() -> int:
        async with api.services.readers() as reader:
            return int(await reader.scalar(select(func.count()).select_from(WebSessionRow)) or 0)

    clock = SettableClock()
    async with running_api(tmp_path, clock) as api:
        await _person(api, "mei")
        await _login(api.client, "mei")
        page = await api.client.get("/account", headers=HTML)
        await api.client.post("/logout", data={"csrf_token": _csrf(page)})
        await _login(api.client, "mei")
        assert await sessions() == 2  # the ended one is kept for now
        clock.now += timedelta(days=31)
        await _login(api.client, "mei")
        assert await sessions() == 2  # the first went; the second expired, kept a while


async def test_changing_my_password_keeps_this_browser_and_logs_out_the_others(
    tmp_path: Path,
) -> None:
    async with running_api(tmp_path) as api:
        await _person(api, "mei")
        transport = httpx.ASGITransport(api.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as phone:
            await _login(phone, "mei")
            await _login(api.client, "mei")
            page = await api.client.get("/account", headers=HTML)
            fields = {
                "csrf_token": _csrf(page),
                "password": "Plum-Rain-2026",
                "again": "Plum-Rain-2026",
            }
            wrong = await api.client.post(
                "/account/password", data={**fields, "current": "nope"}, headers=HTML
            )
            assert wrong.status_code == 422
            weak = await api.client.post(
                "/account/password",
                data={**fields, "current": PASSWORD, "password": "short", "again": "short"},
                headers=HTML,
            )
            assert weak.status_code == 422
            changed = await api.client.post(
                "/account/password", data={**fields, "current": PASSWORD}, headers=HTML
            )
            assert changed.status_code == 303
            assert (await api.client.get("/account", headers=HTML)).status_code == 200
            assert (await phone.get("/account", headers=HTML)).status_code == 303
            assert (await _login(phone, "mei")).status_code == 401
            assert (await _login(phone, "mei", "Plum-Rain-2026")).status_code == 303
