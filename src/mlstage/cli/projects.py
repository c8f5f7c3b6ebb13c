"""``mlstage projects create|list``: the units role grants are given for."""

from __future__ import annotations

from typing import Annotated

import typer

from mlstage.cli._console import console, fmt_time, print_json, text

app = typer.Typer(help="Create and list projects (experiments and models belong to one).")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@app.command("create")
def create_project(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The new project's name.")],
) -> None:
    """Create a project; grant roles in it with `mlstage users grant NAME --project P --role R`."""
    from mlstage.cli._governance import actor, governance_store

    project = governance_store().create_project(name, actor=actor())
    console().print(text(f"Created project {project.name!r}."))


@app.command("list")
def list_projects(as_json: JsonOption = False) -> None:
    """Every project, with who holds which role in it."""
    from rich.table import Table

    from mlstage.cli._governance import governance_store

    store = governance_store()
    projects = store.list_projects()
    grants = store.list_grants()
    if as_json:
        print_json(
            [
                p.model_dump() | {"grants": [g.model_dump() for g in grants if g.project == p.name]}
                for p in projects
            ]
        )
        return
    table = Table("project", "created", "grants")
    for p in projects:
        held = ", ".join(f"{g.user} ({g.role})" for g in grants if g.project == p.name)
        table.add_row(text(p.name), fmt_time(p.created_at), text(held or "-"))
    console().print(table)
