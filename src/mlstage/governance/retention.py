"""Retention per data classification: old request logs, monitor results and feedback deleted.

The ``retention_days`` setting pairs classifications with days, e.g.
``["restricted=30", "confidential=90", "*=365"]`` (``*``: any classification
not listed); a classification with no entry and no ``*`` keeps everything.
A model's data takes the model's classification (``classify``; by default
every model has ``default_classification`` until the lead wires the real one).

What goes, per model, once older than ``now - days``:

- request-log files whose newest row is older (a file holds one UTC day, so
  a day goes whole, the day after its last row expires): the index rows in
  ``prediction_logs``, then their blobs in the artifact store;
- monitor results whose window ended before;
- feedback labels of predictions made before.

Each batch of rows is one transaction; blobs are deleted only after their
rows are committed (a crash in between leaves orphans for ``mlstage gc``,
never an index row naming a missing file). Applying twice deletes nothing
the second time. The scheduler calls ``apply_retention``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, func, select

from mlstage.errors import InvalidInput
from mlstage.governance.gc import blob_size, delete_blobs, open_targets, referenced_blobs
from mlstage.store import tables as t

if TYPE_CHECKING:
    from mlstage.artifacts.store import ArtifactStore
    from mlstage.config import Settings
    from mlstage.store.database import Database

DAY_MS = 86_400_000
BATCH = 500
ANY = "*"

Classify = Callable[[str], "str | None"]
"""A model's classification by name (``None``: the default classification)."""


@dataclass
class ModelRetention:
    """What retention removed (or would remove) of one model's data."""

    model: str
    classification: str
    days: float
    cutoff_ms: int
    log_files: int = 0
    log_rows: int = 0
    log_bytes: int = 0
    monitor_results: int = 0
    feedback: int = 0


@dataclass
class RetentionReport:
    dry_run: bool
    now_ms: int
    models: list[ModelRetention] = field(default_factory=list)
    blobs_deleted: int = 0

    @property
    def log_files(self) -> int:
        return sum(m.log_files for m in self.models)

    @property
    def log_bytes(self) -> int:
        return sum(m.log_bytes for m in self.models)

    @property
    def monitor_results(self) -> int:
        return sum(m.monitor_results for m in self.models)

    @property
    def feedback(self) -> int:
        return sum(m.feedback for m in self.models)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "now_ms": self.now_ms,
            "log_files": self.log_files,
            "log_bytes": self.log_bytes,
            "monitor_results": self.monitor_results,
            "feedback": self.feedback,
            "blobs_deleted": self.blobs_deleted,
            "models": [vars(m) for m in self.models],
        }


def retention_policy(settings: Settings) -> dict[str, float]:
    """``{classification or '*': days}`` from the ``retention_days`` setting."""
    levels = {level.lower() for level in settings.classification_levels}
    policy: dict[str, float] = {}
    for entry in settings.retention_days:
        level, sep, days_text = entry.partition("=")
        level = level.strip().lower()
        try:
            days = float(days_text)
        except ValueError:
            days = math.nan
        if not sep or not (days > 0 and math.isfinite(days)):
            raise InvalidInput(
                f"setting 'retention_days': entry {entry!r} must be classification=days "
                "with days a positive number, e.g. restricted=30"
            )
        if level != ANY and level not in levels:
            raise InvalidInput(
                f"setting 'retention_days': {level!r} is not a classification; "
                f"use one of {', '.join(settings.classification_levels)} or *"
            )
        policy[level] = days
    return policy


def apply_retention(
    settings: Settings,
    now_ms: int,
    dry_run: bool = False,
    *,
    classify: Classify | None = None,
) -> RetentionReport:
    """Delete (or with ``dry_run`` count) what ``retention_days`` says has expired at ``now_ms``.

    A model's data is kept as long as its classification says: the highest
    level of its versions, inherited from their data (``governance.classified``).
    """
    policy = retention_policy(settings)
    db, store = open_targets(settings)
    if classify is None:
        from mlstage.governance.classified import model_level

        def classify(model: str) -> str | None:
            return model_level(settings, model)

    return retain(
        db,
        store,
        policy,
        now_ms,
        dry_run=dry_run,
        classify=classify,
        default_classification=settings.default_classification,
    )


