"""``mlstage data stats|validate|drift|skew`` and ``mlstage data schema infer|update``.

Inputs are CSV or Parquet files (or folders of Parquet files). ``validate``
exits 1 when the data has error anomalies, so a pipeline or CI job stops on
bad data; ``drift --fail-on-drift`` does the same for a drifted dataset.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlstage.cli._console import console, fmt_number, print_json, text
from mlstage.errors import InvalidInput

if TYPE_CHECKING:
    from mlstage.data.drift import DriftReport
    from mlstage.data.validation import ValidationReport

app = typer.Typer(
    help="Statistics, schema, validation, drift and skew of tabular data (CSV, Parquet).",
    no_args_is_help=True,
)
schema_app = typer.Typer(help="Infer a data schema, or update it to accept new data.")
app.add_typer(schema_app, name="schema", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
DataArg = Annotated[
    str, typer.Argument(metavar="FILE", help="CSV or Parquet file, or a folder of Parquet files.")
]
SchemaOption = Annotated[
    Path, typer.Option("--schema", "-s", metavar="SCHEMA.yaml", help="The schema file.")
]
EXIT_FAILED = 1


def data_path(value: str) -> Path:
    """The input path, checked: it exists and is CSV, Parquet or a folder of Parquet files."""
    from mlstage.data.frames import check_path

    path = Path(value)
    check_path(path)
    return path


def output_path(value: Path, force: bool = True) -> Path:
    """A file to write: its folder exists, it is not a folder, and it is new unless ``force``."""
    if value.is_dir():
        raise InvalidInput(f"{value}: is a folder; give a file name")
    if not value.parent.is_dir():
        raise InvalidInput(f"{value}: the folder {value.parent} does not exist")
    if value.exists() and not force:
        raise InvalidInput(f"{value}: exists already; pass --force to overwrite it")
    return value


@app.command("stats")
def stats(
    data: DataArg,
    as_json: JsonOption = False,
    executor: Annotated[
        str,
        typer.Option(
            "--executor",
            "-x",
            help="local (in this process), dask (a local Dask cluster) or tcp://host:port (a "
            "running scheduler); on Dask the input is Parquet, read partition by partition.",
        ),
    ] = "local",
) -> None:
    """Per-feature statistics: counts, missing, range, mean, quantiles, top values."""
    from rich.table import Table

    source = data_path(data)
    if executor == "local":
        from mlstage.data.statistics import compute_statistics

        result = compute_statistics(source)
    else:
        from mlstage.data.statistics_dask import statistics_on_dask

        result = statistics_on_dask(source, executor=executor)
    if as_json:
        print_json(result.to_dict())
        return
    table = Table(header_style="bold", title=f"{result.num_rows:,} rows", title_justify="left")
    for column in ("feature", "type", "count", "missing", "min", "max", "mean", "std", "unique"):
        table.add_column(column, justify="left" if column in ("feature", "type") else "right")
    table.add_column("top values")
    for name, s in result.features.items():
        lo = s.min if isinstance(s.min, str) else fmt_number(s.min)
        hi = s.max if isinstance(s.max, str) else fmt_number(s.max)
        top = ", ".join(f"{v.value} ({v.count:,})" for v in s.top_values[:3])
        unique = f"{s.unique:,}" if s.unique is not None else None
        if unique and not s.unique_exact:
            unique = "~" + unique
        table.add_row(
            text(name),
            text(s.type),
            text(f"{s.count:,}"),
            text(f"{s.missing:,}"),
            text(lo),
            text(hi),
            text(fmt_number(s.mean)),
            text(fmt_number(s.std)),
            text(unique),
            text(top),
        )
    console().print(table)


@schema_app.command("infer")
def schema_infer(
    data: DataArg,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the schema here (default: print it)."),
    ] = None,
    row_bounds: Annotated[
        bool, typer.Option("--row-bounds", help="Also bound the row count (half to twice).")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Infer a schema from data, to review and keep in version control."""
    from mlstage.data.schema import infer_schema, save_schema

    source = data_path(data)
    target = output_path(output, force) if output is not None else None
    schema = infer_schema(source, row_bounds=row_bounds)
    if target is None:
        typer.echo(schema.to_yaml(), nl=False)
        return
    save_schema(schema, target)
    out = console(stderr=True)
    out.print(text(f"Wrote the schema of {len(schema.features)} features to {target}."))
    out.print(text("Review it (domains, ranges, presence, thresholds) before committing it."))


