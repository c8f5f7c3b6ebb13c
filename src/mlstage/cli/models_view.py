"""How ``mlstage models`` and ``mlstage demo`` lay registered models out for people."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mlstage.cli._console import MISSING, fmt_number, fmt_time, text

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.table import Table

    from mlstage.models.entities import HistoryEntry, ModelVersion, RegisteredModel
    from mlstage.models.evaluation import EvaluationResult
    from mlstage.models.validation import Verdict

STATUS_STYLES = {"READY": "cyan", "VALIDATED": "green", "REJECTED": "red", "ARCHIVED": "dim"}
SHORT_CARD = ("Model details", "Intended use", "Limitations")
"""The card's sections a terminal shows first; the whole card is one command away."""


def aliases_text(aliases: Mapping[str, int]) -> str:
    return ", ".join(f"{alias}: {version}" for alias, version in sorted(aliases.items()))


def status_text(status: str) -> Any:
    return text(status, STATUS_STYLES.get(status, ""))


def _table(*columns: str, title: str | None = None, numbers: Sequence[str] = ()) -> Table:
    """A table whose ``numbers`` columns (and version numbers) are right-aligned."""
    from rich.table import Table

    right = {"version", "latest", *numbers}
    table = Table(header_style="bold", title=title, title_justify="left")
    for column in columns:
        table.add_column(column, justify="right" if column in right else "left")
    return table


def pairs(rows: Sequence[tuple[str, RenderableType | str | None]]) -> Table:
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for key, value in rows:
        grid.add_row(text(key), text(value) if value is None or isinstance(value, str) else value)
    return grid


def heading(out: Console, title: str) -> None:
    out.print()
    out.print(text(title, "bold underline"))


# -- models, versions, history ------------------------------------------------------------------


def models_table(models: Sequence[RegisteredModel]) -> Table:
    table = _table("name", "latest", "aliases", "owner", "description")
    for m in models:
        table.add_row(
            text(m.name, "bold"),
            text(m.latest_version),
            text(aliases_text(m.aliases) or MISSING),
            text(m.owner or MISSING),
            text(m.description or MISSING),
        )
    return table


def versions_table(versions: Sequence[ModelVersion], title: str | None = None) -> Table:
    table = _table(
        "version", "status", "aliases", "source run", "created by", "created", "description",
        title=title,
    )  # fmt: skip
    for v in versions:
        table.add_row(
            text(v.version),
            status_text(v.status.value),
            text(", ".join(v.aliases) or MISSING, "bold" if v.aliases else ""),
            text(v.run_id, "dim"),
            text(v.created_by or MISSING),
            text(fmt_time(v.created_at)),
            text(v.description or MISSING),
        )
    return table


def render_model(out: Console, model: RegisteredModel, versions: Sequence[ModelVersion]) -> None:
    out.print(text(f"Model {model.name}", "bold"))
    tags = ", ".join(f"{k}={v}" for k, v in sorted(model.tags.items()))
    out.print(
        pairs(
            [
                ("description", model.description or MISSING),
                ("owner", model.owner or MISSING),
                ("aliases", aliases_text(model.aliases) or MISSING),
                ("latest version", str(model.latest_version or MISSING)),
                ("created", fmt_time(model.created_at)),
                ("updated", fmt_time(model.updated_at)),
                ("tags", tags or MISSING),
            ]
        )
    )
    heading(out, "Versions")
    if versions:
        out.print(versions_table(versions))
    else:
        out.print(text("(none)", "dim"))


def render_version(out: Console, v: ModelVersion) -> None:
    out.print(text(f"Model {v.name} version {v.version}", "bold"))
    tags = ", ".join(f"{k}={x}" for k, x in sorted(v.tags.items()))
    out.print(
        pairs(
            [
                ("uri", v.uri),
                ("status", status_text(v.status.value)),
                ("aliases", ", ".join(v.aliases) or MISSING),
                ("source", v.source),
                ("flavor", v.flavor),
                ("created by", v.created_by or MISSING),
                ("created", fmt_time(v.created_at)),
                ("description", v.description or MISSING),
                ("tags", tags or MISSING),
            ]
        )
    )
    if v.card:
        heading(out, "Card fields")
        out.print(pairs(sorted(v.card.items())))
    heading(out, "Validation")
    if v.validation:
        print_reasons(out, [str(r) for r in v.validation.get("reasons") or []])
    else:
        out.print(text(f"not through the validation gate yet ({v.status.value})", "dim"))


