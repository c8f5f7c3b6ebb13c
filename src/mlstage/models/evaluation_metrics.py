"""The numbers behind ``evaluate``: metrics, calibration, confusion matrix and curve data.

Pure functions of arrays, so the same code scores the whole data set and
each slice. A metric that is undefined on the rows given (ROC AUC with one
class, precision with no positive prediction, R² on one row) is left out of
the result rather than reported as 0 or NaN: absent means "cannot be said".
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

CLASSIFICATION_METRICS = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "log_loss",
    "calibration_error",
)
REGRESSION_METRICS = ("mae", "rmse", "r2", "mape")
LOWER_IS_BETTER = frozenset({"log_loss", "mae", "rmse", "mape", "calibration_error"})
CALIBRATION_BINS = 10
MAX_CURVE_POINTS = 1000
MAX_SCATTER_POINTS = 2000

Curves = dict[str, dict[str, list[Any]]]


class Labels:
    """The classes a classifier is scored on, and which of them its probabilities refer to."""

    def __init__(self, labels: list[Any], proba_classes: list[Any] | None) -> None:
        self.labels = labels
        """Every class seen: the model's, the targets' and the predictions'."""
        self.proba_classes = proba_classes
        """The class of each probability column, when the model gives probabilities."""

    @property
    def binary(self) -> bool:
        return len(self.labels) == 2

    @property
    def positive(self) -> Any:
        """The positive class of a binary task: the second one, as scikit-learn has it."""
        classes = self.proba_classes if self.proba_classes is not None else self.labels
        return classes[-1]


def sorted_labels(*arrays: Any) -> list[Any]:
    values: set[Any] = set()
    for array in arrays:
        values.update(np.asarray(array).tolist())
    try:
        return sorted(values)
    except TypeError:  # mixed types: an order that is at least stable
        return sorted(values, key=repr)


def _defined(compute: Callable[[], Any]) -> float | None:
    """The metric's value, or None where it is undefined on these rows."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            value = float(compute())
        except ValueError:
            return None
    return value if math.isfinite(value) else None


def _keep(values: dict[str, float | None]) -> dict[str, float]:
    return {k: x for k, x in values.items() if x is not None}


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None, labels: Labels
) -> dict[str, float]:
    from sklearn import metrics as m

    if labels.binary:
        average: dict[str, Any] = {"average": "binary", "pos_label": labels.positive}
    else:
        average = {"average": "weighted", "labels": labels.labels}
    shared = {**average, "zero_division": np.nan}
    values: dict[str, float | None] = {
        "accuracy": _defined(lambda: m.accuracy_score(y_true, y_pred)),
        "precision": _defined(lambda: m.precision_score(y_true, y_pred, **shared)),
        "recall": _defined(lambda: m.recall_score(y_true, y_pred, **shared)),
        "f1": _defined(lambda: m.f1_score(y_true, y_pred, **shared)),
    }
    if proba is not None and labels.proba_classes is not None:
        values.update(_probability_metrics(y_true, proba, labels))
    return _keep(values)


def _probability_metrics(
    y_true: np.ndarray, proba: np.ndarray, labels: Labels
) -> dict[str, float | None]:
    from sklearn import metrics as m

    classes = labels.proba_classes
    assert classes is not None
    if labels.binary:
        scores = proba[:, classes.index(labels.positive)]
        roc_auc = _defined(lambda: m.roc_auc_score(y_true == labels.positive, scores))
    else:
        roc_auc = _defined(
            lambda: m.roc_auc_score(
                y_true, proba, multi_class="ovr", average="weighted", labels=classes
            )
        )
    return {
        "roc_auc": roc_auc,
        "log_loss": _defined(lambda: m.log_loss(y_true, proba, labels=classes)),
        "calibration_error": _defined(lambda: calibration(y_true, proba, classes)[0]),
    }


def calibration(
    y_true: np.ndarray, proba: np.ndarray, classes: list[Any], bins: int = CALIBRATION_BINS
) -> tuple[float, dict[str, list[Any]]]:
    """Expected calibration error on the top-class confidence, and the reliability bins.

    ECE = sum over equal-width bins of |accuracy - mean confidence| x share of rows.
    """
    confidence = proba.max(axis=1)
    predicted = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    correct = (predicted == np.asarray(y_true, dtype=object)).astype(float)
    # Bins are (lo, hi], edges exactly k / bins (0.6 is 6 / 10, not 6 * 0.1); 0 joins the first.
    edges = np.arange(bins + 1) / bins
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    filled = count > 0
    mean_conf = np.bincount(index, weights=confidence, minlength=bins)[filled] / count[filled]
    accuracy = np.bincount(index, weights=correct, minlength=bins)[filled] / count[filled]
    ece = float(np.sum(np.abs(accuracy - mean_conf) * count[filled]) / len(confidence))
    return ece, {
        "bin_upper": edges[1:][filled].tolist(),
        "confidence": mean_conf.tolist(),
        "accuracy": accuracy.tolist(),
        "count": count[filled].tolist(),
    }


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    from sklearn import metrics as m

    return _keep(
        {
            "mae": _defined(lambda: m.mean_absolute_error(y_true, y_pred)),
            "rmse": _defined(lambda: math.sqrt(m.mean_squared_error(y_true, y_pred))),
            "r2": _defined(lambda: m.r2_score(y_true, y_pred) if len(y_true) > 1 else math.nan),
            "mape": _defined(lambda: m.mean_absolute_percentage_error(y_true, y_pred)),
        }
    )


def confusion(y_true: np.ndarray, y_pred: np.ndarray, labels: Labels) -> dict[str, Any]:
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(y_true, y_pred, labels=labels.labels)
    return {"labels": list(labels.labels), "matrix": matrix.tolist()}


def _thin(n: int, limit: int) -> np.ndarray:
    """Evenly spaced indices, first and last kept: a curve keeps its shape with fewer points."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(int))