@app.command("validate")
def validate(
    data: DataArg,
    schema: SchemaOption,
    as_json: JsonOption = False,
    no_pii: Annotated[
        bool, typer.Option("--no-pii", help="Skip the personal-data detectors.")
    ] = False,
) -> None:
    """Check data against a schema; exits 1 when there are error anomalies."""
    from mlstage.data.schema import load_schema
    from mlstage.data.validation import validate as run_validation

    source = data_path(data)
    report = run_validation(source, load_schema(schema), detect_pii=not no_pii)
    if as_json:
        print_json(report.to_dict())
    else:
        _print_anomalies(report, str(source))
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)


def _print_anomalies(report: ValidationReport, label: str) -> None:
    from rich.table import Table

    out = console()
    errors, warnings = len(report.errors), len(report.warnings)
    if report.anomalies:
        table = Table(header_style="bold")
        for column in ("severity", "feature", "category", "expected", "actual", "description"):
            table.add_column(column)
        for a in report.anomalies:
            style = "red" if a.severity == "error" else "yellow"
            table.add_row(
                text(a.severity, style),
                text(a.feature if a.feature is not None else "(dataset)"),
                text(a.category),
                text(a.expected),
                text(a.actual),
                text(a.description),
            )
        out.print(table)
    verdict = "matches the schema" if report.ok else "does not match the schema"
    summary = f"{label}: {report.num_rows:,} rows, {errors} errors, {warnings} warnings: {verdict}."
    out.print(text(summary, "green" if report.ok else "bold red"))
    if report.updates:
        out.print(
            text("If these changes are expected, `mlstage data schema update` suggests the edits.")
        )


@schema_app.command("update")
def schema_update(
    data: DataArg,
    schema: SchemaOption,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Write the suggested updates without asking.")
    ] = False,
) -> None:
    """Show the schema edits that would accept this data, and write them when accepted."""
    from rich.table import Table

    from mlstage.data.schema import load_schema, save_schema
    from mlstage.data.validation import validate as run_validation

    source = data_path(data)
    current = load_schema(schema)
    report = run_validation(source, current, detect_pii=False)
    out = console()
    if not report.updates:
        out.print(text(f"The schema {schema} already accepts {source}: nothing to update."))
        return
    table = Table(header_style="bold")
    for column in ("feature", "field", "from", "to", "why"):
        table.add_column(column)
    for u in report.updates:
        old = "(absent)" if u.field == "feature" and u.old is None else _short(u.old)
        new = "(removed)" if u.field == "feature" and u.new is None else _short(u.new)
        table.add_row(
            text(u.feature if u.feature is not None else "(dataset)"),
            text(u.field),
            text(old),
            text(new),
            text(u.reason),
        )
    out.print(table)
    if not yes and not typer.confirm(f"Write these {len(report.updates)} updates to {schema}?"):
        out.print(text("Nothing written."))
        return
    save_schema(report.suggested_schema(), schema)
    out.print(text(f"Updated {schema}: review the diff before committing it."))


def _short(value: object, limit: int = 60) -> str:
    shown = "-" if value is None else str(value)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


MethodOption = Annotated[
    str | None,
    typer.Option(
        "--method",
        "-m",
        help="linf, jsd, psi, ks or chi2 for every feature (default: the schema's, "
        "else linf for categorical and jsd for numeric features).",
    ),
]
ThresholdOption = Annotated[
    float | None, typer.Option("--threshold", help="One threshold for every feature.")
]
HtmlOption = Annotated[
    Path | None,
    typer.Option("--html", metavar="OUT.html", help="Write a self-contained HTML report here."),
]
FailOption = Annotated[
    bool,
    typer.Option("--fail-on-drift", help="Exit 1 when the dataset as a whole has drifted."),
]


@app.command("drift")
def drift(
    reference: Annotated[str, typer.Argument(metavar="REFERENCE", help="The baseline data.")],
    current: Annotated[str, typer.Argument(metavar="CURRENT", help="The data to compare.")],
    schema: Annotated[
        Path | None, typer.Option("--schema", "-s", help="Schema with per-feature comparators.")
    ] = None,
    method: MethodOption = None,
    threshold: ThresholdOption = None,
    html: HtmlOption = None,
    as_json: JsonOption = False,
    fail_on_drift: FailOption = False,
) -> None:
    """Compare two datasets feature by feature: which features drifted, and by how much."""
    from mlstage.data.drift import compare

    _comparison(
        compare, reference, current, schema, method, threshold, html, as_json, fail_on_drift
    )


