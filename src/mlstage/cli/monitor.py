"""``mlstage monitor check|results|alerts``: run a deployment's monitors, read their history.

``check`` evaluates the monitors declared for a deployment or model
(``monitoring.yaml`` next to mlstage.toml, or ``--config``) over the last
``--window``, stores the results and fires the alert rules; it exits 1 with
``--fail-on-alert`` when a result alerts, so a CI job or cron entry stops.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlstage.cli._console import console, fmt_number, fmt_time, print_json, text

if TYPE_CHECKING:
    from mlstage.monitoring.results import MetricResult

app = typer.Typer(
    help="Monitor deployed models: drift, performance, data quality, service health, staleness.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
Subject = Annotated[str, typer.Argument(metavar="DEPLOYMENT_OR_MODEL")]
STATUS_STYLE = {"ok": "green", "warn": "yellow", "alert": "bold red"}


def _results_table(results: list[MetricResult], title: str, with_window: bool = False) -> None:
    from rich.table import Table

    table = Table(header_style="bold", title=title, title_justify="left")
    if with_window:
        table.add_column("window end")
    for column in ("monitor", "metric", "value", "status"):
        table.add_column(column, justify="right" if column == "value" else "left")
    table.add_column("note")
    for r in results:
        note = r.details.get("note") or r.details.get("error") or ""
        if r.metric == "drift_share" and r.details.get("drifted"):
            note = "drifted: " + ", ".join(r.details["drifted"])
        cells = [fmt_time(r.window_end)] if with_window else []
        table.add_row(
            *[text(c) for c in cells],
            text(r.monitor),
            text(r.metric),
            text(fmt_number(r.value)),
            text(r.status, STATUS_STYLE.get(r.status, "")),
            text(str(note)[:120]),
        )
    console().print(table)


@app.command("check")
def check(
    subject: Subject,
    window: Annotated[
        str, typer.Option("--window", "-w", help="How far back to look: 30m, 12h, 1d, 2w.")
    ] = "1d",
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Monitoring file (default: monitoring.yaml)."),
    ] = None,
    monitor: Annotated[
        list[str] | None, typer.Option("--monitor", "-m", help="Run only this monitor (repeat).")
    ] = None,
    no_alerts: Annotated[
        bool, typer.Option("--no-alerts", help="Store the results, send no alerts.")
    ] = False,
    fail_on_alert: Annotated[
        bool, typer.Option("--fail-on-alert", help="Exit 1 when any result alerts.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Evaluate the monitors of a deployment (or model) over a window; store the results."""
    from mlstage.monitoring.check import run_check

    report = run_check(
        subject, window=window, config=config, only=monitor or None, alerts=not no_alerts
    )
    if as_json:
        print_json(report.to_dict())
    else:
        title = (
            f"{report.subject}: {report.predictions:,} predictions from "
            f"{fmt_time(report.window_start)} to {fmt_time(report.window_end)} "
            f"({report.seconds:.2f} s)"
        )
        _results_table(report.results, title)
        out = console()
        for d in report.deliveries:
            out.print(text(f"alert {d.rule!r} -> {d.target}: {d.status}", STATUS_STYLE["warn"]))
        out.print(text(f"status: {report.status}", STATUS_STYLE[report.status]))
    if fail_on_alert and report.status == "alert":
        raise typer.Exit(1)


@app.command("results")
def results(
    subject: Subject,
    monitor: Annotated[str | None, typer.Option("--monitor", "-m")] = None,
    metric: Annotated[str | None, typer.Option("--metric")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100_000)] = 50,
    as_json: JsonOption = False,
) -> None:
    """The stored results of a deployment's monitors, newest window first."""
    from mlstage.config import get_settings
    from mlstage.monitoring.check import database_of
    from mlstage.monitoring.results import SqlMonitorResults

    store = SqlMonitorResults(database_of(get_settings()))
    found = store.list(subject, monitor=monitor, metric=metric, limit=limit)
    if as_json:
        print_json([r.model_dump(mode="json") for r in found])
        return
    _results_table(found, f"{subject}: {len(found)} result(s)", with_window=True)


@app.command("alerts")
def alerts(
    subject: Annotated[str | None, typer.Argument(metavar="[DEPLOYMENT_OR_MODEL]")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 50,
    as_json: JsonOption = False,
) -> None:
    """Alert deliveries, newest first: rule, window, target, status, attempts, error."""
    from rich.table import Table

    from mlstage.config import get_settings
    from mlstage.monitoring.alerts import AlertSender
    from mlstage.monitoring.check import database_of

    settings = get_settings()
    found = AlertSender(database_of(settings), settings).list(subject, limit)
    if as_json:
        print_json([d.model_dump(mode="json") for d in found])
        return
    table = Table(header_style="bold", title=f"{len(found)} alert(s)", title_justify="left")
    for column in ("created", "rule", "subject", "window end", "target", "status", "tries"):
        table.add_column(column)
    table.add_column("error")
    for d in found:
        table.add_row(
            text(fmt_time(d.created_at)),
            text(d.rule),
            text(d.subject),
            text(fmt_time(d.window_end)),
            text(d.target),
            text(d.status, "green" if d.status == "delivered" else "yellow"),
            text(d.attempts),
            text(d.error[:100]),
        )
    console().print(table)
