"""``mlstage pipelines run|list|runs|show|resume|schedule|...`` and ``mlstage scheduler``.

A pipeline is named as ``FILE.py:NAME``: the file is checked (it exists, it
is a ``.py`` file) and imported by path, which defines and checks its
pipelines. ``--param NAME=VALUE`` values are read as the pipeline
parameter's declared type.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlstage.cli._console import console, fmt_duration, fmt_time, print_json, text
from mlstage.errors import InvalidInput

if TYPE_CHECKING:
    from rich.console import Console

    from mlstage.pipelines.dsl import Pipeline
    from mlstage.pipelines.entities import PipelineRunInfo

app = typer.Typer(help="Run, inspect, resume and schedule pipelines.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
Target = Annotated[
    str,
    typer.Argument(metavar="FILE.py:PIPELINE", help="The pipeline file and the pipeline's name."),
]
RunId = Annotated[str, typer.Argument(metavar="RUN_ID", help="A pipeline run's id.")]
ParamOption = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", metavar="NAME=VALUE", help="A pipeline parameter (repeatable)."),
]
ExecutorOption = Annotated[
    str,
    typer.Option(
        "--executor",
        "-x",
        help="local (in-process), processes, dask (a local cluster) or tcp://host:port.",
    ),
]
STATUS_STYLES = {
    "RUNNING": "cyan",
    "SUCCEEDED": "green",
    "FAILED": "red",
    "PENDING": "dim",
    "SKIPPED": "yellow",
}


def parse_params(pipeline: Pipeline, items: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` strings as values of the declared parameter types."""
    values: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InvalidInput(f"--param {item!r}: use NAME=VALUE")
        param = pipeline.graph.params.get(name)
        if param is None:
            known = ", ".join(pipeline.graph.params) or "none"
            raise InvalidInput(
                f"--param {name}: pipeline {pipeline.name!r} has no such parameter "
                f"(parameters: {known})"
            )
        values[name] = _coerce(name, raw, param.annotation)
    return values


def _coerce(name: str, raw: str, annotation: Any) -> Any:
    try:
        if annotation is str:
            return raw
        if annotation is bool:
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if annotation is int:
            return int(raw)
        if annotation is float:
            return float(raw)
        return json.loads(raw)
    except ValueError:
        from mlstage.pipelines.types import type_name

        raise InvalidInput(
            f"--param {name}={raw}: expected {type_name(annotation)}"
            + (" as JSON" if annotation not in (int, float, bool) else "")
        ) from None


