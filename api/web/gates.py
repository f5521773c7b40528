"""The page routes as served, with the gate each declares: the web counterpart of
:func:`api.policy.api_routes`, for the test that every page declares exactly one
:func:`~api.web.deps.page_allow` or :func:`~api.web.deps.page_public`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from api.web.deps import PageGate, PagePublic

__all__ = ["PageRoute", "page_routes"]


@dataclass(frozen=True, slots=True)
class PageRoute:
    path: str
    methods: frozenset[str]
    gate: PageGate | PagePublic | None  # None: none or more than one


def _gates(dependant: Dependant) -> Iterator[PageGate | PagePublic]:
    for sub in dependant.dependencies:
        if isinstance(sub.call, PageGate | PagePublic):
            yield sub.call
        yield from _gates(sub)


def page_routes(app: FastAPI) -> list[PageRoute]:
    """Every FastAPI route left out of the OpenAPI document (the pages)."""
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and not route.include_in_schema:
            gates = list(dict.fromkeys(_gates(context.dependant)))
            found.append(
                PageRoute(
                    str(context.path),
                    frozenset(context.methods or ()),
                    gates[0] if len(gates) == 1 else None,
                )
            )
    return found
