"""Pages of pipelines: definitions with their last run, schedules, a pipeline's runs, a run's graph.

A run is drawn as its graph (steps in columns by dependency level, coloured
by status, server-rendered SVG: no script) above a table of its steps with
their logs and tracebacks, escaped, in collapsible blocks. The lists read a
constant number of grouped queries (``pipeline_reads``), whatever the
number of runs.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from mlstage.errors import NotFound
from mlstage.server.deps import tracking_store
from mlstage.server.ui import pipeline_reads, svg
from mlstage.server.ui.render import duration, page
from mlstage.server.ui.routes_data import page_number
from mlstage.tracking.sql_store import SqlTrackingStore

Tracking = Annotated[SqlTrackingStore, Depends(tracking_store)]
RUNS_PER_PAGE = 50
RECENT_RUNS = 15


def add_routes(router: APIRouter) -> None:
    router.add_api_route("/pipelines", pipelines, methods=["GET"])
    router.add_api_route("/pipelines/runs/{run_id}", pipeline_run, methods=["GET"])
    router.add_api_route("/pipelines/{name}", pipeline_runs, methods=["GET"])


def _store(request: Request, tracking: SqlTrackingStore) -> Any:
    from mlstage.pipelines.sql_store import SqlPipelineStore

    timeout = float(request.app.state.settings.heartbeat_timeout)
    return SqlPipelineStore(tracking.db, heartbeat_timeout=timeout)


def pipelines(request: Request, tracking: Tracking) -> Response:
    """Every pipeline with its newest definition and last run, the recent runs, the schedules."""
    from mlstage.pipelines.sql_schedules import SqlScheduleStore

    store = _store(request, tracking)
    store.reap_stale_runs()
    return page(
        request,
        "pipelines.html",
        section="pipelines",
        pipelines=pipeline_reads.summaries(tracking.db),
        recent=pipeline_reads.runs_page(tracking.db, None, RECENT_RUNS, 0)[0],
        schedules=SqlScheduleStore(tracking.db).list_schedules(),
        params_text=params_text,
    )


def pipeline_runs(
    request: Request,
    name: str,
    tracking: Tracking,
    page_arg: Annotated[str, Query(alias="page")] = "1",
) -> Response:
    """The runs of one pipeline, newest first, paged; its newest definition's steps."""
    number = page_number(page_arg)
    store = _store(request, tracking)
    definition = pipeline_reads.newest_definition(tracking.db, name)
    if definition is None:
        raise NotFound(f"pipeline {name[:250]!r} has never run on this server; see /pipelines")
    store.reap_stale_runs()
    runs, total = pipeline_reads.runs_page(
        tracking.db, name, RUNS_PER_PAGE, (number - 1) * RUNS_PER_PAGE
    )
    pages = max(1, -(-total // RUNS_PER_PAGE))
    if number > pages:
        raise NotFound(f"page {number} is past the last page of runs ({pages})")
    return page(
        request,
        "pipeline.html",
        section="pipelines",
        name=name,
        definition=definition,
        runs=runs,
        total=total,
        page_number=number,
        pages=pages,
        params_text=params_text,
    )


def pipeline_run(request: Request, run_id: str, tracking: Tracking) -> Response:
    """One run: its graph, then each step's status, attempts, timing, outputs, logs and error."""
    store = _store(request, tracking)
    run = store.get_run(run_id)
    _, spec, _ = store.get_definition(store.definition_of(run_id))
    steps = {s.step: s for s in run.steps}
    spec_steps = [s for s in spec.get("steps") or [] if isinstance(s, dict) and "name" in s]
    graph = svg.run_graph(spec_steps, steps, duration)
    end = run.end_time if run.end_time is not None else None
    return page(
        request,
        "pipeline_run.html",
        section="pipelines",
        run=run,
        graph=graph,
        duration_ms=None if end is None else end - run.start_time,
        spec_params=spec.get("params") or {},
        params_text=params_text,
        counts=_counts(run.steps),
    )


def _counts(steps: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for s in steps:
        counts[s.status.value] = counts.get(s.status.value, 0) + 1
    counts["cached"] = sum(1 for s in steps if s.cached)
    return counts


def params_text(value: Any) -> str:
    """A parameter value as JSON (strings as they are)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, ensure_ascii=False, sort_keys=True)