def retain(
    db: Database,
    store: ArtifactStore,
    policy: dict[str, float],
    now_ms: int,
    *,
    dry_run: bool = False,
    classify: Classify | None = None,
    default_classification: str = "internal",
) -> RetentionReport:
    report = RetentionReport(dry_run=dry_run, now_ms=now_ms)
    if not policy:
        return report
    with db.read() as conn:
        models = sorted(_models(conn))
    for model in models:
        level = ((classify(model) if classify else None) or default_classification).lower()
        days = policy.get(level, policy.get(ANY))
        if days is None:
            continue
        item = ModelRetention(model, level, days, now_ms - int(days * DAY_MS))
        report.models.append(item)
        _logs(db, store, item, dry_run, report)
        item.monitor_results = _rows(
            db, t.monitor_results.c.result_id, t.monitor_results.c.window_end, item, dry_run
        )
        item.feedback = _rows(
            db, t.feedback.c.prediction_id, t.feedback.c.predicted_at, item, dry_run
        )
    report.models = [m for m in report.models if m.log_files or m.monitor_results or m.feedback]
    return report


def _models(conn: Connection) -> set[str]:
    found: set[str] = set()
    for column in (t.prediction_logs.c.model, t.monitor_results.c.model, t.feedback.c.model):
        found.update(conn.execute(select(column).distinct()).scalars())
    return found


def _logs(
    db: Database, store: ArtifactStore, item: ModelRetention, dry_run: bool, report: RetentionReport
) -> None:
    L = t.prediction_logs.c
    expired = (L.model == item.model) & (L.max_timestamp < item.cutoff_ms)
    if dry_run:
        with db.read() as conn:
            rows = conn.execute(select(L.sha256, L.rows).where(expired)).all()
        item.log_files, item.log_rows = len(rows), sum(r.rows for r in rows)
        item.log_bytes = sum(blob_size(store, r.sha256) for r in rows)
        return
    others: set[str] | None = None
    while True:

        def work(conn: Connection) -> list[Any]:
            batch = conn.execute(
                select(L.file_id, L.sha256, L.rows).where(expired).order_by(L.file_id).limit(BATCH)
            ).all()
            if batch:
                conn.execute(
                    delete(t.prediction_logs).where(L.file_id.in_([r.file_id for r in batch]))
                )
            return list(batch)

        batch = db.write(work)
        if not batch:
            return
        # the rows are committed: now their blobs, unless something else still names them
        shas = {r.sha256 for r in batch}
        with db.read() as conn:
            if others is None:
                others = referenced_blobs(conn, prediction_logs=False)
            still = set(conn.execute(select(L.sha256).where(L.sha256.in_(shas))).scalars())
        gone = sorted(shas - others - still)
        sizes = {sha: blob_size(store, sha) for sha in gone}
        delete_blobs(store, gone)
        item.log_files += len(batch)
        item.log_rows += sum(r.rows for r in batch)
        item.log_bytes += sum(sizes.values())
        report.blobs_deleted += len(gone)


def _rows(db: Database, key: Any, stamp: Any, item: ModelRetention, dry_run: bool) -> int:
    """Delete (or count) the rows of ``key``'s table of the model older than the cutoff."""
    table = key.table
    expired = (table.c.model == item.model) & (stamp < item.cutoff_ms)
    if dry_run:
        with db.read() as conn:
            return int(
                conn.execute(select(func.count()).select_from(table).where(expired)).scalar_one()
            )
    total = 0
    while True:

        def work(conn: Connection) -> int:
            ids = list(conn.execute(select(key).where(expired).limit(BATCH)).scalars())
            if ids:
                conn.execute(delete(table).where(key.in_(ids)))
            return len(ids)

        done = db.write(work)
        total += done
        if done < BATCH:
            return total
