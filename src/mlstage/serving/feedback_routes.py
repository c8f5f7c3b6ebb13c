"""``POST /feedback`` on the prediction service: the true labels of earlier predictions.

    {"prediction_id": "9f1c...", "label": 1}
    {"labels": [{"prediction_id": "9f1c...", "label": 1, "at": 1780000000000}], "source": "crm"}
    -> {"received": 1, "accepted": 1, "updated": 0, "unchanged": 0, "unknown": []}

The body is checked by a pydantic model (422 naming the field) and capped at
``MAX_BODY_BYTES`` and ``MAX_LABELS`` labels. The service writes its queued
request log first, so a label sent right after its prediction finds it.
Labels go where the service's settings send the request log: the database,
or the platform server. Ids no logged prediction has come back in
``unknown``. The route sits behind ``require_principal``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from mlstage.config import Settings
from mlstage.errors import PayloadTooLarge
from mlstage.monitoring.feedback import FeedbackRequest, get_feedback_store
from mlstage.server.auth import require_principal
from mlstage.server.errors import validation_message
from mlstage.serving import codecs
from mlstage.serving.validation import InvalidRows

FEEDBACK_PATH = "/feedback"
MAX_BODY_BYTES = 4 * 1024 * 1024


def build_feedback_router(settings: Settings, service: Any = None) -> APIRouter:
    """The feedback route of a prediction service; ``service`` flushes its request log first."""
    router = APIRouter(dependencies=[Depends(require_principal)])

    def store_labels(asked: FeedbackRequest, source: str) -> dict[str, Any]:
        logger = getattr(service, "logger", None)
        if logger is not None:
            logger.flush()
        result = get_feedback_store(settings).add_labels(
            asked.labels,
            source=source,
            key_column=asked.key_column,
            key_window_ms=asked.key_window_ms,
        )
        return result.model_dump(mode="json")

    @router.post(FEEDBACK_PATH)
    async def feedback(request: Request) -> Response:
        """Store the true labels of logged predictions; unknown ids are listed in the answer."""
        codecs.body_kind(request.headers.get("content-type"), codecs.JSON_ONLY)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            raise PayloadTooLarge(
                f"a feedback body is at most {MAX_BODY_BYTES} bytes; send the labels in batches"
            )
        content = codecs.load_json(body)
        try:
            asked = FeedbackRequest.model_validate(content)
        except ValidationError as exc:
            raise InvalidRows(
                validation_message([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()])
            ) from None
        principal = getattr(request.state, "principal", None)
        source = asked.source or f"serving:{getattr(principal, 'name', '') or 'anonymous'}"
        answer = await run_in_threadpool(store_labels, asked, source)
        return Response(codecs.dump_json(answer), media_type="application/json")

    return router
