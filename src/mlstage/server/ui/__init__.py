"""The platform's web UI: server-rendered pages at ``/``, a little hand-written JavaScript.

``build_router()`` returns every page and asset route; ``create_app``
includes it. Pages depend on ``require_principal`` like the API, so the
app's fail-closed check covers them; the sign-in page and the static files
are on the public list (``mlstage.server.auth.PUBLIC_PATHS``), so a signed-out
browser can load them. Pages read the same stores as the REST API; charts
fetch metric histories from the API's JSON routes.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from mlstage.server.auth import require_principal
from mlstage.server.ui import (
    assets,
    routes_data,
    routes_deployments,
    routes_features,
    routes_governance,
    routes_monitoring,
    routes_pipelines,
    routes_registry,
    routes_tracking,
)
from mlstage.server.ui.render import page
from mlstage.server.ui.routing import PageRoute

LOGIN_ERRORS = {
    "failed": "Wrong name or password.",
    "throttled": "Too many failed attempts: wait a few minutes, then try again.",
}


def build_router() -> APIRouter:
    """The UI's pages (for the caller), and its sign-in page and files (for anyone)."""
    pages = APIRouter(dependencies=[Depends(require_principal)], route_class=PageRoute)
    routes_tracking.add_routes(pages)
    routes_registry.add_routes(pages)
    routes_deployments.add_routes(pages)
    routes_monitoring.add_routes(pages)
    routes_data.add_routes(pages)
    routes_features.add_routes(pages)
    routes_pipelines.add_routes(pages)
    routes_governance.add_routes(pages)
    public = APIRouter(route_class=PageRoute)
    _public_routes(public)
    router = APIRouter(include_in_schema=False)
    router.include_router(public)
    router.include_router(pages)
    return router


def _public_routes(router: APIRouter) -> None:
    @router.get("/login")
    def login(request: Request, next: str = "/", error: str = "") -> Response:
        """The sign-in form; ``POST /login`` (the auth router) checks it and redirects."""
        target = next if next.startswith("/") and not next.startswith("//") else "/"
        return page(request, "login.html", next=target, error=LOGIN_ERRORS.get(error, ""))

    @router.get(assets.STATIC_PREFIX + "/plotly-{version}.min.js")
    def plotly(version: str) -> Response:
        return assets.plotly_response(version)

    @router.get(assets.STATIC_PREFIX + "/{name}")
    async def static(request: Request, name: str) -> Response:
        return assets.static_response(request, name)


__all__ = ["build_router"]
