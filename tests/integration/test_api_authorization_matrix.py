"""The authorisation matrix, generated from the app's own route table.

Every route must declare exactly one policy (:mod:`api.policy`); then every role, and an
anonymous caller, is tried on every route, with path parameters naming records that do
not exist and an empty JSON body. Anonymous callers get 401 on every non-public route,
roles not listed get 403, and listed roles get neither, nor any 5xx: whatever the route
then does with a missing record or an empty body, it answers with a 4xx at worst.
Routes added later are covered without touching this file.

Then creating orders, across sites and for assets that are unknown or at another site
than the order: each refused with its own answer and nothing written; and a 409 for an
order already open names that order only to a caller who may see it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest
from api_support import bearer, running_api
from register_support import register_devices
from sqlalchemy import select

from api.app import API_PREFIX, create_app
from api.policy import PUBLIC, Policy, RouteEntry, api_routes, route_policies
from api.settings import ApiSettings
from infra.local.services import InfluxInstance, MosquittoInstance
from maintenance.db.tables import AuditRow
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


# -- creating orders: whose site, which asset, and what a refusal may say -----------------

ORDERS = "/api/v1/work-orders"
DEMO_CAR, NORTH_CAR = "demo/elevator/elev-01", "north/elevator/elev-09"

# (caller, site, asset, status, problem kind): each refused, and nothing written.
REFUSED_ORDERS = [
    # Another site's elevator: refused before anything is looked up, so the answer says
    # nothing of that site's register either (a "ghost" there gets the same 403).
    ("tech-north", "demo", DEMO_CAR, 403, "not-permitted"),
    ("tech-north", "demo", "demo/elevator/ghost-lift-99", 403, "not-permitted"),
    ("tech-north", "north", DEMO_CAR, 422, "asset-site-mismatch"),
    ("tech-north", "north", "north/elevator/ghost-lift-99", 422, "asset-unknown"),
    ("mgr", "demo", "demo/elevator/ghost-lift-99", 422, "asset-unknown"),
    ("mgr", "demo", "demo/charger/elev-01", 422, "asset-unknown"),
    ("mgr", "demo", NORTH_CAR, 422, "asset-site-mismatch"),
    ("mgr", "north", DEMO_CAR, 422, "asset-site-mismatch"),
    ("mgr", "demo", "elev-01", 422, "asset-malformed"),
    ("mgr", "demo", "demo/building/B3", 422, "asset-malformed"),
]


def order_body(site: str, asset: str, fault_kind: str = "door") -> dict[str, str]:
    return {
        "title": "Lift door slow",
        "site": site,
        "asset": asset,
        "category": "elevator",
        "fault_kind": fault_kind,
        "priority": "P1",
    }


async def test_orders_across_sites_and_for_unknown_or_misplaced_assets_change_nothing(
    tmp_path: Path,
) -> None:
    async with running_api(tmp_path) as api:
        tokens = {
            "mgr": await api.user("mgr", "manager"),
            "tech-north": await api.user("tech-north", "technician", sites=["north"]),
            "tech-demo": await api.user("tech-demo", "technician", sites=["demo"]),
        }
        await register_devices(api.services.sessions, DEMO_CAR, NORTH_CAR)

        async def post(who: str, body: dict[str, str]) -> httpx.Response:
            return await api.client.post(ORDERS, json=body, headers=bearer(tokens[who]))

        async def every_order() -> list[str]:
            page = await api.client.get(ORDERS, headers=bearer(tokens["mgr"]))
            return [item["id"] for item in page.json()["items"]]

        async def audit_entries() -> int:
            async with api.services.sessions() as session:
                return len((await session.scalars(select(AuditRow.id))).all())

        audited = await audit_entries()
        wrong: list[str] = []
        for who, site, asset, status, kind in REFUSED_ORDERS:
            answer = await post(who, order_body(site, asset))
            body = answer.json()
            if (answer.status_code, body.get("type")) != (
                status,
                f"urn:estatewatch:problem:{kind}",
            ):
                wrong.append(f"{who} {site} {asset}: {answer.status_code} {answer.text[:200]}")
        assert not wrong, "\n".join(wrong)
        assert await every_order() == []
        assert await audit_entries() == audited
        mismatch = (await post("mgr", order_body("demo", NORTH_CAR))).json()
        assert mismatch["errors"][0]["field"] == "asset"

        # The same request from the car's own site's technician is taken, and numbered
        # as the first order: the refused ones left no number used either.
        made = await post("tech-demo", order_body("demo", DEMO_CAR))
        assert made.status_code == 201, made.text
        first = made.json()["id"]
        assert first.endswith("-000001")
        # Already open: a cross-site caller still gets the 403, not a 409 telling them so.
        again = await post("tech-north", order_body("demo", DEMO_CAR))
        assert again.status_code == 403, again.text
        assert first not in again.text
        assert await every_order() == [first]
        assert await audit_entries() == audited + 1


async def test_already_open_names_the_order_only_to_whom_may_see_it(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        tokens = {
            "mgr": await api.user("mgr", "manager"),
            "tech-demo": await api.user("tech-demo", "technician", sites=["demo"]),
            "tech-demo-2": await api.user("tech-demo-2", "technician", sites=["demo"]),
            "li": await api.user("li", "resident", sites=["demo"], unit="3-201"),
            "wu": await api.user("wu", "resident", sites=["demo"], unit="3-202"),
        }
        await register_devices(api.services.sessions, DEMO_CAR)

        async def post(who: str, path: str, body: dict[str, Any]) -> httpx.Response:
            return await api.client.post(path, json=body, headers=bearer(tokens[who]))

        made = await post("mgr", ORDERS, order_body("demo", DEMO_CAR))
        order = made.json()["id"]
        await post("mgr", f"{ORDERS}/{order}/assign", {"assignee": "tech-demo-2"})
        # A technician of the site who is not on it does not see it: "already open", no id.
        hidden = await post("tech-demo", ORDERS, order_body("demo", DEMO_CAR))
        assert hidden.status_code == 409, hidden.text
        assert order not in hidden.text
        assert hidden.json()["detail"].startswith("an order is already open for door on")
        for who in ("mgr", "tech-demo-2"):
            seen = await post(who, ORDERS, order_body("demo", DEMO_CAR))
            assert seen.status_code == 409, seen.text
            assert order in seen.json()["detail"]

        # Residents: a neighbour's request for the same place is not theirs to see.
        light = {
            "title": "Light out",
            "place": "stairwell 5F",
            "category": "lighting",
            "building": "B3",
        }
        mine = await post("li", "/api/v1/requests", light)
        assert mine.status_code == 201, mine.text
        neighbour = await post("wu", "/api/v1/requests", light)
        assert neighbour.status_code == 409, neighbour.text
        assert mine.json()["id"] not in neighbour.text
        again = await post("li", "/api/v1/requests", light)
        assert again.status_code == 409
        assert mine.json()["id"] in again.json()["detail"]
