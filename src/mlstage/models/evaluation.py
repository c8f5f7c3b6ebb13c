"""``evaluate``: score a model on labelled data, overall and per slice, and log it all to a run.

A model that is good on average can still fail a region or a customer
segment; slices make that visible, and the validation gate can then refuse
it. Everything is computed before anything is logged, so bad input leaves
no half-written run behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlstage.errors import InvalidInput
from mlstage.models import evaluation_metrics as em

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlstage.models.loading import LoadedModel

Task = Literal["classification", "regression"]
TASKS: tuple[Task, ...] = ("classification", "regression")
MISSING_VALUE = "null"
"""How a slice of rows whose slice column is empty is named."""


class EvaluationResult(BaseModel):
    """What ``evaluate`` found; ``logged_metrics()`` gives the flat names the run holds."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    model_uri: str
    task: Task
    targets: str
    num_rows: int
    metrics: dict[str, float]
    slices: dict[str, dict[str, dict[str, float]]] = Field(default_factory=dict)
    """column -> value -> metrics, with the row count as ``count``."""
    confusion_matrix: dict[str, Any] | None = None
    """``{"labels": [...], "matrix": [[...]]}``: rows are actual classes, columns predicted."""
    curves: dict[str, dict[str, list[Any]]] = Field(default_factory=dict)
    """The data behind the figures: roc, precision_recall, calibration, predicted_vs_actual, ..."""
    run_id: str | None = None

    def logged_metrics(self) -> dict[str, float]:
        """Overall metrics and ``slice.<column>:<value>.<metric>`` ones, as logged to the run."""
        flat = dict(self.metrics)
        for (column, value), prefix in em.slice_prefixes(self.slices).items():
            for metric, number in self.slices[column][value].items():
                flat[f"{prefix}.{metric}"] = number
        return flat

    def figures(self) -> dict[str, Any]:
        """Plotly figures by artifact path (empty without Plotly)."""
        from mlstage.models.evaluation_plots import build_figures

        return build_figures(self.confusion_matrix, self.curves, self.metrics)


def metric_names(task: str) -> tuple[str, ...]:
    """Every metric ``evaluate`` can report for ``task``."""
    return em.CLASSIFICATION_METRICS if task == "classification" else em.REGRESSION_METRICS


