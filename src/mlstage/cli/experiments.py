"""``mlstage experiments list|create|delete``."""

from __future__ import annotations

from typing import Annotated

import typer

from mlstage.cli._console import console, fmt_time, print_json, text
from mlstage.cli._store import find_experiment, tracking_store

app = typer.Typer(help="Create, list and delete experiments.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@app.command("list")
def list_experiments(
    all_: Annotated[bool, typer.Option("--all", help="Include deleted experiments.")] = False,
    as_json: JsonOption = False,
) -> None:
    """List experiments: the active ones, or all with --all."""
    from rich.table import Table

    store = tracking_store()
    experiments = store.list_experiments(include_deleted=all_)
    if as_json:
        print_json([e.model_dump(mode="json") for e in experiments])
        return
    table = Table(header_style="bold")
    for column in ("id", "name", "created", "tags"):
        table.add_column(column, justify="right" if column == "id" else "left")
    if all_:
        table.add_column("state")
    for exp in experiments:
        tags = ", ".join(f"{k}={v}" for k, v in sorted(exp.tags.items()))
        row = [text(exp.experiment_id), text(exp.name), text(fmt_time(exp.created_at)), text(tags)]
        if all_:
            row.append(text(exp.lifecycle_stage, "red" if exp.lifecycle_stage != "active" else ""))
        table.add_row(*row)
    out = console()
    if experiments:
        out.print(table)
    else:
        out.print("No experiments yet: run `mlstage demo`, or `mlstage experiments create NAME`.")


@app.command("create")
def create_experiment(
    name: Annotated[str, typer.Argument(help="Name of the new experiment.")],
    project: Annotated[
        str | None,
        typer.Option(help="Project to create it in (default: the project_name setting)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create an experiment (runs also create theirs on first use)."""
    from mlstage.config import get_settings

    project = project or get_settings().project_name
    experiment = tracking_store().create_experiment(name, project=project)
    if as_json:
        print_json(experiment.model_dump(mode="json"))
        return
    message = text(f"Created experiment {experiment.name!r} (id {experiment.experiment_id}).")
    console().print(message)


@app.command("delete")
def delete_experiment(
    experiment: Annotated[str, typer.Argument(metavar="ID_OR_NAME", help="Name or id.")],
) -> None:
    """Delete an experiment and its runs (marked deleted; the name stays taken)."""
    store = tracking_store()
    found = find_experiment(store, experiment)
    store.delete_experiment(found.experiment_id)
    message = f"Deleted experiment {found.name!r} (id {found.experiment_id}) and its runs."
    console().print(text(message))
