"""``mlstage models evaluate|validate``: score a model on a labelled file, and gate it.

``validate`` exits 0 when the verdict passes and 1 when it fails, so a CI
job or a shell script can use it as the gate itself.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from mlstage.cli._console import console, print_json, text
from mlstage.errors import InvalidInput


class Task(StrEnum):
    classification = "classification"
    regression = "regression"


DataOption = Annotated[
    Path, typer.Option("--data", metavar="PATH", help="Labelled rows: a .csv or .parquet file.")
]
TargetOption = Annotated[
    str, typer.Option("--target", metavar="COLUMN", help="The column holding the true values.")
]
TaskOption = Annotated[Task, typer.Option("--task", help="What the model predicts.")]
NoLogOption = Annotated[
    bool, typer.Option("--no-log", help="Do not record the evaluation as a tracked run.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def evaluate(
    model: Annotated[
        str,
        typer.Argument(
            metavar="MODEL_URI",
            help="churn/3, churn@champion, models:/churn/3 or runs:/<run id>/model.",
        ),
    ],
    data: DataOption,
    target: TargetOption,
    task: TaskOption,
    slice_: Annotated[
        list[str] | None,
        typer.Option(
            "--slice", metavar="COLUMN", help="Also score each value of COLUMN (repeatable)."
        ),
    ] = None,
    no_log: NoLogOption = False,
    as_json: JsonOption = False,
) -> None:
    """Score a model on labelled data: overall metrics, and per slice with --slice."""
    from mlstage.cli.models_args import model_uri, read_data
    from mlstage.cli.models_view import render_evaluation
    from mlstage.models.evaluation import evaluate as evaluate_model

    uri = model_uri(model)
    slices = list(dict.fromkeys(slice_ or []))
    frame = read_data(data, target, slices)
    result = evaluate_model(uri, frame, target, task.value, slices, log=not no_log)
    if as_json:
        print_json(result.model_dump(mode="json", exclude={"curves"}))
        return
    out = console()
    render_evaluation(out, result, data.name)
    if result.run_id:
        out.print()
        out.print(text(f"Logged as run {result.run_id}: mlstage runs show {result.run_id}", "dim"))


def validate(
    model: Annotated[
        str,
        typer.Argument(
            metavar="NAME/VERSION",
            help="The candidate: churn/3, churn@challenger or models:/churn/3.",
        ),
    ],
    data: DataOption,
    target: TargetOption,
    task: TaskOption,
    threshold: Annotated[
        list[str] | None,
        typer.Option(
            "--threshold",
            metavar="METRIC:BOUND=NUMBER",
            help="e.g. roc_auc:min=0.8, log_loss:max=0.3, or roc_auc:min_delta=-0.01 against "
            "--champion (repeatable).",
        ),
    ] = None,
    slice_threshold: Annotated[
        list[str] | None,
        typer.Option(
            "--slice-threshold",
            metavar="COLUMN:METRIC:BOUND=NUMBER",
            help="A bound every value of COLUMN must meet, e.g. region:roc_auc:min=0.7.",
        ),
    ] = None,
    champion: Annotated[
        str | None,
        typer.Option(
            "--champion",
            metavar="NAME@ALIAS",
            help="The model to beat, e.g. churn@champion; if the alias is not set yet, "
            "relative bounds are skipped.",
        ),
    ] = None,
    no_mark: Annotated[
        bool,
        typer.Option(
            "--no-mark", help="Do not record the verdict: the version's status stays as it is."
        ),
    ] = False,
    no_log: NoLogOption = False,
    as_json: JsonOption = False,
) -> None:
    """Check a candidate against thresholds (and the champion); exit 0 if it passes, 1 if not.

    A passing registry version becomes VALIDATED, and may then be promoted;
    a failing one becomes REJECTED. Every check prints one line.
    """
    from mlstage.cli.models_args import (
        model_uri,
        read_data,
        registry_ref,
        slice_thresholds,
        thresholds,
    )
    from mlstage.cli.models_view import render_verdict
    from mlstage.models.validation import validate_candidate
    from mlstage.models.validation_checks import uses_deltas

    overall = thresholds(threshold or [], task.value)
    per_slice = slice_thresholds(slice_threshold or [], task.value)
    if not overall and not per_slice:
        raise InvalidInput(
            "give at least one --threshold (e.g. roc_auc:min=0.8) or --slice-threshold: "
            "a gate without checks would pass any model"
        )
    if champion is None and uses_deltas(overall, *per_slice.values()):
        raise InvalidInput(
            "min_delta and max_delta compare with the champion: add --champion NAME@ALIAS "
            "(e.g. --champion churn@champion)"
        )
    candidate = model_uri(model)
    if champion is not None:
        registry_ref(champion, "--champion")  # a typo is refused before any model loads
    frame = read_data(data, target, list(per_slice), option="--slice-threshold")
    verdict = validate_candidate(
        candidate,
        frame,
        target,
        task.value,
        champion=champion,
        thresholds=overall,
        slice_thresholds=per_slice,
        mark=not no_mark,
        log=not no_log,
    )
    if as_json:
        print_json(verdict.model_dump(mode="json"))
    else:
        out = console()
        out.print(
            text(f"Validating {verdict.candidate} on {data.name} ({len(frame)} rows)", "bold")
        )
        render_verdict(out, verdict)
        if verdict.passed and verdict.recorded:
            label = verdict.candidate.removeprefix("models:/")
            out.print(text(f"Promote it: mlstage models promote {label} --alias champion", "cyan"))
        if verdict.run_id:
            out.print(
                text(f"Logged as run {verdict.run_id}: mlstage runs show {verdict.run_id}", "dim")
            )
    if not verdict.passed:
        raise typer.Exit(1)