def check_inputs(
    data: Any, targets: Any, task: Any, slices: Sequence[str] | None = None
) -> list[str]:
    """Refuse bad input before any model is loaded; return the slice columns, deduplicated."""
    import pandas as pd

    if task not in TASKS:
        raise InvalidInput(f"task must be 'classification' or 'regression', got {task!r}")
    if not isinstance(data, pd.DataFrame):
        raise InvalidInput(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if data.empty:
        raise InvalidInput("data is empty: evaluation needs at least one labelled row")
    columns = ", ".join(repr(c) for c in list(data.columns)[:20])
    if not isinstance(targets, str) or targets not in data.columns:
        raise InvalidInput(f"targets: column {targets!r} is not in data (columns: {columns})")
    missing = int(data[targets].isna().sum())
    if missing:
        raise InvalidInput(f"targets: column {targets!r} has {missing} missing value(s)")
    dtype = data[targets].dtype
    if task == "regression" and (
        not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
    ):
        raise InvalidInput(
            f"targets: regression needs a numeric target column; {targets!r} is {dtype}"
        )
    if isinstance(slices, str):
        raise InvalidInput(f"slices must be a list of column names, e.g. [{slices!r}]")
    chosen: list[str] = []
    for column in slices or []:
        if column == targets or column not in data.columns:
            problem = "is the target" if column == targets else "is not in data"
            raise InvalidInput(f"slices: column {column!r} {problem} (columns: {columns})")
        if column not in chosen:
            chosen.append(column)
    return chosen


def evaluate(
    model_uri: str,
    data: pd.DataFrame,
    targets: str,
    task: Task,
    slices: list[str] | None = None,
    run_name: str | None = None,
    log: bool = True,
) -> EvaluationResult:
    """Score the model at ``model_uri`` on ``data`` against its ``targets`` column.

    With ``log=True`` the metrics, the slices, the evaluation data set, the
    confusion matrix and the figures go to an evaluation run (nested under
    the active run, if any); its id is ``result.run_id``.
    """
    from mlstage.models.loading import load_model
    from mlstage.tracking import validation as v

    columns = check_inputs(data, targets, task, slices)
    if run_name is not None:
        v.check_name(run_name, "run_name")
    loaded = load_model(model_uri)
    result = _score(loaded, model_uri, data, targets, task, columns)
    if not log:
        return result
    run_id = _log(result, loaded, data, run_name or f"evaluate {model_uri}"[:250])
    return result.model_copy(update={"run_id": run_id})


def _predictions(loaded: LoadedModel, features: pd.DataFrame, n: int) -> np.ndarray:
    import numpy as np

    predicted = np.asarray(loaded.predict(features))
    if predicted.ndim == 2 and predicted.shape[1] == 1:
        predicted = predicted.ravel()
    if predicted.ndim != 1 or len(predicted) != n:
        raise InvalidInput(
            f"model {loaded.uri} returned predictions of shape {predicted.shape} for {n} rows; "
            "evaluate needs one prediction per row"
        )
    return predicted


def _probabilities(loaded: LoadedModel, features: pd.DataFrame) -> tuple[Any, list[Any] | None]:
    """The model's class probabilities and their classes, or (None, None) if it gives none."""
    import numpy as np

    if not hasattr(loaded.model, "predict_proba"):
        return None, None
    proba = np.asarray(loaded.predict_proba(features), dtype=float)
    classes = getattr(loaded.model, "classes_", None)
    if classes is None or proba.ndim != 2 or proba.shape[1] != len(classes):
        return None, None
    return proba, np.asarray(classes).tolist()


def _score(
    loaded: LoadedModel,
    model_uri: str,
    data: pd.DataFrame,
    targets: str,
    task: Task,
    slice_columns: list[str],
) -> EvaluationResult:
    features = data.drop(columns=[targets])
    y_true = data[targets].to_numpy()
    y_pred = _predictions(loaded, features, len(data))
    base = {"model_uri": model_uri, "task": task, "targets": targets, "num_rows": len(data)}
    if task == "regression":
        return _regression(base, data, slice_columns, y_true, _numeric(y_pred, loaded.uri))
    return _classification(base, loaded, features, data, slice_columns, y_true, y_pred)


def _regression(
    base: dict[str, Any], data: pd.DataFrame, columns: list[str], y_true: Any, y_pred: Any
) -> EvaluationResult:
    y_true = y_true.astype(float)
    return EvaluationResult(
        **base,
        metrics=em.regression_metrics(y_true, y_pred),
        slices=_slices(
            data, columns, lambda rows: em.regression_metrics(y_true[rows], y_pred[rows])
        ),
        curves=em.regression_curves(y_true, y_pred),
    )


def _classification(
    base: dict[str, Any],
    loaded: LoadedModel,
    features: pd.DataFrame,
    data: pd.DataFrame,
    columns: list[str],
    y_true: Any,
    y_pred: Any,
) -> EvaluationResult:
    proba, proba_classes = _probabilities(loaded, features)
    labels = em.Labels(em.sorted_labels(proba_classes or [], y_true, y_pred), proba_classes)

    def measure(rows: Any) -> dict[str, float]:
        part = None if proba is None else proba[rows]
        return em.classification_metrics(y_true[rows], y_pred[rows], part, labels)

    curves: em.Curves = {}
    if proba is not None and proba_classes is not None:
        if labels.binary:
            curves.update(em.binary_curves(y_true, proba, labels))
        curves["calibration"] = em.calibration(y_true, proba, proba_classes)[1]
    return EvaluationResult(
        **base,
        metrics=em.classification_metrics(y_true, y_pred, proba, labels),
        slices=_slices(data, columns, measure),
        confusion_matrix=em.confusion(y_true, y_pred, labels),
        curves=curves,
    )


def _numeric(predicted: np.ndarray, uri: str) -> np.ndarray:
    try:
        return predicted.astype(float)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"model {uri} returned non-numeric predictions ({predicted.dtype}); "
            "task='regression' needs numbers"
        ) from exc


def _slices(
    data: pd.DataFrame, columns: list[str], measure: Any
) -> dict[str, dict[str, dict[str, float]]]:
    """Metrics for each value of each slice column, with the row count."""
    found: dict[str, dict[str, dict[str, float]]] = {}
    for column in columns:
        groups = data.groupby(data[column], dropna=False, observed=True, sort=False).indices
        by_value: dict[str, dict[str, float]] = {}
        for value, rows in groups.items():
            name = _value_name(value)
            by_value[name] = {**measure(rows), "count": float(len(rows))}
        found[column] = dict(sorted(by_value.items()))
    return found


def _value_name(value: Any) -> str:
    import pandas as pd

    return MISSING_VALUE if value is None or pd.isna(value) else str(value)


def _log(result: EvaluationResult, loaded: LoadedModel, data: pd.DataFrame, name: str) -> str:
    from mlstage.tracking import fluent

    tags = {
        "mlstage.evaluation.model_uri": result.model_uri,
        "mlstage.evaluation.task": result.task,
    }
    if loaded.version is not None:
        tags["mlstage.evaluation.model_name"] = loaded.version.name
        tags["mlstage.evaluation.model_version"] = str(loaded.version.version)
    nested = fluent.active_run() is not None
    with fluent.start_run(name=name, nested=nested, tags=tags) as run:
        fluent.log_params(
            {
                "model_uri": result.model_uri,
                "targets": result.targets,
                "task": result.task,
                "slices": ",".join(result.slices),
            }
        )
        fluent.log_input(data, name="evaluation", context="evaluation")
        fluent.log_metrics(result.logged_metrics())
        fluent.log_dict(result.model_dump(mode="json"), "evaluation/result.json")
        if result.confusion_matrix is not None:
            fluent.log_dict(result.confusion_matrix, "evaluation/confusion_matrix.json")
        if result.curves:
            fluent.log_dict(result.curves, "evaluation/curves.json")
        figures = result.figures()
        for path, figure in figures.items():
            fluent.log_figure(figure, path)
        if not figures:
            fluent.set_tag("mlstage.evaluation.figures", "none: install plotly to log figures")
    return run.run_id
