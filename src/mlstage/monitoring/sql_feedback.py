"""Labels checked against the request log and stored in the ``feedback`` table.

The ids of a batch are looked up in one DuckDB scan of the request-log
files of the last ``feedback_lookback_days`` (only the ``prediction_id``,
``model``, ``timestamp`` and ``route`` columns are read from the Parquet),
after the ids already labelled, which need no scan. Shadow rows share the
id of the answer the caller got, and are not what the label is about.
Inserts are ``ON CONFLICT DO NOTHING``, so two writers of the same id agree:
the loser updates the row the winner inserted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from mlstage.errors import InvalidInput
from mlstage.models.names import canonical_model_name
from mlstage.monitoring.feedback import (
    DEFAULT_KEY_WINDOW_MS,
    REQUEST_KEY,
    FeedbackResult,
    Label,
    LabelRow,
    label_json,
)
from mlstage.serving.request_log_store import INPUT_PREFIX
from mlstage.store import tables as t

if TYPE_CHECKING:
    from mlstage.artifacts.store import ArtifactStore
    from mlstage.config import Settings
    from mlstage.serving.request_log_store import PredictionLogFile
    from mlstage.store.database import Database

_F = t.feedback.c
_L = t.prediction_logs.c
DAY_MS = 86_400_000
_IN_CHUNK = 500


class SqlFeedbackStore:
    """``FeedbackStore`` over the metadata database and the artifact store's request log."""

    _shared: dict[tuple[str, str], SqlFeedbackStore] = {}
    _shared_lock = threading.Lock()

    def __init__(
        self,
        db: Database,
        artifacts: ArtifactStore,
        *,
        lookback_days: float = 90.0,
        clock: Callable[[], int] | None = None,
    ) -> None:
        from mlstage.serving.request_log_store import SqlPredictionLogStore
        from mlstage.tracking.sql_store import now_ms

        self.db = db
        self.artifacts = artifacts
        self.logs = SqlPredictionLogStore(db, artifacts)
        self.lookback_ms = int(lookback_days * DAY_MS)
        self.clock = clock or now_ms

    @classmethod
    def shared(cls, settings: Settings) -> SqlFeedbackStore:
        from mlstage.artifacts.store import get_artifact_store
        from mlstage.store.database import get_database

        key = (settings.tracking_uri, settings.artifact_root)
        with cls._shared_lock:
            store = cls._shared.get(key)
            if store is None:
                db = get_database(
                    settings.tracking_uri,
                    busy_timeout=settings.sqlite_busy_timeout,
                    synchronous=settings.sqlite_synchronous,
                )
                artifacts = get_artifact_store(settings.artifact_root, settings.s3_endpoint_url)
                store = cls._shared[key] = cls(
                    db, artifacts, lookback_days=settings.feedback_lookback_days
                )
            return store

    # -- writing ---------------------------------------------------------------------------

    def add_labels(
        self,
        labels: Sequence[Label],
        *,
        source: str = "",
        key_column: str = REQUEST_KEY,
        key_window_ms: int = DEFAULT_KEY_WINDOW_MS,
    ) -> FeedbackResult:
        """Store the labels of logged predictions (one transaction); report unknown ids and keys."""
        now = self.clock()
        keyed = [item for item in labels if item.prediction_id is None]
        matched: dict[int, tuple[str, str, int]] = {}
        if keyed:
            matched = self.find_by_keys(keyed, key_column, key_window_ms, now)
        unknown_keys = [str(item.key) for i, item in enumerate(keyed) if i not in matched]
        latest: dict[str, Label] = {}
        found: dict[str, tuple[str, int]] = {}
        keyed_at = 0
        for item in labels:
            pid = item.prediction_id
            if pid is None:
                hit = matched.get(keyed_at)
                keyed_at += 1
                if hit is None:
                    continue
                pid, model, at = hit
                found[pid] = (model, at)
                item = item.model_copy(update={"prediction_id": pid, "key": None})
            latest.pop(pid, None)
            latest[pid] = item  # the last label of a prediction in a batch wins
        ids = [i for i in latest if i not in found]
        stored = self._stored(ids)
        missing = [i for i in ids if i not in stored]
        if missing:
            found.update(self.find_predictions(missing))
        unknown = [i for i in missing if i not in found]
        rows: list[dict[str, Any]] = []
        for pid, item in latest.items():
            where = stored.get(pid) or found.get(pid)
            if where is None:
                continue
            rows.append(
                {
                    "prediction_id": pid,
                    "model": where[0],
                    "predicted_at": where[1],
                    "label": label_json(item.label),
                    "received_at": item.at if item.at is not None else now,
                    "source": source[:250],
                    "updated_at": now,
                }
            )
        counts = self.db.write(lambda conn: self._upsert(conn, rows)) if rows else (0, 0, 0)
        return FeedbackResult(
            received=len(labels),
            accepted=counts[0],
            updated=counts[1],
            unchanged=counts[2],
            unknown=unknown,
            unknown_keys=unknown_keys,
        )

    def _upsert(self, conn: Connection, rows: list[dict[str, Any]]) -> tuple[int, int, int]:
        dialect: Any = sqlite if self.db.dialect == "sqlite" else postgresql
        insert = (
            dialect.insert(t.feedback)
            .on_conflict_do_nothing(index_elements=["prediction_id"])
            .returning(_F.prediction_id)
        )
        created = {row[0] for row in conn.execute(insert, rows)}
        updated = unchanged = 0
        for row in rows:
            if row["prediction_id"] in created:
                continue
            changed = conn.execute(
                update(t.feedback)
                .where(_F.prediction_id == row["prediction_id"], _F.label != row["label"])
                .values(
                    label=row["label"],
                    received_at=row["received_at"],
                    source=row["source"],
                    updated_at=row["updated_at"],
                )
            ).rowcount
            if changed:
                updated += 1
            else:
                unchanged += 1
        return len(created), updated, unchanged

    # -- reading ---------------------------------------------------------------------------

    def _stored(self, ids: list[str]) -> dict[str, tuple[str, int]]:
        """Ids labelled already: their model and prediction time (no scan needed)."""
        out: dict[str, tuple[str, int]] = {}
        with self.db.read() as conn:
            for start in range(0, len(ids), _IN_CHUNK):
                part = ids[start : start + _IN_CHUNK]
                query = select(_F.prediction_id, _F.model, _F.predicted_at).where(
                    _F.prediction_id.in_(part)
                )
                for pid, model, at in conn.execute(query):
                    out[str(pid)] = (str(model), int(at))
        return out

    def _recent_files(self, since: int | None = None) -> list[PredictionLogFile]:
        from mlstage.serving.request_log_store import PredictionLogFile

        if since is None:
            since = self.clock() - self.lookback_ms
        query = select(
            _L.file_id,
            _L.model,
            _L.day,
            _L.sha256,
            _L.rows,
            _L.min_timestamp,
            _L.max_timestamp,
            _L.created_at,
        ).where(_L.max_timestamp >= since)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(_L.min_timestamp)).all()
        return [PredictionLogFile.model_validate(row._asdict()) for row in rows]

    def find_predictions(self, ids: list[str]) -> dict[str, tuple[str, int]]:
        """Model and time of the logged (non-shadow) predictions among ``ids``."""
        import duckdb
        import pyarrow as pa

        from mlstage.monitoring.window import local_files, parquet_source

        files = self._recent_files()
        if not files or not ids:
            return {}
        wanted = pa.table({"pid": pa.array(ids, type=pa.string())})
        con = duckdb.connect()
        try:
            con.register("wanted", wanted)
            with local_files(self.logs, files) as paths:
                found = con.execute(
                    "SELECT prediction_id, any_value(model), min(timestamp) "  # noqa: S608
                    f"FROM {parquet_source(paths)} "
                    "WHERE prediction_id IN (SELECT pid FROM wanted) AND route <> 'shadow' "
                    "GROUP BY prediction_id"
                ).fetchall()
        finally:
            con.close()
        return {str(pid): (canonical_model_name(str(m)), int(at)) for pid, m, at in found}

    def find_by_keys(
        self, labels: Sequence[Label], key_column: str, window_ms: int, now: int
    ) -> dict[int, tuple[str, str, int]]:
        """For each keyed label (by position), the latest prediction of its key in its window.

        The window of a label ends at its ``at`` (else now) and reaches back
        ``window_ms``; the result maps positions to (prediction id, model, time).
        """
        import duckdb
        import pyarrow as pa

        from mlstage.monitoring.window import local_files, parquet_source, quote

        if window_ms <= 0:
            raise InvalidInput(f"key_window must be positive, got {window_ms} ms")
        if key_column == REQUEST_KEY:
            column = "request_key"
        else:
            column = f"CAST({quote(INPUT_PREFIX + key_column)} AS VARCHAR)"
        ends = [item.at if item.at is not None else now for item in labels]
        oldest = min(ends) - window_ms
        files = [f for f in self._recent_files(since=oldest) if f.min_timestamp <= max(ends)]
        if not files:
            return {}
        wanted = pa.table(
            {
                "idx": pa.array(range(len(labels)), pa.int64()),
                "k": pa.array([str(item.key) for item in labels], pa.string()),
                "until_at": pa.array(ends, pa.int64()),
            }
        )
        con = duckdb.connect()
        try:
            con.register("wanted", wanted)
            with local_files(self.logs, files) as paths:
                try:
                    found = con.execute(
                        "SELECT w.idx, p.prediction_id, p.model, p.timestamp FROM wanted w "  # noqa: S608
                        f"JOIN (SELECT prediction_id, model, timestamp, {column} AS k "
                        f"FROM {parquet_source(paths)} WHERE route <> 'shadow') p "
                        "ON p.k = w.k AND p.timestamp <= w.until_at "
                        f"AND p.timestamp >= w.until_at - {int(window_ms)} "
                        "QUALIFY row_number() OVER (PARTITION BY w.idx "
                        "ORDER BY p.timestamp DESC, p.prediction_id) = 1"
                    ).fetchall()
                except duckdb.BinderException:
                    raise InvalidInput(
                        f"key_column {key_column!r} is neither request_key nor an input the "
                        "request log holds"
                    ) from None
        finally:
            con.close()
        return {
            int(idx): (str(pid), canonical_model_name(str(model)), int(at))
            for idx, pid, model, at in found
        }

    def labels(self, model: str, since_ms: int, until_ms: int) -> list[LabelRow]:
        """The labels of ``model``'s predictions made in ``[since, until)``."""
        import json

        query = select(
            _F.prediction_id, _F.model, _F.predicted_at, _F.label, _F.received_at, _F.source
        ).where(and_(_F.model == model, _F.predicted_at >= since_ms, _F.predicted_at < until_ms))
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(_F.predicted_at)).all()
        return [
            LabelRow(
                prediction_id=r[0],
                model=r[1],
                predicted_at=int(r[2]),
                label=json.loads(r[3]),
                received_at=int(r[4]),
                source=r[5],
            )
            for r in rows
        ]

    def label_table(self, model: str, since_ms: int, until_ms: int) -> Any:
        """The window's labels as an Arrow table (prediction_id, label JSON text, received_at)."""
        import pyarrow as pa

        query = select(_F.prediction_id, _F.label, _F.received_at).where(
            and_(_F.model == model, _F.predicted_at >= since_ms, _F.predicted_at < until_ms)
        )
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return pa.table(
            {
                "prediction_id": pa.array([r[0] for r in rows], type=pa.string()),
                "label": pa.array([r[1] for r in rows], type=pa.string()),
                "received_at": pa.array([int(r[2]) for r in rows], type=pa.int64()),
            }
        )
