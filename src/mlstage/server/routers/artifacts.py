"""Artifact upload, download and listing for a run, under ``/api/v1/runs/{run_id}/artifacts``.

Uploads are raw bytes (``PUT``, idempotent: the blob is content-addressed),
with their own, larger body limit. Downloads carry ``X-Content-SHA256`` so
the client can check what arrived, and are served as attachments with
``nosniff`` so an uploaded HTML file is never rendered by a browser under
the platform's origin. Paths are canonicalised by the store: ``..``,
absolute paths and backslashes are refused with a 400.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from mlstage.artifacts.paths import canonical_artifact_path
from mlstage.governance.policy import check_request_download
from mlstage.server.auth import require_principal
from mlstage.server.deps import tracking_store
from mlstage.server.responses import attachment, rendered
from mlstage.server.schemas import ArtifactList
from mlstage.tracking.entities import ArtifactInfo
from mlstage.tracking.sql_store import SqlTrackingStore

UPLOAD_PATH = re.compile(r"/api/v1/runs/[^/]+/artifacts/.")
"""Paths of uploads, which have their own body limit (``mlstage.server.limits``)."""

Store = Annotated[SqlTrackingStore, Depends(tracking_store)]


async def _request_bytes(request: Request) -> bytes:
    """The raw body, read on the event loop (the upload body limit applies while reading)."""
    return await request.body()


RawBody = Annotated[bytes, Depends(_request_bytes)]


def build_router() -> APIRouter:
    """The artifact routes."""
    router = APIRouter(
        prefix="/api/v1/runs/{run_id}/artifacts",
        tags=["artifacts"],
        dependencies=[Depends(require_principal)],
    )

    @router.get("", response_model=ArtifactList)
    def list_artifacts(
        run_id: str, store: Store, path: Annotated[str | None, Query()] = None
    ) -> Response:
        """Files and folders directly under ``path`` (the run's root by default)."""
        return rendered(ArtifactList.model_construct(artifacts=store.list_artifacts(run_id, path)))

    @router.put(
        "/{path:path}",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/octet-stream": {"schema": {"type": "string"}}},
            }
        },
    )
    def upload_artifact(run_id: str, path: str, data: RawBody, store: Store) -> ArtifactInfo:
        """Store the request body as ``path`` of the run; the same path again replaces it."""
        return store.log_artifact(run_id, path, data)

    @router.get(
        "/{path:path}",
        response_class=Response,
        responses={200: {"content": {"application/octet-stream": {}}}},
    )
    def download_artifact(run_id: str, path: str, store: Store, request: Request) -> Response:
        """The artifact's bytes, checked against their hash on the server before sending."""
        path = canonical_artifact_path(path)
        sha = store.artifact_sha(run_id, path)
        check_request_download(store.db, request, run_id)  # issue 9: classification policies
        return attachment(store.artifacts.get_bytes(sha), sha, path)

    return router
