"""``mlstage features apply|list|show|materialize|materialize-incremental|get``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlstage.cli._console import console, fmt_number, fmt_time, print_json, text
from mlstage.errors import InvalidInput

if TYPE_CHECKING:
    from mlstage.features.materialize import MaterializeResult
    from mlstage.features.store import FeatureStore

app = typer.Typer(
    help="Register feature views, materialise them, look features up.", no_args_is_help=True
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
ViewsOption = Annotated[
    list[str] | None,
    typer.Option("--view", metavar="VIEW", help="Only this view (repeat for more); default all."),
]
ACTION_STYLES = {"created": "green", "updated": "yellow", "deleted": "red", "unchanged": "dim"}


def _store() -> FeatureStore:
    from mlstage.features.store import FeatureStore

    return FeatureStore()


def _ttl(seconds: float) -> str:
    if seconds <= 0:
        return "none"
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{fmt_number(seconds)}s"


@app.command("apply")
def apply(
    path: Annotated[
        Path, typer.Argument(metavar="FILE", help="A Python file defining Entity and FeatureView.")
    ],
    prune: Annotated[
        bool, typer.Option("--prune", help="Also delete registered views and entities not in FILE.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Register the entities and feature views FILE defines; unchanged ones are left alone."""
    store = _store()
    changes = store.apply(path, prune=prune)
    if as_json:
        print_json([c.__dict__ for c in changes])
        return
    from rich.table import Table

    table = Table(header_style="bold")
    for column in ("kind", "name", "change", "detail"):
        table.add_column(column)
    for change in changes:
        style = ACTION_STYLES.get(change.action, "")
        table.add_row(
            text(change.kind), text(change.name), text(change.action, style), text(change.detail)
        )
    console().print(table)
    changed = sum(c.action != "unchanged" for c in changes)
    console().print(text(f"{changed} change(s)." if changed else "Nothing changed."))


@app.command("list")
def list_views(as_json: JsonOption = False) -> None:
    """List the registered feature views."""
    registered = _store().registry.list_views()
    if as_json:
        print_json(
            [
                {**r.view.to_dict(), "created_at": r.created_at, "updated_at": r.updated_at}
                for r in registered
            ]
        )
        return
    if not registered:
        console().print("No feature views yet: `mlstage features apply features.py`.")
        return
    from rich.table import Table

    table = Table(header_style="bold")
    for column in ("view", "entities", "features", "ttl", "source", "updated"):
        table.add_column(column)
    for r in registered:
        view = r.view
        table.add_row(
            text(view.name),
            text(", ".join(view.entities)),
            text(len(view.features)),
            text(_ttl(view.ttl_seconds)),
            text(view.source),
            text(fmt_time(r.updated_at)),
        )
    console().print(table)


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(metavar="VIEW", help="The feature view.")],
    as_json: JsonOption = False,
) -> None:
    """Show a feature view: keys, features with types, source, TTL, materialisation state."""
    store = _store()
    registered = store.registry.get_view(name)
    marks = store.registry.materializations(name)
    view = registered.view
    if as_json:
        print_json(
            {
                **view.to_dict(),
                "created_at": registered.created_at,
                "updated_at": registered.updated_at,
                "materializations": [m.__dict__ for m in marks],
            }
        )
        return
    from rich.table import Table

    out = console()
    out.print(text(f"Feature view {view.name}", "bold"))
    out.print(
        text(f"  entities: {', '.join(view.entities)} (join keys {', '.join(view.join_keys)})")
    )
    out.print(text(f"  source: {view.source} (timestamp column {view.timestamp_field})"))
    out.print(text(f"  ttl: {_ttl(view.ttl_seconds)}"))
    if view.description:
        out.print(text(f"  description: {view.description}"))
    features = Table(header_style="bold")
    features.add_column("feature")
    features.add_column("dtype")
    for feature, dtype in view.features:
        features.add_row(text(feature), text(dtype))
    out.print(features)
    if not marks:
        out.print("Not materialised yet: `mlstage features materialize-incremental now`.")
        return
    state = Table(header_style="bold")
    for column in ("online store", "materialised up to", "rows written", "at"):
        state.add_column(column)
    for m in marks:
        state.add_row(
            text(m.online_store),
            text(fmt_time(m.watermark)),
            text(m.rows),
            text(fmt_time(m.updated_at)),
        )
    out.print(state)


def _when(value: str, what: str) -> datetime:
    from mlstage.features.materialize import as_utc

    if value.strip().lower() == "now":
        return datetime.now(UTC)
    return as_utc(value, what)


def _report(results: list[MaterializeResult], as_json: bool) -> None:
    if as_json:
        print_json([r.to_dict() for r in results])
        return
    from rich.table import Table

    table = Table(header_style="bold")
    for column in ("view", "from", "to", "entities", "rows written"):
        table.add_column(column)
    for r in results:
        table.add_row(
            text(r.view),
            text(r.start.isoformat()),
            text(r.end.isoformat()),
            text(r.entities),
            text(r.written),
        )
    console().print(table)


@app.command("materialize")
def materialize(
    start: Annotated[str, typer.Argument(metavar="START", help="ISO 8601 time, e.g. 2026-01-01.")],
    end: Annotated[str, typer.Argument(metavar="END", help="ISO 8601 time, or 'now'.")],
    views: ViewsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Load each entity's latest values with an event time in [START, END] into the online store."""
    results = _store().materialize(_when(start, "START"), _when(end, "END"), views or None)
    _report(results, as_json)


@app.command("materialize-incremental")
def materialize_incremental(
    end: Annotated[str, typer.Argument(metavar="END", help="ISO 8601 time, or 'now'.")],
    views: ViewsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Materialise from where the last run stopped (or END minus the TTL) up to END."""
    results = _store().materialize_incremental(_when(end, "END"), views or None)
    _report(results, as_json)


@app.command("get")
def get(
    features: Annotated[
        list[str], typer.Argument(metavar="VIEW:FEATURE...", help="Feature references.")
    ],
    keys: Annotated[
        list[str],
        typer.Option(
            "--key", metavar="NAME=V1,V2", help="Join key values (repeat for composite keys)."
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """Look features up in the online store, as the prediction service would."""
    entities: dict[str, list[str]] = {}
    for item in keys:
        name, sep, values = item.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(f"--key must look like NAME=V1,V2, got {item!r}")
        entities[name.strip()] = [v.strip() for v in values.split(",")]
    found = _store().get_online_features(entities, features)
    if as_json:
        print_json(found)
        return
    from rich.table import Table

    table = Table(header_style="bold")
    for column in found:
        table.add_column(column)
    for row in zip(*found.values(), strict=True):
        table.add_row(*(text(v) for v in row))
    console().print(table)
