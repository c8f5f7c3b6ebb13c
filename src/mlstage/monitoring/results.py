"""Monitor results as a time series in ``monitor_results``: one row a metric a check.

A check's rows are written in one transaction, so a reader sees all of a
check or none of it. Values that are not finite (no labels yet, a metric
undefined on the window) are stored as NULL with the reason in ``details``.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, insert, select

from mlstage.monitoring.definitions import Status
from mlstage.store import tables as t

if TYPE_CHECKING:
    from mlstage.config import Settings
    from mlstage.store.database import Database

_R = t.monitor_results.c


class MetricResult(BaseModel):
    """One metric of one monitor over one window."""

    subject: str
    model: str
    deployment: str | None = None
    monitor: str
    window_start: int
    window_end: int
    metric: str
    value: float | None
    status: Status = "ok"
    details: dict[str, Any] = Field(default_factory=dict)
    created_at: int = 0
    result_id: int | None = None


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class SqlMonitorResults:
    """Writes and reads the results time series."""

    _shared: dict[str, SqlMonitorResults] = {}
    _shared_lock = threading.Lock()

    def __init__(self, db: Database, *, clock: Callable[[], int] | None = None) -> None:
        from mlstage.tracking.sql_store import now_ms

        self.db = db
        self.clock = clock or now_ms

    @classmethod
    def shared(cls, settings: Settings) -> SqlMonitorResults:
        from mlstage.monitoring.check import database_of

        with cls._shared_lock:
            store = cls._shared.get(settings.tracking_uri)
            if store is None:
                store = cls._shared[settings.tracking_uri] = cls(database_of(settings))
            return store

    def add(self, results: Sequence[MetricResult]) -> list[MetricResult]:
        """Store a check's results in one transaction; they come back with ids and times."""
        now = self.clock()
        rows = [
            {
                "subject": r.subject,
                "model": r.model,
                "deployment": r.deployment,
                "monitor": r.monitor,
                "window_start": r.window_start,
                "window_end": r.window_end,
                "metric": r.metric[:250],
                "value": _finite(r.value),
                "status": r.status,
                "details": json.dumps(r.details, default=str, allow_nan=False),
                "created_at": now,
            }
            for r in results
        ]

        def work(conn: Connection) -> None:
            if rows:
                conn.execute(insert(t.monitor_results), rows)

        self.db.write(work)
        return [r.model_copy(update={"created_at": now}) for r in results]

    def list(
        self,
        subject: str,
        *,
        monitor: str | None = None,
        metric: str | None = None,
        since_ms: int | None = None,
        limit: int = 1000,
    ) -> list[MetricResult]:
        """Results of ``subject``, newest window first."""
        query = select(t.monitor_results).where(_R.subject == subject)
        if monitor is not None:
            query = query.where(_R.monitor == monitor)
        if metric is not None:
            query = query.where(_R.metric == metric)
        if since_ms is not None:
            query = query.where(_R.window_end >= since_ms)
        query = query.order_by(_R.window_end.desc(), _R.result_id.desc()).limit(limit)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [
            MetricResult(
                result_id=r.result_id,
                subject=r.subject,
                model=r.model,
                deployment=r.deployment,
                monitor=r.monitor,
                window_start=r.window_start,
                window_end=r.window_end,
                metric=r.metric,
                value=r.value,
                status=r.status,
                details=json.loads(r.details),
                created_at=r.created_at,
            )
            for r in rows
        ]

    def latest(self, subject: str, monitor: str, metric: str) -> MetricResult | None:
        found = self.list(subject, monitor=monitor, metric=metric, limit=1)
        return found[0] if found else None
