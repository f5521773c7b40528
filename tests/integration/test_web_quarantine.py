"""The quarantine page over HTTP: managers see unknown senders in their site's time and
language, block one, register a gateway with one button and a device through a form
whose refusals stand beside their fields; other roles may not open it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from api_support import SettableClock, running_api
from test_web_login import _csrf, _login, _person

from api.web.routes import quarantine as quarantine_page
from maintenance.db.read.quarantine import known_senders, quarantine_entries
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.quarantine import Sighting
from maintenance.services.quarantine import note_sightings
from maintenance.sites import load_site_file

# Every API here runs on SQLite and on PostgreSQL (api_db in tests/conftest.py).
pytestmark = pytest.mark.usefixtures("api_db")

DEMO = Path(__file__).parents[2] / "infra" / "sites" / "demo-compound.yaml"
NOW = datetime(2026, 12, 7, 3, tzinfo=UTC)  # 11:00 in Shanghai
EN = {"Accept": "text/html", "Accept-Language": "en"}
ZH = {"Accept": "text/html", "Accept-Language": "zh-CN"}


async def test_a_manager_blocks_and_registers_what_the_register_does_not_know(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_api(tmp_path, SettableClock(NOW)) as api:
        sessions = api.services.sessions
        async with SqlUnitOfWork(sessions) as uow:
            await uow.sites.import_file(
                load_site_file(DEMO), actor="cli:test", at=NOW, source="demo"
            )
            await uow.commit()
        heard = NOW - timedelta(minutes=30)  # 10:30 in Shanghai
        await note_sightings(
            SqlUnitOfWork(sessions),
            [
                Sighting("demo", "elevator", "ghost-lift-99", "gw-demo", heard, heard, 4, "x"),
                Sighting("demo", "gateway", "gw-spoof", "gw-spoof", heard, heard, 7, "y"),
                Sighting("demo", "gateway", "gw-b2", "gw-b2", heard, heard, 1, "z"),
                Sighting("north", "gateway", "gw-n1", "gw-n1", heard, heard, 1, "z"),
            ],
        )
        await _person(api, "tech", "technician")
        await _login(api.client, "tech")
        assert (await api.client.get("/admin/quarantine", headers=EN)).status_code == 403
        account = await api.client.get("/account", headers=EN)
        await api.client.post("/logout", data={"csrf_token": _csrf(account)}, headers=EN)

        await _person(api, "mgr", "manager")
        await _login(api.client, "mgr")
        page = await api.client.get("/admin/quarantine", headers=ZH)
        assert page.status_code == 200
        assert "未登记设备" in page.text
        assert "ghost-lift-99" in page.text
        assert "gw-spoof" in page.text
        assert "2026-12-07 10:30" in page.text  # the site's time, not UTC
        assert "请先导入该小区的台账文件" in page.text  # gw-n1: site north is not registered
        assert "仅显示最近收到的" not in page.text
        monkeypatch.setattr(quarantine_page, "SHOWN", 2)
        first_two = await api.client.get("/admin/quarantine", headers=EN)
        assert "The 2 most recently heard are shown" in first_two.text
        assert first_two.text.count("data-sender=") == 2
        monkeypatch.undo()

        async def entry(device_id: str) -> int:
            async with sessions() as session:
                found = await quarantine_entries(session, states=("held", "blocked", "registered"))
            return next(e.id for e in found if e.device_id == device_id)

        csrf = _csrf(page)
        blocked = await api.client.post(
            f"/admin/quarantine/{await entry('gw-spoof')}/block", data={"csrf_token": csrf}
        )
        assert (blocked.status_code, blocked.headers["location"]) == (
            303,
            "/admin/quarantine?done=blocked",
        )
        gateway = await api.client.post(
            f"/admin/quarantine/{await entry('gw-b2')}/register", data={"csrf_token": csrf}
        )
        assert gateway.status_code == 303

        ghost = await entry("ghost-lift-99")
        form = await api.client.get(f"/admin/quarantine/{ghost}", headers=EN)
        assert form.status_code == 200
        assert "Register ghost-lift-99" in form.text
        fields = {
            "csrf_token": _csrf(form),
            "building": "B1",
            "make": "Monarch",
            "model": "NICE3000+",
            "install_date": "2026-11-30",
            "rated_load_kg": "1000",
            "rated_speed_mps": "1.75",
            "floors_served": "18",
        }
        refused = await api.client.post(
            f"/admin/quarantine/{ghost}/register",
            data=fields | {"building": "", "rated_load_kg": "lots", "make": ""},
            headers=EN,
        )
        assert refused.status_code == 422
        assert 'id="building-error">Choose the building it is in.' in refused.text
        assert 'id="rated_load_kg-error">A whole number from 1 to 10,000.' in refused.text
        assert 'id="make-error">Required.' in refused.text
        assert 'value="NICE3000+"' in refused.text  # what was typed stays
        zh = await api.client.post(
            f"/admin/quarantine/{ghost}/register",
            data=fields | {"floors_served": "1"},
            headers=ZH,
        )
        assert zh.status_code == 422
        assert "请填写 2 到 200 之间的整数。" in zh.text
        done = await api.client.post(f"/admin/quarantine/{ghost}/register", data=fields)
        assert (done.status_code, done.headers["location"]) == (
            303,
            "/admin/quarantine?done=registered",
        )

        after = await api.client.get("/admin/quarantine?done=registered", headers=EN)
        assert "Registered: its next messages" in after.text
        assert "ghost-lift-99" not in after.text
        assert "gw-b2" not in after.text
        assert "gw-spoof" in after.text  # blocked entries stay listed
        async with sessions() as session:
            keys = (await known_senders(session)).keys
        assert {"demo/elevator/ghost-lift-99", "demo/gateway/gw-b2"} <= keys
        assert "demo/gateway/gw-spoof" not in keys
