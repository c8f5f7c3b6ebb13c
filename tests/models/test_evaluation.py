"""evaluate: metrics equal scikit-learn's own, slices computed and logged under safe names."""

from __future__ import annotations

import functools
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

import mlstage
from mlstage.errors import InvalidInput
from mlstage.models.evaluation import evaluate
from mlstage.models.evaluation_metrics import key_part, slice_prefixes
from mlstage.tracking.store import get_tracking_store
from mlstage.tracking.validation import check_key

FEATURES = ["f0", "f1", "f2", "f3"]
REGIONS = ["EU", "US", "APAC"]


# -- data and models shared by the evaluation, validation and card tests -----------------------


@functools.cache
def churn_frame() -> pd.DataFrame:
    """300 rows: four features, a region column and a binary target, ``churned``."""
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=300, n_features=4, n_informative=3, n_redundant=0, class_sep=1.5, random_state=1
    )
    frame = pd.DataFrame(X, columns=FEATURES)
    frame["region"] = np.random.default_rng(1).choice(REGIONS, size=300, p=[0.45, 0.4, 0.15])
    frame["churned"] = y
    return frame


def drifted_frame() -> pd.DataFrame:
    """The churn data with APAC's labels flipped: a good model is still good overall, not there."""
    frame = churn_frame().copy()
    apac = frame["region"] == "APAC"
    frame.loc[apac, "churned"] = 1 - frame.loc[apac, "churned"]
    return frame


@functools.cache
def good_model() -> Any:
    from sklearn.linear_model import LogisticRegression

    frame = churn_frame()
    return LogisticRegression().fit(frame[FEATURES], frame["churned"])


@functools.cache
def weak_model() -> Any:
    """Predicts the class prior whatever the input: ROC AUC 0.5."""
    from sklearn.dummy import DummyClassifier

    frame = churn_frame()
    return DummyClassifier(strategy="prior").fit(frame[FEATURES], frame["churned"])


def log_models(**models: Any) -> dict[str, str]:
    """Log each model from one training run (params and data recorded); URIs by name."""
    frame = churn_frame()
    with mlstage.start_run(name="train"):
        mlstage.log_params({"C": 1.0, "features": ",".join(FEATURES)})
        mlstage.log_input(frame, name="churn-train")
        return {
            name: mlstage.log_model(model, name, input_example=frame[FEATURES].head()).model_uri
            for name, model in models.items()
        }


