"""The deployments REST API under ``/api/v1/deployments``.

Serving replicas read their deployment here and report load failures; the
CLI and the UI change it. The deployment name in the URL is checked before
anything else runs, a percent-encoded URL is refused (a valid name never
needs encoding), and a new record's fields are checked before the database
opens, with the store's own messages. Who made a change is the
authenticated principal; the body's ``actor`` is recorded only while auth is
off. Handlers are plain ``def`` (the store is synchronous), each one store
call, so errors match the SQL store's.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from mlstage.errors import InvalidInput
from mlstage.models.names import check_model_name, check_version
from mlstage.server.auth import Principal, require_principal
from mlstage.server.deps import tracking_store
from mlstage.server.responses import NanJSONResponse, rendered
from mlstage.server.schemas import Actor, Deploy, DeploymentError, DeploymentHistory, DeploymentList
from mlstage.serving.deployments import (
    Deployment,
    check_deployment_name,
    check_environment,
    check_strategy,
)
from mlstage.serving.sql_deployments import SqlDeploymentStore


async def deployment_store(request: Request) -> SqlDeploymentStore:
    """Dependency: deployments on the server's own database, next to its registry."""
    state = request.app.state
    store: SqlDeploymentStore | None = getattr(state, "deployments", None)
    if store is None:
        tracking = await tracking_store(request)
        store = SqlDeploymentStore(tracking.db)
        state.deployments = store
    return store


def _deployment_name(request: Request, name: str) -> str:
    """The ``{name}`` of the URL, valid and written as it is."""
    check_deployment_name(name)
    raw = request.scope.get("raw_path")
    if isinstance(raw, bytes) and b"%" in raw:
        raise InvalidInput(
            f"the deployment URL {raw.decode('latin-1')[:200]!r} is percent-encoded: "
            "deployment names are written as they are"
        )
    return name


def _new_record(body: Deploy) -> Deploy:
    """Checks the store would make, in its order, before the database is opened."""
    check_model_name(body.model)
    check_environment(body.environment)
    check_version(body.primary_version)
    candidate = None if body.candidate_version is None else check_version(body.candidate_version)
    check_strategy(body.strategy, candidate, body.weight)
    return body


Deployments = Annotated[SqlDeploymentStore, Depends(deployment_store)]
Caller = Annotated[Principal, Depends(require_principal)]
Name = Annotated[str, Depends(_deployment_name)]
NewRecord = Annotated[Deploy, Depends(_new_record)]


def _actor(caller: Principal, claimed: str) -> str:
    """The authenticated caller, else what the client says (auth is off)."""
    return caller.name if caller.authenticated else claimed


def build_router() -> APIRouter:
    """The deployment routes."""
    router = APIRouter(
        prefix="/api/v1/deployments",
        tags=["deployments"],
        dependencies=[Depends(require_principal)],
    )

    @router.get("", response_model=DeploymentList)
    def list_deployments(store: Deployments) -> Response:
        return rendered(DeploymentList.model_construct(deployments=store.list_deployments()))

    @router.get("/{name}")
    def get_deployment(name: Name, store: Deployments) -> Deployment:
        return store.get_deployment(name)

    @router.put("/{name}", response_model=Deployment, responses={201: {"model": Deployment}})
    def deploy(name: Name, body: NewRecord, caller: Caller, store: Deployments) -> Response:
        """Create the deployment (201) or replace its record (200); either is one revision."""
        deployment = store.deploy(
            name,
            body.model,
            body.environment,
            body.primary_version,
            candidate_version=body.candidate_version,
            strategy=body.strategy,
            weight=body.weight,
            actor=_actor(caller, body.actor),
            reason=body.reason,
        )
        status = 201 if deployment.revision == 1 else 200
        return NanJSONResponse(deployment.model_dump(mode="json"), status)

    @router.post("/{name}/promote")
    def promote(
        name: Name, caller: Caller, store: Deployments, body: Actor | None = None
    ) -> Deployment:
        """The candidate becomes the primary and serves everything; 409 without a candidate."""
        body = body or Actor()
        return store.promote(name, actor=_actor(caller, body.actor), reason=body.reason)

    @router.post("/{name}/rollback")
    def rollback(
        name: Name, caller: Caller, store: Deployments, body: Actor | None = None
    ) -> Deployment:
        """Back to the previous primary; 409 when there is none."""
        body = body or Actor()
        return store.rollback(name, actor=_actor(caller, body.actor), reason=body.reason)

    @router.post("/{name}/errors", status_code=204)
    def report_error(name: Name, body: DeploymentError, store: Deployments) -> None:
        """A replica failed to load ``revision``: shown on the record once, kept in history."""
        store.report_error(name, body.revision, body.error)

    @router.get("/{name}/history", response_model=DeploymentHistory)
    def get_history(name: Name, store: Deployments) -> Response:
        return rendered(DeploymentHistory.model_construct(history=store.get_history(name)))

    return router
