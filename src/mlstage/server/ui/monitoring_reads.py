"""Read-only queries of the monitoring pages, grouped in SQL: a constant number a page.

A deployment checked hourly for a year holds 8,760 rows per metric; the
pages never load them. The charts read one ``GROUP BY`` over the
``(subject, window_end)`` index that folds the range into at most
``MAX_POINTS`` time buckets per metric (mean, min, max, count and worst
status of each); the status tables read only each monitor's latest check.
Rows leave as small dataclasses, never as SQL rows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, select

from mlstage.store import tables as t
from mlstage.store.database import Database

_R = t.monitor_results.c
_D = t.alert_deliveries.c
MAX_POINTS = 240
"""Most points a series sends to the browser, whatever the range."""
STATUS_LOOKBACK_MS = 90 * 86_400_000
"""How far before a subject's last result its monitors' latest checks are looked for."""
STEPS_MS = (
    60_000,
    300_000,
    900_000,
    3_600_000,
    3 * 3_600_000,
    6 * 3_600_000,
    12 * 3_600_000,
    86_400_000,
    2 * 86_400_000,
    7 * 86_400_000,
    30 * 86_400_000,
)
"""Bucket widths a chart may use: the smallest that keeps it under ``MAX_POINTS``."""
STATUSES = ("ok", "warn", "alert")
PERFORMANCE_METRICS = ("accuracy", "f1", "roc_auc", "mae", "rmse", "r2")
KINDS = {
    "drift_share": "feature_drift",
    "prediction_drift": "prediction_drift",
    "anomalies": "data_quality",
    "labels": "performance",
    "label_coverage": "performance",
    "performance": "performance",
    **dict.fromkeys(PERFORMANCE_METRICS, "performance"),
    "predictions": "service_health",
    "throughput_per_s": "service_health",
    "latency_p50_ms": "service_health",
    "latency_p95_ms": "service_health",
    "latency_p99_ms": "service_health",
    "error_rate": "service_health",
    "model_age_days": "staleness",
    "training_data_age_days": "staleness",
}
KIND_ORDER = (
    "feature_drift",
    "prediction_drift",
    "performance",
    "service_health",
    "data_quality",
    "staleness",
    "failed",
)
_BUCKET_MARK = '%"bucket": true%'
"""How ``details`` of a performance row per sub-window reads (``json.dumps`` defaults)."""


def metric_kind(metric: str) -> str:
    """The monitor type a metric comes from, by its name (``drift_score[x]`` -> feature_drift)."""
    base = metric.split("[", 1)[0]
    if base == "drift_score":
        return "feature_drift"
    if base == "error" and "[" not in metric:
        return "failed"
    return KINDS.get(base, "other")


def worst(statuses: Iterable[str]) -> str:
    return max(statuses, key=lambda s: STATUSES.index(s) if s in STATUSES else 0, default="ok")


@dataclass(frozen=True)
class Result:
    """One stored metric of a check."""

    monitor: str
    metric: str
    value: float | None
    status: str
    window_start: int
    window_end: int
    created_at: int
    details: dict[str, Any]


@dataclass(frozen=True)
class MonitorState:
    """A monitor's latest check: its rows, their worst status, the monitor's type."""

    monitor: str
    kind: str
    status: str
    window_start: int
    window_end: int
    checked_at: int
    results: list[Result]

    @property
    def flagged(self) -> list[Result]:
        """Metrics that warn or alert: worst first, headline metrics before per-feature ones."""
        bad = [r for r in self.results if r.status != "ok"]
        return sorted(bad, key=lambda r: (-STATUSES.index(r.status), "[" in r.metric, r.metric))

    def get(self, metric: str) -> Result | None:
        return next((r for r in self.results if r.metric == metric), None)


@dataclass(frozen=True)
class SubjectSummary:
    """A monitored deployment or model, as the list shows it."""

    subject: str
    model: str
    deployment: str | None
    last_window_end: int
    monitors: list[MonitorState] = field(default_factory=list)
    alerts_recent: int = 0
    last_alert_at: int | None = None

    @property
    def status(self) -> str:
        return worst(m.status for m in self.monitors)

    @property
    def alerting(self) -> list[MonitorState]:
        return [m for m in self.monitors if m.status == "alert"]


@dataclass(frozen=True)
class Point:
    x: int
    mean: float | None
    low: float | None
    high: float | None
    checks: int
    status: str


@dataclass(frozen=True)
class Series:
    monitor: str
    metric: str
    per_bucket: bool
    """Rows a performance monitor wrote per sub-window (its ``bucket`` setting)."""
    points: list[Point]


def subjects(db: Database) -> list[tuple[str, str, str | None, int]]:
    """Every subject with results: (subject, model, deployment, last window end), by name.

    The distinct subjects are a skip-scan of the index (one seek a subject,
    a recursive query SQLite and PostgreSQL both run), never a scan of the rows.
    """
    seed = select(func.min(_R.subject).label("name")).cte("names", recursive=True)
    step = select(
        select(func.min(_R.subject)).where(_R.subject > seed.c.name).scalar_subquery()
    ).where(seed.c.name.is_not(None))
    names = seed.union_all(step)
    with db.read() as conn:
        found = [str(n) for n in conn.execute(select(names.c.name)).scalars() if n is not None]
    out = []
    for name in sorted(found):
        row = subject(db, name, first=False)
        if row is not None:
            out.append((name, row[1], row[2], row[3]))
    return out


def subject(
    db: Database, name: str, *, first: bool = True
) -> tuple[int, str, str | None, int] | None:
    """(first window end, model, deployment, last window end) of ``name``, or ``None``.

    Two seeks of the ``(subject, window_end)`` index: a ``min`` and a ``max``
    in one statement would read every entry in between.
    """
    where = _R.subject == name
    with db.read() as conn:
        last = conn.execute(select(func.max(_R.window_end)).where(where)).scalar()
        if last is None:
            return None
        start = conn.execute(select(func.min(_R.window_end)).where(where)).scalar() if first else 0
        row = conn.execute(
            select(_R.model, _R.deployment)
            .where(where, _R.window_end == last)
            .order_by(_R.result_id.desc())
            .limit(1)
        ).first()
    if row is None:
        return None
    return int(start or 0), str(row.model), row.deployment, int(last)


def model_names(db: Database, projects: Iterable[int]) -> frozenset[str]:
    """Lower-case names of the registered models of ``projects``."""
    m = t.registered_models.c
    query = select(m.canonical_name).where(m.project_id.in_(list(projects)))
    with db.read() as conn:
        return frozenset(str(n) for n in conn.execute(query).scalars())


def latest_states(db: Database, name: str, last_end: int) -> list[MonitorState]:
    """Each monitor's newest check (within ``STATUS_LOOKBACK_MS`` of ``last_end``)."""
    since = last_end - STATUS_LOOKBACK_MS
    with db.read() as conn:
        ends = conn.execute(
            select(_R.monitor, func.max(_R.window_end))
            .where(_R.subject == name, _R.window_end >= since)
            .group_by(_R.monitor)
        ).all()
        if not ends:
            return []
        rows = conn.execute(
            select(
                _R.monitor,
                _R.metric,
                _R.value,
                _R.status,
                _R.window_start,
                _R.window_end,
                _R.created_at,
                _R.details,
            )
            .where(_R.subject == name, _R.window_end.in_({int(end) for _, end in ends}))
            .order_by(_R.result_id)
        ).all()
    wanted = {(m, int(end)) for m, end in ends}
    by_monitor: dict[str, list[Result]] = {}
    for r in rows:
        if (r.monitor, int(r.window_end)) not in wanted:
            continue  # another monitor's row of the same window end
        by_monitor.setdefault(r.monitor, []).append(
            Result(
                monitor=r.monitor,
                metric=r.metric,
                value=r.value,
                status=r.status,
                window_start=int(r.window_start),
                window_end=int(r.window_end),
                created_at=int(r.created_at),
                details=_details(r.details),
            )
        )
    states = []
    for monitor, results in by_monitor.items():
        newest = max(r.created_at for r in results)  # a window checked twice: the last check
        kept = [r for r in results if r.created_at == newest]
        overall = [r for r in kept if not r.details.get("bucket")] or kept
        kinds = [metric_kind(r.metric) for r in overall]
        kind = next((k for k in KIND_ORDER if k in kinds and k != "failed"), "")
        kind = kind or ("failed" if "failed" in kinds else "other")
        states.append(
            MonitorState(
                monitor=monitor,
                kind=kind,
                status=worst(r.status for r in kept),
                window_start=min(r.window_start for r in overall),
                window_end=max(r.window_end for r in overall),
                checked_at=newest,
                results=overall,
            )
        )
    order = {k: i for i, k in enumerate(KIND_ORDER)}
    return sorted(states, key=lambda s: (order.get(s.kind, len(order)), s.monitor))


