"""The quarantine over the JSON API: managers and admins list unknown senders and
register or block them; other roles are refused; bad bodies are a 422 naming what is
wrong; a registered sender is in the register the worker reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from api_support import SettableClock, bearer, running_api

from maintenance.db.read.quarantine import known_senders
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.quarantine import Sighting
from maintenance.services.quarantine import note_sightings
from maintenance.sites import load_site_file

# Every API here runs on SQLite and on PostgreSQL (api_db in tests/conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("api_db")]

DEMO = Path(__file__).parents[2] / "infra" / "sites" / "demo-compound.yaml"
NOW = datetime(2026, 12, 7, 3, tzinfo=UTC)
URL = "/api/v1/quarantine"

GHOST_LIFT = {
    "name": "ghost-lift-99",
    "make": "Monarch",
    "model": "NICE3000+",
    "install_date": "2026-11-30",
    "rated_load_kg": 1000,
    "rated_speed_mps": 1.75,
    "floors_served": 18,
}


def seen(device_type: str, device_id: str, gateway: str, minutes: int) -> Sighting:
    at = NOW - timedelta(minutes=minutes)
    return Sighting("demo", device_type, device_id, gateway, at, at, 3, f"telemetry at {at}")


async def test_managers_list_register_and_block_what_the_register_does_not_know(
    tmp_path: Path,
) -> None:
    async with running_api(tmp_path, SettableClock(NOW)) as api:
        sessions = api.services.sessions
        async with SqlUnitOfWork(sessions) as uow:
            await uow.sites.import_file(
                load_site_file(DEMO), actor="cli:test", at=NOW, source="demo"
            )
            await uow.commit()
        await note_sightings(
            SqlUnitOfWork(sessions),
            [
                seen("elevator", "ghost-lift-99", "gw-demo", 1),
                seen("gateway", "gw-spoof", "gw-spoof", 2),
                seen("gateway", "gw-b2", "gw-b2", 3),
            ],
        )
        manager = bearer(await api.user("mgr", "manager"))
        admin = bearer(await api.user("root", "admin"))
        for role in ("technician", "committee", "supervisor"):
            other = bearer(await api.user(f"u-{role}", role, sites=["demo"]))
            assert (await api.client.get(URL, headers=other)).status_code == 403

        listed = await api.client.get(URL, headers=manager)
        assert listed.status_code == 200
        entries = listed.json()
        assert [(e["device_type"], e["device_id"], e["state"]) for e in entries] == [
            ("elevator", "ghost-lift-99", "held"),
            ("gateway", "gw-spoof", "held"),
            ("gateway", "gw-b2", "held"),
        ]
        ids = {e["device_id"]: e["id"] for e in entries}
        assert entries[0]["messages"] == 3
        assert entries[0]["gateway_id"] == "gw-demo"
        assert (await api.client.get(f"{URL}?site=north", headers=manager)).json() == []
        # A page at a time: a flood of invented ids is one entry each.
        second = await api.client.get(f"{URL}?limit=1&offset=1", headers=manager)
        assert [e["device_id"] for e in second.json()] == ["gw-spoof"]
        too_many = await api.client.get(f"{URL}?limit=100000", headers=manager)
        assert too_many.status_code == 422

        blocked = await api.client.post(f"{URL}/{ids['gw-spoof']}/block", headers=admin)
        assert blocked.status_code == 200
        assert (blocked.json()["state"], blocked.json()["decided_by"]) == ("blocked", "admin:root")

        gateway = await api.client.post(f"{URL}/{ids['gw-b2']}/register", json={}, headers=manager)
        assert gateway.status_code == 200
        assert gateway.json()["state"] == "registered"

        register = f"{URL}/{ids['ghost-lift-99']}/register"
        for body, reason in (
            ({}, "registering device ghost-lift-99 needs its building and facts"),
            ({"elevator": GHOST_LIFT}, "a device needs the building it is in"),
            (
                {"building": "B1", "elevator": GHOST_LIFT, "smoke_alarm": {"name": "x"}},
                "give one of elevator, charger_cabinet, smoke_alarm, not several",
            ),
            ({"building": "B1", "elevator": GHOST_LIFT | {"floors_served": 1}}, "floors_served"),
            ({"building": "B1", "smoke_alarm": {"name": "ghost-lift-99"}}, "not a smoke_alarm"),
            ({"building": "B9", "elevator": GHOST_LIFT}, "site demo has no building B9"),
            ({"building": "../B1", "elevator": GHOST_LIFT}, "building"),
        ):
            refused = await api.client.post(register, json=body, headers=manager)
            assert refused.status_code == 422, body
            assert reason in refused.text, refused.text
        registered = await api.client.post(
            register, json={"building": "B1", "elevator": GHOST_LIFT}, headers=manager
        )
        assert registered.status_code == 200
        assert registered.json()["state"] == "registered"
        again = await api.client.post(f"{URL}/{ids['ghost-lift-99']}/block", headers=manager)
        assert again.status_code == 422
        assert "registered already" in again.text
        missing = await api.client.post(f"{URL}/987654/block", headers=manager)
        assert missing.status_code == 404

        # Decided entries leave the default list; asked for, they are there.
        assert [e["device_id"] for e in (await api.client.get(URL, headers=manager)).json()] == [
            "gw-spoof"
        ]
        decided = await api.client.get(f"{URL}?state=registered", headers=manager)
        assert {e["device_id"] for e in decided.json()} == {"ghost-lift-99", "gw-b2"}
        bad_state = await api.client.get(f"{URL}?state=forgotten", headers=manager)
        assert bad_state.status_code == 422

        async with sessions() as session:
            keys = (await known_senders(session)).keys
        assert {"demo/elevator/ghost-lift-99", "demo/gateway/gw-b2"} <= keys
        assert "demo/gateway/gw-spoof" not in keys
        car = await api.client.get("/api/v1/assets/ghost-lift-99?site=demo", headers=manager)
        assert car.status_code == 200, car.text
        assert car.json()["building"] == "B1"
