"""``mlstage ci``: the project's checks in order, one readable summary, non-zero when one fails.

What it runs comes from ``[project.ci]`` in mlstage.toml (``mlstage init
--template training`` writes it):

    [project.ci]
    data = "data/churn.csv"               # validated against the schema first
    schema = "data/churn.schema.yaml"
    pipeline = "pipeline.py:training"     # then trained, registered and gated by the pipeline
    executor = "local"
    params = { estimator = "logistic_regression" }

1. data validation of ``data`` against ``schema`` (errors fail it);
2. the training pipeline (every step must succeed);
3. the validation gate: the pipeline's ``validate_against_champion`` verdict;
4. the model card of the validated version, generated and stored.
A check after a failed one is skipped, since it would test nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import typer

from mlstage.cli._console import console, print_json, text
from mlstage.errors import InvalidInput, MlstageError

GATE_STEP = "validate_against_champion"


@dataclass
class Outcome:
    check: str
    status: str
    """``passed``, ``failed`` or ``skipped``."""
    detail: str


def ci(
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", metavar="NAME=VALUE", help="A pipeline parameter."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Validate the data, run the training pipeline, check the gate and write the model card."""
    from mlstage.config import get_settings

    settings = get_settings()
    config = dict(settings.project.get("ci") or {})
    missing = [k for k in ("data", "schema", "pipeline") if not config.get(k)]
    if missing:
        raise InvalidInput(
            f"mlstage.toml has no {', '.join(missing)} under [project.ci]; "
            "`mlstage init --template training` writes an example"
        )
    outcomes: list[Outcome] = []
    context: dict[str, Any] = {}
    for name, check in CHECKS:
        if outcomes and outcomes[-1].status != "passed":
            outcomes.append(Outcome(name, "skipped", "an earlier check failed"))
            continue
        try:
            outcomes.append(check(config, param or [], context))
        except MlstageError as exc:
            outcomes.append(Outcome(name, "failed", exc.message))
    failed = any(o.status != "passed" for o in outcomes)
    if as_json:
        print_json({"passed": not failed, "checks": [o.__dict__ for o in outcomes]})
    else:
        _render(outcomes)
    if failed:
        raise typer.Exit(1)


def _data_validation(config: dict[str, Any], params: list[str], ctx: dict[str, Any]) -> Outcome:
    from mlstage.data.schema import load_schema
    from mlstage.data.validation import validate

    report = validate(str(config["data"]), load_schema(str(config["schema"])))
    errors = [a for a in report.anomalies if a.severity == "error"]
    warnings = len(report.anomalies) - len(errors)
    if errors:
        shown = "; ".join(f"{a.feature}: {a.description}" for a in errors[:5])
        return Outcome("data validation", "failed", f"{len(errors)} error(s): {shown}")
    return Outcome(
        "data validation", "passed", f"{config['data']} matches {config['schema']} "
        f"({warnings} warning(s))"
    )  # fmt: skip


def _pipeline(config: dict[str, Any], params: list[str], ctx: dict[str, Any]) -> Outcome:
    from mlstage.cli.pipelines import parse_params
    from mlstage.pipelines.loading import load_target

    pipeline = load_target(str(config["pipeline"]))
    values = {**dict(config.get("params") or {}), **parse_params(pipeline, params)}
    run = pipeline.run(executor=str(config.get("executor") or "local"), **values)
    ctx["run"] = run
    if str(run.status) != "SUCCEEDED":
        failing = [s for s in run.steps if str(s.status) == "FAILED"]
        where = f"step {failing[0].step!r}: " if failing else ""
        error = (failing[0].error if failing else "") or run.error
        return Outcome("training pipeline", "failed", f"run {run.run_id}: {where}{error}")
    return Outcome(
        "training pipeline", "passed", f"run {run.run_id}: {len(run.steps)} steps succeeded"
    )


def _gate(config: dict[str, Any], params: list[str], ctx: dict[str, Any]) -> Outcome:
    run = ctx["run"]
    gates = [s.step for s in run.steps if s.step.startswith(GATE_STEP)]
    if not gates:
        return Outcome(
            "validation gate", "failed", f"the pipeline has no {GATE_STEP} step: nothing gates"
        )
    verdict = run.outputs[gates[-1]]
    ctx["verdict"] = verdict
    label = f"{verdict.get('candidate')}"
    against = verdict.get("champion") or "no champion yet"
    if not verdict.get("passed"):
        return Outcome("validation gate", "failed", f"{label} against {against}: failed")
    return Outcome("validation gate", "passed", f"{label} against {against}: passed")


def _card(config: dict[str, Any], params: list[str], ctx: dict[str, Any]) -> Outcome:
    from mlstage.models.cards import save_card

    verdict = ctx["verdict"]
    name = str(verdict["candidate"]).removeprefix("models:/").split("/", 1)[0]
    version = int(verdict["candidate_version"])
    markdown, _html = save_card(name, version)
    return Outcome("model card", "passed", f"{name}/{version}: {markdown}")


CHECKS = (
    ("data validation", _data_validation),
    ("training pipeline", _pipeline),
    ("validation gate", _gate),
    ("model card", _card),
)


def _render(outcomes: list[Outcome]) -> None:
    from rich.table import Table

    table = Table("check", "result", "detail", title="mlstage ci")
    styles = {"passed": "green", "failed": "red", "skipped": "dim"}
    for o in outcomes:
        table.add_row(o.check, text(o.status, styles[o.status]), text(o.detail))
    out = console()
    out.print(table)
    failed = [o.check for o in outcomes if o.status == "failed"]
    if failed:
        out.print(text(f"FAILED: {', '.join(failed)}", "bold red"))
    else:
        out.print(text("All checks passed.", "bold green"))
