"""Authentication and error answers of the API, on a real SQLite database.

Tokens are hashed at rest, expire by the injected clock, are revoked at once (elsewhere:
within ``VERIFIED_FOR``); 401 and 403
are told apart; every error is problem+json and none leaks a traceback.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from api_support import SettableClock, bearer, running_api
from sqlalchemy import text

from api.auth import VERIFIED_FOR
from api.errors import PROBLEM_MEDIA_TYPE
from api.policy import allow
from api.routes import ROUTERS
from api.users import revoke_token
from infra.local.services import InfluxInstance, MosquittoInstance
from maintenance.db.audit import history
from maintenance.db.uow import SqlUnitOfWork

# Every API here runs on SQLite and on PostgreSQL (api_db in tests/conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("api_db")]


def assert_problem(
    response: httpx.Response, status: int, kind: str | None = None
) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert body["instance"] == response.request.url.path
    assert isinstance(body["detail"], str)
    assert body["detail"]
    if kind is not None:
        assert body["type"] == f"urn:estatewatch:problem:{kind}"
    return body


async def test_a_token_is_stored_only_as_its_hash_and_shown_once(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        admin = await api.user("root", "admin")
        created = await api.client.post(
            "/api/v1/users",
            json={"username": "wang", "role": "technician", "sites": ["demo"]},
            headers=bearer(admin),
        )
        assert created.status_code == 201, created.text
        issued = await api.client.post(
            "/api/v1/users/wang/tokens", json={"label": "phone"}, headers=bearer(admin)
        )
        assert issued.status_code == 201, issued.text
        secret = issued.json()["token"]
        assert secret.startswith("ew_")
        assert len(secret) == 3 + 43

        async with api.services.sessions() as session:
            rows = (await session.execute(text("SELECT * FROM api_token"))).all()
        stored = [str(value) for row in rows for value in row]
        assert not any(secret in value or secret[3:] in value for value in stored)
        assert hashlib.sha256(secret.encode()).hexdigest() in stored

        listed = await api.client.get("/api/v1/users/wang/tokens", headers=bearer(admin))
        assert listed.status_code == 200
        assert [t["label"] for t in listed.json()] == ["phone"]
        assert secret not in listed.text

        me = await api.client.get("/api/v1/me", headers=bearer(secret))
        assert me.status_code == 200
        assert me.json() | {"display_name": None} == {
            "username": "wang",
            "display_name": None,
            "role": "technician",
            "sites": ["demo"],
            "building": None,
            "unit": None,
            "active": True,
        }
        async with api.services.sessions() as session:
            trail = await history(session, "user", "wang")
            token_trail = await history(session, "api_token", str(issued.json()["id"]))
        assert [(e.action, e.actor) for e in trail] == [("user.created", "admin:root")]
        assert [(e.action, e.actor) for e in token_trail] == [("api_token.created", "admin:root")]


async def test_a_token_expires_by_the_injected_clock(tmp_path: Path) -> None:
    clock = SettableClock()
    async with running_api(tmp_path, clock) as api:
        token = await api.user("li", "resident", unit="3-201", expires_in=timedelta(hours=1))
        clock.now += timedelta(minutes=59, seconds=59)
        assert (await api.client.get("/api/v1/me", headers=bearer(token))).status_code == 200
        async with api.services.sessions() as session:
            last_used = await session.scalar(text("SELECT last_used_at FROM api_token"))
        assert str(last_used).startswith("2026-11-24 09:59:59")
        clock.now += timedelta(seconds=1)
        refused = await api.client.get("/api/v1/me", headers=bearer(token))
        assert_problem(refused, 401, "invalid-token")
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]


async def test_a_revoked_token_is_refused_at_once_and_the_revocation_audited(
    tmp_path: Path,
) -> None:
    async with running_api(tmp_path) as api:
        admin = await api.user("root", "admin")
        token = await api.user("wang", "technician", sites=["demo"])
        assert (await api.client.get("/api/v1/me", headers=bearer(token))).status_code == 200
        tokens = (await api.client.get("/api/v1/users/wang/tokens", headers=bearer(admin))).json()
        token_id = tokens[0]["id"]

        revoked = await api.client.delete(f"/api/v1/tokens/{token_id}", headers=bearer(admin))
        assert revoked.status_code == 204
        assert_problem(await api.client.get("/api/v1/me", headers=bearer(token)), 401)
        again = await api.client.delete(f"/api/v1/tokens/{token_id}", headers=bearer(admin))
        assert again.status_code == 204
        assert_problem(
            await api.client.delete("/api/v1/tokens/424242", headers=bearer(admin)),
            404,
            "not-found",
        )
        async with api.services.sessions() as session:
            trail = await history(session, "api_token", str(token_id))
        assert [e.action for e in trail] == ["api_token.created", "api_token.revoked"]


async def test_a_token_revoked_elsewhere_is_refused_within_the_stated_bound(
    tmp_path: Path,
) -> None:
    """The command line (or another API process) revokes a token this API has just
    accepted: believed from memory for at most VERIFIED_FOR, refused from then on."""
    clock = SettableClock()
    async with running_api(tmp_path, clock) as api:
        token = await api.user("wang", "technician", sites=["demo"])
        assert (await api.client.get("/api/v1/me", headers=bearer(token))).status_code == 200
        await revoke_token(SqlUnitOfWork(api.services.sessions), 1, actor="cli:x", at=clock())
        clock.now += VERIFIED_FOR - timedelta(milliseconds=1)
        assert (await api.client.get("/api/v1/me", headers=bearer(token))).status_code == 200
        clock.now += timedelta(milliseconds=1)
        assert_problem(await api.client.get("/api/v1/me", headers=bearer(token)), 401)


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic cm9vdDpyb290", "Bearer", "Bearer ew_not-a-real-token", "Bearer not-ours", "ew_x"],
)
async def test_no_or_a_bad_token_is_401_with_a_bearer_challenge(
    tmp_path: Path, authorization: str | None
) -> None:
    async with running_api(tmp_path) as api:
        headers = {"Authorization": authorization} if authorization else {}
        response = await api.client.get("/api/v1/users", headers=headers)
        body = assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith('Bearer realm="estatewatch"')
        assert "token" in str(body["detail"]).lower()


async def test_a_valid_token_of_the_wrong_role_is_403_before_the_body_is_read(
    tmp_path: Path,
) -> None:
    async with running_api(tmp_path) as api:
        resident = await api.user("li", "resident", unit="3-201")
        response = await api.client.post(
            "/api/v1/users", content=b"{not json", headers=bearer(resident)
        )
        body = assert_problem(response, 403, "forbidden")
        assert "li (resident) may not POST /api/v1/users" in str(body["detail"])
        assert "allowed roles: admin" in str(body["detail"])
        # The same caller may read their own record.
        assert (await api.client.get("/api/v1/me", headers=bearer(resident))).status_code == 200


async def test_errors_are_problem_json_and_name_the_field(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        admin = bearer(await api.user("root", "admin"))
        invalid = await api.client.post(
            "/api/v1/users", json={"username": "x y", "role": "king"}, headers=admin
        )
        body = assert_problem(invalid, 422, "validation")
        fields = {(e["field"], e["where"]) for e in body["errors"]}  # type: ignore[attr-defined]
        assert fields == {("username", "body"), ("role", "body")}
        assert "role:" in str(body["detail"])
        assert "username:" in str(body["detail"])

        malformed = await api.client.post(
            "/api/v1/users",
            content=b'{"username": ',
            headers=admin | {"Content-Type": "application/json"},
        )
        assert_problem(malformed, 400, "malformed-body")

        resident_without_unit = await api.client.post(
            "/api/v1/users", json={"username": "li", "role": "resident"}, headers=admin
        )
        assert "unit" in str(assert_problem(resident_without_unit, 422)["detail"])

        bad_path = await api.client.delete("/api/v1/tokens/abc", headers=admin)
        assert {e["field"] for e in assert_problem(bad_path, 422)["errors"]} == {"token_id"}  # type: ignore[attr-defined]

        made = await api.client.post(
            "/api/v1/users", json={"username": "li", "role": "resident", "unit": "1"}, headers=admin
        )
        assert made.status_code == 201
        twice = await api.client.post(
            "/api/v1/users", json={"username": "li", "role": "resident", "unit": "1"}, headers=admin
        )
        assert "li already exists" in str(assert_problem(twice, 409, "conflict")["detail"])

        huge = await api.client.post(
            "/api/v1/users", json={"username": "a" * (1 << 20), "role": "admin"}, headers=admin
        )
        assert_problem(huge, 413, "too-large")

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
            yield b'{"username": "'
            for _ in range(300):
                yield b"a" * 4096
            yield b'", "role": "admin"}'

        chunked = await api.client.post(
            "/api/v1/users", content=chunks(), headers=admin | {"Content-Type": "application/json"}
        )
        assert_problem(chunked, 413, "too-large")

        assert_problem(await api.client.get("/api/v1/nowhere"), 404)
        assert_problem(await api.client.put("/api/v1/me", headers=admin), 405)
        too_big = await api.client.get("/api/v1/users/" + "a" * 5000 + "/tokens", headers=admin)
        assert_problem(too_big, 422)


async def test_an_unexpected_failure_is_a_generic_500_and_the_traceback_is_only_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from fastapi import APIRouter

    boom = APIRouter()

    @boom.get("/boom", dependencies=[allow("admin")])
    async def explode() -> None:
        raise RuntimeError("connection string postgresql://app:hunter2@db/prod")

    async with running_api(tmp_path, routers=[*ROUTERS, boom]) as api:
        admin = await api.user("root", "admin")
        with caplog.at_level(logging.ERROR, logger="api.errors"):
            response = await api.client.get("/api/v1/boom", headers=bearer(admin))
        body = assert_problem(response, 500, "internal")
        assert "hunter2" not in response.text
        assert "Traceback" not in response.text
        assert body["detail"] == "internal error; it has been logged"
        assert any(r.exc_info and "hunter2" in str(r.exc_info[1]) for r in caplog.records), (
            "the traceback is logged"
        )


async def test_healthz_is_public_and_readyz_names_what_is_down(
    tmp_path: Path, mosquitto: MosquittoInstance, influxdb: InfluxInstance
) -> None:
    async with running_api(
        tmp_path, mqtt_host=mosquitto.host, mqtt_port=mosquitto.port, influx_url=influxdb.url
    ) as api:
        assert (await api.client.get("/healthz")).json() == {"status": "ok"}
        ready = await api.client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert set(ready.json()["checks"]) == {"database", "broker", "influxdb"}

    # A broker port nothing listens on (port 1 is privileged and unused here).
    async with running_api(tmp_path, mqtt_port=1, influx_url=influxdb.url) as api:
        down = await api.client.get("/readyz")
        body = assert_problem(down, 503, "not-ready")
        assert body["detail"] == "not ready: broker unavailable"
        checks = body["checks"]
        assert isinstance(checks, dict)
        assert {name: check["ok"] for name, check in checks.items()} == {
            "database": True,
            "broker": False,
            "influxdb": True,
        }
