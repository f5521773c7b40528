"""Elevator inspections over the JSON API: list each car's certificate, record a new one
(the expiry's work order cancelled), and bad input answered naming the field."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from api_support import SettableClock, bearer, running_api

from maintenance import services
from maintenance.db.uow import SqlUnitOfWork
from maintenance.sites import load_site_file

# Every API here runs on SQLite and on PostgreSQL (api_db in tests/conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("api_db")]

DEMO = Path(__file__).parents[2] / "infra" / "sites" / "demo-compound.yaml"
NOW = datetime(2026, 12, 7, 3, tzinfo=UTC)  # 11:00 in Shanghai


async def test_record_and_list_inspections_with_roles_and_bad_input(tmp_path: Path) -> None:
    async with running_api(tmp_path, SettableClock(NOW)) as api:
        sessions = api.services.sessions
        async with SqlUnitOfWork(sessions) as uow:
            await uow.sites.import_file(
                load_site_file(DEMO), actor="cli:test", at=NOW, source="demo"
            )
            await uow.commit()
        await services.check_inspections(SqlUnitOfWork(sessions), api.services.clock)
        manager = bearer(await api.user("mgr", "manager"))
        elsewhere = bearer(await api.user("tech", "technician", sites=["other"]))

        listed = await api.client.get("/api/v1/inspections?site=demo", headers=manager)
        assert listed.status_code == 200
        cars = {car["device_id"]: car for car in listed.json()}
        assert cars["elev-06"]["status"] == "expired"
        assert cars["elev-06"]["valid_until"] == "2026-10-27"
        assert cars["elev-06"]["days_left"] == -41
        assert cars["elev-04"]["status"] == "valid"
        # A technician sees only the cars of the sites they work at.
        hidden = await api.client.get("/api/v1/inspections", headers=elsewhere)
        assert hidden.json() == []

        body = {
            "site": "demo",
            "device_id": "elev-06",
            "inspected_on": "2026-12-04",
            "certificate_number": "TSX-2026-1204",
        }
        refused = await api.client.post("/api/v1/inspections", json=body, headers=elsewhere)
        assert refused.status_code == 403
        for change, reason in (
            ({"inspected_on": "2026-13-04"}, "inspected_on"),
            (
                {"valid_until": "2026-12-01"},
                "valid_until 2026-12-01 is before inspected_on 2026-12-04",
            ),
            ({"inspected_on": "2026-12-08"}, "inspected_on 2026-12-08 is in the future"),
        ):
            bad = await api.client.post("/api/v1/inspections", json=body | change, headers=manager)
            assert bad.status_code == 422, change
            assert reason in bad.text
        unknown = await api.client.post(
            "/api/v1/inspections", json=body | {"device_id": "elev-99"}, headers=manager
        )
        assert unknown.status_code == 404

        recorded = await api.client.post("/api/v1/inspections", json=body, headers=manager)
        assert recorded.status_code == 201
        answer = recorded.json()
        assert answer["inspection"]["status"] == "valid"
        assert answer["inspection"]["valid_until"] == "2027-12-03"
        assert answer["inspection"]["certificate_number"] == "TSX-2026-1204"
        order_id = answer["cancelled_work_order"]
        assert order_id is not None
        order = await api.client.get(f"/api/v1/work-orders/{order_id}", headers=manager)
        assert order.json()["status"] == "cancelled"
        again = await api.client.post("/api/v1/inspections", json=body, headers=manager)
        assert again.status_code == 422
        assert "an inspection on 2026-12-04 is already recorded" in again.text
