"""How ``runs show`` and ``runs compare`` lay a run out for people."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mlstage.cli._console import (
    MISSING,
    STATUS_STYLES,
    fmt_duration,
    fmt_number,
    fmt_size,
    fmt_time,
    text,
)
from mlstage.cli._tables import ordered_keys

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from mlstage.tracking.entities import ArtifactInfo, Run


def _pairs(rows: Sequence[tuple[str, Any]]) -> Table:
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for key, value in rows:
        grid.add_row(text(key), value if not isinstance(value, str | None) else text(value))
    return grid


def _section(out: Console, title: str, rows: Sequence[tuple[str, Any]]) -> None:
    out.print()
    out.print(text(title, "bold underline"))
    out.print(_pairs(rows) if rows else text("(none)", "dim"))


def _table(out: Console, title: str, columns: Sequence[str], rows: list[list[str]]) -> None:
    from rich.table import Table

    out.print()
    out.print(text(title, "bold underline"))
    if not rows:
        out.print(text("(none)", "dim"))
        return
    table = Table(header_style="bold", box=None, padding=(0, 2, 0, 0))
    for column in columns:
        table.add_column(column, justify="right" if column in ("rows", "size") else "left")
    for row in rows:
        table.add_row(*(text(cell) for cell in row))
    out.print(table)


def render_run(out: Console, run: Run, experiment: str, artifacts: Sequence[ArtifactInfo]) -> None:
    status = text(run.status.value, STATUS_STYLES.get(run.status.value, ""))
    if run.status_reason:
        status.append(f"  ({run.status_reason})", style="dim")
    header = [
        ("run_id", run.run_id),
        ("experiment", f"{experiment} (id {run.experiment_id})"),
        ("status", status),
        ("started", fmt_time(run.start_time)),
        ("ended", fmt_time(run.end_time)),
        ("duration", fmt_duration(run.duration_ms)),
    ]
    if run.lifecycle_stage != "active":
        header.append(("lifecycle", text(run.lifecycle_stage, "red")))
    out.print(text(f"Run {run.name}", "bold"))
    out.print(_pairs(header))
    _section(out, "Params", sorted(run.params.items()))
    metrics = [(k, fmt_number(v)) for k, v in sorted(run.metrics.items())]
    _section(out, "Metrics (latest)", metrics)
    _section(out, "Tags", sorted(run.tags.items()))
    ctx = run.context
    commit = ctx.git_commit or MISSING
    if ctx.git_commit and ctx.git_dirty:
        commit += " (uncommitted changes)"
    packages = ", ".join(f"{name} {version}" for name, version in sorted(ctx.packages.items()))
    _section(
        out,
        "Context",
        [
            ("git commit", commit),
            ("user", ctx.user or MISSING),
            ("host", ctx.host or MISSING),
            ("source", ctx.source or MISSING),
            ("command", ctx.command or MISSING),
            ("python", ctx.python_version or MISSING),
            ("packages", packages or MISSING),
        ],
    )
    inputs = [
        [
            i.dataset.name,
            i.context,
            i.dataset.digest[:12],
            str(i.dataset.num_rows),
            str(i.dataset.num_columns),
            i.dataset.source or MISSING,
        ]
        for i in run.inputs
    ]
    _table(out, "Inputs", ["dataset", "context", "digest", "rows", "columns", "source"], inputs)
    files = [[a.path, fmt_size(a.size), (a.sha256 or MISSING)[:12]] for a in artifacts]
    _table(out, "Artifacts", ["path", "size", "sha256"], files)


def compare_rows(runs: Sequence[Run]) -> list[dict[str, Any]]:
    """One row a field (status, each param, each metric), a value a run."""
    rows: list[dict[str, Any]] = []

    def add(field: str, values: list[Any]) -> None:
        rows.append({"field": field, "values": values, "differs": len(set(map(repr, values))) > 1})

    add("status", [r.status.value for r in runs])
    if len({r.experiment_id for r in runs}) > 1:
        add("experiment_id", [r.experiment_id for r in runs])
    for key in ordered_keys([r.params for r in runs]):
        add(f"params.{key}", [r.params.get(key) for r in runs])
    for key in ordered_keys([r.metrics for r in runs]):
        add(f"metrics.{key}", [r.metrics.get(key) for r in runs])
    return rows


def compare_table(runs: Sequence[Run], rows: Sequence[dict[str, Any]]) -> Table:
    from rich.table import Table

    table = Table(header_style="bold", caption="* the runs differ", caption_justify="left")
    table.add_column("", no_wrap=True)
    table.add_column("field", no_wrap=True)
    for run in runs:
        table.add_column(f"{run.name}\n{run.run_id[:8]}", justify="right")
    for row in rows:
        style = "bold yellow" if row["differs"] else ""
        metric = row["field"].startswith("metrics.")
        cells = [fmt_number(v) if metric and v is not None else v for v in row["values"]]
        table.add_row(
            text("*" if row["differs"] else ""),
            text(row["field"]),
            *(text(cell) for cell in cells),
            style=style,
        )
    return table
