"""The request log's files under ``/api/v1/prediction-logs``, for services run against a server.

A prediction service whose tracking URI is the server uploads each Parquet
file here; monitoring lists a model's files by time window and downloads
them. The server believes only the bytes: it reads them as Parquet with the
columns the request log writes before storing anything, and takes the day,
time range and row count from the file itself. Files are content-addressed,
so an upload retried after a lost answer finds the first one's index entry
(200) instead of indexing the rows twice (201 the first time). Downloads are
attachments with ``X-Content-SHA256``, checked against their hash on the
server before they are sent. Handlers are plain ``def``: the store is
synchronous.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from mlstage.errors import InvalidInput
from mlstage.models.names import canonical_model_name
from mlstage.server.auth import require_principal
from mlstage.server.deps import tracking_store
from mlstage.server.responses import NanJSONResponse, attachment, rendered
from mlstage.serving.request_log_store import (
    PARQUET_MEDIA_TYPE,
    PredictionLogFile,
    SqlPredictionLogStore,
    check_file_id,
    check_log_file,
)

UPLOAD_PATH = re.compile(r"/api/v1/prediction-logs$")
"""Uploads may be as large as artifact uploads (``server_max_upload_bytes``)."""


class PredictionLogFileList(BaseModel):
    """The files of a model's window, oldest first."""

    files: list[PredictionLogFile]


async def prediction_log_store(request: Request) -> SqlPredictionLogStore:
    """Dependency: the request log on the server's own database and artifact root."""
    state = request.app.state
    store: SqlPredictionLogStore | None = getattr(state, "prediction_logs", None)
    if store is None:
        tracking = await tracking_store(request)
        store = SqlPredictionLogStore(tracking.db, tracking.artifacts)
        state.prediction_logs = store
    return store


def _model(model: Annotated[str, Query(max_length=200)]) -> str:
    """The ``?model=`` of the request, checked and canonical (as the index stores it)."""
    return canonical_model_name(model)


async def _parquet_body(request: Request) -> bytes:
    """The raw body, once its type says Parquet (415 otherwise); read on the event loop."""
    declared = request.headers.get("content-type", "")
    media = declared.split(";", 1)[0].strip().lower()
    if media != PARQUET_MEDIA_TYPE:
        raise HTTPException(
            415,
            detail=f"prediction-log uploads are Parquet files sent as Content-Type "
            f"{PARQUET_MEDIA_TYPE}, not {declared[:60] or 'no content type'!r}",
        )
    return await request.body()


Store = Annotated[SqlPredictionLogStore, Depends(prediction_log_store)]
Model = Annotated[str, Depends(_model)]
ParquetBody = Annotated[bytes, Depends(_parquet_body)]


def build_router() -> APIRouter:
    """The prediction-log routes."""
    router = APIRouter(
        prefix="/api/v1/prediction-logs",
        tags=["prediction-logs"],
        dependencies=[Depends(require_principal)],
    )

    @router.post(
        "",
        status_code=201,
        response_model=PredictionLogFile,
        responses={200: {"model": PredictionLogFile, "description": "Stored already"}},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {PARQUET_MEDIA_TYPE: {"schema": {"type": "string"}}},
            }
        },
    )
    def upload_prediction_log(model: Model, data: ParquetBody, store: Store) -> Response:
        """Check, store and index one day's Parquet file of ``model``; the same again is 200."""
        entry, created = store.write_file(check_log_file(model, data))
        return NanJSONResponse(entry.model_dump(mode="json"), status_code=201 if created else 200)

    @router.get("", response_model=PredictionLogFileList)
    def list_prediction_logs(
        model: Model,
        store: Store,
        since_ms: Annotated[int | None, Query()] = None,
        until_ms: Annotated[int | None, Query()] = None,
    ) -> Response:
        """The files of ``model`` that may hold rows with ``since_ms <= timestamp < until_ms``."""
        if since_ms is not None and until_ms is not None and until_ms < since_ms:
            raise InvalidInput(f"until_ms ({until_ms}) is before since_ms ({since_ms})")
        files = store.find_files(model, since_ms, until_ms)
        return rendered(PredictionLogFileList.model_construct(files=files))

    @router.get(
        "/{file_id}",
        response_class=Response,
        responses={200: {"content": {"application/octet-stream": {}}}},
    )
    def download_prediction_log(file_id: str, store: Store) -> Response:
        """The file's Parquet bytes, as an attachment with their sha256."""
        entry = store.get_file(check_file_id(file_id))
        return attachment(store.file_bytes(entry), entry.sha256, f"{entry.file_id}.parquet")

    return router
