"""The technician's and the resident's pages over HTTP in-process, on a real SQLite
database with real photo files (tests/browser drives the same pages in Chromium)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import RunningApi, running_api
from photo_samples import gps_of, jpeg_with_gps

from api.users import NewUser, create_user, set_password
from maintenance import services
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.actors import Role
from maintenance.domain.signals import DeviceRef, Signal

# Every API here runs on SQLite and on PostgreSQL (api_db in tests/conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("api_db")]

PASSWORD = "correct horse battery"
HTML = {"Accept": "text/html"}
PEOPLE: dict[str, tuple[Role, dict[str, Any]]] = {
    "wu": ("resident", {"sites": ["north"], "building": "B1", "unit": "3-201"}),
    "zheng": ("resident", {"sites": ["north"], "building": "B2", "unit": "1-101"}),
    "sun": ("technician", {"sites": ["north"]}),
    "feng": ("technician", {"sites": ["south"]}),
    "qian": ("manager", {}),
}


@dataclass
class Browserless:
    """One logged-in person: an httpx client with their session cookie."""

    client: httpx.AsyncClient
    csrf: str = ""

    async def get(self, path: str) -> httpx.Response:
        page = await self.client.get(path, headers=HTML)
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        if found:
            self.csrf = found.group(1)
        return page

    async def post(
        self, path: str, data: dict[str, str], files: Any = None, **headers: str
    ) -> httpx.Response:
        return await self.client.post(
            path, data={"csrf_token": self.csrf, **data}, files=files, headers={**HTML, **headers}
        )


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[RunningApi]:
    async with running_api(tmp_path) as api, AsyncExitStack() as clients:
        api.app.state.test_clients = clients
        now = api.services.clock()
        for username, (role, fields) in PEOPLE.items():
            new = NewUser(username=username, role=role, **fields)
            await create_user(SqlUnitOfWork(api.services.sessions), new, actor="cli:t", at=now)
            await set_password(
                SqlUnitOfWork(api.services.sessions), username, PASSWORD, actor="cli:t", at=now
            )
        yield api


async def person(api: RunningApi, username: str) -> Browserless:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(api.app), base_url="http://api")
    await api.app.state.test_clients.enter_async_context(client)
    me = Browserless(client)
    await me.get("/login")
    answer = await me.post("/login", {"username": username, "password": PASSWORD, "next": "/"})
    assert answer.status_code == 303, answer.text[:300]
    return me


def photo_file(name: str = "phone.jpg") -> dict[str, tuple[str, bytes, str]]:
    return {"photos": (name, jpeg_with_gps(), "image/jpeg")}


async def raise_request(wu: Browserless, description: str, **extra: str) -> str:
    await wu.get("/report")
    sent = await wu.post(
        "/report",
        {"category": "lighting", "place": "5楼走廊", "description": description, **extra},
        files=photo_file(),
    )
    assert sent.status_code == 303, sent.text[:500]
    found = re.match(r"/my/requests/(WO-\d{4}-\d{6})\?sent=1$", sent.headers["location"])
    assert found, sent.headers["location"]
    return found.group(1)


async def test_a_resident_reports_with_a_photo_and_follows_it(api: RunningApi) -> None:
    wu = await person(api, "wu")
    order_id = await raise_request(wu, "灯不亮了 <script>alert(1)</script>")
    page = await wu.get(f"/my/requests/{order_id}")
    assert page.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>alert" not in page.text
    thumb = re.search(rf'src="(/orders/{order_id}/photos/[0-9a-f]{{32}}/thumbnail)"', page.text)
    assert thumb, "the photo is on the timeline"
    image = await wu.client.get(thumb.group(1).removesuffix("/thumbnail"))
    assert image.status_code == 200
    assert gps_of(image.content) == {}
    listed = await wu.get("/my/requests")
    assert order_id in listed.text

    comment = await wu.post(f"/my/requests/{order_id}/comment", {"text": "晚上更暗"})
    assert comment.status_code == 303
    assert "晚上更暗" in (await wu.get(f"/my/requests/{order_id}")).text

    # Someone else's request and its photo are the 404 page, like a missing one.
    zheng = await person(api, "zheng")
    assert (await zheng.get(f"/my/requests/{order_id}")).status_code == 404
    assert (await zheng.client.get(thumb.group(1), headers=HTML)).status_code == 404
    await zheng.get("/my/requests")
    refused = await zheng.post(f"/my/requests/{order_id}/comment", {"text": "mine now"})
    assert refused.status_code == 404


async def test_a_second_report_of_the_same_need_names_the_open_one_only_to_its_reporter(
    api: RunningApi,
) -> None:
    wu = await person(api, "wu")
    order_id = await raise_request(wu, "灯不亮了")
    again = {"category": "lighting", "place": "5楼走廊", "description": "还是不亮"}
    await wu.get("/report")
    mine = await wu.post("/report", again)
    assert mine.status_code == 422
    assert f"该位置的同类问题已有报修在处理中：{order_id}。" in mine.text  # noqa: RUF001
    # A neighbour reporting the same place (by its QR code's building) is told it is in
    # hand, but not the id of a request that is not theirs.
    zheng = await person(api, "zheng")
    await zheng.get("/report")
    theirs = await zheng.post("/report", {**again, "site": "north", "building": "B1"})
    assert theirs.status_code == 422
    assert "该位置的同类问题已有报修在处理中，无需重复报修。" in theirs.text  # noqa: RUF001
    assert order_id not in theirs.text


async def test_a_place_in_any_script_is_taken_and_markup_is_refused_saying_why(
    api: RunningApi,
) -> None:
    wu = await person(api, "wu")
    for place in ("B1 lift lobby", "3号楼大堂"):
        await wu.get("/report")
        sent = await wu.post("/report", {"category": "lighting", "place": place})
        assert sent.status_code == 303, sent.text[:300]
        assert place in (await wu.get(sent.headers["location"])).text
    for place in ("<b>大堂</b>", "大堂\x07", "大堂\u202e"):
        await wu.get("/report")
        refused = await wu.post("/report", {"category": "lighting", "place": place})
        assert refused.status_code == 422
        assert "请用一行文字写明位置，不要包含“/”“&lt;”或“&gt;”。" in refused.text  # noqa: RUF001
        assert "<b>大堂" not in refused.text  # what was typed comes back escaped


async def test_a_qr_link_fills_in_the_place(api: RunningApi) -> None:
    wu = await person(api, "wu")
    form = await wu.get("/report?site=north&building=B7&asset=elev-02")
    assert 'name="building" value="B7"' in form.text
    assert 'name="place" required maxlength="100" value="elev-02"' in form.text
    assert 'value="elevator" selected' in form.text
    order_id = await raise_request(wu, "电梯门关不上", site="north", building="B7")
    page = await wu.get(f"/my/requests/{order_id}")
    assert "B7 5楼走廊" in page.text


async def test_a_bad_photo_is_a_message_on_the_form_not_an_error(api: RunningApi) -> None:
    wu = await person(api, "wu")
    order_id = await raise_request(wu, "水管漏水")
    await wu.get(f"/my/requests/{order_id}")
    bad = {"photos": ("leak.jpg", b"this is not a picture", "image/jpeg")}
    answer = await wu.post(f"/my/requests/{order_id}/photo", {}, files=bad)
    assert answer.status_code == 422
    assert 'role="alert"' in answer.text
    # htmx swaps only 2xx answers: the same page with its message comes back as 200.
    again = await wu.post(f"/my/requests/{order_id}/photo", {}, files=bad, **{"HX-Request": "true"})
    assert again.status_code == 200
    assert 'role="alert"' in again.text


async def test_the_technician_acknowledges_and_resolves_with_a_photo(api: RunningApi) -> None:
    wu = await person(api, "wu")
    order_id = await raise_request(wu, "走廊灯坏了")
    qian_token = await api.user("qian-api", "manager")
    assigned = await api.client.post(
        f"/api/v1/work-orders/{order_id}/assign",
        json={"assignee": "sun"},
        headers={"Authorization": f"Bearer {qian_token}"},
    )
    assert assigned.status_code == 200, assigned.text
    sun = await person(api, "sun")
    listed = await sun.get("/tech")
    assert order_id in listed.text
    # A notification's link is the order's one address: a technician is sent on to theirs.
    linked = await sun.get(f"/orders/{order_id}")
    assert (linked.status_code, linked.headers["location"]) == (303, f"/tech/orders/{order_id}")
    assert (await wu.get(f"/orders/{order_id}")).status_code == 403
    page = await sun.get(f"/tech/orders/{order_id}")
    assert f"/tech/orders/{order_id}/acknowledge" in page.text
    assert f"/tech/orders/{order_id}/resolve" not in page.text  # not before acknowledging
    assert (await sun.post(f"/tech/orders/{order_id}/acknowledge", {})).status_code == 303
    page = await sun.get(f"/tech/orders/{order_id}")
    assert f"/tech/orders/{order_id}/resolve" in page.text
    assert f"/tech/orders/{order_id}/acknowledge" not in page.text
    held = await sun.post(f"/tech/orders/{order_id}/hold", {"reason": ""})
    assert held.status_code == 422  # a hold needs its reason
    steps = [
        ("start", {}),
        ("hold", {"reason": "等配件"}),
        ("resume", {}),
        ("set_cost", {"estimate": "35.50", "actual": ""}),
        ("comment", {"text": "只给同事看", "public": "false"}),
        ("comment", {"text": "明天上午来修", "public": "true"}),
    ]
    for action, fields in steps:
        answer = await sun.post(f"/tech/orders/{order_id}/{action}", fields)
        assert answer.status_code == 303, (action, answer.text[:300])
    page = await sun.get(f"/tech/orders/{order_id}")
    assert "¥35.50" in page.text
    assert "等配件" in page.text
    assert "只给同事看" in page.text
    timeline = (await wu.get(f"/my/requests/{order_id}")).text
    assert "明天上午来修" in timeline
    assert "只给同事看" not in timeline  # a private note stays with staff
    assert "sun" not in timeline  # residents see staff by role
    await sun.get(f"/tech/orders/{order_id}")
    resolved = await sun.post(
        f"/tech/orders/{order_id}/resolve", {"note": "换了灯管"}, files=photo_file("fixed.jpg")
    )
    assert resolved.status_code == 303, resolved.text[:500]
    photos = await api.client.get(
        f"/api/v1/work-orders/{order_id}/photos", headers={"Authorization": f"Bearer {qian_token}"}
    )
    assert sorted(p["uploaded_by"] for p in photos.json()) == ["sun", "wu"]  # one clock time

    # The resident confirms the fix and rates it.
    await wu.get(f"/my/requests/{order_id}")
    assert (await wu.post(f"/my/requests/{order_id}/confirm", {})).status_code == 303
    await wu.get(f"/my/requests/{order_id}")
    assert (await wu.post(f"/my/requests/{order_id}/rate", {"stars": "4"})).status_code == 303
    assert "★★★★☆" in (await wu.get(f"/my/requests/{order_id}")).text


async def test_a_technician_cannot_open_another_sites_order(api: RunningApi) -> None:
    wu = await person(api, "wu")
    order_id = await raise_request(wu, "门禁坏了")
    feng = await person(api, "feng")
    assert order_id not in (await feng.get("/tech")).text
    assert (await feng.get(f"/tech/orders/{order_id}")).status_code == 404
    await feng.get("/tech")  # the form token of feng's own page (error pages carry none)
    assert (await feng.post(f"/tech/orders/{order_id}/comment", {"text": "x"})).status_code == 404
    # A resident is not let into the technician's pages, nor a technician into theirs.
    assert (await wu.get("/tech")).status_code == 403
    assert (await feng.get("/report")).status_code == 403


async def test_a_self_cleared_order_is_kept_and_says_so(api: RunningApi) -> None:
    """A lift's alarm cleared before anyone acknowledged its order: closed by itself, shown
    as such to the manager in the API and on the order's page (Chinese by default)."""
    car = DeviceRef("north", "elevator", "elev-07")
    raised = Signal(
        kind="raised",
        rule="heatsink_hot",
        device=car,
        at=api.services.clock(),
        severity="major",
        priority="P3",
        fault_kind="overheat",
        message="heatsink 82 °C",
        building="B1",
    )
    sessions = api.services.sessions
    opened = await services.handle_signal(SqlUnitOfWork(sessions), raised, api.services.clock)
    assert opened.work_order is not None
    order_id = opened.work_order.id
    cleared = replace(raised, kind="cleared", at=api.services.clock())
    await services.handle_signal(SqlUnitOfWork(sessions), cleared, api.services.clock)

    token = {"Authorization": f"Bearer {await api.user('qian-api', 'manager')}"}
    detail = (await api.client.get(f"/api/v1/work-orders/{order_id}", headers=token)).json()
    assert (detail["status"], detail["resolution"]) == ("closed", "self_cleared")
    assert detail["resolved_at"] is None
    assert detail["history"][-1]["action"] == "work_order.self_cleared"
    listed = await api.client.get("/api/v1/work-orders", params={"status": "closed"}, headers=token)
    assert [(o["id"], o["resolution"]) for o in listed.json()["items"]] == [
        (order_id, "self_cleared")
    ]
    qian = await person(api, "qian")
    page = await qian.get(f"/orders/{order_id}")
    assert page.status_code == 200, page.text[:300]
    assert "<strong>已关闭</strong> · 告警已自行解除" in page.text  # beside its status
    assert "无人确认前告警已自行解除" in page.text  # the timeline's entry
