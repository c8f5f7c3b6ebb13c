"""The tracking store over SQLAlchemy Core: SQLite by default, PostgreSQL for teams.

Rows never leave this module: they become entities at the boundary. Input is
checked before a transaction opens, so a bad value writes nothing.
"""

from __future__ import annotations

import functools
import json
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, insert, select, tuple_, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import BindParameter

from mlstage.artifacts.paths import canonical_artifact_path, canonical_prefix
from mlstage.artifacts.store import ArtifactStore, get_artifact_store
from mlstage.config import Settings
from mlstage.errors import Conflict, InvalidInput, NotFound
from mlstage.store import tables as t
from mlstage.store.database import Database, get_database
from mlstage.tracking import validation as v
from mlstage.tracking.entities import (
    RUN_STATUSES,
    ArtifactInfo,
    ColumnSchema,
    Dataset,
    DatasetInput,
    Experiment,
    Metric,
    Run,
    RunContext,
    RunPage,
    RunStatus,
    bulk_build,
    trusted,
)
from mlstage.tracking.search import parse_filter, parse_order_by
from mlstage.tracking.sql_search import build_run_id_query, decode_page_token, encode_page_token
from mlstage.tracking.store import MAX_PAGE_SIZE

_NAN = float("nan")
_CHUNK = 5000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_run_id() -> str:
    return uuid.uuid4().hex


class _Statements:
    """Hot-path statements, built once per store: constructing a SQLAlchemy
    statement costs more than executing it on SQLite, and a sweep starts
    thousands of runs."""

    def __init__(self, dialect_name: str) -> None:
        dialect: Any = sqlite if dialect_name == "sqlite" else postgresql
        r, lm = t.runs.c, t.latest_metrics.c
        self.insert_run = insert(t.runs)
        self.experiment_stage = select(t.experiments.c.lifecycle_stage).where(
            t.experiments.c.experiment_id == bindparam("b_experiment_id")
        )
        self.runs_writable = select(r.run_id, r.lifecycle_stage).where(
            r.run_id.in_(bindparam("b_ids", expanding=True))
        )
        self.end_run = (
            update(t.runs)
            .where(r.run_id == bindparam("b_run_id"))
            .values(
                status=bindparam("b_status"),
                end_time=bindparam("b_end_time"),
                heartbeat_at=bindparam("b_now"),
                status_reason=bindparam("b_reason"),
            )
        )
        self.insert_metrics = insert(t.metrics)
        upsert = dialect.insert(t.latest_metrics)
        excluded = upsert.excluded
        self.upsert_latest = upsert.on_conflict_do_update(
            index_elements=["run_id", "key"],
            set_={"step": excluded.step, "timestamp": excluded.timestamp, "value": excluded.value},
            where=tuple_(excluded.step, excluded.timestamp) >= tuple_(lm.step, lm.timestamp),
        )
        self.insert_params = dialect.insert(t.params).on_conflict_do_nothing()
        self.select_params = select(t.params.c.key, t.params.c.value).where(
            t.params.c.run_id == bindparam("b_run_id"),
            t.params.c.key.in_(bindparam("b_keys", expanding=True)),
        )
        tags = dialect.insert(t.tags)
        self.upsert_tags = tags.on_conflict_do_update(
            index_elements=["run_id", "key"], set_={"value": tags.excluded.value}
        )


