"""Ground truth that arrives late: labels joined to logged predictions by prediction id.

    result = mlstage.log_feedback("9f1c...", 1)        # FeedbackResult(accepted=1, ...)
    result.unknown                                      # ids no logged prediction has

A label is accepted only for a prediction the request log holds (any route
but ``shadow``, within ``feedback_lookback_days``); the label row copies the
prediction's model and time, so a monitor reads a window's labels with one
indexed query. Unknown ids are returned in ``unknown``, never dropped
silently. Sending a label again for the same id is safe: the same label
changes nothing (``unchanged``), a different one replaces it (``updated``,
the latest label wins, with its ``received_at``).

When the caller knows a business key rather than the prediction id, a label
may give ``key`` instead: it joins the latest prediction whose key (the
request key the service logged, or the input named by ``key_column``) equals
it, made within ``key_window`` before the label's ``at``. Keys that match no
prediction come back in ``unknown_keys``.

With a database tracking URI the labels are checked and stored here
(``sql_feedback``); with ``http(s)://`` they go to the platform server's
``POST /api/v1/feedback`` (``http_feedback``), which does the same.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mlstage.errors import InvalidInput

if TYPE_CHECKING:
    from mlstage.config import Settings

MAX_LABELS = 10_000
"""Labels one request may carry (a CSV import is sent in chunks of this size)."""
MAX_LABEL_CHARS = 4_096
"""Longest JSON text of one label."""
REQUEST_KEY = "request_key"
DEFAULT_KEY_WINDOW = "7d"
DEFAULT_KEY_WINDOW_MS = 7 * 86_400_000
_PREDICTION_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")


def check_prediction_id(value: object) -> str:
    """``value`` if it is a prediction id (1-64 letters, digits, ``_.:-``), else InvalidInput."""
    if not isinstance(value, str) or not _PREDICTION_ID.fullmatch(value):
        raise InvalidInput(
            f"prediction_id must be 1-64 letters, digits or _.:- (as the service returns it); "
            f"got {str(value)[:80]!r}"
        )
    return value


def label_json(label: Any) -> str:
    """The label as canonical JSON text (what is stored and compared); ``InvalidInput`` if none."""
    if hasattr(label, "item") and not isinstance(label, list | dict):
        label = label.item()  # NumPy scalars
    if label is None or (isinstance(label, float) and not math.isfinite(label)):
        raise InvalidInput(f"label must be a value (a class, a number, a list), got {label!r}")
    if isinstance(label, float) and label.is_integer():
        label = int(label)
    try:
        text = json.dumps(label, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"label must be JSON (a class, a number, a list): {exc}") from None
    if len(text) > MAX_LABEL_CHARS:
        raise InvalidInput(f"label is {len(text)} characters as JSON; at most {MAX_LABEL_CHARS}")
    return text


def time_ms(value: int | float | datetime | None, field: str = "at") -> int | None:
    """``value`` as milliseconds since the epoch (a naive datetime is taken as UTC)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        from datetime import UTC

        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return int(moment.timestamp() * 1000)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"{field} must be a datetime or milliseconds since the epoch")
    if value < 0:
        raise InvalidInput(f"{field} must not be before 1970, got {value}")
    return int(value)


class Label(BaseModel):
    """One label as clients send it: the prediction's id, the true value, when it was known."""

    model_config = ConfigDict(extra="forbid")

    prediction_id: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    key: Annotated[str | None, Field(min_length=1, max_length=250)] = None
    """A business key, instead of the prediction id (see ``key_column``)."""
    label: Any
    at: int | None = Field(default=None, ge=0)
    """When the truth was observed, in ms since the epoch (default: when it is received)."""

    @field_validator("prediction_id")
    @classmethod
    def _id(cls, value: str | None) -> str | None:
        return None if value is None else check_prediction_id(value)

    @model_validator(mode="after")
    def _one_reference(self) -> Label:
        if (self.prediction_id is None) == (self.key is None):
            raise ValueError("give either prediction_id or key")
        return self

    @field_validator("label")
    @classmethod
    def _label(cls, value: Any) -> Any:
        label_json(value)
        return value


