"""The figures a release decision rests on: each arm of a deployment over a window.

An arm is the rows one version answered for the deployment, from the
request log read through ``window.open_window`` (one DuckDB view):

- ``primary``: the primary version's rows of route ``primary``;
- ``candidate``: the candidate version's rows of route ``candidate`` (a
  canary's or an A/B test's answers) or ``shadow`` (a shadow's answers,
  logged, never returned; they share the prediction id of the primary's
  answer, so the same label judges both).

Per arm: predictions, errors and error rate, latency p50 and p99, labelled
predictions (feedback joined by prediction id inside DuckDB) and, given a
metric, its value on the labelled rows through ``models.evaluation_metrics``.
A row counts as an error when the log's optional ``error`` column is set; a
log written without that column records no errors (``errors_recorded`` is
then false).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mlstage.errors import InvalidInput
from mlstage.models.names import canonical_model_name
from mlstage.monitoring.window import VIEW

if TYPE_CHECKING:
    import pandas as pd

    from mlstage.artifacts.store import ArtifactStore
    from mlstage.monitoring.window import LogWindow
    from mlstage.serving.deployments import Deployment
    from mlstage.store.database import Database

ARMS = ("primary", "candidate")
ERROR_COLUMN = "error"
"""The request-log column that, when set, holds why a prediction failed."""


def known_metrics() -> tuple[tuple[str, ...], tuple[str, ...], frozenset[str]]:
    """Classification metrics, regression metrics, and those where lower is better."""
    from mlstage.models import evaluation_metrics as em

    return em.CLASSIFICATION_METRICS, em.REGRESSION_METRICS, em.LOWER_IS_BETTER


def _arm_rows(window: LogWindow, deployment: Deployment) -> str:
    """A subquery of the window's rows of the deployment with their ``arm`` and ``failed``."""
    name = deployment.name.replace("'", "''")
    primary = int(deployment.primary_version)
    candidate = int(deployment.candidate_version or -1)
    failed = (
        f"(coalesce(CAST({ERROR_COLUMN} AS VARCHAR), '') <> '')"
        if ERROR_COLUMN in window.columns
        else "FALSE"
    )
    return (
        "SELECT prediction_id, output, probabilities, latency_ms, "  # noqa: S608
        f"{failed} AS failed, CASE "
        f"WHEN version = {primary} AND route = 'primary' THEN 'primary' "
        f"WHEN version = {candidate} AND route IN ('candidate', 'shadow') THEN 'candidate' "
        f"END AS arm FROM {VIEW} WHERE deployment = '{name}'"
    )


def _empty_arm(version: int | None) -> dict[str, Any]:
    return {
        "version": version,
        "predictions": 0,
        "errors": 0,
        "error_rate": None,
        "latency_p50_ms": None,
        "latency_p99_ms": None,
        "labelled": 0,
        "metric": None,
        "metric_note": None,
    }


def canary_figures(
    db: Database,
    artifacts: ArtifactStore,
    deployment: Deployment,
    since_ms: int,
    now_ms: int,
    *,
    metric: str | None = None,
) -> dict[str, Any]:
    """Each arm's figures over ``[since_ms, now_ms]`` (JSON-ready), for decisions and pages.

    ``{"primary": {...}, "candidate": {...}, "metric": ..., "higher_is_better": ...,
    "errors_recorded": ..., "strategy": ..., "since_ms": ..., "now_ms": ...}``;
    each arm holds version, predictions, errors, error_rate, latency_p50_ms,
    latency_p99_ms, labelled, metric (the value, or None with metric_note).
    """
    from mlstage.monitoring.sql_feedback import SqlFeedbackStore
    from mlstage.monitoring.window import open_window
    from mlstage.serving.request_log_store import SqlPredictionLogStore

    if deployment.candidate_version is None:
        raise InvalidInput(
            f"deployment {deployment.name!r} has no candidate version to judge; "
            "deploy one with a canary or shadow strategy first"
        )
    if now_ms < since_ms:
        raise InvalidInput(f"now_ms ({now_ms}) is before since_ms ({since_ms})")
    higher_is_better = None
    if metric is not None:
        classification, regression, lower = known_metrics()
        if metric not in classification + regression:
            raise InvalidInput(
                f"metric {metric!r} is not one of {', '.join(classification + regression)}"
            )
        higher_is_better = metric not in lower
    model = canonical_model_name(deployment.model)
    arms = {
        "primary": _empty_arm(deployment.primary_version),
        "candidate": _empty_arm(deployment.candidate_version),
    }
    until = now_ms + 1  # the window's end is inclusive
    labels = SqlFeedbackStore(db, artifacts).label_table(model, since_ms, until)
    store = SqlPredictionLogStore(db, artifacts)
    with open_window(store, model, since_ms, until) as window:
        errors_recorded = ERROR_COLUMN in window.columns
        rows = _arm_rows(window, deployment)
        for arm, count, errors, quantiles in window.sql(
            "SELECT arm, count(*), count(*) FILTER (WHERE failed), "  # noqa: S608
            f"quantile_cont(latency_ms, [0.5, 0.99]) FROM ({rows}) "
            "WHERE arm IS NOT NULL GROUP BY arm"
        ):
            figures = arms[str(arm)]
            figures["predictions"], figures["errors"] = int(count), int(errors)
            figures["error_rate"] = int(errors) / int(count) if count else None
            if quantiles is not None:
                p50, p99 = quantiles
                figures["latency_p50_ms"], figures["latency_p99_ms"] = float(p50), float(p99)
        joined = None
        window.con.register("labels", labels)
        try:
            labelled = (
                f"FROM ({rows}) a JOIN labels l USING (prediction_id) "
                "WHERE a.arm IS NOT NULL AND NOT a.failed"
            )
            for arm, count in window.sql(f"SELECT a.arm, count(*) {labelled} GROUP BY a.arm"):
                arms[str(arm)]["labelled"] = int(count)
            if metric is not None:  # only the labelled rows reach Python
                joined = window.con.execute(
                    "SELECT a.arm, a.output, a.probabilities, l.label "
                    f"{labelled} ORDER BY a.arm, a.prediction_id"
                ).df()
        finally:
            window.con.unregister("labels")
    if metric is not None and joined is not None and len(joined):
        _score_arms(metric, joined, arms)
    return {
        **arms,
        "metric": metric,
        "higher_is_better": higher_is_better,
        "errors_recorded": errors_recorded,
        "strategy": str(deployment.strategy),
        "since_ms": int(since_ms),
        "now_ms": int(now_ms),
    }


