"""``POST /api/v1/feedback``: true labels of logged predictions, sent to the platform server.

Same body and answer as the prediction service's ``POST /feedback``; the
server checks the ids against the request log it indexes (uploaded by the
services that use it) and stores the labels in its own database. Ids no
logged prediction has come back in ``unknown``. The handler is plain
``def``: the store is synchronous.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from mlstage.monitoring.feedback import FeedbackRequest, FeedbackResult
from mlstage.monitoring.sql_feedback import SqlFeedbackStore
from mlstage.server.auth import Principal, require_principal
from mlstage.server.deps import tracking_store


async def feedback_store(request: Request) -> SqlFeedbackStore:
    """Dependency: labels on the server's own database, next to its request-log index."""
    state = request.app.state
    store: SqlFeedbackStore | None = getattr(state, "feedback", None)
    if store is None:
        tracking = await tracking_store(request)
        lookback = state.settings.feedback_lookback_days
        store = SqlFeedbackStore(tracking.db, tracking.artifacts, lookback_days=lookback)
        state.feedback = store
    return store


Store = Annotated[SqlFeedbackStore, Depends(feedback_store)]
Caller = Annotated[Principal, Depends(require_principal)]


def build_router() -> APIRouter:
    """The feedback route."""
    router = APIRouter(
        prefix="/api/v1/feedback", tags=["feedback"], dependencies=[Depends(require_principal)]
    )

    @router.post("", response_model=FeedbackResult)
    def add_feedback(body: FeedbackRequest, store: Store, caller: Caller) -> FeedbackResult:
        """Store the labels of logged predictions; unknown ids are listed in ``unknown``."""
        source = body.source or f"server:{caller.name or 'anonymous'}"
        return store.add_labels(
            body.labels,
            source=source,
            key_column=body.key_column,
            key_window_ms=body.key_window_ms,
        )

    return router
