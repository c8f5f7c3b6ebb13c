"""``mlstage runs list|show|compare|delete``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mlstage.cli._console import console, print_json, text
from mlstage.cli._store import find_experiment, search_runs, tracking_store
from mlstage.cli._tables import run_brief, runs_table
from mlstage.errors import InvalidInput

if TYPE_CHECKING:
    from mlstage.tracking.entities import ArtifactInfo, Run
    from mlstage.tracking.store import TrackingStore

app = typer.Typer(help="List, inspect, compare and delete runs.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
RunId = Annotated[str, typer.Argument(metavar="RUN_ID", help="The run's 32-character id.")]


@app.command("list")
def list_runs(
    experiment: Annotated[
        list[str] | None,
        typer.Option(
            "--experiment",
            "-e",
            metavar="NAME",
            help="Experiment name or id (repeat for several; default: all).",
        ),
    ] = None,
    filter_: Annotated[
        str | None,
        typer.Option("--filter", "-f", help="e.g. \"metrics.auc > 0.9 and params.model = 'rf'\"."),
    ] = None,
    order_by: Annotated[
        list[str] | None,
        typer.Option("--order-by", "-o", help='e.g. "metrics.auc DESC" (repeatable).'),
    ] = None,
    max_results: Annotated[int, typer.Option("--max", "-n", min=1, help="Most runs shown.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """List runs, newest first unless --order-by says otherwise."""
    store = tracking_store()
    if experiment:
        experiments = [find_experiment(store, name) for name in experiment]
    else:
        experiments = store.list_experiments()
    runs = search_runs(
        store, [e.experiment_id for e in experiments], filter_, order_by, max_results
    )
    if as_json:
        print_json([run_brief(run) for run in runs])
        return
    out = console()
    if not runs:
        where = ", ".join(repr(e.name) for e in experiments) or "any experiment"
        out.print(text(f"No runs in {where}" + (" match the filter." if filter_ else ".")))
        return
    names = {e.experiment_id: e.name for e in experiments}
    out.print(runs_table(runs, width=out.width, experiment_names=names, order_by=order_by or []))


@app.command("show")
def show_run(run_id: RunId, as_json: JsonOption = False) -> None:
    """Show a run: params, latest metrics, tags, where it ran, its inputs and artifacts."""
    from mlstage.cli._run_view import render_run

    store = tracking_store()
    run = store.get_run(run_id)
    artifacts = _all_artifacts(store, run.run_id)
    if as_json:
        data = run.model_dump(mode="json", by_alias=True)
        data["artifacts"] = [a.model_dump(mode="json") for a in artifacts]
        print_json(data)
        return
    experiment = store.get_experiment(run.experiment_id)
    render_run(console(), run, experiment.name, artifacts)


@app.command("compare")
def compare_runs(
    run_ids: Annotated[
        list[str], typer.Argument(metavar="RUN_ID RUN_ID...", help="Two or more run ids.")
    ],
    as_json: JsonOption = False,
) -> None:
    """Params and metrics side by side; rows that differ are marked and highlighted."""
    from mlstage.cli._run_view import compare_rows, compare_table

    if len(run_ids) < 2:
        raise InvalidInput(f"compare needs at least two run ids, got {len(run_ids)}")
    store = tracking_store()
    runs: list[Run] = [store.get_run(run_id) for run_id in run_ids]
    rows = compare_rows(runs)
    if as_json:
        heads = [{"run_id": r.run_id, "run_name": r.name} for r in runs]
        print_json({"runs": heads, "rows": rows})
        return
    console().print(compare_table(runs, rows))


@app.command("delete")
def delete_run(run_id: RunId) -> None:
    """Delete a run (marked deleted: it leaves searches; its data stays on disk)."""
    store = tracking_store()
    run = store.get_run(run_id)
    if run.lifecycle_stage != "active":
        console().print(text(f"Run {run.run_id} ({run.name}) is already deleted."))
        return
    store.delete_run(run.run_id)
    console().print(text(f"Deleted run {run.run_id} ({run.name})."))


def _all_artifacts(store: TrackingStore, run_id: str) -> list[ArtifactInfo]:
    """Every artifact file of the run: ``list_artifacts`` gives one folder level at a time."""
    files: list[ArtifactInfo] = []
    folders: list[str | None] = [None]
    while folders:
        for item in store.list_artifacts(run_id, folders.pop()):
            if item.is_dir:
                folders.append(item.path)
            else:
                files.append(item)
    return sorted(files, key=lambda item: item.path)
