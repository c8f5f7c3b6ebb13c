"""Read-only queries of the pipelines pages that ``SqlPipelineStore`` does not offer.

Its ``list_pipelines`` reads every run to find each pipeline's last, and
``list_runs`` has no offset; the pages need both at any number of runs. So
these are grouped queries over the ``(pipeline, start_time)`` index: a
constant number a page, never one a pipeline or a run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select

from mlstage.store import tables as t
from mlstage.store.database import Database


@dataclass(frozen=True)
class RunRow:
    run_id: str
    pipeline: str
    status: str
    executor: str
    params: dict[str, Any]
    start_time: int
    end_time: int | None
    resumed_from: str | None
    user: str
    error: str

    @property
    def duration_ms(self) -> int | None:
        return None if self.end_time is None else self.end_time - self.start_time


@dataclass(frozen=True)
class Definition:
    name: str
    definition_id: int
    definitions: int
    steps: list[dict[str, Any]]
    params: dict[str, Any]
    source: str
    created_at: int


@dataclass(frozen=True)
class Summary:
    definition: Definition
    runs: int
    last: RunRow | None


_RUN_COLUMNS = (
    t.pipeline_runs.c.run_id,
    t.pipeline_runs.c.pipeline,
    t.pipeline_runs.c.status,
    t.pipeline_runs.c.executor,
    t.pipeline_runs.c.params,
    t.pipeline_runs.c.start_time,
    t.pipeline_runs.c.end_time,
    t.pipeline_runs.c.resumed_from,
    t.pipeline_runs.c.user,
    t.pipeline_runs.c.error,
)


def _run(row: Any) -> RunRow:
    try:
        params = json.loads(row.params)
    except ValueError:
        params = {}
    return RunRow(
        run_id=row.run_id,
        pipeline=row.pipeline,
        status=row.status,
        executor=row.executor,
        params=params if isinstance(params, dict) else {},
        start_time=row.start_time,
        end_time=row.end_time,
        resumed_from=row.resumed_from,
        user=row.user,
        error=row.error,
    )


def _definition(row: Any, count: int) -> Definition:
    spec = json.loads(row.spec)
    steps = [s for s in spec.get("steps") or [] if isinstance(s, dict)]
    return Definition(
        name=row.name,
        definition_id=row.definition_id,
        definitions=count,
        steps=steps,
        params=spec.get("params") or {},
        source=row.source,
        created_at=row.created_at,
    )


def summaries(db: Database) -> list[Summary]:
    """Each pipeline's newest definition, run count and last run, by name: four queries."""
    d, r = t.pipeline_definitions, t.pipeline_runs
    newest = (
        select(d.c.name, func.max(d.c.definition_id).label("newest"), func.count().label("n"))
        .group_by(d.c.name)
        .subquery()
    )
    last = (
        select(r.c.pipeline, func.max(r.c.start_time).label("last"), func.count().label("n"))
        .group_by(r.c.pipeline)
        .subquery()
    )
    with db.read() as conn:
        defs = conn.execute(
            select(d, newest.c.n).join(newest, d.c.definition_id == newest.c.newest)
        ).all()
        counts = {row.pipeline: int(row.n) for row in conn.execute(select(last))}
        lasts = conn.execute(
            select(*_RUN_COLUMNS).join(
                last, and_(r.c.pipeline == last.c.pipeline, r.c.start_time == last.c.last)
            )
        ).all()
    last_run: dict[str, RunRow] = {}
    for row in lasts:
        found = last_run.get(row.pipeline)
        if found is None or row.run_id > found.run_id:  # ties at one millisecond: any, stably
            last_run[row.pipeline] = _run(row)
    out = [
        Summary(_definition(row, int(row.n)), counts.get(row.name, 0), last_run.get(row.name))
        for row in defs
    ]
    return sorted(out, key=lambda s: s.definition.name)


def newest_definition(db: Database, name: str) -> Definition | None:
    d = t.pipeline_definitions
    with db.read() as conn:
        count = conn.execute(select(func.count()).where(d.c.name == name)).scalar_one()
        row = conn.execute(
            select(d).where(d.c.name == name).order_by(d.c.definition_id.desc()).limit(1)
        ).first()
    return None if row is None else _definition(row, int(count))


def runs_page(
    db: Database, pipeline: str | None, size: int, offset: int
) -> tuple[list[RunRow], int]:
    """Runs newest first (of one pipeline, or all), ``size`` from ``offset``, and the total."""
    r = t.pipeline_runs
    query = select(*_RUN_COLUMNS).order_by(r.c.start_time.desc(), r.c.run_id)
    total_query = select(func.count()).select_from(r)
    if pipeline is not None:
        query = query.where(r.c.pipeline == pipeline)
        total_query = total_query.where(r.c.pipeline == pipeline)
    with db.read() as conn:
        rows = conn.execute(query.limit(size).offset(offset)).all()
        total = int(conn.execute(total_query).scalar_one())
    return [_run(row) for row in rows], total