@app.command("run")
def run(
    target: Target,
    param: ParamOption = None,
    executor: ExecutorOption = "local",
    params_json: Annotated[
        str | None, typer.Option("--params-json", hidden=True, help="Parameters as JSON.")
    ] = None,
    fire: Annotated[
        str | None, typer.Option("--fire", hidden=True, help="SCHEDULE_ID:DUE of a fire.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Run a pipeline; exits 1 when a step fails."""
    from mlstage.pipelines.loading import load_target

    pipeline = load_target(target)
    params = parse_params(pipeline, param or [])
    if params_json:
        params = {**json.loads(params_json), **params}
    result = pipeline.run(executor=executor, **params)
    if fire:
        from mlstage.pipelines.scheduler import schedule_store

        schedule_id, _, due = fire.partition(":")
        schedule_store().set_fire_run(int(schedule_id), int(due), result.run_id)
    if as_json:
        print_json(result.model_dump(mode="json", exclude={"result_refs"}))
    else:
        _render_run(result, logs=False)
    if result.status.value != "SUCCEEDED":
        raise typer.Exit(1)


@app.command("list")
def list_pipelines(as_json: JsonOption = False) -> None:
    """List pipelines that have run here, with their last run."""
    from rich.table import Table

    from mlstage.pipelines.runner import pipeline_store

    found = pipeline_store().list_pipelines()
    if as_json:
        print_json(found)
        return
    out = console()
    if not found:
        out.print("No pipelines have run yet: `mlstage pipelines run FILE.py:PIPELINE`.")
        return
    table = Table(header_style="bold")
    for column in ("pipeline", "steps", "runs", "last run", "status", "started", "source"):
        table.add_column(column, justify="right" if column in ("steps", "runs") else "left")
    for entry in found:
        status = entry["last_status"] or "-"
        table.add_row(
            text(entry["name"]),
            text(entry["steps"]),
            text(entry["runs"]),
            text(entry["last_run_id"]),
            text(status, STATUS_STYLES.get(status, "")),
            text(fmt_time(entry["last_start_time"])),
            text(entry["source"]),
        )
    out.print(table)


@app.command("runs")
def list_runs(
    pipeline: Annotated[
        str | None, typer.Option("--pipeline", "-P", help="Only runs of this pipeline.")
    ] = None,
    max_results: Annotated[int, typer.Option("--max", "-n", min=1, help="Most runs shown.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """List pipeline runs, newest first."""
    from rich.table import Table

    from mlstage.pipelines.runner import pipeline_store

    runs = pipeline_store().list_runs(pipeline, max_results)
    if as_json:
        print_json([r.model_dump(mode="json", exclude={"steps"}) for r in runs])
        return
    out = console()
    if not runs:
        out.print("No pipeline runs" + (f" of {pipeline!r}." if pipeline else " yet."))
        return
    table = Table(header_style="bold")
    for column in ("run id", "pipeline", "status", "started", "duration", "executor", "params"):
        table.add_column(column)
    for r in runs:
        duration = None if r.end_time is None else r.end_time - r.start_time
        table.add_row(
            text(r.run_id),
            text(r.pipeline),
            text(r.status.value, STATUS_STYLES.get(r.status.value, "")),
            text(fmt_time(r.start_time)),
            text(fmt_duration(duration)),
            text(r.executor),
            text(", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(r.params.items()))),
        )
    out.print(table)


@app.command("show")
def show(
    run_id: RunId,
    logs: Annotated[bool, typer.Option("--logs", help="Print each step's log.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Show a pipeline run: its steps with status, timings, cache hits and errors."""
    from mlstage.pipelines.runner import pipeline_store

    info = pipeline_store().get_run(run_id)
    if as_json:
        print_json(info.model_dump(mode="json"))
        return
    _render_run(info, logs=logs)


@app.command("resume")
def resume(
    run_id: RunId,
    executor: Annotated[
        str | None,
        typer.Option("--executor", "-x", help="Executor to use (default: the run's own)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Run a failed pipeline run again from the steps that failed, reusing the others' outputs."""
    from mlstage.pipelines.runner import resume_pipeline as resume_run

    result = resume_run(run_id, executor)
    if as_json:
        print_json(result.model_dump(mode="json", exclude={"result_refs"}))
    else:
        _render_run(result, logs=False)
    if result.status.value != "SUCCEEDED":
        raise typer.Exit(1)


@app.command("schedule")
def schedule(
    target: Target,
    cron: Annotated[
        str | None,
        typer.Option(
            "--cron", help="5-field cron in UTC, e.g. '0 2 * * *' (default: the pipeline's own)."
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Schedule name (default: the pipeline's).")
    ] = None,
    param: ParamOption = None,
    executor: ExecutorOption = "local",
    disable: Annotated[bool, typer.Option("--disable", help="Keep it, but do not fire.")] = False,
) -> None:
    """Create or replace a schedule; `mlstage scheduler` runs it when due."""
    from mlstage.pipelines.loading import check_file, load_target
    from mlstage.pipelines.scheduler import schedule_store

    pipeline = load_target(target)
    expression = cron or pipeline.schedule
    if not expression:
        raise InvalidInput(
            f"pipeline {pipeline.name!r} declares no schedule: pass --cron '0 2 * * *'"
        )
    path_text = target.rpartition(":")[0] if ":" in target else target
    stored_target = f"{check_file(path_text)}:{pipeline.fn.__name__}"
    params = parse_params(pipeline, param or [])
    saved = schedule_store().save_schedule(
        name or pipeline.name, stored_target, expression, params, executor, enabled=not disable
    )
    state = "disabled" if disable else f"next run {fmt_time(saved.next_due)}"
    console().print(text(f"Schedule {saved.name!r}: {saved.cron} (UTC), {state}."))


@app.command("schedules")
def schedules(as_json: JsonOption = False) -> None:
    """List schedules and when each runs next."""
    from dataclasses import asdict

    from rich.table import Table

    from mlstage.pipelines.scheduler import schedule_store

    found = schedule_store().list_schedules()
    if as_json:
        print_json([asdict(s) for s in found])
        return
    out = console()
    if not found:
        out.print("No schedules: `mlstage pipelines schedule FILE.py:PIPELINE --cron '0 2 * * *'`.")
        return
    table = Table(header_style="bold")
    for column in ("name", "cron (UTC)", "next run", "enabled", "executor", "target"):
        table.add_column(column)
    for s in found:
        table.add_row(
            text(s.name),
            text(s.cron),
            text(fmt_time(s.next_due) if s.enabled else "-"),
            text("yes" if s.enabled else "no"),
            text(s.executor),
            text(s.target),
        )
    out.print(table)


@app.command("unschedule")
def unschedule(name: Annotated[str, typer.Argument(help="The schedule's name.")]) -> None:
    """Delete a schedule."""
    from mlstage.pipelines.scheduler import schedule_store

    schedule_store().delete_schedule(name)
    console().print(text(f"Deleted schedule {name!r}."))


def scheduler(
    once: Annotated[
        bool, typer.Option("--once", help="One tick, wait for the runs it started, and exit.")
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, help="Seconds between ticks.")
    ] = 15.0,
    lease_ttl: Annotated[
        float,
        typer.Option("--lease-ttl", min=1.0, help="Seconds the leader's lease lasts unrenewed."),
    ] = 60.0,
) -> None:
    """Run due pipeline schedules; several schedulers on one database elect one leader."""
    from mlstage.pipelines.scheduler import Scheduler

    runner = Scheduler(lease_ttl=max(lease_ttl, interval * 2))
    out = console(stderr=True)
    if once:
        fires = runner.tick()
        for fire in fires:
            out.print(text(f"fired {fire.schedule.name!r} due {fmt_time(fire.due_time)}"))
        _print_transitions(out, runner.transitions)
        codes = runner.wait_launched()
        runner.store.release(runner.holder)
        if not fires:
            out.print(text("no schedule was due" if runner.leading else "another scheduler leads"))
        if any(codes):
            raise typer.Exit(1)
        return
    out.print(text(f"scheduler {runner.holder}: a tick every {interval:g} s (Ctrl-C stops)"))
    try:
        runner.run_forever(
            interval,
            on_fire=lambda f: out.print(
                text(f"fired {f.schedule.name!r} due {fmt_time(f.due_time)}")
            ),
            on_tick=lambda: _print_transitions(out, runner.transitions),
        )
    except KeyboardInterrupt:
        out.print(text("scheduler stopped"))


def _print_transitions(out: Console, transitions: list[Any]) -> None:
    """What the monitoring loop did this tick: one line per retraining step."""
    for move in transitions:
        cause = f" ({move.trigger})" if move.trigger else ""
        reason = f": {move.reason}" if move.reason else ""
        out.print(text(f"{move.deployment} retraining {move.retraining_id}: {move.state}"
                       f"{cause}{reason}"))  # fmt: skip


def _render_run(info: PipelineRunInfo, *, logs: bool) -> None:
    from rich.table import Table

    out = console()
    status = info.status.value
    duration = None if info.end_time is None else info.end_time - info.start_time
    head = text(f"Pipeline {info.pipeline} run {info.run_id}: ")
    head.append(status, style=STATUS_STYLES.get(status, ""))
    head.append(f" in {fmt_duration(duration)}" if duration is not None else "")
    out.print(head)
    details = [
        ("started", fmt_time(info.start_time)),
        ("executor", info.executor),
        ("params", ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(info.params.items()))),
        ("source", info.source),
    ]
    if info.resumed_from:
        details.append(("resumed from", info.resumed_from))
    for label, value in details:
        if value:
            out.print(text(f"  {label}: {value}"))
    table = Table(header_style="bold")
    for column in ("step", "status", "cached", "attempts", "duration", "outputs", "tracked run"):
        table.add_column(column, justify="right" if column in ("attempts", "duration") else "left")
    for s in info.steps:
        outputs = ", ".join(f"{k} {o.sha256[:10]}" for k, o in s.outputs.items())
        table.add_row(
            text(s.step),
            text(s.status.value, STATUS_STYLES.get(s.status.value, "")),
            text("yes" if s.cached else ""),
            text(s.attempts if not s.cached else "-"),
            text(fmt_duration(s.duration_ms)),
            text(outputs),
            text(s.tracking_run_id),
        )
    out.print(table)
    if info.error:
        out.print(text(f"error: {info.error}", "red"))
    for s in info.steps:
        if logs and s.logs:
            out.print(text(f"--- log of {s.step} ---", "bold"))
            out.print(text(s.logs.rstrip("\n")))
        if s.traceback and (logs or s.status.value == "FAILED"):
            out.print(text(f"--- traceback of {s.step} ---", "bold"))
            out.print(text(s.traceback.rstrip("\n")))
    if info.status.value == "FAILED":
        out.print(text(f"Resume it with: mlstage pipelines resume {info.run_id}", "dim"))