def _details(text: str) -> dict[str, Any]:
    try:
        found = json.loads(text)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def bucket_width(since: int, until: int) -> int:
    """The smallest of ``STEPS_MS`` that cuts ``[since, until]`` into at most ``MAX_POINTS``."""
    span = max(until - since, 1)
    for step in STEPS_MS:
        if span / step <= MAX_POINTS:
            return step
    return -(-span // MAX_POINTS)


def series(db: Database, name: str, since: int, until: int, width: int) -> list[Series]:
    """Every metric of ``name`` with a window ending in ``(since, until]``, folded per ``width``.

    A point is a bucket's checks: their mean, min and max, how many, the
    worst status, at the last window end in it. Rows a performance monitor
    wrote per sub-window are a series of their own (only those metrics'
    ``details`` are read to tell).
    """
    scored = _R.metric.in_(("label_coverage", *PERFORMANCE_METRICS))
    per_bucket = case((scored, _R.details.like(_BUCKET_MARK)), else_=False).label("per_bucket")
    rank = case((_R.status == "alert", 2), (_R.status == "warn", 1), else_=0)
    slot = ((_R.window_end - (since + 1)) // width).label("slot")  # (since, until] in slots
    query = (
        select(
            _R.monitor,
            _R.metric,
            per_bucket,
            slot,
            func.max(_R.window_end),
            func.avg(_R.value),
            func.min(_R.value),
            func.max(_R.value),
            func.count(),
            func.max(rank),
        )
        .where(_R.subject == name, _R.window_end > since, _R.window_end <= until)
        .group_by(_R.monitor, _R.metric, per_bucket, slot)
        .order_by(_R.monitor, _R.metric, per_bucket, slot)
    )
    found: dict[tuple[str, str, bool], list[Point]] = {}
    with db.read() as conn:
        for monitor, metric, bucketed, _, x, mean, low, high, checks, ranked in conn.execute(query):
            found.setdefault((monitor, metric, bool(bucketed)), []).append(
                Point(int(x), _num(mean), _num(low), _num(high), int(checks), STATUSES[ranked])
            )
    return [Series(m, k, b, points) for (m, k, b), points in found.items()]


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def alert_counts(db: Database, names: list[str], since: int) -> dict[str, tuple[int, int | None]]:
    """Per subject: alerts claimed since ``since`` and when the last one (of any age) was."""
    if not names:
        return {}
    recent = func.sum(case((_D.created_at >= since, 1), else_=0))
    query = (
        select(_D.subject, recent, func.max(_D.created_at))
        .where(_D.subject.in_(names))
        .group_by(_D.subject)
    )
    with db.read() as conn:
        return {s: (int(n or 0), last) for s, n, last in conn.execute(query)}
