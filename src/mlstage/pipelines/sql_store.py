"""Pipeline definitions, runs and step runs over SQLAlchemy Core (SQLite or PostgreSQL).

Rows never leave this module: they become entities at the boundary. A run is
created with all its steps PENDING in one transaction; each step then moves
RUNNING and to its end state, one small transaction each, which also beats
the run's heartbeat. ``reap_stale_runs`` ends runs whose process died.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Row, and_, insert, select, update
from sqlalchemy import exc as sa_exc

from mlstage.config import Settings
from mlstage.errors import InvalidInput, NotFound
from mlstage.pipelines.entities import (
    PipelineRunInfo,
    PipelineStatus,
    StepRun,
    StepStatus,
    StoredOutput,
)
from mlstage.store import tables as t
from mlstage.store.database import Database, get_database

_TEXT_LIMIT = 64_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _tail(text: str, limit: int = _TEXT_LIMIT) -> str:
    return text if len(text) <= limit else "...(cut)...\n" + text[-limit:]


def _dump_outputs(outputs: Mapping[str, StoredOutput]) -> str:
    return json.dumps({k: v.model_dump() for k, v in outputs.items()}, sort_keys=True)


class SqlPipelineStore:
    """Records of pipeline runs in the metadata database."""

    def __init__(self, db: Database, *, heartbeat_timeout: float = 90.0) -> None:
        self.db = db
        self.heartbeat_timeout_ms = int(heartbeat_timeout * 1000)

    _shared: dict[str, SqlPipelineStore] = {}
    _lock = threading.Lock()

    @classmethod
    def shared(cls, settings: Settings) -> SqlPipelineStore:
        uri = settings.tracking_uri
        if uri.split(":", 1)[0].lower() in ("http", "https"):
            raise InvalidInput(
                f"tracking URI {uri}: pipelines record their runs in the metadata database "
                "directly; point MLSTAGE_TRACKING_URI at sqlite:///... or postgresql+psycopg://..."
            )
        key = f"{uri}|{settings.heartbeat_timeout}"
        with cls._lock:
            store = cls._shared.get(key)
            if store is None:
                db = get_database(
                    uri,
                    busy_timeout=settings.sqlite_busy_timeout,
                    synchronous=settings.sqlite_synchronous,
                )
                store = cls(db, heartbeat_timeout=settings.heartbeat_timeout)
                cls._shared[key] = store
            return store

    # -- definitions --------------------------------------------------------------

    def save_definition(self, name: str, spec: dict[str, Any], spec_hash: str, source: str) -> int:
        """The id of this graph of ``name``, recorded on first use."""
        d = t.pipeline_definitions
        query = select(d.c.definition_id).where(d.c.name == name, d.c.spec_hash == spec_hash)
        with self.db.read() as conn:
            found = conn.execute(query).scalar()
        if found is not None:
            return int(found)
        text = json.dumps(spec, sort_keys=True, default=str)

        def work(conn: Connection) -> int:
            existing = conn.execute(query).scalar()
            if existing is not None:
                return int(existing)
            return int(
                conn.execute(
                    insert(d)
                    .values(
                        name=name,
                        spec_hash=spec_hash,
                        spec=text,
                        source=source,
                        created_at=now_ms(),
                    )
                    .returning(d.c.definition_id)
                ).scalar_one()
            )

        try:
            return self.db.write(work)
        except sa_exc.IntegrityError:  # another process recorded it at the same moment
            with self.db.read() as conn:
                return int(conn.execute(query).scalar_one())

    def get_definition(self, definition_id: int) -> tuple[str, dict[str, Any], str]:
        d = t.pipeline_definitions
        with self.db.read() as conn:
            row = conn.execute(select(d).where(d.c.definition_id == definition_id)).first()
        if row is None:
            raise NotFound(f"pipeline definition {definition_id} does not exist")
        return row.name, json.loads(row.spec), row.source

    def list_pipelines(self) -> list[dict[str, Any]]:
        """Each pipeline name with its newest definition and its last run."""
        d, r = t.pipeline_definitions, t.pipeline_runs
        with self.db.read() as conn:
            defs = conn.execute(select(d).order_by(d.c.definition_id)).all()
            runs = conn.execute(
                select(r.c.pipeline, r.c.run_id, r.c.status, r.c.start_time).order_by(
                    r.c.start_time
                )
            ).all()
        found: dict[str, dict[str, Any]] = {}
        for row in defs:
            spec = json.loads(row.spec)
            found[row.name] = {
                "name": row.name,
                "source": row.source,
                "steps": len(spec.get("steps", [])),
                "definitions": found.get(row.name, {}).get("definitions", 0) + 1,
                "runs": 0,
                "last_run_id": None,
                "last_status": None,
                "last_start_time": None,
            }
        for run in runs:
            entry = found.get(run.pipeline)
            if entry is not None:
                entry["runs"] += 1
                entry.update(
                    last_run_id=run.run_id,
                    last_status=run.status,
                    last_start_time=run.start_time,
                )
        return sorted(found.values(), key=lambda e: e["name"])

    # -- runs -------------------------------------------------------------------------

    def create_run(
        self,
        *,
        run_id: str,
        definition_id: int,
        pipeline: str,
        params: Mapping[str, Any],
        executor: str,
        steps: Sequence[tuple[str, int, str, str]],
        resumed_from: str | None,
        user: str,
        host: str,
    ) -> int:
        """Record a RUNNING run and its steps (name, position, function, code hash) PENDING."""
        now = now_ms()

        def work(conn: Connection) -> None:
            conn.execute(
                insert(t.pipeline_runs).values(
                    run_id=run_id,
                    definition_id=definition_id,
                    pipeline=pipeline,
                    status=PipelineStatus.RUNNING.value,
                    params=json.dumps(dict(params), sort_keys=True),
                    executor=executor[:250],
                    start_time=now,
                    end_time=None,
                    heartbeat_at=now,
                    error="",
                    resumed_from=resumed_from,
                    user=user[:250],
                    host=host[:250],
                )
            )
            conn.execute(
                insert(t.pipeline_step_runs),
                [
                    {
                        "pipeline_run_id": run_id,
                        "step": name,
                        "position": position,
                        "function": function[:500],
                        "status": StepStatus.PENDING.value,
                        "cached": False,
                        "attempts": 0,
                        "code_hash": code_hash,
                        "params_hash": "",
                        "input_hashes": "{}",
                        "cache_key": "",
                        "outputs": "{}",
                        "tracking_run_id": None,
                        "start_time": None,
                        "end_time": None,
                        "logs": "",
                        "error": "",
                        "traceback": "",
                    }
                    for name, position, function, code_hash in steps
                ],
            )

        self.db.write(work)
        return now

    def _step_update(self, run_id: str, step: str, values: dict[str, Any], beat: bool) -> None:
        s = t.pipeline_step_runs
        now = now_ms()

        def work(conn: Connection) -> None:
            conn.execute(
                update(s).where(s.c.pipeline_run_id == run_id, s.c.step == step).values(**values)
            )
            if beat:
                conn.execute(
                    update(t.pipeline_runs)
                    .where(t.pipeline_runs.c.run_id == run_id)
                    .values(heartbeat_at=now)
                )

        self.db.write(work)

    def start_step(
        self,
        run_id: str,
        step: str,
        *,
        params_hash: str,
        input_hashes: Mapping[str, str],
        cache_key: str,
        start_time: int,
    ) -> None:
        self._step_update(
            run_id,
            step,
            {
                "status": StepStatus.RUNNING.value,
                "params_hash": params_hash,
                "input_hashes": json.dumps(dict(input_hashes), sort_keys=True),
                "cache_key": cache_key,
                "start_time": start_time,
            },
            beat=True,
        )

    def finish_step(
        self,
        run_id: str,
        step: str,
        *,
        status: StepStatus,
        outputs: Mapping[str, StoredOutput],
        attempts: int,
        tracking_run_id: str | None,
        end_time: int,
        logs: str = "",
        error: str = "",
        traceback: str = "",
        start_time: int | None = None,
    ) -> None:
        values: dict[str, Any] = {
            "status": status.value,
            "outputs": _dump_outputs(outputs),
            "attempts": attempts,
            "tracking_run_id": tracking_run_id,
            "end_time": end_time,
            "logs": _tail(logs),
            "error": error[:4000],
            "traceback": _tail(traceback, 32_000),
        }
        if start_time is not None:
            values["start_time"] = start_time
        self._step_update(run_id, step, values, beat=True)

    def record_cached(
        self,
        run_id: str,
        step: str,
        *,
        params_hash: str,
        input_hashes: Mapping[str, str],
        cache_key: str,
        outputs: Mapping[str, StoredOutput],
        tracking_run_id: str | None,
    ) -> None:
        now = now_ms()
        self._step_update(
            run_id,
            step,
            {
                "status": StepStatus.SUCCEEDED.value,
                "cached": True,
                "params_hash": params_hash,
                "input_hashes": json.dumps(dict(input_hashes), sort_keys=True),
                "cache_key": cache_key,
                "outputs": _dump_outputs(outputs),
                "tracking_run_id": tracking_run_id,
                "start_time": now,
                "end_time": now,
            },
            beat=False,
        )

    def find_cached(self, cache_key: str) -> tuple[dict[str, StoredOutput], str | None] | None:
        """Outputs (and tracked run) of the newest successful step run with ``cache_key``."""
        s = t.pipeline_step_runs
        with self.db.read() as conn:
            row = conn.execute(
                select(s.c.outputs, s.c.tracking_run_id)
                .where(s.c.cache_key == cache_key, s.c.status == StepStatus.SUCCEEDED.value)
                .order_by(s.c.end_time.desc())
                .limit(1)
            ).first()
        if row is None:
            return None
        outputs = {k: StoredOutput(**v) for k, v in json.loads(row.outputs).items()}
        return outputs, row.tracking_run_id

    def finish_run(self, run_id: str, status: PipelineStatus, error: str = "") -> None:
        now = now_ms()
        r, s = t.pipeline_runs, t.pipeline_step_runs

        def work(conn: Connection) -> None:
            mine = s.c.pipeline_run_id == run_id
            conn.execute(
                update(s)
                .where(mine, s.c.status == StepStatus.RUNNING.value)  # the run was interrupted
                .values(status=StepStatus.FAILED.value, end_time=now, error=error[:4000])
            )
            conn.execute(
                update(s)
                .where(mine, s.c.status == StepStatus.PENDING.value)
                .values(status=StepStatus.SKIPPED.value)
            )
            conn.execute(
                update(r)
                .where(r.c.run_id == run_id)
                .values(status=status.value, end_time=now, heartbeat_at=now, error=error[:8000])
            )

        self.db.write(work)

    def heartbeat(self, run_id: str) -> None:
        r = t.pipeline_runs
        self.db.write(
            lambda conn: conn.execute(
                update(r)
                .where(r.c.run_id == run_id, r.c.status == PipelineStatus.RUNNING.value)
                .values(heartbeat_at=now_ms())
            )
        )

    def reap_stale_runs(self) -> int:
        """End FAILED the RUNNING runs whose process stopped beating; returns how many."""
        r, s = t.pipeline_runs, t.pipeline_step_runs
        cutoff = now_ms() - self.heartbeat_timeout_ms
        stale = and_(r.c.status == PipelineStatus.RUNNING.value, r.c.heartbeat_at < cutoff)
        with self.db.read() as conn:
            ids = list(conn.execute(select(r.c.run_id).where(stale)).scalars())
        if not ids:
            return 0
        reason = (
            f"no heartbeat for {self.heartbeat_timeout_ms / 1000:g} s: the process that ran "
            "the pipeline died or was killed"
        )

        def work(conn: Connection) -> int:
            ended = conn.execute(
                update(r)
                .where(stale, r.c.run_id.in_(ids))
                .values(status=PipelineStatus.FAILED.value, end_time=r.c.heartbeat_at, error=reason)
            ).rowcount
            conn.execute(
                update(s)
                .where(s.c.pipeline_run_id.in_(ids), s.c.status == StepStatus.RUNNING.value)
                .values(status=StepStatus.FAILED.value, error=reason)
            )
            conn.execute(
                update(s)
                .where(s.c.pipeline_run_id.in_(ids), s.c.status == StepStatus.PENDING.value)
                .values(status=StepStatus.SKIPPED.value)
            )
            return int(ended)

        return self.db.write(work)

    def get_run(self, run_id: str) -> PipelineRunInfo:
        self.reap_stale_runs()
        r, d, s = t.pipeline_runs, t.pipeline_definitions, t.pipeline_step_runs
        with self.db.read() as conn:
            row = conn.execute(
                select(r, d.c.source)
                .join(d, d.c.definition_id == r.c.definition_id)
                .where(r.c.run_id == run_id)
            ).first()
            if row is None:
                raise NotFound(
                    f"pipeline run {run_id!r} does not exist; see `mlstage pipelines runs`"
                )
            steps = conn.execute(
                select(s).where(s.c.pipeline_run_id == run_id).order_by(s.c.position)
            ).all()
        return _run_entity(row, [_step_entity(x) for x in steps])

    def definition_of(self, run_id: str) -> int:
        r = t.pipeline_runs
        with self.db.read() as conn:
            found = conn.execute(select(r.c.definition_id).where(r.c.run_id == run_id)).scalar()
        if found is None:
            raise NotFound(f"pipeline run {run_id!r} does not exist; see `mlstage pipelines runs`")
        return int(found)

    def list_runs(self, pipeline: str | None = None, limit: int = 50) -> list[PipelineRunInfo]:
        self.reap_stale_runs()
        r, d = t.pipeline_runs, t.pipeline_definitions
        query = (
            select(r, d.c.source)
            .join(d, d.c.definition_id == r.c.definition_id)
            .order_by(r.c.start_time.desc(), r.c.run_id)
            .limit(limit)
        )
        if pipeline is not None:
            query = query.where(r.c.pipeline == pipeline)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [_run_entity(row, []) for row in rows]


def _run_entity(row: Row[Any], steps: list[StepRun]) -> PipelineRunInfo:
    return PipelineRunInfo(
        run_id=row.run_id,
        pipeline=row.pipeline,
        status=PipelineStatus(row.status),
        params=json.loads(row.params),
        executor=row.executor,
        start_time=row.start_time,
        end_time=row.end_time,
        heartbeat_at=row.heartbeat_at,
        error=row.error,
        resumed_from=row.resumed_from,
        user=row.user,
        host=row.host,
        source=row.source,
        steps=steps,
    )


def _step_entity(row: Row[Any]) -> StepRun:
    return StepRun(
        step=row.step,
        function=row.function,
        position=row.position,
        status=StepStatus(row.status),
        cached=bool(row.cached),
        attempts=row.attempts,
        code_hash=row.code_hash,
        params_hash=row.params_hash,
        input_hashes=json.loads(row.input_hashes),
        cache_key=row.cache_key,
        outputs={k: StoredOutput(**v) for k, v in json.loads(row.outputs).items()},
        tracking_run_id=row.tracking_run_id,
        start_time=row.start_time,
        end_time=row.end_time,
        logs=row.logs,
        error=row.error,
        traceback=row.traceback,
    )
