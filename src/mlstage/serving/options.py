"""How a prediction service batches, caps and polls: one frozen object, from settings or flags.

The limits are what keeps one client from starving the others: a body or a
request over its cap is refused before it is parsed, and a version whose
queue is full sheds load with a quick 503 instead of queueing to timeouts.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from mlstage.config import Settings
from mlstage.errors import InvalidInput


@dataclass(frozen=True)
class ServingOptions:
    """Tuning of one prediction service; ``from_settings`` reads the ``serving_*`` settings."""

    max_batch_rows: int = 64
    """Rows of concurrent requests scored in one model call (one bigger request goes alone)."""
    max_batch_wait_ms: float = 0.0
    """How long a batch waits for more requests before it runs; 0 runs at once, which is
    adaptive already: requests arriving while the model is busy form the next batch."""
    max_body_bytes: int = 16 * 1024 * 1024
    """Largest request body; bigger ones get 413 before they are read."""
    max_rows: int = 10_000
    """Rows in one request; more get 413."""
    max_queued_rows: int = 2_048
    """Rows waiting for one version; a request that finds more gets 503 (load shedding)."""
    poll_interval: float = 2.0
    """Seconds between reads of the deployment record (``deployment:<name>`` targets)."""
    log_requests: bool = True
    """Hand every prediction to the request log (when the request log is installed)."""
    predict_threads: int = 1
    """Threads running each loaded version's model calls. A version runs one batch at a time,
    so one thread, always the same, is enough, and keeps the model warm in its core's caches."""

    def __post_init__(self) -> None:
        for name in ("max_batch_rows", "max_body_bytes", "max_rows", "max_queued_rows"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInput(
                    f"serving option {name} must be a positive integer, got {value!r}"
                )
        if not 0 <= self.max_batch_wait_ms <= 1000:
            raise InvalidInput(
                "serving option max_batch_wait_ms must be from 0 to 1000, "
                f"got {self.max_batch_wait_ms!r}"
            )
        if not self.poll_interval > 0:
            raise InvalidInput(
                f"serving option poll_interval must be positive, got {self.poll_interval!r}"
            )

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> ServingOptions:
        """Options from the ``serving_*`` settings, with explicit ``overrides`` on top."""
        values: dict[str, Any] = {
            "max_batch_rows": settings.serving_max_batch_rows,
            "max_body_bytes": settings.serving_max_body_bytes,
            "max_rows": settings.serving_max_rows,
            "max_queued_rows": settings.serving_max_queued_rows,
            "poll_interval": settings.deployment_poll_interval,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_json(self) -> str:
        """For worker processes, which rebuild the options from the environment."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServingOptions:
        return cls(**json.loads(text))
