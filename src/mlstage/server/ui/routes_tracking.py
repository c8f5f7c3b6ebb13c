"""Pages of experiment tracking: experiments, the runs table, a run, and runs compared."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from mlstage.errors import InvalidInput, NotFound
from mlstage.server.deps import tracking_store
from mlstage.server.ui import runs_table
from mlstage.server.ui.assets import plotly_head
from mlstage.server.ui.render import page
from mlstage.tracking.entities import Run
from mlstage.tracking.sql_store import SqlTrackingStore

Store = Annotated[SqlTrackingStore, Depends(tracking_store)]
MIN_COMPARED, MAX_COMPARED = 2, 20
CHARTED_BY_DEFAULT = 6


def add_routes(router: APIRouter) -> None:
    router.add_api_route("/", experiments, methods=["GET"])
    router.add_api_route("/experiments", experiments, methods=["GET"])
    router.add_api_route("/experiments/{experiment_id}", runs, methods=["GET"])
    router.add_api_route("/runs/{run_id}", run, methods=["GET"])
    router.add_api_route("/runs/{run_id}/preview", preview, methods=["GET"])
    router.add_api_route("/compare", compare, methods=["GET"])


def experiments(request: Request, store: Store) -> Response:
    return page(
        request, "experiments.html", section="experiments", experiments=store.list_experiments()
    )


def runs(
    request: Request,
    experiment_id: str,
    store: Store,
    filter: str = "",
    order: str = "",
    page_token: Annotated[str, Query(alias="page")] = "",
    size: str = "",
    col: Annotated[list[str] | None, Query()] = None,
) -> Response:
    """One page of the experiment's runs; a bad filter shows the parser's message (400)."""
    experiment = store.get_experiment(experiment_id)
    query = runs_table.Query(filter, order, page_token, runs_table.parse_size(size), _cols(col))
    table = runs_table.load(store, experiment.experiment_id, query)
    return page(
        request,
        "runs.html",
        400 if table.error else 200,
        section="experiments",
        experiment=experiment,
        query=query,
        table=table,
        sizes=runs_table.PAGE_SIZES,
        next_order=runs_table.next_order,
        sort_state=runs_table.sort_state,
    )


def preview(request: Request, run_id: str, store: Store, path: str) -> Response:
    """One artifact shown safely (see ``previews``), with its download link."""
    from mlstage.artifacts.paths import canonical_artifact_path
    from mlstage.server.ui import previews

    found = store.get_run(run_id)
    path = canonical_artifact_path(path)
    parent = path.rsplit("/", 1)[0] if "/" in path else None
    info = next((a for a in store.list_artifacts(run_id, parent) if a.path == path), None)
    if info is None or info.is_dir:
        raise NotFound(f"run {run_id} has no artifact {path!r}")
    from mlstage.governance.policy import check_request_download  # issue 9

    check_request_download(store.db, request, run_id)
    shown = (
        previews.preview(path, store.read_artifact(run_id, path), request.app.state.settings)
        if previews.can_preview(path, info.size)
        else previews.Preview("none", reason="too large or of a type without a preview")
    )
    return page(
        request,
        "artifact.html",
        section="experiments",
        run=found,
        artifact=info,
        preview=shown,
        max_rows=previews.MAX_TABLE_ROWS,
    )


def _cols(col: list[str] | None) -> tuple[str, ...] | None:
    """``None`` (defaults) unless the column picker sent its list, possibly empty."""
    return None if col is None else tuple(c for c in col if c)


def run(request: Request, run_id: str, store: Store, path: str = "") -> Response:
    found = store.get_run(run_id)
    experiment = store.get_experiment(found.experiment_id)
    artifacts = store.list_artifacts(run_id, path or None)
    keys = sorted(found.metrics)
    return page(
        request,
        "run.html",
        section="experiments",
        run=found,
        experiment=experiment,
        artifacts=artifacts,
        artifact_dir=path,
        chart=_chart([found], keys),
        plotly=plotly_head(),
    )


def compare(
    request: Request, store: Store, runs: Annotated[list[str] | None, Query()] = None
) -> Response:
    """2 to 20 runs side by side: params (differences marked), metrics, overlaid charts."""
    ids = list(dict.fromkeys(runs or []))
    if not MIN_COMPARED <= len(ids) <= MAX_COMPARED:
        raise InvalidInput(
            f"compare takes {MIN_COMPARED} to {MAX_COMPARED} different runs, got {len(ids)}; "
            "tick them in an experiment's runs table"
        )
    found = [store.get_run(i) for i in ids]
    param_keys = sorted({k for r in found for k in r.params})
    metric_keys = sorted({k for r in found for k in r.metrics})
    differs = {k for k in param_keys if len({r.params.get(k) for r in found}) > 1}
    return page(
        request,
        "compare.html",
        section="experiments",
        runs=found,
        param_keys=param_keys,
        metric_keys=metric_keys,
        differs=differs,
        metric_differs={k for k in metric_keys if len({r.metrics.get(k) for r in found}) > 1},
        chart=_chart(found, metric_keys),
        plotly=plotly_head(),
    )


def _chart(runs: list[Run], keys: list[str]) -> dict[str, object]:
    """What charts.js needs: the runs, every metric key, and the keys drawn at first."""
    return {
        "runs": [{"id": r.run_id, "name": r.name} for r in runs],
        "keys": keys,
        "shown": keys[:CHARTED_BY_DEFAULT],
    }