def _score_arms(metric: str, joined: pd.DataFrame, arms: dict[str, dict[str, Any]]) -> None:
    """The metric of each arm on its labelled rows, with one class order for both arms."""
    from mlstage.monitoring.monitors_performance import class_order, label_key, parse_output

    _, regression, _ = known_metrics()
    truth_all = [json.loads(v) for v in joined["label"]]
    outputs = [parse_output(v) for v in joined["output"]]
    if metric in regression:
        for arm in ARMS:
            picked = [i for i, a in enumerate(joined["arm"]) if a == arm]
            if picked:
                value, note = _regression(metric, truth_all, outputs, picked)
                arms[arm]["metric"], arms[arm]["metric_note"] = value, note
        return
    truth = [label_key(v) for v in truth_all]
    predicted = [label_key(v) for v in outputs]
    raw: list[Any] = [
        p if hasattr(p, "__len__") and len(p) else None for p in joined["probabilities"]
    ]
    probabilities: list[Any] | None = None
    classes: list[str] | None = None
    if raw and all(p is not None for p in raw):
        probabilities = [list(p) for p in raw]
        classes = class_order(probabilities, predicted)
    for arm in ARMS:
        picked = [i for i, a in enumerate(joined["arm"]) if a == arm]
        if picked:
            value, note = _classification(metric, truth, predicted, probabilities, classes, picked)
            arms[arm]["metric"], arms[arm]["metric_note"] = value, note


def _regression(
    metric: str, truth: list[Any], outputs: list[Any], picked: list[int]
) -> tuple[float | None, str | None]:
    import numpy as np

    from mlstage.models.evaluation_metrics import regression_metrics

    try:
        y = np.asarray([float(truth[i]) for i in picked], dtype=float)
        p = np.asarray([float(outputs[i]) for i in picked], dtype=float)
    except (TypeError, ValueError):
        return None, f"{metric} needs numeric outputs and labels"
    value = regression_metrics(y, p).get(metric)
    return value, None if value is not None else f"{metric} is undefined on these labels"


def _classification(
    metric: str,
    truth: list[str],
    predicted: list[str],
    probabilities: list[Any] | None,
    classes: list[str] | None,
    picked: list[int],
) -> tuple[float | None, str | None]:
    import numpy as np

    from mlstage.models.evaluation_metrics import Labels, classification_metrics, sorted_labels

    y = np.asarray([truth[i] for i in picked], dtype=object)
    p = np.asarray([predicted[i] for i in picked], dtype=object)
    proba = None
    if probabilities is not None and classes is not None:
        proba = np.asarray([probabilities[i] for i in picked], dtype=float)
    labels = Labels(sorted_labels(truth, predicted, classes or []), classes)
    value = classification_metrics(y, p, proba, labels).get(metric)
    if value is not None:
        return value, None
    if metric in ("roc_auc", "log_loss", "calibration_error") and proba is None:
        return None, f"{metric} needs the logged probabilities of every labelled prediction"
    return None, f"{metric} is undefined on these labels"
