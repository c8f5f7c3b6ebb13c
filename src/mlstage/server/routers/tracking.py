"""The tracking REST API: experiments, runs, logging and search under ``/api/v1``.

Handlers are plain ``def``: the store is synchronous, so FastAPI runs them
in its threadpool and the event loop never waits on the database (nor on
rendering a large answer: see ``rendered``). Each
handler is one store call; checks and messages live in the store, so a
caller sees the same error over HTTP as in process.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from mlstage.errors import NotFound
from mlstage.server.auth import require_principal
from mlstage.server.deps import tracking_store
from mlstage.server.responses import json_bytes, rendered
from mlstage.server.schemas import (
    CreateExperiment,
    CreateRun,
    EndRun,
    ExperimentList,
    ExperimentName,
    Heartbeat,
    LogBatch,
    LogInputs,
    MetricHistory,
    SearchRuns,
)
from mlstage.tracking.entities import Experiment, Metric, Run, RunPage
from mlstage.tracking.runs_table import ARROW_STREAM, to_stream
from mlstage.tracking.sql_store import SqlTrackingStore

Store = Annotated[SqlTrackingStore, Depends(tracking_store)]


router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_principal)])

# -- experiments ------------------------------------------------------------------


@router.post("/experiments", status_code=201, tags=["experiments"])
def create_experiment(body: CreateExperiment, store: Store) -> Experiment:
    return store.create_experiment(body.name, body.tags, project=body.project)


@router.get("/experiments", tags=["experiments"], response_model=ExperimentList)
def list_experiments(store: Store, include_deleted: bool = False) -> Response:
    experiments = store.list_experiments(include_deleted=include_deleted)
    return rendered(ExperimentList.model_construct(experiments=experiments))


@router.get("/experiments/by-name", tags=["experiments"])
def get_experiment_by_name(store: Store, name: Annotated[str, Query()]) -> Experiment:
    """The experiment called ``name``; 404 if there is none."""
    found = store.get_experiment_by_name(name)
    if found is None:
        raise NotFound(f"experiment {name!r} does not exist")
    return found


@router.post("/experiments/get-or-create", tags=["experiments"])
def get_or_create_experiment(body: ExperimentName, store: Store) -> Experiment:
    """Idempotent: the existing experiment, or a new one, never a conflict."""
    return store.get_or_create_experiment(body.name, project=body.project)


@router.get("/experiments/{experiment_id}", tags=["experiments"])
def get_experiment(experiment_id: str, store: Store) -> Experiment:
    return store.get_experiment(experiment_id)


@router.delete("/experiments/{experiment_id}", status_code=204, tags=["experiments"])
def delete_experiment(experiment_id: str, store: Store) -> None:
    store.delete_experiment(experiment_id)


# -- runs ------------------------------------------------------------------------------


@router.post("/runs", status_code=201, tags=["runs"])
def create_run(body: CreateRun, store: Store) -> Run:
    return store.create_run(body.experiment_id, body.name, body.context, body.tags)


@router.post("/runs/search", tags=["runs"], response_model=RunPage)
def search_runs(body: SearchRuns, store: Store, request: Request) -> Response:
    """A page of runs matching the filter; a POST so long filters fit, but it changes nothing.

    The SQL store writes the JSON from its rows (``search_runs_json``): 10,000 runs
    of 50 metrics in one answer is half a million values. With ``Accept:
    application/vnd.apache.arrow.stream`` the answer is the page as one Arrow table
    instead (``tracking/runs_table.py``; the next page's token in its schema
    metadata): what ``mlstage.search_runs`` asks for to build a DataFrame.
    """
    args = (body.experiment_ids, body.filter, body.order_by, body.max_results, body.page_token)
    if ARROW_STREAM in request.headers.get("accept", "") and hasattr(store, "search_runs_table"):
        table = store.search_runs_table(*args)
        return Response(
            to_stream(table), media_type=ARROW_STREAM, headers={"x-content-type-options": "nosniff"}
        )
    if hasattr(store, "search_runs_json"):
        return json_bytes(store.search_runs_json(*args))
    return rendered(store.search_runs(*args))


@router.post("/runs/heartbeat", status_code=204, tags=["runs"])
def heartbeat(body: Heartbeat, store: Store) -> None:
    store.heartbeat(body.run_ids)


@router.get("/runs/{run_id}", tags=["runs"])
def get_run(run_id: str, store: Store) -> Run:
    return store.get_run(run_id)


@router.delete("/runs/{run_id}", status_code=204, tags=["runs"])
def delete_run(run_id: str, store: Store) -> None:
    store.delete_run(run_id)


@router.post("/runs/{run_id}/end", status_code=204, tags=["runs"])
def end_run(run_id: str, body: EndRun, store: Store) -> None:
    store.end_run(run_id, body.status, body.reason)


@router.post("/runs/{run_id}/batch", status_code=204, tags=["runs"])
def log_batch(run_id: str, body: LogBatch, store: Store) -> None:
    """Metrics, params and tags in one transaction: at most 1,000 metrics, 100 params, 100 tags."""
    construct = Metric.model_construct
    metrics = [
        construct(key=m.key, value=m.value, step=m.step, timestamp=m.timestamp)
        for m in body.metrics
    ]
    store.log_batch(run_id, metrics, body.params, body.tags, body.batch_id)


@router.get("/runs/{run_id}/metrics/history", tags=["runs"], response_model=MetricHistory)
def get_metric_history(run_id: str, store: Store, key: Annotated[str, Query()]) -> Response:
    history = store.get_metric_history(run_id, key)
    return rendered(MetricHistory.model_construct(metrics=history))


@router.post("/runs/{run_id}/inputs", status_code=204, tags=["runs"])
def log_inputs(run_id: str, body: LogInputs, store: Store) -> None:
    store.log_inputs(run_id, body.inputs)
