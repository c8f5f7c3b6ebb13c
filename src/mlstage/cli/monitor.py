"""``mlstage monitor check|results|alerts|tick|retrainings|retraining|approve|reject``.

``check`` evaluates the monitors declared for a deployment or model
(``monitoring.yaml`` next to mlstage.toml, or ``--config``) over the last
``--window``, stores the results and fires the alert rules; it exits 1 with
``--fail-on-alert`` when a result alerts, so a CI job or cron entry stops.

``tick`` runs one round of the monitoring loop (``monitoring.loop``): due
checks, triggers, retrainings in flight. ``retrainings`` and ``retraining
ID`` show what the triggers started, step by step; ``approve`` and
``reject`` decide a candidate released with ``approval: manual``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlstage.cli._console import console, fmt_number, fmt_time, print_json, text

if TYPE_CHECKING:
    from mlstage.monitoring.results import MetricResult
    from mlstage.monitoring.sql_retraining import Transition

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


# -- the loop: ticks, retrainings, approvals (task retraining) -------------------------------------

RETRAINING_STYLE = {
    "promoted": "green",
    "rolled_back": "bold red",
    "rejected": "red",
    "failed": "bold red",
    "awaiting_approval": "bold yellow",
}


def _figure(value: float | None) -> str:
    return "" if value is None else fmt_number(value)


def _transitions_table(found: list[Transition], title: str) -> None:
    from rich.table import Table

    table = Table(header_style="bold", title=title, title_justify="left")
    for column in ("time", "retraining", "state", "actor", "trigger", "observed", "threshold"):
        table.add_column(column)
    table.add_column("reason")
    for x in found:
        table.add_row(
            text(fmt_time(x.at)),
            text(x.retraining_id),
            text(x.state, RETRAINING_STYLE.get(x.state, "")),
            text(x.actor),
            text(x.trigger),
            text(_figure(x.observed)),
            text(_figure(x.threshold)),
            text(x.reason[:160]),
        )
    console().print(table)


@app.command("tick")
def tick(
    deployment: Annotated[
        str | None, typer.Option("--deployment", "-d", help="Only this deployment.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """One round of the loop: due checks, triggers, retrainings in flight (as the scheduler)."""
    from mlstage.monitoring.loop import run_tick

    report = run_tick(deployment=deployment)
    if as_json:
        print_json(report.to_dict())
    else:
        out = console()
        for c in report.checks:
            out.print(
                text(f"checked {c['deployment']}: {c['predictions']:,} predictions, {c['status']}")
            )
        for o in report.observations:
            out.print(text(f"trigger {o.trigger}: {o.reason}", "yellow" if o.fired else ""))
        for note in report.notes:
            out.print(text(note))
        if report.transitions:
            _transitions_table(report.transitions, f"{len(report.transitions)} transition(s)")
        elif not (report.checks or report.observations or report.notes):
            out.print(text("nothing was due"))
        for error in report.errors:
            out.print(text(error, "bold red"))
    if report.errors:
        raise typer.Exit(1)


@app.command("retrainings")
def retrainings(
    deployment: Annotated[str | None, typer.Argument(metavar="[DEPLOYMENT]")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 50,
    as_json: JsonOption = False,
) -> None:
    """Retrainings, newest first: trigger, versions, state."""
    from rich.table import Table

    from mlstage.config import get_settings
    from mlstage.monitoring.check import database_of
    from mlstage.monitoring.retraining import list_retrainings

    found = list_retrainings(database_of(get_settings()), deployment, limit=limit)
    if as_json:
        print_json([r.model_dump(mode="json") for r in found])
        return
    table = Table(header_style="bold", title=f"{len(found)} retraining(s)", title_justify="left")
    for column in ("id", "started", "deployment", "trigger", "observed", "champion", "candidate"):
        table.add_column(column)
    table.add_column("state")
    table.add_column("reason")
    for r in found:
        table.add_row(
            text(r.retraining_id),
            text(fmt_time(r.created_at)),
            text(r.deployment),
            text(r.trigger),
            text(_figure(r.observed)),
            text("" if r.champion_version is None else f"{r.model}/{r.champion_version}"),
            text("" if r.candidate_version is None else f"{r.model}/{r.candidate_version}"),
            text(r.state, RETRAINING_STYLE.get(r.state, "")),
            text(r.reason[:120]),
        )
    console().print(table)


@app.command("retraining")
def retraining(
    retraining_id: Annotated[int, typer.Argument(metavar="ID")],
    as_json: JsonOption = False,
) -> None:
    """One retraining: every transition with its time, actor and the trigger behind it."""
    from mlstage.config import get_settings
    from mlstage.monitoring.check import database_of
    from mlstage.monitoring.retraining import events, get_retraining

    db = database_of(get_settings())
    found = get_retraining(db, retraining_id)
    steps = events(db, retraining_id)
    if as_json:
        print_json(
            {
                **found.model_dump(mode="json"),
                "events": [x.model_dump(mode="json") for x in steps],
            }
        )
        return
    head = (
        f"Retraining {found.retraining_id} of {found.deployment}: {found.state}, "
        f"trigger {found.trigger} ({found.trigger_kind})"
    )
    _transitions_table(steps, head)
    if found.decision:
        console().print(
            text(
                f"last canary decision: {found.decision.get('action')}: "
                + "; ".join(found.decision.get("reasons", []))
            )
        )


def _decide(retraining_id: int, reason: str, *, approving: bool, as_json: bool) -> None:
    from mlstage.config import get_settings
    from mlstage.monitoring.check import database_of
    from mlstage.monitoring.retraining import approve, reject
    from mlstage.tracking.context import collect_context

    settings = get_settings()
    actor = collect_context().user
    db = database_of(settings)
    if approving:
        found = approve(db, retraining_id, actor=actor, reason=reason, settings=settings)
    else:
        found = reject(db, retraining_id, actor=actor, reason=reason, settings=settings)
    if as_json:
        print_json(found.model_dump(mode="json"))
        return
    console().print(
        text(
            f"Retraining {found.retraining_id}: {found.model}/{found.candidate_version} "
            f"{found.state.replace('_', ' ')} by {actor}.",
            RETRAINING_STYLE.get(found.state, ""),
        )
    )


@app.command("approve")
def approve_command(
    retraining_id: Annotated[int, typer.Argument(metavar="ID")],
    reason: Annotated[str, typer.Option("--reason", "-r", help="Kept in the history.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Promote a candidate awaiting approval: the deployment serves it, it becomes champion."""
    _decide(retraining_id, reason, approving=True, as_json=as_json)


@app.command("reject")
def reject_command(
    retraining_id: Annotated[int, typer.Argument(metavar="ID")],
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (required).")] = "",
    as_json: JsonOption = False,
) -> None:
    """Take a released candidate out of its deployment; the primary keeps serving."""
    _decide(retraining_id, reason, approving=False, as_json=as_json)
