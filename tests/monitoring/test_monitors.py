"""Monitors over a constructed request log: values checked against scikit-learn and by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics

from tests.monitoring.conftest import HOUR, T0, Env, record
from tests.serving.test_service import plans

__all__ = ["plans"]  # fixtures

from mlstage.monitoring.check import run_check
from mlstage.monitoring.definitions import (
    Bound,
    DataQuality,
    FeatureDrift,
    Monitoring,
    Performance,
    PredictionDrift,
    ServiceHealth,
)
from mlstage.monitoring.feedback import make_label
from mlstage.monitoring.results import SqlMonitorResults
from mlstage.monitoring.sql_feedback import SqlFeedbackStore


def by_metric(report_results: list) -> dict[str, object]:
    return {r.metric: r for r in report_results}


def test_performance_matches_scikit_learn_overall_and_per_slice(env: Env) -> None:
    rng = np.random.default_rng(7)
    n = 300
    plans = rng.choice(["basic", "pro"], n)
    truth = rng.integers(0, 2, n)
    p1 = np.clip(truth * 0.35 + rng.random(n) * 0.65, 0, 1)
    predicted = (p1 >= 0.5).astype(int)
    records = [
        record(
            {"plan": str(plans[i]), "x": float(i)},
            int(predicted[i]),
            probabilities=[1 - float(p1[i]), float(p1[i])],
            at=T0 - HOUR - i,
        )
        for i in range(n)
    ]
    env.log(records)
    labelled = range(0, n, 2)  # half the labels have arrived
    SqlFeedbackStore(env.db, env.artifacts, clock=lambda: T0).add_labels(
        [make_label(records[i].prediction_id, int(truth[i])) for i in labelled]
    )
    monitoring = Monitoring(
        model="churn",
        monitors=[Performance(task="classification", slices=["plan"])],
    )
    report = run_check("churn", monitoring=monitoring, settings=env.settings, now_ms=T0)
    got = by_metric(report.results)
    idx = np.array(list(labelled))
    y, p, s = truth[idx], predicted[idx], p1[idx]
    assert got["labels"].value == len(idx)
    assert got["label_coverage"].value == pytest.approx(0.5)
    assert got["accuracy"].value == pytest.approx(metrics.accuracy_score(y, p))
    assert got["f1"].value == pytest.approx(metrics.f1_score(y, p))
    assert got["roc_auc"].value == pytest.approx(metrics.roc_auc_score(y, s))
    pro = plans[idx] == "pro"
    assert got["accuracy[plan=pro]"].value == pytest.approx(metrics.accuracy_score(y[pro], p[pro]))
    assert got["roc_auc[plan=basic]"].value == pytest.approx(
        metrics.roc_auc_score(y[~pro], s[~pro])
    )
    stored = SqlMonitorResults(env.db).list("churn", metric="accuracy")
    assert [r.value for r in stored] == [got["accuracy"].value]


def test_regression_metrics_match_scikit_learn(sqlite_env: Env) -> None:
    rng = np.random.default_rng(3)
    truth = rng.normal(10, 3, 80)
    predicted = truth + rng.normal(0, 1, 80)
    records = [record({"x": i}, float(predicted[i])) for i in range(80)]
    sqlite_env.log(records)
    SqlFeedbackStore(sqlite_env.db, sqlite_env.artifacts, clock=lambda: T0).add_labels(
        [make_label(r.prediction_id, float(truth[i])) for i, r in enumerate(records)]
    )
    monitoring = Monitoring(model="churn", monitors=[Performance(task="regression")])
    got = by_metric(
        run_check("churn", monitoring=monitoring, settings=sqlite_env.settings, now_ms=T0).results
    )
    assert got["mae"].value == pytest.approx(metrics.mean_absolute_error(truth, predicted))
    assert got["rmse"].value == pytest.approx(np.sqrt(metrics.mean_squared_error(truth, predicted)))
    assert got["r2"].value == pytest.approx(metrics.r2_score(truth, predicted))


def _drift_env(env: Env, tmp_path: Path, shift: float) -> Monitoring:
    rng = np.random.default_rng(11)
    reference = pd.DataFrame(
        {
            "a": rng.normal(0, 1, 4000),
            "b": rng.normal(5, 2, 4000),
            "plan": rng.choice(["basic", "pro", "team"], 4000, p=[0.5, 0.3, 0.2]),
            "prediction": rng.integers(0, 2, 4000),
        }
    )
    path = tmp_path / "reference.parquet"
    reference.to_parquet(path)
    rng = np.random.default_rng(12)
    plan_p = [0.5, 0.3, 0.2] if shift == 0 else [0.1, 0.2, 0.7]
    rows = [
        record(
            {
                "a": float(rng.normal(shift, 1)),
                "b": float(rng.normal(5, 2)),
                "plan": str(rng.choice(["basic", "pro", "team"], p=plan_p)),
            },
            int(rng.random() < (0.5 if shift == 0 else 0.9)),
            at=T0 - HOUR - i,
        )
        for i in range(2000)
    ]
    env.log(rows)
    return Monitoring(
        model="churn",
        monitors=[
            FeatureDrift(reference="reference.parquet", features=["a", "b", "plan"]),
            PredictionDrift(reference="reference.parquet"),
        ],
        base=tmp_path,
    )


def test_drift_is_found_in_a_shifted_window(sqlite_env: Env, tmp_path: Path) -> None:
    monitoring = _drift_env(sqlite_env, tmp_path, shift=1.0)
    report = run_check("churn", monitoring=monitoring, settings=sqlite_env.settings, now_ms=T0)
    got = by_metric(report.results)
    assert got["drift_score[a]"].status == "alert"
    assert got["drift_score[plan]"].status == "alert"
    assert got["drift_score[b]"].status == "ok"
    assert got["drift_share"].value == pytest.approx(2 / 3)
    assert got["drift_share"].status == "alert"
    assert got["drift_share"].details["drifted"] == ["a", "plan"]
    assert got["prediction_drift"].status == "alert"
    assert report.status == "alert" and report.predictions == 2000


def test_no_drift_is_found_in_an_unshifted_window(sqlite_env: Env, tmp_path: Path) -> None:
    monitoring = _drift_env(sqlite_env, tmp_path, shift=0.0)
    report = run_check("churn", monitoring=monitoring, settings=sqlite_env.settings, now_ms=T0)
    got = by_metric(report.results)
    assert got["drift_share"].value == 0.0
    assert got["drift_share"].status == "ok"
    assert got["prediction_drift"].status == "ok"
    assert report.status == "ok"


def test_the_window_reads_only_its_time_range(sqlite_env: Env, tmp_path: Path) -> None:
    monitoring = _drift_env(sqlite_env, tmp_path, shift=1.0)
    later = run_check(
        "churn",
        monitoring=monitoring,
        settings=sqlite_env.settings,
        now_ms=T0 + 3 * HOUR,
        window="1h",
    )
    assert later.predictions == 0
    assert by_metric(later.results)["drift_share"].details["note"] == "too few rows to compare"


def test_service_health_numbers_come_from_the_request_log(sqlite_env: Env) -> None:
    latencies = [float(v) for v in range(1, 101)]
    rows = [record({"x": 1}, 1, latency_ms=v, at=T0 - HOUR + i) for i, v in enumerate(latencies)]
    rows.append(record({"x": 1}, 1, latency_ms=10_000.0, route="shadow"))  # not an answer
    sqlite_env.log(rows)
    metrics_text = "\n".join(
        [
            'mlstage_serving_requests_total{endpoint="/predict",method="POST",status="200"} 95.0',
            'mlstage_serving_requests_total{endpoint="/predict",method="POST",status="500"} 5.0',
            'mlstage_serving_requests_total{endpoint="/health",method="GET",status="200"} 900.0',
        ]
    )
    monitoring = Monitoring(
        model="churn",
        monitors=[
            ServiceHealth(
                metrics_urls=["http://replica-1/metrics"],
                thresholds={"latency_p99_ms": Bound(warn_above=50, alert_above=500)},
            )
        ],
    )
    report = run_check(
        "churn",
        monitoring=monitoring,
        settings=sqlite_env.settings,
        now_ms=T0,
        window="2h",
        fetch=lambda url: metrics_text,
    )
    got = by_metric(report.results)
    assert got["predictions"].value == 100
    assert got["throughput_per_s"].value == pytest.approx(100 / 7200)
    assert got["latency_p50_ms"].value == pytest.approx(np.percentile(latencies, 50))
    assert got["latency_p95_ms"].value == pytest.approx(np.percentile(latencies, 95))
    assert got["latency_p99_ms"].value == pytest.approx(np.percentile(latencies, 99))
    assert got["latency_p99_ms"].status == "warn"
    assert got["error_rate"].value == pytest.approx(0.05)


def test_without_metrics_urls_the_error_rate_comes_from_failed_rows_in_the_log(
    sqlite_env: Env,
) -> None:
    rows = [record({"x": 1.0}, 1, at=T0 - HOUR + i, probabilities=[0.2, 0.8]) for i in range(90)]
    failed = "RuntimeError: the feature table is gone"
    rows += [record({"x": 1.0}, None, at=T0 - HOUR + i, error=failed) for i in range(10)]
    sqlite_env.log(rows)
    labels = [make_label(r.prediction_id, 1) for r in rows[:90]]
    SqlFeedbackStore(sqlite_env.db, sqlite_env.artifacts, clock=lambda: T0).add_labels(labels)
    monitoring = Monitoring(
        model="churn",
        monitors=[ServiceHealth(), Performance(task="classification", metrics=["accuracy"])],
    )
    report = run_check("churn", monitoring=monitoring, settings=sqlite_env.settings, now_ms=T0,
                       window="2h")  # fmt: skip
    got = by_metric(report.results)
    assert got["error_rate"].value == pytest.approx(0.1)
    assert got["error_rate"].details["errors"] == 10
    assert got["predictions"].value == 90  # answered rows only
    assert got["accuracy"].value == 1.0  # failed rows have no answer to score


def test_data_quality_flags_values_outside_the_schema(sqlite_env: Env, tmp_path: Path) -> None:
    from mlstage.data.schema import infer_schema

    train = pd.DataFrame({"age": np.arange(18, 80), "plan": ["basic", "pro"] * 31})
    schema = infer_schema(train, detect_pii=False)
    rows = [record({"age": 30 + i % 10, "plan": "basic"}, 1) for i in range(50)]
    rows += [record({"age": 30, "plan": "platinum"}, 1) for _ in range(50)]
    sqlite_env.log(rows)
    monitoring = Monitoring(model="churn", monitors=[DataQuality(schema=schema)])
    got = by_metric(
        run_check("churn", monitoring=monitoring, settings=sqlite_env.settings, now_ms=T0).results
    )
    assert got["anomalies"].value >= 1
    assert got["anomalies[plan]"].status in ("warn", "alert")
    assert "anomalies[age]" not in got


def test_a_failing_monitor_is_recorded_and_the_others_still_run(sqlite_env: Env) -> None:
    sqlite_env.log([record({"x": 1.0}, 1) for _ in range(200)])
    monitoring = Monitoring(
        model="churn",
        monitors=[
            Performance(task="classification", slices=["nope"]),
            ServiceHealth(),
        ],
    )
    report = run_check("churn", monitoring=monitoring, settings=sqlite_env.settings, now_ms=T0)
    got = by_metric(report.results)
    assert got["error"].status == "alert"
    assert "slice 'nope' is neither an input" in got["error"].details["error"]
    assert got["predictions"].value == 200


def test_performance_per_bucket_carries_each_sub_window(sqlite_env: Env) -> None:
    # First hour of the window: every answer right; second hour: every answer wrong.
    right = [record({"x": 1}, 1, at=T0 - 2 * HOUR + i) for i in range(10)]
    wrong = [record({"x": 1}, 1, at=T0 - HOUR + i) for i in range(20)]
    sqlite_env.log([*right, *wrong])
    labels = [make_label(r.prediction_id, 1) for r in right]
    labels += [make_label(r.prediction_id, 0) for r in wrong[:10]]  # half the labels are in
    SqlFeedbackStore(sqlite_env.db, sqlite_env.artifacts, clock=lambda: T0).add_labels(labels)
    spec = Performance(task="classification", metrics=["accuracy"], bucket="1h")
    report = run_check(
        "churn",
        monitoring=Monitoring(model="churn", monitors=[spec]),
        settings=sqlite_env.settings,
        now_ms=T0,
        window="2h",
    )
    buckets = [
        (r.window_start, r.metric, r.value) for r in report.results if r.details.get("bucket")
    ]
    assert buckets == [
        (T0 - 2 * HOUR, "label_coverage", 1.0),
        (T0 - 2 * HOUR, "accuracy", 1.0),
        (T0 - HOUR, "label_coverage", 0.5),
        (T0 - HOUR, "accuracy", 0.0),
    ]
    overall = by_metric([r for r in report.results if not r.details.get("bucket")])
    assert overall["accuracy"].value == 0.5
    assert overall["label_coverage"].value == pytest.approx(20 / 30)


def test_a_deployment_subject_reads_its_own_rows_and_ages_its_primary_version(
    plans: pd.DataFrame, project: Path
) -> None:
    from mlstage import config
    from mlstage.artifacts.store import ArtifactStore
    from mlstage.models.api import get_registry_store
    from mlstage.monitoring.definitions import Staleness
    from mlstage.serving.sql_deployments import SqlDeploymentStore
    from mlstage.store.database import Database
    from mlstage.tracking.store import get_tracking_store

    settings = config.get_settings()
    db = Database(settings.tracking_uri)
    SqlDeploymentStore(db).deploy("plans-router", "plans", "prod", 1)
    version = get_registry_store().get_model_version("plans", 1)
    run = get_tracking_store().get_run(version.run_id or "")
    now = version.created_at + 10 * 86_400_000
    env = Env(settings, db, ArtifactStore(settings.artifact_root))
    mine = [record({"x": 1}, 1, model="plans", deployment="plans-router", at=now - 10)] * 3
    env.log([*mine, record({"x": 1}, 1, model="plans", at=now - 10)])  # not the deployment's
    monitoring = Monitoring(
        deployment="plans-router",
        monitors=[ServiceHealth(), Staleness(thresholds={"model_age_days": Bound(alert_above=7)})],
    )
    report = run_check("plans-router", monitoring=monitoring, settings=settings, now_ms=now)
    got = by_metric(report.results)
    assert (report.model, report.deployment, report.predictions) == ("plans", "plans-router", 3)
    assert got["predictions"].value == 3
    assert got["model_age_days"].value == pytest.approx(10.0)
    assert got["model_age_days"].status == "alert"
    assert got["training_data_age_days"].value == pytest.approx((now - run.start_time) / 86_400_000)
    assert got["training_data_age_days"].details["version"] == 1
    db.dispose()
