"""The runs table, shared by ``runs list`` and ``demo``, and the JSON form of a run.

A terminal is rarely wide enough for every metric and param of a sweep. The
table keeps what matters most (id, name, status, the metrics ordered by, the
other metrics, the params, then the times) and names what it left out, rather
than squeezing every column into an unreadable ``…``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlstage.cli._console import (
    STATUS_STYLES,
    fmt_duration,
    fmt_number,
    fmt_time,
    text,
)

if TYPE_CHECKING:
    from rich.table import Table
    from rich.text import Text

    from mlstage.tracking.entities import Run

_PADDING = 3  # a cell's padding and its border


@dataclass
class _Column:
    header: str
    cells: list[Text]
    priority: int
    justify: str = "left"
    header_style: str = "bold"

    @property
    def width(self) -> int:
        return max([len(self.header), *(cell.cell_len for cell in self.cells)]) + _PADDING


def ordered_keys(dicts: Sequence[Mapping[str, Any]], first: Sequence[str] = ()) -> list[str]:
    """Every key found, those in ``first`` leading and the rest sorted."""
    found = {key for d in dicts for key in d}
    lead = [k for k in first if k in found]
    return lead + sorted(found - set(lead))


def order_keys(order_by: Sequence[str], prefix: str) -> list[str]:
    """Keys named in order_by clauses such as ``metrics.auc DESC``, so they lead the columns."""
    keys = []
    for item in order_by:
        entity = item.split()[0] if item.split() else ""
        kind, _, key = entity.partition(".")
        if kind.lower() in (prefix, prefix.rstrip("s")):
            keys.append(key.strip('`"'))
    return keys


def runs_table(
    runs: Sequence[Run],
    *,
    width: int,
    experiment_names: Mapping[str, str] | None = None,
    order_by: Sequence[str] = (),
    title: str | None = None,
) -> Table:
    """One row a run; the columns that fit in ``width``, the others named in the caption."""
    from rich.table import Table

    columns = _columns(runs, experiment_names, order_by)
    budget = width - 1
    shown: set[int] = set()
    for index in sorted(range(len(columns)), key=lambda i: columns[i].priority):
        if columns[index].priority > 0 and columns[index].width > budget:
            break  # later columns matter less; showing them instead would leave gaps
        shown.add(index)
        budget -= columns[index].width
    notes = []
    same = _constant_params(runs)
    if same:
        notes.append("same in every run: " + ", ".join(f"{k}={v}" for k, v in same.items()))
    hidden = [c.header for i, c in enumerate(columns) if i not in shown]
    if hidden:
        notes.append(f"not shown, to fit the width: {', '.join(hidden)} (see --json or runs show)")
    table = Table(
        title=title, title_justify="left", caption="\n".join(notes) or None, caption_justify="left"
    )
    for index, column in enumerate(columns):
        if index in shown:
            table.add_column(
                column.header,
                justify=column.justify,  # type: ignore[arg-type]
                header_style=column.header_style,
                no_wrap=True,
            )
    for row in range(len(runs)):
        table.add_row(*(c.cells[row] for i, c in enumerate(columns) if i in shown))
    return table


def _columns(
    runs: Sequence[Run], experiment_names: Mapping[str, str] | None, order_by: Sequence[str]
) -> list[_Column]:
    """Every candidate column in display order; priority 0 is always shown, then 1, 2, ..."""
    lead_metrics = order_keys(order_by, "metrics")
    metric_keys = ordered_keys([r.metrics for r in runs], lead_metrics)
    same = _constant_params(runs)
    param_keys = [
        k
        for k in ordered_keys([r.params for r in runs], order_keys(order_by, "params"))
        if k not in same
    ]
    columns = [
        _Column("run_id", [text(r.run_id, "dim") for r in runs], 0),
        _Column("name", [text(r.name) for r in runs], 0),
        _Column(
            "status", [text(r.status.value, STATUS_STYLES.get(r.status.value, "")) for r in runs], 0
        ),
    ]
    if experiment_names is not None and len({r.experiment_id for r in runs}) > 1:
        names = [experiment_names.get(r.experiment_id, r.experiment_id) for r in runs]
        columns.insert(1, _Column("experiment", [text(n) for n in names], 0))
    columns += [
        _Column("started", [text(fmt_time(r.start_time)) for r in runs], 4),
        _Column("duration", [text(fmt_duration(r.duration_ms)) for r in runs], 5, "right"),
    ]
    for key in metric_keys:
        cells = [text(fmt_number(r.metrics.get(key))) for r in runs]
        columns.append(_Column(key, cells, 1 if key in lead_metrics else 2, "right", "bold cyan"))
    for key in param_keys:
        columns.append(
            _Column(key, [text(r.params.get(key)) for r in runs], 3, header_style="bold magenta")
        )
    return columns


def _constant_params(runs: Sequence[Run]) -> dict[str, str]:
    """Params equal in every run: a column of them tells the runs apart no better than a note."""
    if len(runs) < 2:
        return {}
    first = runs[0].params
    return {k: v for k, v in sorted(first.items()) if all(r.params.get(k) == v for r in runs)}


def run_brief(run: Run) -> dict[str, Any]:
    """What ``runs list --json`` prints of a run: nested, so ``jq '.[].metrics.auc'`` works."""
    return {
        "run_id": run.run_id,
        "run_name": run.name,
        "experiment_id": run.experiment_id,
        "status": run.status.value,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "metrics": dict(run.metrics),
        "params": dict(run.params),
        "tags": dict(run.tags),
    }