class SqlTrackingStore:
    """``TrackingStore`` over one metadata database and one artifact store."""

    def __init__(
        self,
        db: Database,
        artifacts: ArtifactStore,
        *,
        heartbeat_timeout: float = 90.0,
        clock: Callable[[], int] = now_ms,
        new_id: Callable[[], str] = new_run_id,
    ) -> None:
        self.db = db
        self.artifacts = artifacts
        self.heartbeat_timeout_ms = int(heartbeat_timeout * 1000)
        self.clock = clock
        self.new_id = new_id
        self._last_reap = 0.0
        self._sql = _Statements(db.dialect)

    _shared: dict[tuple[str, str], SqlTrackingStore] = {}
    _shared_lock = threading.Lock()

    @classmethod
    def shared(cls, uri: str, settings: Settings) -> SqlTrackingStore:
        key = (uri, settings.artifact_root)
        with cls._shared_lock:
            store = cls._shared.get(key)
            if store is None:
                db = get_database(
                    uri,
                    busy_timeout=settings.sqlite_busy_timeout,
                    synchronous=settings.sqlite_synchronous,
                )
                artifacts = get_artifact_store(settings.artifact_root, settings.s3_endpoint_url)
                store = cls(db, artifacts, heartbeat_timeout=settings.heartbeat_timeout)
                cls._shared[key] = store
            return store

    # -- experiments -------------------------------------------------------

    def create_experiment(self, name: str, tags: Mapping[str, str] | None = None) -> Experiment:
        name = v.check_name(name, "experiment name")
        checked_tags = _check_tags(tags)
        now = self.clock()

        def work(conn: Connection) -> int:
            clash = conn.execute(
                select(t.experiments.c.lifecycle_stage).where(t.experiments.c.name == name)
            ).scalar()
            if clash is not None:
                hint = " (it is deleted; choose another name)" if clash == "deleted" else ""
                raise Conflict(f"experiment {name!r} already exists{hint}")
            new_id = conn.execute(
                insert(t.experiments)
                .values(name=name, lifecycle_stage="active", created_at=now, updated_at=now)
                .returning(t.experiments.c.experiment_id)
            ).scalar_one()
            if checked_tags:
                conn.execute(
                    insert(t.experiment_tags),
                    [
                        {"experiment_id": new_id, "key": k, "value": x}
                        for k, x in checked_tags.items()
                    ],
                )
            return int(new_id)

        try:
            experiment_id = self.db.write(work)
        except sa_exc.IntegrityError as exc:  # two creators raced on the unique name
            raise Conflict(f"experiment {name!r} already exists") from exc
        return self.get_experiment(str(experiment_id))

    def get_experiment(self, experiment_id: str) -> Experiment:
        exp_id = v.check_experiment_id(experiment_id)
        with self.db.read() as conn:
            row = conn.execute(
                select(t.experiments).where(t.experiments.c.experiment_id == exp_id)
            ).first()
            if row is None:
                raise NotFound(f"experiment {experiment_id!r} does not exist")
            return self._experiment(conn, row)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        with self.db.read() as conn:
            row = conn.execute(select(t.experiments).where(t.experiments.c.name == name)).first()
            return None if row is None else self._experiment(conn, row)

    def get_or_create_experiment(self, name: str) -> Experiment:
        found = self.get_experiment_by_name(name)
        if found is not None:
            return found
        try:
            return self.create_experiment(name)
        except Conflict:
            found = self.get_experiment_by_name(name)
            if found is None:
                raise
            return found

    def list_experiments(self, include_deleted: bool = False) -> list[Experiment]:
        query = select(t.experiments).order_by(t.experiments.c.experiment_id)
        if not include_deleted:
            query = query.where(t.experiments.c.lifecycle_stage == "active")
        with self.db.read() as conn:
            rows = conn.execute(query).all()
            tags = _group(conn.execute(select(t.experiment_tags)).all(), "experiment_id")
        return [_experiment_entity(row, tags.get(row.experiment_id, {})) for row in rows]

    def delete_experiment(self, experiment_id: str) -> None:
        exp_id = v.check_experiment_id(experiment_id)
        now = self.clock()

        def work(conn: Connection) -> None:
            done = conn.execute(
                update(t.experiments)
                .where(t.experiments.c.experiment_id == exp_id)
                .values(lifecycle_stage="deleted", updated_at=now)
            )
            if done.rowcount == 0:
                raise NotFound(f"experiment {experiment_id!r} does not exist")
            conn.execute(
                update(t.runs)
                .where(t.runs.c.experiment_id == exp_id)
                .values(lifecycle_stage="deleted")
            )

        self.db.write(work)

    def _experiment(self, conn: Connection, row: Row[Any]) -> Experiment:
        tag_rows = conn.execute(
            select(t.experiment_tags.c.key, t.experiment_tags.c.value).where(
                t.experiment_tags.c.experiment_id == row.experiment_id
            )
        ).all()
        return _experiment_entity(row, dict(tag_rows))  # type: ignore[arg-type]

    # -- runs ----------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        name: str | None = None,
        context: RunContext | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Run:
        exp_id = v.check_experiment_id(experiment_id)
        run_id = self.new_id()
        name = v.check_name(name, "run name") if name is not None else _default_run_name(run_id)
        checked_tags = _check_tags(tags)
        context = context or RunContext()
        now = self.clock()

        def work(conn: Connection) -> None:
            stage = conn.execute(self._sql.experiment_stage, {"b_experiment_id": exp_id}).scalar()
            if stage is None:
                raise NotFound(f"experiment {experiment_id!r} does not exist")
            if stage != "active":
                raise Conflict(f"experiment {experiment_id!r} is deleted; runs cannot start in it")
            conn.execute(
                self._sql.insert_run,
                dict(
                    run_id=run_id,
                    experiment_id=exp_id,
                    name=name,
                    status=RunStatus.RUNNING.value,
                    lifecycle_stage="active",
                    start_time=now,
                    heartbeat_at=now,
                    user=context.user[:250],
                    host=context.host[:250],
                    source=context.source,
                    command=context.command,
                    git_commit=context.git_commit,
                    git_dirty=context.git_dirty,
                    python_version=context.python_version,
                    packages=json.dumps(context.packages, sort_keys=True),
                    status_reason="",
                ),
            )
            if checked_tags:
                conn.execute(
                    insert(t.tags),
                    [{"run_id": run_id, "key": k, "value": x} for k, x in checked_tags.items()],
                )

        self.db.write(work)
        return Run(
            run_id=run_id,
            experiment_id=str(exp_id),
            name=name,
            status=RunStatus.RUNNING,
            start_time=now,
            context=context,
            tags=checked_tags,
        )

    def end_run(self, run_id: str, status: RunStatus, reason: str = "") -> None:
        v.check_run_id(run_id)
        status = RunStatus(status)
        now = self.clock()

        values = {
            "b_run_id": run_id,
            "b_status": status.value,
            "b_end_time": None if status is RunStatus.RUNNING else now,
            "b_now": now,
            "b_reason": reason[:2000],
        }

        def work(conn: Connection) -> None:
            done = conn.execute(self._sql.end_run, values)
            if done.rowcount == 0:
                raise NotFound(f"run {run_id!r} does not exist")

        self.db.write(work)

    def heartbeat(self, run_ids: Sequence[str]) -> None:
        ids = [v.check_run_id(r) for r in run_ids]
        if not ids:
            return
        now = self.clock()
        self.db.write(
            lambda conn: conn.execute(
                update(t.runs)
                .where(t.runs.c.run_id.in_(ids), t.runs.c.status == RunStatus.RUNNING.value)
                .values(heartbeat_at=now)
            )
        )

    def reap_stale_runs(self) -> int:
        """Mark FAILED the RUNNING runs whose process stopped sending heartbeats."""
        now = self.clock()
        cutoff = now - self.heartbeat_timeout_ms
        stale = and_(t.runs.c.status == RunStatus.RUNNING.value, t.runs.c.heartbeat_at < cutoff)
        with self.db.read() as conn:
            if conn.execute(select(t.runs.c.run_id).where(stale).limit(1)).first() is None:
                return 0
        reason = (
            f"no heartbeat for {self.heartbeat_timeout_ms // 1000} s: "
            "the process that ran it died or was killed"
        )
        return int(
            self.db.write(
                lambda conn: (
                    conn.execute(
                        update(t.runs)
                        .where(stale)
                        .values(
                            status=RunStatus.FAILED.value,
                            end_time=t.runs.c.heartbeat_at,
                            status_reason=reason,
                        )
                    ).rowcount
                )
            )
        )

    def _maybe_reap(self) -> None:
        now = time.monotonic()
        if now - self._last_reap >= 1.0:
            self._last_reap = now
            self.reap_stale_runs()

    def get_run(self, run_id: str) -> Run:
        v.check_run_id(run_id)
        self._maybe_reap()
        with self.db.read() as conn:
            runs = self._load_runs(conn, [run_id])
        if not runs:
            raise NotFound(f"run {run_id!r} does not exist")
        return runs[0]

    def delete_run(self, run_id: str) -> None:
        v.check_run_id(run_id)

        def work(conn: Connection) -> None:
            done = conn.execute(
                update(t.runs).where(t.runs.c.run_id == run_id).values(lifecycle_stage="deleted")
            )
            if done.rowcount == 0:
                raise NotFound(f"run {run_id!r} does not exist")

        self.db.write(work)

    # -- logging ---------------------------------------------------------------

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        v.check_run_id(run_id)
        params = params or {}
        checked_tags = _check_tags(tags)
        v.check_batch_sizes(len(metrics), len(params), len(checked_tags))
        checked_params = {
            v.check_key(k, "param key"): v.check_param_value(k, x) for k, x in params.items()
        }
        rows = [_metric_row(run_id, m) for m in metrics]
        self.write_points({run_id: rows}, checked_params, checked_tags)

    def write_points(
        self,
        rows_by_run: Mapping[str, list[dict[str, Any]]],
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Insert checked metric rows for several runs, plus params and tags of one run.

        The metric buffer calls this with points of every run it holds, so a
        flush is one transaction however many runs logged.
        """
        run_ids = list(rows_by_run)

        def work(conn: Connection) -> None:
            self._check_runs_writable(conn, run_ids)
            all_rows = [row for rows in rows_by_run.values() for row in rows]
            if all_rows:
                conn.execute(self._sql.insert_metrics, all_rows)
                self._upsert_latest(conn, all_rows)
            if params:
                self._insert_params(conn, run_ids[0], params)
            if tags:
                self._upsert_tags(conn, run_ids[0], tags)

        self.db.write(work)

    def _check_runs_writable(self, conn: Connection, run_ids: Sequence[str]) -> None:
        found = dict(conn.execute(self._sql.runs_writable, {"b_ids": list(run_ids)}).all())
        for run_id in run_ids:
            if run_id not in found:
                raise NotFound(f"run {run_id!r} does not exist")
            if found[run_id] != "active":
                raise Conflict(f"run {run_id!r} is deleted; nothing can be logged to it")

    def _upsert_latest(self, conn: Connection, rows: Iterable[dict[str, Any]]) -> None:
        latest: dict[tuple[str, str], dict[str, Any]] = {}
        for row in rows:
            key = (row["run_id"], row["key"])
            best = latest.get(key)
            if best is None or (row["step"], row["timestamp"]) >= (best["step"], best["timestamp"]):
                latest[key] = row
        # A fixed order of keys keeps PostgreSQL writers from deadlocking each other.
        ordered = [latest[k] for k in sorted(latest)]
        conn.execute(self._sql.upsert_latest, ordered)

    def _insert_params(self, conn: Connection, run_id: str, params: Mapping[str, str]) -> None:
        rows = [{"run_id": run_id, "key": k, "value": x} for k, x in params.items()]
        inserted = conn.execute(self._sql.insert_params, rows).rowcount
        if inserted == len(rows):
            return  # the usual case: every key is new
        existing = dict(
            conn.execute(
                self._sql.select_params, {"b_run_id": run_id, "b_keys": list(params)}
            ).all()
        )
        for key, value in params.items():
            if existing.get(key, value) != value:
                raise Conflict(
                    f"param {key!r} of run {run_id} is already {existing[key]!r}; params cannot "
                    f"change (got {value!r}). Log a new run, or use a tag or metric instead"
                )

    def _upsert_tags(self, conn: Connection, run_id: str, tags: Mapping[str, str]) -> None:
        conn.execute(
            self._sql.upsert_tags,
            [{"run_id": run_id, "key": k, "value": x} for k, x in sorted(tags.items())],
        )

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        v.check_run_id(run_id)
        v.check_key(key, "metric key")
        m = t.metrics.c
        with self.db.read() as conn:
            rows = conn.execute(
                select(m.step, m.timestamp, m.value)
                .where(m.run_id == run_id, m.key == key)
                .order_by(m.step, m.timestamp)
            ).all()
            if not rows:
                self._require_run(conn, run_id)
        with bulk_build():
            return [
                trusted(
                    Metric,
                    {
                        "key": key,
                        "value": _NAN if value is None else value,
                        "step": step,
                        "timestamp": ts,
                    },
                )
                for step, ts, value in rows
            ]

    def log_inputs(self, run_id: str, inputs: Sequence[DatasetInput]) -> None:
        v.check_run_id(run_id)
        for item in inputs:
            v.check_name(item.dataset.name, "dataset name")
            v.check_key(item.context, "dataset context")
        now = self.clock()

        def work(conn: Connection) -> None:
            self._check_runs_writable(conn, [run_id])
            for item in inputs:
                ds = item.dataset
                d = t.datasets.c
                dataset_id = conn.execute(
                    select(d.dataset_id).where(d.name == ds.name, d.digest == ds.digest)
                ).scalar()
                if dataset_id is None:
                    dataset_id = conn.execute(
                        insert(t.datasets)
                        .values(
                            name=ds.name,
                            digest=ds.digest,
                            num_rows=ds.num_rows,
                            num_columns=ds.num_columns,
                            schema=json.dumps([c.model_dump() for c in ds.schema_]),
                            source=ds.source,
                            created_at=now,
                        )
                        .returning(t.datasets.c.dataset_id)
                    ).scalar_one()
                exists = conn.execute(
                    select(t.run_inputs.c.run_id).where(
                        t.run_inputs.c.run_id == run_id,
                        t.run_inputs.c.dataset_id == dataset_id,
                        t.run_inputs.c.context == item.context,
                    )
                ).first()
                if exists is None:
                    conn.execute(
                        insert(t.run_inputs).values(
                            run_id=run_id, dataset_id=dataset_id, context=item.context
                        )
                    )

        self.db.write(work)

    # -- artifacts ---------------------------------------------------------------

    def log_artifact(self, run_id: str, path: str, data: bytes) -> ArtifactInfo:
        v.check_run_id(run_id)
        path = canonical_artifact_path(path)
        with self.db.read() as conn:
            self._check_runs_writable(conn, [run_id])
        sha, size = self.artifacts.put_bytes(data)
        return self.record_artifact(run_id, path, sha, size)

    def record_artifact(self, run_id: str, path: str, sha: str, size: int) -> ArtifactInfo:
        """Point ``path`` of the run at a blob already in the artifact store."""
        path = canonical_artifact_path(path)
        now = self.clock()
        dialect = sqlite if self.db.dialect == "sqlite" else postgresql

        def work(conn: Connection) -> None:
            self._check_runs_writable(conn, [run_id])
            under = conn.execute(
                select(t.artifacts.c.path)
                .where(
                    t.artifacts.c.run_id == run_id,
                    t.artifacts.c.path.like(_like_prefix(path) + "/%", escape="\\"),
                )
                .limit(1)
            ).first()
            if under is not None:
                raise Conflict(f"artifact path {path!r} of run {run_id} is a folder")
            stmt = dialect.insert(t.artifacts)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["run_id", "path"],
                    set_={"sha256": sha, "size": size, "created_at": now},
                ),
                {"run_id": run_id, "path": path, "sha256": sha, "size": size, "created_at": now},
            )

        self.db.write(work)
        return ArtifactInfo(path=path, size=size, sha256=sha)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[ArtifactInfo]:
        """Files and folders directly under ``path`` of the run."""
        v.check_run_id(run_id)
        prefix = canonical_prefix(path)
        a = t.artifacts.c
        query = select(a.path, a.size, a.sha256).where(a.run_id == run_id).order_by(a.path)
        if prefix:
            query = query.where(a.path.like(_like_prefix(prefix) + "/%", escape="\\"))
        with self.db.read() as conn:
            self._require_run(conn, run_id)
            rows = conn.execute(query).all()
        start = len(prefix) + 1 if prefix else 0
        seen: dict[str, ArtifactInfo] = {}
        for full, size, sha in rows:
            rest = full[start:]
            head, sep, _ = rest.partition("/")
            name = f"{prefix}/{head}" if prefix else head
            if sep:
                seen.setdefault(name, ArtifactInfo(path=name, is_dir=True))
            else:
                seen[name] = ArtifactInfo(path=name, size=size, sha256=sha)
        return list(seen.values())

    def artifact_files(self, run_id: str, folder: str) -> dict[str, str]:
        """Every file below ``folder`` of the run, by path relative to it, with its sha256."""
        v.check_run_id(run_id)
        prefix = canonical_prefix(folder)
        a = t.artifacts.c
        with self.db.read() as conn:
            self._require_run(conn, run_id)
            rows = conn.execute(
                select(a.path, a.sha256).where(
                    a.run_id == run_id, a.path.like(_like_prefix(prefix) + "/%", escape="\\")
                )
            ).all()
        return {path[len(prefix) + 1 :]: sha for path, sha in rows}

    def artifact_sha(self, run_id: str, path: str) -> str:
        v.check_run_id(run_id)
        path = canonical_artifact_path(path)
        with self.db.read() as conn:
            sha = conn.execute(
                select(t.artifacts.c.sha256).where(
                    t.artifacts.c.run_id == run_id, t.artifacts.c.path == path
                )
            ).scalar()
            if sha is None:
                self._require_run(conn, run_id)
                raise NotFound(f"run {run_id} has no artifact {path!r}")
        return str(sha)

    def read_artifact(self, run_id: str, path: str) -> bytes:
        return self.artifacts.get_bytes(self.artifact_sha(run_id, path))

    # -- search ------------------------------------------------------------------

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> RunPage:
        if not isinstance(max_results, int) or not 1 <= max_results <= MAX_PAGE_SIZE:
            raise InvalidInput(
                f"max_results must be between 1 and {MAX_PAGE_SIZE}, got {max_results!r}"
            )
        exp_ids = [v.check_experiment_id(e) for e in experiment_ids]
        clauses = parse_filter(filter)
        orders = parse_order_by(list(order_by or []))
        offset = decode_page_token(page_token)
        self._maybe_reap()
        query = build_run_id_query(exp_ids, clauses, orders, max_results + 1, offset)
        with self.db.read() as conn, bulk_build():
            ids = list(conn.execute(query).scalars())
            more = len(ids) > max_results
            runs = self._load_runs(conn, ids[:max_results])
        token = encode_page_token(offset + max_results) if more else None
        return RunPage.model_construct(runs=runs, next_page_token=token)

    def _require_run(self, conn: Connection, run_id: str) -> None:
        if conn.execute(select(t.runs.c.run_id).where(t.runs.c.run_id == run_id)).first() is None:
            raise NotFound(f"run {run_id!r} does not exist")

    def _load_runs(self, conn: Connection, run_ids: list[str]) -> list[Run]:
        """Whole runs for ``run_ids``, in that order, with a fixed number of queries."""
        if not run_ids:
            return []
        rows: dict[str, Row[Any]] = {}
        metrics: dict[str, dict[str, float]] = defaultdict(dict)
        params: dict[str, dict[str, str]] = defaultdict(dict)
        tags: dict[str, dict[str, str]] = defaultdict(dict)
        inputs: dict[str, list[DatasetInput]] = defaultdict(list)
        ids_param: BindParameter[Any] = bindparam("ids", expanding=True)
        r = t.runs.c
        lm = t.latest_metrics.c
        queries = {
            "runs": select(t.runs).where(r.run_id.in_(ids_param)),
            "metrics": select(lm.run_id, lm.key, lm.value).where(lm.run_id.in_(ids_param)),
            "params": select(t.params).where(t.params.c.run_id.in_(ids_param)),
            "tags": select(t.tags).where(t.tags.c.run_id.in_(ids_param)),
            "inputs": select(t.run_inputs.c.run_id, t.run_inputs.c.context, t.datasets)
            .join(t.datasets, t.datasets.c.dataset_id == t.run_inputs.c.dataset_id)
            .where(t.run_inputs.c.run_id.in_(ids_param)),
        }
        for start in range(0, len(run_ids), _CHUNK):
            chunk = {"ids": run_ids[start : start + _CHUNK]}
            for row in conn.execute(queries["runs"], chunk):
                rows[row.run_id] = row
            for run_id, key, value in conn.execute(queries["metrics"], chunk):
                metrics[run_id][key] = _NAN if value is None else value
            for run_id, key, value in conn.execute(queries["params"], chunk):
                params[run_id][key] = value
            for run_id, key, value in conn.execute(queries["tags"], chunk):
                tags[run_id][key] = value
            for row in conn.execute(queries["inputs"], chunk):
                inputs[row.run_id].append(_input_entity(row))
        return [
            _run_entity(rows[i], metrics[i], params[i], tags[i], inputs[i])
            for i in run_ids
            if i in rows
        ]


def _like_prefix(path: str) -> str:
    return path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _check_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    if not tags:
        return {}
    return {v.check_key(k, "tag key"): v.check_tag_value(k, x) for k, x in tags.items()}


def _metric_row(run_id: str, metric: Metric) -> dict[str, Any]:
    key = v.check_key(metric.key, "metric key")
    value = v.check_metric_value(key, metric.value)
    return {
        "run_id": run_id,
        "key": key,
        "step": v.check_step(key, metric.step),
        "timestamp": int(metric.timestamp),
        "value": None if value != value else value,
    }


def _default_run_name(run_id: str) -> str:
    return f"run-{run_id[:8]}"


def _group(rows: Sequence[Row[Any]], by: str) -> dict[Any, dict[str, str]]:
    out: dict[Any, dict[str, str]] = defaultdict(dict)
    for row in rows:
        out[getattr(row, by)][row.key] = row.value
    return out


def _experiment_entity(row: Row[Any], tags: dict[str, str]) -> Experiment:
    return Experiment(
        experiment_id=str(row.experiment_id),
        name=row.name,
        lifecycle_stage=row.lifecycle_stage,
        created_at=row.created_at,
        updated_at=row.updated_at,
        tags=tags,
    )


def _input_entity(row: Row[Any]) -> DatasetInput:
    schema = [ColumnSchema.model_construct(**c) for c in json.loads(row.schema)]
    dataset = Dataset.model_construct(
        name=row.name,
        digest=row.digest,
        num_rows=row.num_rows,
        num_columns=row.num_columns,
        schema_=schema,
        source=row.source,
    )
    return DatasetInput.model_construct(dataset=dataset, context=row.context)


def _run_entity(
    row: Row[Any],
    metrics: dict[str, float],
    params: dict[str, str],
    tags: dict[str, str],
    inputs: list[DatasetInput],
) -> Run:
    # Rows were checked on the way in, and a search may build thousands of runs.
    context = trusted(
        RunContext,
        {
            "user": row.user,
            "host": row.host,
            "source": row.source,
            "command": row.command,
            "git_commit": row.git_commit,
            "git_dirty": row.git_dirty,
            "python_version": row.python_version,
            "packages": _packages(row.packages),
        },
    )
    return trusted(
        Run,
        {
            "run_id": row.run_id,
            "experiment_id": str(row.experiment_id),
            "name": row.name,
            "status": RUN_STATUSES[row.status],
            "lifecycle_stage": row.lifecycle_stage,
            "start_time": row.start_time,
            "end_time": row.end_time,
            "status_reason": row.status_reason,
            "context": context,
            "metrics": metrics,
            "params": params,
            "tags": tags,
            "inputs": inputs,
        },
    )


@functools.lru_cache(maxsize=256)
def _packages_json(text: str) -> tuple[tuple[str, str], ...]:
    return tuple(json.loads(text).items())


def _packages(text: str) -> dict[str, str]:
    # Most runs of a project share one set of versions: parse each distinct set once.
    return dict(_packages_json(text))
