"""Labels sent to the platform server's ``POST /api/v1/feedback``.

The server checks them against the request log it indexes, exactly as
``SqlFeedbackStore`` does. Sending a batch twice is harmless (the same
label changes nothing), so a request whose answer was lost is sent again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mlstage.http_client import HttpApi
from mlstage.monitoring.feedback import (
    DEFAULT_KEY_WINDOW_MS,
    MAX_LABELS,
    REQUEST_KEY,
    FeedbackResult,
    Label,
)

if TYPE_CHECKING:
    from mlstage.monitoring.feedback import FeedbackStore

PATH = "/feedback"


class HttpFeedbackStore(HttpApi):
    """``FeedbackStore`` over HTTP: batches of at most ``MAX_LABELS`` labels a request."""

    def add_labels(
        self,
        labels: Sequence[Label],
        *,
        source: str = "",
        key_column: str = REQUEST_KEY,
        key_window_ms: int = DEFAULT_KEY_WINDOW_MS,
    ) -> FeedbackResult:
        result = FeedbackResult()
        for start in range(0, len(labels), MAX_LABELS):
            part = labels[start : start + MAX_LABELS]
            body = {
                "labels": [item.model_dump(mode="json", exclude_none=True) for item in part],
                "source": source,
                "key_column": key_column,
                "key_window": key_window_ms / 1000,
            }
            answer = self._json("POST", PATH, body, idempotent=True)
            result = result.merge(FeedbackResult.model_validate(answer))
        return result


if TYPE_CHECKING:
    _conforms: type[FeedbackStore] = HttpFeedbackStore
