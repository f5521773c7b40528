"""The API's Swagger UI at /docs on a site LAN: no way out to the internet, and the page
still shows every operation (its script and style come from the server itself)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from conftest import WebServer
from playwright.sync_api import Page, Route, expect


def test_swagger_ui_renders_the_operations_with_no_network(
    web: WebServer, desktop: Page, shoot: Callable[[Page, str], Path]
) -> None:
    ours = web.url("/")
    elsewhere: list[str] = []

    def offline(route: Route) -> None:
        if route.request.url.startswith(ours):
            route.continue_()
        else:  # what a LAN without internet does to a CDN request
            elsewhere.append(route.request.url)
            route.abort()

    desktop.route("**/*", offline)
    desktop.goto(web.url("/docs"))
    # Swagger UI parses a large document: give a loaded machine time.
    expect(desktop.locator(".swagger-ui .info .title")).to_contain_text(
        "estatewatch", timeout=30_000
    )
    orders = desktop.locator(".opblock", has_text="/api/v1/work-orders/{order_id}/resolve")
    expect(orders.first).to_be_visible()
    documented = len(desktop.request.get(web.url("/openapi.json")).json()["paths"])
    assert desktop.locator(".opblock-summary-path").count() >= documented
    orders.first.locator(".opblock-summary").click()  # an operation opens, with its body
    expect(orders.first.locator(".opblock-body")).to_be_visible()
    shoot(desktop, "api-docs")
    assert elsewhere == []
