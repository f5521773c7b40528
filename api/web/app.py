"""Mounting the web app: catalogues and templates, static files, page routers, and the
error pages. Called by :func:`api.app.create_app`; reads files only (the catalogues are
compiled here, so a broken ``.po`` stops the command before the server starts).

Static files: ``/static/<file>`` from ``api/web/static``; ``/static/vendor/<file>`` from
the npm packages (:data:`VENDOR_FILES`), which ``make setup`` installs with ``npm ci``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Final

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.routing import Route

from api.settings import ApiSettings
from api.web.deps import WebState
from api.web.errors import install_page_errors
from api.web.i18n import load_catalogues
from api.web.templating import Templates
from maintenance.config_files import load_checklist

__all__ = ["STATIC_DIR", "VENDOR_FILES", "install_web"]

log = logging.getLogger(__name__)

STATIC_DIR: Final = Path(__file__).parent / "static"
_REPO_NODE_MODULES: Final = Path(__file__).resolve().parents[2] / "node_modules"

# The only files served from node_modules: name under /static/vendor -> path in it.
VENDOR_FILES: Final = {
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
    "sse.min.js": "htmx-ext-sse/dist/sse.min.js",
    "uPlot.iife.min.js": "uplot/dist/uPlot.iife.min.js",
    "uPlot.min.css": "uplot/dist/uPlot.min.css",
    # Swagger UI at /docs (api.app), from here rather than a CDN: a site LAN has none.
    "swagger-ui-bundle.js": "swagger-ui-dist/swagger-ui-bundle.js",
    "swagger-ui.css": "swagger-ui-dist/swagger-ui.css",
    "swagger-favicon.png": "swagger-ui-dist/favicon-32x32.png",
}
_CACHE: Final = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}


def _vendor_route(directory: Path) -> Route:
    async def vendor(request: Request) -> Response:
        name = request.path_params["name"]
        relative = VENDOR_FILES.get(name)
        if relative is None or not (directory / relative).is_file():
            return Response("not found", status_code=404, media_type="text/plain")
        return FileResponse(directory / relative, headers=_CACHE)

    return Route("/static/vendor/{name}", vendor, methods=["GET", "HEAD"])


def install_web(app: FastAPI, settings: ApiSettings) -> None:
    from api.web.routes import PAGE_ROUTERS

    vendor_dir = settings.vendor_dir or _REPO_NODE_MODULES
    missing = [name for name, path in VENDOR_FILES.items() if not (vendor_dir / path).is_file()]
    if missing:
        log.warning(
            "front-end files missing in %s (%s): run 'make setup' (npm ci);"
            " pages work without their scripts",
            vendor_dir,
            ", ".join(missing),
        )
    # The shipped checklist says a defect order's item in Chinese (order titles are stored
    # in English); a site's own extra items show as stored.
    checklist = load_checklist()
    app.state.web = WebState(Templates(load_catalogues(), checklist.items), vendor_dir)
    app.router.routes.append(_vendor_route(vendor_dir))
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router in PAGE_ROUTERS:
        app.include_router(router)
    install_page_errors(app)