@app.command("skew")
def skew(
    training: Annotated[str, typer.Argument(metavar="TRAINING", help="The training data.")],
    serving: Annotated[
        str | None,
        typer.Argument(metavar="[SERVING]", help="Serving inputs (a file), or use --model."),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Read the inputs the prediction service logged for MODEL."),
    ] = None,
    since_hours: Annotated[
        float | None,
        typer.Option("--since-hours", help="With --model: only the last N hours of the log."),
    ] = None,
    schema: Annotated[
        Path | None, typer.Option("--schema", "-s", help="Schema with per-feature comparators.")
    ] = None,
    method: MethodOption = None,
    threshold: ThresholdOption = None,
    html: HtmlOption = None,
    as_json: JsonOption = False,
    fail_on_drift: FailOption = False,
) -> None:
    """Training-serving skew: serving inputs (a file, or the request log) vs the training data."""
    import time

    from mlstage.data.drift import skew as run_skew

    if (serving is None) == (model is None):
        raise InvalidInput("give the serving inputs either as a file (SERVING) or as --model NAME")
    logged = None
    if model is not None:
        from mlstage.data.serving import serving_inputs

        since = None
        if since_hours is not None:
            since = int((time.time() - since_hours * 3600) * 1000)
        logged = serving_inputs(model, since_ms=since)
    _comparison(
        run_skew,
        training,
        serving,
        schema,
        method,
        threshold,
        html,
        as_json,
        fail_on_drift,
        current_data=logged,
        current_label=f"serving log of {model}" if model else None,
    )


def _comparison(
    run: object,
    reference: str,
    current: str | None,
    schema: Path | None,
    method: str | None,
    threshold: float | None,
    html: Path | None,
    as_json: bool,
    fail: bool,
    current_data: object = None,
    current_label: str | None = None,
) -> None:
    from mlstage.data.schema import load_schema

    ref = data_path(reference)
    cur: object = current_data if current_data is not None else data_path(str(current))
    target = output_path(html) if html is not None else None
    loaded = load_schema(schema) if schema is not None else None
    assert callable(run)
    report: DriftReport = run(ref, cur, loaded, method, threshold=threshold)
    labels = {"reference_label": str(ref), "current_label": current_label or str(cur)}
    report = report.model_copy(update=labels)
    if target is not None:
        target.write_text(report.to_html(), encoding="utf-8")
    if as_json:
        print_json(report.to_dict())
    else:
        _print_drift(report)
        if target is not None:
            console().print(text(f"HTML report: {target}"))
    if fail and report.drifted:
        raise typer.Exit(EXIT_FAILED)


def _print_drift(report: DriftReport) -> None:
    from rich.table import Table

    table = Table(header_style="bold")
    for column in ("feature", "type", "method", "score", "threshold", "p-value", ""):
        table.add_column(column, justify="right" if column in ("score", "p-value") else "left")
    ordered = sorted(report.features.values(), key=lambda f: (not f.drifted, f.feature))
    for f in ordered:
        rule = "p < " if f.method in ("ks", "chi2") else "> "
        table.add_row(
            text(f.feature),
            text(f.type),
            text(f.method),
            text(fmt_number(f.score)),
            text(rule + fmt_number(f.threshold)),
            text(fmt_number(f.p_value)),
            text("drifted", "bold red") if f.drifted else text("ok", "green"),
        )
    out = console()
    out.print(table)
    for name, why in report.skipped.items():
        out.print(text(f"not compared: {name}: {why}", "dim"))
    noun = "skew" if report.kind == "skew" else "drift"
    drifted = len(report.drifted_features)
    verdict = f"dataset {noun}: {'yes' if report.drifted else 'no'}"
    out.print(
        text(
            f"{drifted} of {len(report.features)} features over their threshold "
            f"({report.share:.0%}; the dataset counts as drifted at {report.drift_share:.0%}): "
            f"{verdict}",
            "bold red" if report.drifted else "green",
        )
    )
