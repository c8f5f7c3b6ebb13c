"""How ``mlstage datasets`` lays datasets, versions, lineage and diffs out for people."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mlstage.cli._console import MISSING, fmt_number, fmt_size, fmt_time, text
from mlstage.cli.models_view import heading, pairs

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from mlstage.data.dataset_entities import (
        DatasetDiff,
        DatasetLineage,
        DatasetVersion,
        RegisteredDataset,
    )

SUMMARY_FIELDS = ("missing", "min", "max", "mean", "unique")
"""The per-column statistics ``show`` prints; ``--json`` carries all of them."""


def _table(*columns: str, title: str | None = None, numbers: Sequence[str] = ()) -> Table:
    """A table whose ``numbers`` columns (and version numbers) are right-aligned."""
    from rich.table import Table

    right = {"version", "latest", *numbers}
    table = Table(header_style="bold", title=title, title_justify="left")
    for column in columns:
        table.add_column(column, justify="right" if column in right else "left")
    return table


def datasets_table(found: Sequence[RegisteredDataset]) -> Table:
    table = _table(
        "name", "latest", "versions", "rows", "columns", "digest", "updated", "description",
        numbers=("versions", "rows", "columns"),
    )  # fmt: skip
    for d in found:
        latest = d.latest
        table.add_row(
            text(d.name, "bold"),
            text(latest.version if latest else None),
            text(d.num_versions),
            text(latest.num_rows if latest else None),
            text(latest.num_columns if latest else None),
            text(latest.short_digest if latest else None, "dim"),
            text(fmt_time(d.updated_at)),
            text(d.description or MISSING),
        )
    return table


def versions_table(versions: Sequence[DatasetVersion], title: str | None = None) -> Table:
    table = _table(
        "version", "digest", "rows", "columns", "source", "created by", "created", "description",
        title=title, numbers=("rows", "columns"),
    )  # fmt: skip
    for v in versions:
        table.add_row(
            text(v.version),
            text(v.short_digest, "dim"),
            text(v.num_rows),
            text(v.num_columns),
            text(str(v.source)),
            text(v.created_by or MISSING),
            text(fmt_time(v.created_at)),
            text(v.description or MISSING),
        )
    return table


def render_version(
    out: Console, v: DatasetVersion, stats: Any, lineage: DatasetLineage | None
) -> None:
    out.print(text(f"Dataset {v.ref}", "bold"))
    tags = ", ".join(f"{k}={x}" for k, x in sorted(v.tags.items()))
    out.print(
        pairs(
            [
                ("digest", v.digest),
                ("rows", str(v.num_rows)),
                ("columns", str(v.num_columns)),
                ("source", str(v.source)),
                ("snapshot", f"{v.snapshot_sha256[:12]} ({fmt_size(v.snapshot_size)})"),
                ("description", v.description or MISSING),
                ("tags", tags or MISSING),
                ("created by", v.created_by or MISSING),
                ("created", fmt_time(v.created_at)),
            ]
        )
    )
    heading(out, "Schema")
    out.print(schema_table(v, feature_summaries(stats)))
    if stats is None:
        out.print(text("(no statistics were computed for this version)", "dim"))
    if lineage is not None:
        render_lineage(out, lineage)


def schema_table(v: DatasetVersion, summaries: dict[str, dict[str, Any]]) -> Table:
    fields = [f for f in SUMMARY_FIELDS if any(f in s for s in summaries.values())]
    table = _table("column", "type", *fields, numbers=fields)
    for column in v.columns:
        summary = summaries.get(column.name, {})
        table.add_row(
            text(column.name, "bold"),
            text(column.type),
            *(_cell(summary.get(f)) for f in fields),
        )
    return table


def _cell(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return text(value)
    if isinstance(value, int | float):
        return text(fmt_number(float(value)))
    return text(value)


def feature_summaries(stats: Any) -> dict[str, dict[str, Any]]:
    """Per column, the few statistics a terminal shows (see ``SUMMARY_FIELDS``)."""
    if stats is None:
        return {}
    raw = stats.to_dict() if hasattr(stats, "to_dict") else dict(stats)
    features = raw.get("features", {})
    items = (
        features.items() if isinstance(features, dict) else ((f.get("name"), f) for f in features)
    )
    return {
        str(name): {k: f[k] for k in SUMMARY_FIELDS if f.get(k) is not None}
        for name, f in items
        if isinstance(f, dict)
    }


def render_lineage(out: Console, lineage: DatasetLineage) -> None:
    heading(out, "Used by runs")
    if not lineage.runs:
        out.print(text("(no run has logged this version: mlstage.log_input(version))", "dim"))
    else:
        table = _table("run", "name", "experiment", "context", "status", "started")
        for r in lineage.runs:
            table.add_row(
                text(r.run_id, "dim"),
                text(r.run_name),
                text(r.experiment_name),
                text(r.context),
                text(r.status),
                text(fmt_time(r.start_time)),
            )
        out.print(table)
    heading(out, "Models trained on it")
    if not lineage.models:
        out.print(text("(none registered from those runs)", "dim"))
        return
    table = _table("model", "version", "status", "run", "registered")
    for m in lineage.models:
        table.add_row(
            text(m.name, "bold"),
            text(m.version),
            text(m.status),
            text(m.run_id, "dim"),
            text(fmt_time(m.created_at)),
        )
    out.print(table)


def render_diff(out: Console, d: DatasetDiff) -> None:
    out.print(text(f"Dataset {d.before} -> {d.after}", "bold"))
    change = d.rows_change
    sign = "+" if change > 0 else ""
    out.print(text(f"rows: {d.rows_before} -> {d.rows_after} ({sign}{change})"))
    if d.same_content:
        out.print(text("same content (identical digests)", "green"))
    changes = _table("column", "change", "before", "after")
    for c in d.added:
        changes.add_row(text(c.name, "bold"), text("added", "green"), text(None), text(c.type))
    for c in d.removed:
        changes.add_row(text(c.name, "bold"), text("removed", "red"), text(c.type), text(None))
    for r in d.retyped:
        changes.add_row(
            text(r.name, "bold"), text("retyped", "yellow"), text(r.before), text(r.after)
        )
    heading(out, "Schema changes")
    if d.added or d.removed or d.retyped:
        out.print(changes)
    else:
        out.print(text("(none)", "dim"))
    heading(out, "Drift")
    if d.drift is None:
        out.print(text(d.drift_note or "(not computed)", "dim"))
        return
    render_drift(out, d.drift)


def render_drift(out: Console, drift: dict[str, Any]) -> None:
    drifted = list(drift.get("drifted_features", []))
    verdict = "the data drifted" if drift.get("drifted") else "no overall drift"
    if drifted:
        names = ", ".join(str(f) for f in drifted)
        out.print(text(f"{verdict}; drifted columns: {names}", "bold red"))
    else:
        out.print(text("no column drifted", "green"))
    features = drift.get("features", {})
    items = (
        features.items() if isinstance(features, dict) else ((f.get("name"), f) for f in features)
    )
    table = _table("column", "method", "score", "threshold", "drifted")
    for name, f in items:
        if not isinstance(f, dict):
            continue
        table.add_row(
            text(name, "bold"),
            text(f.get("method") or f.get("metric")),
            _cell(f.get("score", f.get("value"))),
            _cell(f.get("threshold")),
            text("yes" if f.get("drifted") else "no", "red" if f.get("drifted") else ""),
        )
    if table.row_count:
        out.print(table)
    for name, reason in sorted(drift.get("skipped", {}).items()):
        out.print(text(f"{name}: not compared ({reason})", "dim"))
