"""The fluent API as a data scientist uses it: one import, no server, the embedded store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlstage
from mlstage.errors import InvalidInput, NotFound
from mlstage.tracking.entities import RunStatus


def test_a_run_records_params_metrics_tags_and_context(project: Path) -> None:
    mlstage.set_experiment("churn")
    with mlstage.start_run(name="rf-baseline") as run:
        mlstage.log_params({"n_estimators": 100, "max_depth": None})
        mlstage.log_metric("auc", 0.91, step=1)
        mlstage.log_metrics({"auc": 0.92, "f1": 0.80}, step=2)
        mlstage.set_tag("stage", "dev")
    stored = mlstage.get_run(run.run_id)
    assert stored.status is RunStatus.FINISHED
    assert stored.params == {"n_estimators": "100", "max_depth": "None"}
    assert stored.metrics == {"auc": 0.92, "f1": 0.80}
    assert stored.tags == {"stage": "dev"}
    assert stored.context.python_version.startswith("3.")
    assert stored.context.packages["pandas"] == pd.__version__
    assert stored.context.user
    assert [m.value for m in mlstage.get_metric_history(run.run_id, "auc")] == [0.91, 0.92]
    assert (project / ".mlstage" / "mlstage.db").is_file()


def test_exception_marks_failed_and_keyboard_interrupt_killed(project: Path) -> None:
    with pytest.raises(ValueError, match="bad data"), mlstage.start_run() as failed:
        raise ValueError("bad data")
    with pytest.raises(KeyboardInterrupt), mlstage.start_run() as killed:
        raise KeyboardInterrupt
    assert mlstage.get_run(failed.run_id).status is RunStatus.FAILED
    assert mlstage.get_run(failed.run_id).status_reason == "ValueError: bad data"
    assert mlstage.get_run(killed.run_id).status is RunStatus.KILLED


def test_nested_runs_record_their_parent(project: Path) -> None:
    with mlstage.start_run(name="sweep") as parent:
        with pytest.raises(InvalidInput, match="already active"):
            mlstage.start_run()
        with mlstage.start_run(name="trial", nested=True) as child:
            assert mlstage.active_run() is child
        assert mlstage.active_run() is parent
    assert mlstage.get_run(child.run_id).tags["mlstage.parent_run_id"] == parent.run_id
    assert mlstage.active_run() is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("nan", "must be a number, got str 'nan'"),
        ("0.5", "must be a number"),
        (None, "must be a number, got NoneType"),
        (True, "must be a number, got bool"),
        ([1.0], "must be a number, got list"),
    ],
)
def test_non_numeric_metric_values_are_refused(project: Path, value: object, problem: str) -> None:
    with mlstage.start_run() as run:
        with pytest.raises(InvalidInput, match=problem):
            mlstage.log_metric("loss", value)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match=problem):
            mlstage.log_metrics({"ok": 1.0, "loss": value})  # type: ignore[dict-item]
    assert mlstage.get_run(run.run_id).metrics == {}


def test_numpy_values_and_nan_are_accepted(project: Path) -> None:
    with mlstage.start_run() as run:
        mlstage.log_metric("a", np.float32(0.5), step=np.int64(3))
        mlstage.log_metric("loss", float("nan"))
    metrics = mlstage.get_run(run.run_id).metrics
    assert metrics["a"] == 0.5
    assert np.isnan(metrics["loss"])


def test_logging_without_a_run_says_what_to_do(project: Path) -> None:
    with pytest.raises(InvalidInput, match=r"no active run: call mlstage.start_run\(\) first"):
        mlstage.log_metric("x", 1.0)


def test_search_runs_returns_a_dataframe(project: Path) -> None:
    mlstage.set_experiment("churn")
    for n in (10, 100, 200):
        with mlstage.start_run(name=f"rf-{n}"):
            mlstage.log_params({"n_estimators": n})
            mlstage.log_metric("auc", 0.8 + n / 1000)
    frame = mlstage.search_runs(
        "churn",
        filter="metrics.auc > 0.85 and params.n_estimators != '10'",
        order_by=["metrics.auc DESC"],
    )
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["run_name"]) == ["rf-200", "rf-100"]
    assert list(frame["metrics.auc"]) == [1.0, 0.9]
    assert list(frame["params.n_estimators"]) == ["200", "100"]
    assert str(frame["start_time"].dtype).startswith("datetime64")
    runs = mlstage.search_runs("churn", output="list", max_results=1, order_by="metrics.auc")
    assert [r.name for r in runs] == ["rf-10"]
    with pytest.raises(NotFound, match="experiment 'nope' does not exist"):
        mlstage.search_runs("nope")


def test_log_input_records_digest_rows_and_schema(project: Path) -> None:
    frame = pd.DataFrame({"age": [31, 42, 57], "plan": ["a", "b", "a"]})
    with mlstage.start_run() as run:
        first = mlstage.log_input(frame, name="churn-train")
        again = mlstage.log_input(frame.copy(), name="churn-train", context="eval")
        changed = mlstage.log_input(
            frame.assign(age=[31, 42, 58]), name="churn-train", context="other"
        )
        array = mlstage.log_input(np.zeros((4, 3)), name="matrix")
    assert first.dataset.digest == again.dataset.digest != changed.dataset.digest
    assert first.dataset.num_rows == 3
    assert [(c.name, c.dtype) for c in first.dataset.schema_] == [
        ("age", "int64"),
        ("plan", first.dataset.schema_[1].dtype),
    ]
    assert array.dataset.num_columns == 3
    inputs = mlstage.get_run(run.run_id).inputs
    assert sorted(i.context for i in inputs) == ["eval", "other", "training", "training"]
    with mlstage.start_run(), pytest.raises(InvalidInput, match="takes a pandas DataFrame"):
        mlstage.log_input({"a": 1}, name="dict")


def test_artifacts_from_files_folders_dicts_text_and_figures(project: Path) -> None:
    (project / "out" / "sub").mkdir(parents=True)
    (project / "out" / "a.txt").write_text("A")
    (project / "out" / "sub" / "b.txt").write_text("B")
    with mlstage.start_run() as run:
        assert mlstage.log_artifact(project / "out" / "a.txt") == "a.txt"
        assert mlstage.log_artifacts(project / "out", "folder") == [
            "folder/a.txt",
            "folder/sub/b.txt",
        ]
        mlstage.log_dict({"C": 1.0}, "config.json")
        mlstage.log_text("hello", "notes/readme.md")
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axes = plt.subplots()
        axes.plot([1, 2, 3])
        mlstage.log_figure(figure, "plots/curve.png")
        import plotly.graph_objects as go

        mlstage.log_figure(go.Figure(go.Scatter(y=[1, 3, 2])), "plots/curve.html")
        with pytest.raises(InvalidInput, match="must end in .json"):
            mlstage.log_dict({}, "config.txt")
        with pytest.raises(InvalidInput, match="relative to the run"):
            mlstage.log_text("x", "/etc/cron.d/evil")
        with pytest.raises(InvalidInput, match="is not a file"):
            mlstage.log_artifact(project / "missing.txt")
    from mlstage.tracking.store import get_tracking_store

    store = get_tracking_store()
    assert json.loads(store.read_artifact(run.run_id, "config.json")) == {"C": 1.0}
    assert store.read_artifact(run.run_id, "plots/curve.png")[:4] == b"\x89PNG"
    html = store.read_artifact(run.run_id, "plots/curve.html").decode()
    assert '<script src="http' not in html and "<script" in html  # self-contained
    assert [a.path for a in store.list_artifacts(run.run_id)] == [
        "a.txt",
        "config.json",
        "folder",
        "notes",
        "plots",
    ]


def test_autolog_records_sklearn_fits(project: Path) -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_iris(return_X_y=True)
    mlstage.autolog()
    try:
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
        with mlstage.start_run(name="inside") as run:
            LogisticRegression(C=0.5, max_iter=500).fit(X, y)
    finally:
        mlstage.autolog(disable=True)
    runs = mlstage.search_runs(output="list", order_by=["attributes.start_time ASC"])
    assert [r.name for r in runs] == ["Pipeline-autolog", "inside"]  # inner fits log nothing
    pipeline_run, inside = runs
    assert pipeline_run.params["logisticregression__max_iter"] == "500"
    assert pipeline_run.metrics["training_accuracy_score"] > 0.9
    assert inside.run_id == run.run_id
    assert inside.params["C"] == "0.5"
    assert inside.tags["estimator_name"] == "LogisticRegression"
    assert inside.metrics["training_duration_s"] > 0
    LogisticRegression(max_iter=500).fit(X, y)  # disabled: no new run
    assert len(mlstage.search_runs(output="list")) == 2


def test_settings_from_mlstage_toml_choose_the_store(project: Path) -> None:
    (project / "mlstage.toml").write_text('tracking_uri = "sqlite:///custom/db.sqlite"\n')
    mlstage.set_experiment("x")
    assert (project / "custom" / "db.sqlite").is_file()
    assert mlstage.get_tracking_uri() == f"sqlite:///{project / 'custom' / 'db.sqlite'}"
