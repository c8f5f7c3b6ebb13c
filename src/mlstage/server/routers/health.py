"""Liveness and readiness: public, so load balancers and orchestrators can probe them."""

from __future__ import annotations

from fastapi import APIRouter, Request

from mlstage.server.deps import StoreProvider
from mlstage.server.schemas import Status

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Status)
async def health() -> Status:
    """The process is up and serving requests; touches nothing else."""
    return Status(status="ok")


@router.get("/ready", response_model=Status, responses={503: {"description": "database down"}})
def ready(request: Request) -> Status:
    """The metadata database answers; 503 (``UNAVAILABLE``) otherwise."""
    provider: StoreProvider = request.app.state.stores
    provider.check_ready()
    return Status(status="ready")
