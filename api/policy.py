"""Who may call a route: every route under ``/api/v1`` declares it, once.

Declare the policy in the route's (or its router's) ``dependencies``:

    from api.policy import allow, authenticated, public

    @router.get("/work-orders", dependencies=[allow("admin", "manager", "technician")])
    async def list_orders(me: CurrentUser, ...) -> ...:      # me: api.deps.CurrentUser
        ...

    @router.get("/me", dependencies=[authenticated()])      # any role, with a valid token
    @router.get("/healthz", dependencies=[public()])         # no token needed

    # or once for a whole router (then routes must not declare another):
    router = APIRouter(prefix="/committee", dependencies=[allow("committee", "admin")])

No or a bad token answers 401 (``WWW-Authenticate: Bearer``); a valid token of a role not
listed answers 403, before the body is even validated. The gate only decides by role;
*which* records a caller sees (a resident's own requests, a technician's assigned or
unassigned orders at their sites) is up to the route, with :mod:`api.visibility`, and a
record the caller may not see answers 404 exactly as a missing one does.

:func:`route_policies` reads the declarations back from an app's route table; the
authorisation-matrix test fails for any ``/api/v1`` route without exactly one, and tries
every role on every route. The app factory also shows the roles in the OpenAPI
document as ``x-allowed-roles``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from api.deps import CurrentUser, Principal
from api.errors import Problem
from api.users import ROLES
from maintenance.domain.actors import Role

__all__ = [
    "PUBLIC",
    "Policy",
    "RoleGate",
    "RouteEntry",
    "allow",
    "api_routes",
    "authenticated",
    "policy_of",
    "public",
    "role_set",
    "route_policies",
]

PUBLIC: Final = "public"
Policy = frozenset[Role] | Literal["public"]


class RoleGate:
    """The dependency behind :func:`allow`: passes the listed roles, 403 for the rest."""

    def __init__(self, roles: frozenset[Role]) -> None:
        self.roles = roles

    def __repr__(self) -> str:
        return f"allow({', '.join(sorted(self.roles))})"

    async def __call__(self, request: Request, principal: CurrentUser) -> Principal:
        role = principal.user.role
        if role not in self.roles:
            raise Problem(
                403,
                f"{principal.user.username} ({role}) may not {request.method}"
                f" {request.url.path}; allowed roles: {', '.join(sorted(self.roles))}",
                kind="forbidden",
            )
        return principal


class _PublicGate:
    def __repr__(self) -> str:
        return "public()"

    async def __call__(self) -> None:
        return None


def role_set(*roles: Role) -> frozenset[Role]:
    """The roles a gate lets through; ValueError for none or an unknown one. The web
    pages' gate (:func:`api.web.gates.page_allow`) checks its roles with this too."""
    unknown = sorted(set(roles) - set(ROLES))
    if unknown or not roles:
        raise ValueError(f"allow() needs roles from {', '.join(ROLES)}; got {roles!r}")
    return frozenset(roles)


def allow(*roles: Role) -> Any:
    """``dependencies=[allow("manager", ...)]``: only these roles may call the route."""
    return Depends(RoleGate(role_set(*roles)))


def authenticated() -> Any:
    """Any role, as long as the token is valid."""
    return allow(*ROLES)


def public() -> Any:
    """No token needed (health checks)."""
    return Depends(_PublicGate())


def _gates(dependant: Dependant) -> Iterator[RoleGate | _PublicGate]:
    for sub in dependant.dependencies:
        if isinstance(sub.call, RoleGate | _PublicGate):
            yield sub.call
        yield from _gates(sub)


@dataclass(frozen=True, slots=True)
class RouteEntry:
    """One route as the app serves it: its full path, methods, resolved dependencies
    (router-level ones included) and declared policy (None: missing or ambiguous)."""

    path: str
    methods: frozenset[str]
    dependant: Dependant
    policy: Policy | None


def policy_of(dependant: Dependant) -> Policy | None:
    """The policy declared in a route's dependencies; None for none or more than one."""
    gates = list(dict.fromkeys(_gates(dependant)))
    if len(gates) != 1:
        return None
    gate = gates[0]
    return gate.roles if isinstance(gate, RoleGate) else PUBLIC


def api_routes(app: FastAPI) -> list[RouteEntry]:
    """Every FastAPI route of ``app`` in its OpenAPI document, through included routers,
    as it is served. The web pages (:mod:`api.web`) are not in the document: their gates
    are checked by :func:`api.web.gates.page_routes`."""
    entries = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.include_in_schema:
            dependant: Dependant = context.dependant
            entries.append(
                RouteEntry(
                    str(context.path),
                    frozenset(context.methods or ()),
                    dependant,
                    policy_of(dependant),
                )
            )
    return entries


def route_policies(app: FastAPI) -> dict[tuple[str, str], Policy | None]:
    """``{(method, path): policy}`` for every API route (None: missing or ambiguous)."""
    return {
        (method, entry.path): entry.policy
        for entry in api_routes(app)
        for method in sorted(entry.methods)
    }
