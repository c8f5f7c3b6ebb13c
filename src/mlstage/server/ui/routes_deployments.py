"""Pages of deployments: the list, and one deployment with its promote and rollback forms.

The forms send JSON to the REST API (``POST /api/v1/deployments/{name}/promote``)
from ui.js, with the session's CSRF token in ``X-CSRF-Token``: one route per
action, so roles, CSRF, the audit log and the request guards apply to the
UI exactly as to every other client. A refusal or a failure is shown on the
page with the API's message.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from mlstage.server.routers.deployments import deployment_store
from mlstage.server.ui import hooks
from mlstage.server.ui.render import page
from mlstage.serving.deployments import check_deployment_name
from mlstage.serving.sql_deployments import SqlDeploymentStore

API = "/api/v1/deployments"
Deployments = Annotated[SqlDeploymentStore, Depends(deployment_store)]
ACTIONS = {"promote": "promoted", "rollback": "rolled back"}
"""``?done=`` after an action: what the confirmation says."""


def add_routes(router: APIRouter) -> None:
    router.add_api_route("/deployments", deployments, methods=["GET"])
    router.add_api_route("/deployments/{name}", deployment, methods=["GET"])


def deployments(request: Request, store: Deployments) -> Response:
    return page(
        request, "deployments.html", section="deployments", deployments=store.list_deployments()
    )


def deployment(request: Request, name: str, store: Deployments, done: str = "") -> Response:
    """The record, its traffic, history, and the action forms (disabled when not allowed)."""
    check_deployment_name(name)
    found = store.get_deployment(name)
    return page(
        request,
        "deployment.html",
        section="deployments",
        deployment=found,
        history=list(reversed(store.get_history(name))),
        may_promote=hooks.allowed(request, "POST", f"{API}/{{name}}/promote"),
        may_rollback=hooks.allowed(request, "POST", f"{API}/{{name}}/rollback"),
        done=ACTIONS.get(done, ""),
    )