def _finite(values: np.ndarray) -> list[float | None]:
    """JSON has no infinity (ROC's first threshold is inf): write null instead."""
    return [float(x) if math.isfinite(x) else None for x in values.tolist()]


def binary_curves(y_true: np.ndarray, proba: np.ndarray, labels: Labels) -> Curves:
    from sklearn.metrics import precision_recall_curve, roc_curve

    assert labels.proba_classes is not None
    positive = np.asarray(y_true == labels.positive)
    if positive.all() or not positive.any():
        return {}
    scores = proba[:, labels.proba_classes.index(labels.positive)]
    fpr, tpr, roc_thresholds = roc_curve(positive, scores)
    precision, recall, pr_thresholds = precision_recall_curve(positive, scores)
    keep_roc = _thin(len(fpr), MAX_CURVE_POINTS)
    keep_pr = _thin(len(precision), MAX_CURVE_POINTS)
    return {
        "roc": {
            "fpr": fpr[keep_roc].tolist(),
            "tpr": tpr[keep_roc].tolist(),
            "thresholds": _finite(roc_thresholds[keep_roc]),
        },
        "precision_recall": {
            "precision": precision[keep_pr].tolist(),
            "recall": recall[keep_pr].tolist(),
            # one threshold fewer than points: the last point (recall 0) has none
            "thresholds": _finite(np.append(pr_thresholds, np.inf)[keep_pr]),
        },
    }


def regression_curves(y_true: np.ndarray, y_pred: np.ndarray) -> Curves:
    """Predicted against actual, and residuals, on a fixed sample of at most 2,000 rows."""
    n = len(y_true)
    if n > MAX_SCATTER_POINTS:
        rows = np.sort(np.random.default_rng(0).choice(n, MAX_SCATTER_POINTS, replace=False))
    else:
        rows = np.arange(n)
    actual = np.asarray(y_true, dtype=float)[rows]
    predicted = np.asarray(y_pred, dtype=float)[rows]
    return {
        "predicted_vs_actual": {"actual": actual.tolist(), "predicted": predicted.tolist()},
        "residuals": {"predicted": predicted.tolist(), "residual": (actual - predicted).tolist()},
    }


_UNSAFE = re.compile(r"[^A-Za-z0-9_\-.]")
MAX_KEY_PART = 100


def key_part(text: str) -> str:
    """``text`` made safe inside a metric key: letters, digits, ``_ - .``; no ``..`` or edge dots.

    ``:`` and ``/`` are replaced too, so ``slice.<column>:<value>.<metric>``
    splits back unambiguously.
    """
    safe = _UNSAFE.sub("_", text)[:MAX_KEY_PART]
    safe = re.sub(r"\.{2,}", "_", safe)
    if safe.startswith("."):
        safe = "_" + safe[1:]
    if safe.endswith("."):
        safe = safe[:-1] + "_"
    return safe or "_"


def slice_prefixes(slices: dict[str, dict[str, dict[str, float]]]) -> dict[tuple[str, str], str]:
    """The metric-key prefix of each (column, value), unique even when two values sanitise alike."""
    prefixes: dict[tuple[str, str], str] = {}
    used: set[str] = set()
    for column, values in slices.items():
        for value in values:
            base = f"slice.{key_part(column)}:{key_part(value)}"
            prefix, n = base, 1
            while prefix in used:
                n += 1
                prefix = f"{base}_{n}"
            used.add(prefix)
            prefixes[column, value] = prefix
    return prefixes
