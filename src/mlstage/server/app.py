"""The platform server's app factory.

``create_app(settings)`` wires the routers, the error mapping, the body
limits and the tracking store chosen by the server's own settings. It
refuses to build an app with a route that neither is public nor checks the
caller (fail closed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from mlstage import __version__
from mlstage.config import Settings, get_settings
from mlstage.server import ui
from mlstage.server.auth import install_auth, unprotected_routes
from mlstage.server.deps import StoreProvider
from mlstage.server.errors import install_error_handlers
from mlstage.server.limits import BodyLimitMiddleware, LimitRule
from mlstage.server.responses import NanJSONResponse
from mlstage.server.routers import (
    artifacts,
    deployments,
    feedback,
    health,
    prediction_logs,
    registry,
    tracking,
)
from mlstage.server.scoping import check_object_project

MAX_JSON_BODY_BYTES = 16 * 1024 * 1024
"""Limit of any request body but artifact uploads: a full log-batch is well under 1 MiB."""
"""Limit of one artifact upload (held in memory while it is hashed and stored)."""


def create_app(
    settings: Settings | None = None,
    *,
    max_body_bytes: int = MAX_JSON_BODY_BYTES,
    max_upload_bytes: int | None = None,
) -> FastAPI:
    """A new server app over the database and artifact root of ``settings``.

    ``max_upload_bytes`` defaults to the ``server_max_upload_bytes`` setting.
    """
    settings = settings or get_settings()
    if max_upload_bytes is None:
        max_upload_bytes = settings.server_max_upload_bytes
    app = FastAPI(
        title="mlstage",
        version=__version__,
        summary="The mlstage platform server: experiment tracking and model registry REST API.",
        default_response_class=NanJSONResponse,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.settings = settings
    app.state.stores = StoreProvider(settings)
    app.state.check_object_project = check_object_project
    app.state.audit_snapshot = _snapshot_taker(app)
    install_error_handlers(app)
    uploads = [
        LimitRule("PUT", artifacts.UPLOAD_PATH, max_upload_bytes),
        LimitRule("POST", prediction_logs.UPLOAD_PATH, max_upload_bytes),
    ]
    app.add_middleware(BodyLimitMiddleware, default=max_body_bytes, rules=uploads)
    app.include_router(health.router)
    app.include_router(tracking.router)
    app.include_router(artifacts.build_router())
    app.include_router(registry.build_router())
    app.include_router(deployments.build_router())
    app.include_router(prediction_logs.build_router())
    app.include_router(feedback.build_router())
    app.include_router(ui.build_router())  # the web UI at /, last: its paths are the widest
    install_auth(app, settings)
    open_routes = unprotected_routes(app)
    if open_routes:
        raise RuntimeError(
            "routes without the require_principal dependency and not in PUBLIC_PATHS: "
            + ", ".join(open_routes)
        )
    return app


def _snapshot_taker(app: FastAPI) -> Callable[[str, str], dict[str, Any] | None]:
    """What the audit log records of an object before and after a change."""

    def take(object_type: str, object_id: str) -> dict[str, Any] | None:
        from mlstage.governance.snapshots import snapshot

        with app.state.stores.tracking().db.read() as conn:
            return snapshot(conn, object_type, object_id)

    return take
