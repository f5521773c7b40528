"""The authorisation matrix, generated from the app's own route table.

Every route must declare exactly one policy (:mod:`api.policy`); then every role, and an
anonymous caller, is tried on every route, with path parameters naming records that do
not exist and an empty JSON body. Anonymous callers get 401 on every non-public route,
roles not listed get 403, and listed roles get neither, nor any 5xx: whatever the route
then does with a missing record or an empty body, it answers with a 4xx at worst.
Routes added later are covered without touching this file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import httpx
import pytest
from api_support import bearer, running_api

from api.app import API_PREFIX, create_app
from api.policy import PUBLIC, Policy, RouteEntry, api_routes, route_policies
from api.settings import ApiSettings
from infra.local.services import InfluxInstance, MosquittoInstance
from maintenance.domain.actors import Role

# Every API here runs on SQLite and on PostgreSQL (api_db in tests/conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("api_db")]

ROLES: tuple[Role, ...] = get_args(Role)
ANONYMOUS = "anonymous"
_PLACEHOLDER = re.compile(r"\{(\w+)(?::\w+)?\}")
_NUMERIC = (int, float)


def concrete_path(route: RouteEntry) -> str:
    """The route's path with every parameter naming a record that does not exist."""
    numeric = {
        param.name
        for param in route.dependant.path_params
        if param.field_info.annotation in _NUMERIC
    }
    return _PLACEHOLDER.sub(
        lambda m: "987654321" if m.group(1) in numeric else "does-not-exist-0", route.path
    )


def test_every_route_declares_exactly_one_policy() -> None:
    app = create_app(ApiSettings(data_dir=Path("unused")))
    undeclared = sorted(
        f"{method} {path}"
        for (method, path), policy in route_policies(app).items()
        if policy is None
    )
    assert not undeclared, (
        "routes without exactly one policy (add dependencies=[allow(...)] or [public()]): "
        + ", ".join(undeclared)
    )
    assert any(path.startswith(API_PREFIX) for _method, path in route_policies(app))


def test_policies_are_read_through_routers_and_a_missing_or_double_one_is_caught() -> None:
    from fastapi import APIRouter

    from api.policy import allow, public
    from api.routes import ROUTERS

    stray = APIRouter()
    committee_only = APIRouter(prefix="/club", dependencies=[allow("committee")])

    @stray.get("/stray")
    async def undeclared() -> None:
        return None

    @stray.get("/twice", dependencies=[allow("admin"), public()])
    async def ambiguous() -> None:
        return None

    @committee_only.get("/minutes")
    async def minutes() -> None:
        return None

    app = create_app(
        ApiSettings(data_dir=Path("unused")), routers=[*ROUTERS, stray, committee_only]
    )
    policies = route_policies(app)
    assert policies[("GET", f"{API_PREFIX}/stray")] is None
    assert policies[("GET", f"{API_PREFIX}/twice")] is None
    assert policies[("GET", f"{API_PREFIX}/club/minutes")] == frozenset({"committee"})
    assert policies[("GET", "/healthz")] == PUBLIC
    documented = app.openapi()["paths"]
    assert documented[f"{API_PREFIX}/club/minutes"]["get"]["x-allowed-roles"] == ["committee"]
    assert documented["/healthz"]["get"]["x-allowed-roles"] == [PUBLIC]


def expectation(policy: Policy, caller: str) -> str:
    if policy == PUBLIC:
        return "allowed"
    if caller == ANONYMOUS:
        return "401"
    return "allowed" if caller in policy else "403"


def verdict(response: httpx.Response, expected: str) -> str | None:
    """None when the answer fits the expectation, else what is wrong."""
    status = response.status_code
    if status >= 500:
        return f"{status} (never 5xx): {response.text[:200]}"
    if expected == "allowed":
        return (
            f"{status}, allowed role refused: {response.text[:200]}"
            if status in (401, 403)
            else None
        )
    if str(status) != expected:
        return f"{status}, expected {expected}: {response.text[:200]}"
    if response.headers.get("content-type") != "application/problem+json":
        return f"{status} without problem+json"
    if status == 401 and not response.headers.get("www-authenticate", "").startswith("Bearer"):
        return "401 without a Bearer challenge"
    return None


async def test_every_role_on_every_route(
    tmp_path: Path, mosquitto: MosquittoInstance, influxdb: InfluxInstance
) -> None:
    # Real broker and InfluxDB, so /readyz and telemetry routes answer as in service.
    async with running_api(
        tmp_path, mqtt_host=mosquitto.host, mqtt_port=mosquitto.port, influx_url=influxdb.url
    ) as api:
        tokens: dict[str, str] = {
            role: await api.user(
                f"matrix-{role}",
                role,
                sites=["demo"] if role == "technician" else (),
                unit="3-201" if role == "resident" else None,
            )
            for role in ROLES
        }
        failures: list[str] = []
        tried = 0
        for route in api_routes(api.app):
            policy = route.policy
            assert policy is not None, f"{route.path} has no policy"
            path = concrete_path(route)
            for method in sorted(route.methods):
                for caller in (ANONYMOUS, *ROLES):
                    headers = bearer(tokens[caller]) if caller in tokens else {}
                    body: dict[str, object] | None = (
                        {} if method in ("POST", "PUT", "PATCH") else None
                    )
                    response = await api.client.request(method, path, headers=headers, json=body)
                    tried += 1
                    problem = verdict(response, expectation(policy, caller))
                    if problem is not None:
                        failures.append(f"{method} {path} as {caller}: {problem}")
        assert not failures, f"{len(failures)} of {tried} calls wrong:\n" + "\n".join(failures)
        assert tried >= 7 * len(ROLES)