def history_table(entries: Sequence[HistoryEntry]) -> Table:
    table = _table("when", "version", "change", "by", "reason")
    for e in entries:
        table.add_row(
            text(fmt_time(e.at)),
            text(e.version),
            text(change_text(e)),
            text(e.actor or MISSING),
            text(e.reason or MISSING),
        )
    return table


def change_text(e: HistoryEntry) -> str:
    """One history entry as a short phrase: what moved, from where to where."""
    if e.action == "registered":
        return f"registered from {e.to_value}"
    if e.action == "alias_set":
        was = f" (was {e.from_value})" if e.from_value else ""
        return f"@{e.alias} → {e.to_value}{was}"
    if e.action == "alias_deleted":
        return f"@{e.alias} removed (was {e.from_value})"
    if e.action == "status_changed":
        if e.from_value == e.to_value:
            return f"{e.to_value} (checked again)"
        return f"{e.from_value} → {e.to_value}"
    return f"{e.action} {e.from_value or ''} → {e.to_value or ''}".strip()


# -- evaluation and validation -------------------------------------------------------------------


def reason_style(reason: str) -> str:
    if reason.endswith(": pass"):
        return "green"
    if reason.endswith(": FAIL"):
        return "bold red"
    if ": skipped" in reason:
        return "yellow"
    return "dim"


def print_reasons(out: Console, reasons: Sequence[str]) -> None:
    """One line per reason, as the verdict wrote it: green pass, red FAIL, yellow skipped."""
    for reason in reasons:
        out.print(text(f"  {reason}", reason_style(reason)), soft_wrap=True)


def render_verdict(out: Console, verdict: Verdict) -> None:
    """Every reason, then one line with the decision and what became of the version."""
    print_reasons(out, verdict.reasons)
    checks = [r for r in verdict.reasons if r.endswith((": pass", ": FAIL"))]
    if verdict.passed:
        line = text(f"PASSED: {verdict.candidate} meets all {len(checks)} checks", "bold green")
    else:
        failed = len(verdict.failures)
        line = text(
            f"REJECTED: {verdict.candidate} fails {failed} of {len(checks)} checks", "bold red"
        )
    if verdict.recorded:
        line.append(f"; now {'VALIDATED' if verdict.passed else 'REJECTED'}")
    else:
        line.append("; not recorded on any version")
    out.print(line)


def render_evaluation(out: Console, result: EvaluationResult, source: str) -> None:
    out.print(
        text(
            f"Evaluated {result.model_uri} on {source}: {result.num_rows} rows, "
            f"{result.task}, target {result.targets!r}",
            "bold",
        )
    )
    heading(out, "Metrics")
    out.print(pairs([(k, fmt_number(v)) for k, v in result.metrics.items()]))
    for column, by_value in result.slices.items():
        metrics = [k for k in result.metrics if any(k in m for m in by_value.values())]
        numbers = ["count", *metrics]
        table = _table(column, *numbers, title=f"Slices by {column}", numbers=numbers)
        for value, found in by_value.items():
            cells = [fmt_number(found.get(k)) for k in metrics]
            table.add_row(text(value), text(fmt_number(found.get("count"))), *map(text, cells))
        out.print()
        out.print(table)


# -- cards --------------------------------------------------------------------------------------


def print_markdown(out: Console, markdown: str, raw: bool = False) -> None:
    """Rendered in a terminal; as written in a pipe or with ``raw``, so it can go to a file."""
    if raw or not out.is_terminal:
        stream = sys.stderr if out.stderr else sys.stdout
        stream.write(markdown if markdown.endswith("\n") else markdown + "\n")
        stream.flush()
        return
    from rich.markdown import Markdown

    out.print(Markdown(markdown))


def card_sections(markdown: str, titles: Sequence[str] = SHORT_CARD) -> str:
    """The card's title and the sections named ``titles``, in the card's order."""
    kept: list[str] = []
    keep = True
    for line in markdown.splitlines():
        if line.startswith("## "):
            keep = line[3:].strip() in titles
        elif line.startswith("_Generated by"):
            keep = False
        if keep:
            kept.append(line)
    return "\n".join(kept).rstrip() + "\n"
