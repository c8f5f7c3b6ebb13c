"""The tracking store over SQLAlchemy Core: SQLite by default, PostgreSQL for teams.

Rows never leave this module: they become entities at the boundary. Input is
checked before a transaction opens, so a bad value writes nothing.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, and_, insert, select, update
from sqlalchemy import exc as sa_exc

from mlstage.artifacts.store import ArtifactStore, get_artifact_store
from mlstage.config import Settings
from mlstage.errors import Conflict, InvalidInput, NotFound
from mlstage.governance.scope import (
    check_project,
    current_scope,
    project_id_named,
    readable_projects,
)
from mlstage.store import tables as t
from mlstage.store.database import Database, get_database
from mlstage.tracking import sql_json
from mlstage.tracking import validation as v
from mlstage.tracking.entities import (
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
from mlstage.tracking.sql_artifacts import RunArtifactsMixin
from mlstage.tracking.sql_rows import (
    NAN,
    check_tags,
    default_run_name,
    experiment_entity,
    group_rows,
    metric_row,
)
from mlstage.tracking.sql_run_reads import (
    RUN_COLUMNS,
    load_runs,
    load_runs_json,
    load_runs_table,
)
from mlstage.tracking.sql_search import build_run_id_query, decode_page_token, encode_page_token
from mlstage.tracking.sql_statements import Statements
from mlstage.tracking.store import MAX_PAGE_SIZE

if TYPE_CHECKING:
    import pyarrow as pa


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_run_id() -> str:
    return uuid.uuid4().hex


class SqlTrackingStore(RunArtifactsMixin):
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
        self._sql = Statements(db.dialect)

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

    def create_experiment(
        self, name: str, tags: Mapping[str, str] | None = None, project: str | None = None
    ) -> Experiment:
        """A new experiment in ``project`` (the default project when ``None``)."""
        name = v.check_name(name, "experiment name")
        checked_tags = check_tags(tags)
        now = self.clock()

        def work(conn: Connection) -> int:
            project_id = project_id_named(conn, project)
            clash = conn.execute(
                select(t.experiments.c.lifecycle_stage).where(t.experiments.c.name == name)
            ).scalar()
            if clash is not None:
                hint = " (it is deleted; choose another name)" if clash == "deleted" else ""
                raise Conflict(f"experiment {name!r} already exists{hint}")
            new_id = conn.execute(
                insert(t.experiments)
                .values(
                    name=name,
                    lifecycle_stage="active",
                    created_at=now,
                    updated_at=now,
                    project_id=project_id,
                )
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
            check_project(row.project_id, f"experiment {experiment_id!r}")
            return self._experiment(conn, row)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        with self.db.read() as conn:
            row = conn.execute(select(t.experiments).where(t.experiments.c.name == name)).first()
            if row is None:
                return None
            check_project(row.project_id, f"experiment {name!r}")
            return self._experiment(conn, row)

    def get_or_create_experiment(self, name: str, project: str | None = None) -> Experiment:
        found = self.get_experiment_by_name(name)
        if found is not None:
            return found
        try:
            return self.create_experiment(name, project=project)
        except Conflict:
            found = self.get_experiment_by_name(name)
            if found is None:
                raise
            return found

    def list_experiments(self, include_deleted: bool = False) -> list[Experiment]:
        query = select(t.experiments).order_by(t.experiments.c.experiment_id)
        if not include_deleted:
            query = query.where(t.experiments.c.lifecycle_stage == "active")
        readable = readable_projects()
        if readable is not None:
            query = query.where(t.experiments.c.project_id.in_(readable))
        with self.db.read() as conn:
            rows = conn.execute(query).all()
            tags = group_rows(conn.execute(select(t.experiment_tags)).all(), "experiment_id")
        return [experiment_entity(row, tags.get(row.experiment_id, {})) for row in rows]

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

    def _check_experiments(self, conn: Connection, exp_ids: Sequence[int]) -> None:
        """Refuse experiments outside the caller's projects (as if they did not exist)."""
        e = t.experiments.c
        rows = conn.execute(
            select(e.experiment_id, e.project_id).where(e.experiment_id.in_(exp_ids))
        )
        found = {exp_id: project_id for exp_id, project_id in rows}
        for exp_id in exp_ids:
            check_project(found.get(exp_id), f"experiment {str(exp_id)!r}")

    def _experiment(self, conn: Connection, row: Row[Any]) -> Experiment:
        tag_rows = conn.execute(
            select(t.experiment_tags.c.key, t.experiment_tags.c.value).where(
                t.experiment_tags.c.experiment_id == row.experiment_id
            )
        ).all()
        return experiment_entity(row, dict(tag_rows))  # type: ignore[arg-type]

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
        name = v.check_name(name, "run name") if name is not None else default_run_name(run_id)
        checked_tags = check_tags(tags)
        context = context or RunContext()
        now = self.clock()

        def work(conn: Connection) -> None:
            if current_scope() is not None:
                self._check_experiments(conn, [exp_id])
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
            runs = load_runs(conn, [run_id])
            if runs and current_scope() is not None:
                try:
                    self._check_experiments(conn, [int(runs[0].experiment_id)])
                except NotFound:
                    raise NotFound(f"run {run_id!r} does not exist") from None
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
        batch_id: str | None = None,
    ) -> None:
        v.check_run_id(run_id)
        if batch_id is not None:
            v.check_batch_id(batch_id)
        params = params or {}
        checked_tags = check_tags(tags)
        v.check_batch_sizes(len(metrics), len(params), len(checked_tags))
        checked_params = {
            v.check_key(k, "param key"): v.check_param_value(k, x) for k, x in params.items()
        }
        rows = [metric_row(run_id, m) for m in metrics]
        self.write_points({run_id: rows}, checked_params, checked_tags, batch_id)

    def write_points(
        self,
        rows_by_run: Mapping[str, list[dict[str, Any]]],
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        batch_id: str | None = None,
    ) -> None:
        """Insert checked metric rows for several runs, plus params and tags of one run.

        The metric buffer calls this with points of every run it holds, so a
        flush is one transaction however many runs logged. With a ``batch_id``
        seen before, nothing is written: the earlier attempt was stored.
        """
        run_ids = list(rows_by_run)

        def work(conn: Connection) -> None:
            self._check_runs_writable(conn, run_ids)
            if batch_id is not None:
                first_time = conn.execute(
                    self._sql.insert_batch_id,
                    {"batch_id": batch_id, "run_id": run_ids[0], "created_at": self.clock()},
                ).first()
                if first_time is None:
                    return
            all_rows = [row for rows in rows_by_run.values() for row in rows]
            if all_rows:
                conn.execute(self._sql.insert_metrics, all_rows)
                self._upsert_latest(conn, all_rows)
            if params:
                self._insert_params(conn, run_ids[0], params)
            if tags:
                self._upsert_tags(conn, run_ids[0], tags)

        self.db.write(work)

    def _upsert_latest(self, conn: Connection, rows: Iterable[dict[str, Any]]) -> None:
        latest: dict[tuple[str, str], dict[str, Any]] = {}
        for row in rows:
            key = (row["run_id"], row["key"])
            best = latest.get(key)
            if best is None or (row["step"], row["timestamp"]) >= (best["step"], best["timestamp"]):
                latest[key] = row
        # A fixed order of keys keeps PostgreSQL writers from deadlocking each other.
        member = sql_json.json_member
        ordered = [
            {**latest[k], "json_member": member(k[1], latest[k]["value"])} for k in sorted(latest)
        ]
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
        with self.db.read() as conn, bulk_build():
            rows = conn.execute(
                select(m.step, m.timestamp, m.value)
                .where(m.run_id == run_id, m.key == key)
                .order_by(m.step, m.timestamp)
            ).all()
            if not rows:
                self._require_run(conn, run_id)
            return [
                trusted(
                    Metric,
                    {
                        "key": key,
                        "value": NAN if value is None else value,
                        "step": step,
                        "timestamp": ts,
                    },
                )
                for step, ts, value in rows
            ]

    # -- search ------------------------------------------------------------------

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> RunPage:
        with self.db.read() as conn, bulk_build():
            ids, token = self._search_ids(
                conn, experiment_ids, filter, order_by, max_results, page_token
            )
            runs = load_runs(conn, ids)
        return RunPage.model_construct(runs=runs, next_page_token=token)

    def search_runs_json(
        self,
        experiment_ids: Sequence[str],
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> bytes:
        """``search_runs`` as the JSON of its ``RunPage``, written from the rows directly.

        What the REST search answers: the same document, without a ``Run`` per run
        (``tracking/sql_json.py``).
        """
        with self.db.read() as conn, bulk_build():
            ids, token = self._search_ids(
                conn, experiment_ids, filter, order_by, max_results, page_token
            )
            runs = load_runs_json(conn, ids)
        return sql_json.page_json(runs, token)

    def search_runs_table(
        self,
        experiment_ids: Sequence[str],
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> pa.Table:
        """``search_runs`` as one Arrow table (``tracking/runs_table.py``): for DataFrames.

        The next page's token is in the schema metadata (``runs_table.page_token``).
        """
        with self.db.read() as conn:
            rows, token = self._search_ids(
                conn, experiment_ids, filter, order_by, max_results, page_token, RUN_COLUMNS
            )
            return load_runs_table(conn, rows, token)

    def _search_ids(
        self,
        conn: Connection,
        experiment_ids: Sequence[str],
        filter: str | None,
        order_by: Sequence[str] | None,
        max_results: int,
        page_token: str | None,
        columns: Sequence[Any] = (),
    ) -> tuple[list[Any], str | None]:
        """The ids of one page of a search, in order, and the token of the next page;
        with ``columns``, those columns of each run (tuples) instead of its id."""
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
        if current_scope() is not None:
            self._check_experiments(conn, exp_ids)
        if columns:
            found: list[Any] = list(conn.execute(query.with_only_columns(*columns)).all())
        else:
            found = list(conn.execute(query).scalars())
        more = len(found) > max_results
        token = encode_page_token(offset + max_results) if more else None
        return found[:max_results], token