def reference_ece(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    """ECE written out the slow way: 10 bins of top-class confidence."""
    confidence = proba.max(axis=1)
    correct = classes[proba.argmax(axis=1)] == y
    total = 0.0
    for k in range(10):
        lo, hi = k / 10, (k + 1) / 10
        inside = (confidence > lo) & (confidence <= hi) if lo > 0 else confidence <= hi
        if inside.any():
            gap = abs(correct[inside].mean() - confidence[inside].mean())
            total += gap * inside.sum() / len(y)
    return total


# -- metrics ------------------------------------------------------------------------------------


def test_binary_metrics_equal_sklearns(project: Any) -> None:
    uri = log_models(good=good_model())["good"]
    frame = churn_frame()
    result = evaluate(uri, frame, "churned", "classification", log=False)
    model, X, y = good_model(), frame[FEATURES], frame["churned"].to_numpy()
    predicted, proba = model.predict(X), model.predict_proba(X)
    assert result.metrics == pytest.approx(
        {
            "accuracy": skm.accuracy_score(y, predicted),
            "precision": skm.precision_score(y, predicted),
            "recall": skm.recall_score(y, predicted),
            "f1": skm.f1_score(y, predicted),
            "roc_auc": skm.roc_auc_score(y, proba[:, 1]),
            "log_loss": skm.log_loss(y, proba),
            "calibration_error": reference_ece(y, proba, model.classes_),
        }
    )
    assert result.confusion_matrix == {
        "labels": [0, 1],
        "matrix": skm.confusion_matrix(y, predicted).tolist(),
    }
    assert (result.num_rows, result.run_id, result.task) == (300, None, "classification")
    fpr, tpr, _ = skm.roc_curve(y, proba[:, 1])
    assert result.curves["roc"]["fpr"] == pytest.approx(fpr.tolist())
    assert result.curves["roc"]["tpr"] == pytest.approx(tpr.tolist())
    assert sum(result.curves["calibration"]["count"]) == 300


def test_multiclass_metrics_are_weighted(
    project: Any, forest: Any, iris: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, y = iris
    with mlstage.start_run():
        uri = mlstage.log_model(forest, "model", input_example=X.head()).model_uri
    result = evaluate(uri, X.assign(species=y), "species", "classification", log=False)
    predicted, proba = forest.predict(X), forest.predict_proba(X)
    assert result.metrics == pytest.approx(
        {
            "accuracy": skm.accuracy_score(y, predicted),
            "precision": skm.precision_score(y, predicted, average="weighted"),
            "recall": skm.recall_score(y, predicted, average="weighted"),
            "f1": skm.f1_score(y, predicted, average="weighted"),
            "roc_auc": skm.roc_auc_score(y, proba, multi_class="ovr", average="weighted"),
            "log_loss": skm.log_loss(y, proba),
            "calibration_error": reference_ece(y.to_numpy(), proba, forest.classes_),
        }
    )
    assert result.confusion_matrix is not None
    assert result.confusion_matrix["labels"] == [0, 1, 2]
    assert result.confusion_matrix["matrix"] == skm.confusion_matrix(y, predicted).tolist()
    assert "roc" not in result.curves  # ROC and precision-recall curves are for binary tasks


def test_regression_metrics_equal_sklearns(project: Any) -> None:
    from sklearn.datasets import make_regression
    from sklearn.linear_model import Ridge

    X, y = make_regression(n_samples=200, n_features=3, noise=10.0, random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    model = Ridge().fit(frame, y)
    with mlstage.start_run():
        uri = mlstage.log_model(model, "model", input_example=frame.head()).model_uri
    result = evaluate(uri, frame.assign(price=y), "price", "regression")
    predicted = model.predict(frame)
    assert result.metrics == pytest.approx(
        {
            "mae": skm.mean_absolute_error(y, predicted),
            "rmse": float(np.sqrt(skm.mean_squared_error(y, predicted))),
            "r2": skm.r2_score(y, predicted),
            "mape": skm.mean_absolute_percentage_error(y, predicted),
        }
    )
    assert result.confusion_matrix is None
    residuals = result.curves["residuals"]
    assert residuals["residual"] == pytest.approx((y - predicted).tolist())
    paths = {a.path for a in get_tracking_store().list_artifacts(result.run_id, "evaluation")}
    assert {"evaluation/predicted_vs_actual.json", "evaluation/residuals.json"} <= paths


def test_a_model_without_probabilities_gets_the_label_metrics_only(project: Any) -> None:
    from sklearn.linear_model import RidgeClassifier

    frame = churn_frame()
    uri = log_models(ridge=RidgeClassifier().fit(frame[FEATURES], frame["churned"]))["ridge"]
    result = evaluate(uri, frame, "churned", "classification", log=False)
    assert set(result.metrics) == {"accuracy", "precision", "recall", "f1"}
    assert result.curves == {}


# -- slices and logging -------------------------------------------------------------------------


def test_slices_are_computed_and_logged_under_safe_names(backend: str) -> None:
    uri = log_models(good=good_model())["good"]
    frame = churn_frame().replace({"region": {"APAC": "São Paulo/SP"}})
    result = evaluate(uri, frame, "churned", "classification", slices=["region"])

    slices = result.slices["region"]
    assert set(slices) == {"EU", "US", "São Paulo/SP"}
    assert sum(s["count"] for s in slices.values()) == 300
    eu = frame[frame["region"] == "EU"]
    proba = good_model().predict_proba(eu[FEATURES])[:, 1]
    assert slices["EU"]["roc_auc"] == pytest.approx(skm.roc_auc_score(eu["churned"], proba))
    assert slices["EU"]["count"] == len(eu)

    run = mlstage.get_run(result.run_id)
    assert run.name == f"evaluate {uri}"
    assert run.tags["mlstage.evaluation.model_uri"] == uri
    assert run.metrics["roc_auc"] == pytest.approx(result.metrics["roc_auc"])
    assert run.metrics["slice.region:EU.roc_auc"] == pytest.approx(slices["EU"]["roc_auc"])
    assert run.metrics["slice.region:S_o_Paulo_SP.count"] == slices["São Paulo/SP"]["count"]
    assert set(run.metrics) == set(result.logged_metrics())
    [used] = run.inputs
    assert (used.dataset.name, used.context, used.dataset.num_rows) == (
        "evaluation",
        "evaluation",
        300,
    )

    store = get_tracking_store()
    paths = {a.path for a in store.list_artifacts(result.run_id, "evaluation")}
    assert {
        "evaluation/confusion_matrix.json",
        "evaluation/confusion_matrix_plot.json",
        "evaluation/roc.json",
        "evaluation/precision_recall.json",
        "evaluation/result.json",
    } <= paths
    assert not any(p.endswith(".html") for p in paths)
    confusion = json.loads(store.read_artifact(result.run_id, "evaluation/confusion_matrix.json"))
    assert confusion == result.confusion_matrix
    roc = json.loads(store.read_artifact(result.run_id, "evaluation/roc.json"))
    assert {"data", "layout"} <= set(roc)
    assert len(store.read_artifact(result.run_id, "evaluation/roc.json")) < 200_000


def test_metrics_undefined_on_a_slice_are_absent_not_errors(project: Any) -> None:
    uri = log_models(good=good_model())["good"]
    frame = churn_frame().copy()
    positives = frame.index[frame["churned"] == 1][:5]
    frame["segment"] = "rest"
    frame.loc[positives, "segment"] = "solo"  # five rows, all of one class
    result = evaluate(uri, frame, "churned", "classification", slices=["segment"])
    solo = result.slices["segment"]["solo"]
    assert solo["count"] == 5
    assert "accuracy" in solo
    assert "roc_auc" not in solo
    assert "roc_auc" in result.slices["segment"]["rest"]
    run = mlstage.get_run(result.run_id)
    assert "slice.segment:solo.count" in run.metrics
    assert "slice.segment:solo.roc_auc" not in run.metrics


def test_missing_slice_values_form_their_own_slice(project: Any) -> None:
    uri = log_models(good=good_model())["good"]
    frame = churn_frame().copy()
    frame.loc[:9, "region"] = None
    result = evaluate(uri, frame, "churned", "classification", slices=["region"], log=False)
    assert result.slices["region"]["null"]["count"] == 10


def test_evaluation_runs_nest_under_the_active_run(project: Any) -> None:
    uri = log_models(good=good_model())["good"]
    with mlstage.start_run(name="pipeline") as parent:
        result = evaluate(uri, churn_frame(), "churned", "classification", run_name="nightly")
    run = mlstage.get_run(result.run_id)
    assert run.name == "nightly"
    assert run.tags["mlstage.parent_run_id"] == parent.run_id


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"targets": "nope"}, "targets: column 'nope' is not in data"),
        ({"slices": ["nope"]}, "slices: column 'nope' is not in data"),
        ({"slices": ["churned"]}, "slices: column 'churned' is the target"),
        ({"task": "clustering"}, "task must be 'classification' or 'regression'"),
        ({"data": churn_frame().iloc[:0]}, "data is empty"),
        (
            {"data": churn_frame().assign(churned="yes"), "task": "regression"},
            "targets: regression needs a numeric target column; 'churned' is",
        ),
    ],
)
def test_bad_input_is_refused_naming_the_field(
    project: Any, change: dict[str, Any], problem: str
) -> None:
    uri = log_models(good=good_model())["good"]
    arguments: dict[str, Any] = {
        "data": churn_frame(),
        "targets": "churned",
        "task": "classification",
        **change,
    }
    with pytest.raises(InvalidInput, match=problem):
        evaluate(uri, **arguments)
    assert [r.name for r in mlstage.search_runs(output="list")] == ["train"]  # nothing logged


def test_key_parts_pass_the_tracking_key_check() -> None:
    assert key_part("São Paulo/SP") == "S_o_Paulo_SP"
    for value in ["a..b", ".hidden", "end.", "x:y", "", "1.5", "<script>", "a" * 500]:
        check_key(f"slice.{key_part(value)}:{key_part(value)}.roc_auc")
    prefixes = slice_prefixes({"region": {"a b": {}, "a_b": {}, "a/b": {}}})
    assert len(set(prefixes.values())) == 3