class FeedbackRequest(BaseModel):
    """The body of ``POST /feedback``: ``{"labels": [...]}`` or one label's fields."""

    model_config = ConfigDict(extra="forbid")

    labels: Annotated[list[Label], Field(min_length=1, max_length=MAX_LABELS)]
    source: Annotated[str, Field(max_length=250)] = ""
    key_column: Annotated[str, Field(min_length=1, max_length=250)] = REQUEST_KEY
    """What a label's ``key`` matches: ``request_key`` or the name of a logged input."""
    key_window: str | float = DEFAULT_KEY_WINDOW
    """How long before the label's ``at`` its prediction may have been made (``7d``)."""

    @model_validator(mode="before")
    @classmethod
    def _one_label(cls, data: Any) -> Any:
        if (
            isinstance(data, dict)
            and "labels" not in data
            and ("prediction_id" in data or "key" in data)
        ):
            outer = ("source", "key_column", "key_window")
            one = {k: v for k, v in data.items() if k not in outer}
            return {"labels": [one], **{k: data[k] for k in outer if k in data}}
        return data

    @field_validator("key_window")
    @classmethod
    def _window(cls, value: str | float) -> str | float:
        from mlstage.monitoring.definitions import parse_duration

        try:
            parse_duration(value, "key_window")
        except InvalidInput as exc:
            raise ValueError(exc.message) from None
        return value

    @property
    def key_window_ms(self) -> int:
        from mlstage.monitoring.definitions import parse_duration

        return int(parse_duration(self.key_window, "key_window") * 1000)


class FeedbackResult(BaseModel):
    """What became of a batch of labels; ``unknown`` lists ids no logged prediction has."""

    received: int = 0
    accepted: int = 0
    """New labels stored."""
    updated: int = 0
    """Labels that replaced a different earlier label."""
    unchanged: int = 0
    """The same label again: nothing changed."""
    unknown: list[str] = Field(default_factory=list)
    unknown_keys: list[str] = Field(default_factory=list)
    """Business keys no prediction in their window has."""

    def merge(self, other: FeedbackResult) -> FeedbackResult:
        return FeedbackResult(
            received=self.received + other.received,
            accepted=self.accepted + other.accepted,
            updated=self.updated + other.updated,
            unchanged=self.unchanged + other.unchanged,
            unknown=[*self.unknown, *other.unknown],
            unknown_keys=[*self.unknown_keys, *other.unknown_keys],
        )


class LabelRow(BaseModel):
    """One stored label, joined to its prediction's model and time."""

    prediction_id: str
    model: str
    predicted_at: int
    label: Any
    received_at: int
    source: str


class FeedbackStore(Protocol):
    """Where labels are checked against the request log and kept."""

    def add_labels(
        self,
        labels: Sequence[Label],
        *,
        source: str = "",
        key_column: str = REQUEST_KEY,
        key_window_ms: int = DEFAULT_KEY_WINDOW_MS,
    ) -> FeedbackResult:
        """Store the labels of logged predictions; report unknown ids and keys."""
        ...


def get_feedback_store(settings: Settings | None = None) -> FeedbackStore:
    """The feedback store of the settings' tracking URI: the database, or the platform server."""
    from mlstage.config import get_settings

    settings = settings or get_settings()
    if settings.tracking_uri.split(":", 1)[0].lower() in ("http", "https"):
        from mlstage.monitoring.http_feedback import HttpFeedbackStore

        return HttpFeedbackStore.shared(settings.tracking_uri, settings)
    from mlstage.monitoring.sql_feedback import SqlFeedbackStore

    return SqlFeedbackStore.shared(settings)


def log_feedback(
    prediction_id: str | None,
    label: Any,
    *,
    at: int | float | datetime | None = None,
    source: str = "api",
    key: str | None = None,
    key_column: str = "request_key",
    key_window: str | float = "7d",
) -> FeedbackResult:
    """Record the true ``label`` of the prediction ``prediction_id`` (as the service returned it).

    ``at`` is when the truth became known (default: now). The result's
    ``unknown`` holds the id when no logged prediction has it. Without the
    id, pass ``key`` (``log_feedback(None, 1, key="order-17")``): the label
    joins the latest prediction whose ``key_column`` (the request key, or a
    logged input) equals it within ``key_window`` before ``at``.
    """
    from mlstage.monitoring.definitions import parse_duration

    item = make_label(prediction_id, label, at, key=key)
    window_ms = int(parse_duration(key_window, "key_window") * 1000)
    return get_feedback_store().add_labels(
        [item], source=source, key_column=key_column, key_window_ms=window_ms
    )


def make_label(
    prediction_id: Any,
    label: Any,
    at: int | float | datetime | None = None,
    *,
    key: Any = None,
) -> Label:
    """A checked ``Label`` (errors name the field and the id)."""
    if key is not None:
        if prediction_id is not None:
            raise InvalidInput("give either prediction_id or key, not both")
        if not isinstance(key, str | int) or isinstance(key, bool) or not str(key):
            raise InvalidInput(f"key must be a non-empty text or integer, got {key!r}")
        key = str(key)
        if len(key) > 250:
            raise InvalidInput(f"key is {len(key)} characters; at most 250")
    else:
        check_prediction_id(prediction_id)
    label_json(label)
    return Label.model_construct(prediction_id=prediction_id, key=key, label=label, at=time_ms(at))


def chunks(labels: Iterable[Label], size: int = MAX_LABELS) -> Iterable[list[Label]]:
    batch: list[Label] = []
    for label in labels:
        batch.append(label)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
