"""``mlstage demo``: a first experiment in seconds, with nothing to download.

Trains a few classifiers on scikit-learn's bundled breast-cancer data and
tracks each as a run of experiment ``demo`` through the fluent API behind
``import mlstage``, so what the demo does is what a user's own training
script would do.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from mlstage.cli._console import console, fmt_number, text
from mlstage.cli._tables import runs_table

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

    from mlstage.tracking.entities import Run

EXPERIMENT = "demo"
METRIC = "roc_auc"
DATASET = "breast-cancer"
SEED = 0


def demo() -> None:
    """Train five models on a bundled dataset and track each one as a run."""
    out = console()
    runs = run_demo(out)
    title = f"Experiment {EXPERIMENT!r}, best {METRIC} first"
    out.print(runs_table(runs, width=out.width, order_by=[f"metrics.{METRIC} DESC"], title=title))
    best = runs[0]
    out.print(text(f"Best: {best.name} ({METRIC} {fmt_number(best.metrics.get(METRIC))})."))
    out.print("Look closer:")
    for command in (
        f"mlstage runs show {best.run_id}",
        f"mlstage runs compare {' '.join(r.run_id for r in runs[:2])}",
        f'mlstage runs list -e {EXPERIMENT} --order-by "metrics.{METRIC} DESC"',
    ):
        out.print(text(f"  {command}", "cyan"))


def run_demo(out: Console) -> list[Run]:
    """Train, evaluate and track each candidate; the runs, best first."""
    from mlstage.cli._store import search_runs, tracking_store
    from mlstage.tracking import fluent as mlstage

    train, test = _split()
    experiment = mlstage.set_experiment(EXPERIMENT)
    run_ids = []
    for name, params, model in _candidates():
        with out.status(f"Training {name}"), mlstage.start_run(name=name) as run:
            _train_and_log(model, params, train, test)
        run_ids.append(run.run_id)
    quoted = ", ".join(f"'{run_id}'" for run_id in run_ids)
    return search_runs(
        tracking_store(),
        [experiment.experiment_id],
        f"attributes.run_id IN ({quoted})",
        [f"metrics.{METRIC} DESC"],
        len(run_ids),
    )


def _split() -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    frame = load_breast_cancer(as_frame=True).frame
    train, test = train_test_split(frame, test_size=0.25, random_state=SEED, stratify=frame.target)
    return train, test


def _candidates() -> list[tuple[str, dict[str, Any], Any]]:
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    candidates: list[tuple[str, dict[str, Any], Any]] = []
    for c in (0.01, 0.1, 1.0):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=1000))
        candidates.append((f"logreg-C{c}", {"model": "logistic_regression", "C": c}, model))
    forest = {"n_estimators": 200, "max_depth": 6}
    candidates.append(
        (
            "random-forest",
            {"model": "random_forest", **forest},
            RandomForestClassifier(**forest, random_state=SEED),
        )
    )
    boosting = {"n_estimators": 100, "learning_rate": 0.1, "max_depth": 3}
    candidates.append(
        (
            "gradient-boosting",
            {"model": "gradient_boosting", **boosting},
            GradientBoostingClassifier(**boosting, random_state=SEED),
        )
    )
    return candidates


def _train_and_log(
    model: Any, params: dict[str, Any], train: pd.DataFrame, test: pd.DataFrame
) -> None:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, roc_auc_score

    from mlstage.tracking import fluent as mlstage

    source = "sklearn.datasets.load_breast_cancer"
    mlstage.log_params({**params, "test_size": 0.25, "seed": SEED})
    mlstage.log_input(train, name=DATASET, context="training", source=source)
    mlstage.log_input(test, name=DATASET, context="evaluation", source=source)
    x_train, y_train = train.drop(columns="target"), train.target
    x_test, y_test = test.drop(columns="target"), test.target
    started = time.perf_counter()
    model.fit(x_train, y_train)
    fit_seconds = time.perf_counter() - started
    predicted = model.predict(x_test)
    scores = model.predict_proba(x_test)[:, 1]
    mlstage.log_metrics(
        {
            "accuracy": accuracy_score(y_test, predicted),
            "f1": f1_score(y_test, predicted),
            "roc_auc": roc_auc_score(y_test, scores),
            "fit_seconds": fit_seconds,
        }
    )
    matrix = confusion_matrix(y_test, predicted).tolist()
    mlstage.log_dict({"labels": ["malignant", "benign"], "matrix": matrix}, "confusion_matrix.json")
