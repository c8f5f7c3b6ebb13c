"""Data for the monitoring pages: a deployment watched hour by hour as its traffic drifts.

Written through the public APIs against the server's own settings: a model
registered and deployed, predictions stored as the request log stores them,
labels through the feedback store, hourly ``run_check`` over the log
(feature drift, prediction drift, performance per half hour, service health,
staleness, and a data-quality monitor whose schema is missing, so it fails),
an alert rule whose webhook is refused (an internal address: each delivery
fails, with the reason), and retrainings moved through their states by the
retraining store. A model of another project gets results too
(``SqlMonitorResults.add``): the scoping tests must never see it.
``payload`` goes into a feature name, the reference's categories, the failing
monitor's error, and the retrainings' reasons.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

import mlstage
from mlstage import config
from mlstage.config import Settings

HOUR = 3_600_000
HOURS = 6
PER_HOUR = 150
DEPLOYMENT = "churn-prod"
IDLE_DEPLOYMENT = "churn-staging"
MODEL = "churn"
HIDDEN_MODEL = "fraud-model"
HIDDEN_PROJECT = "fraud"


@dataclass
class Monitored:
    t0: int
    feature: str
    deployment: str = DEPLOYMENT
    model: str = MODEL
    hidden_model: str = HIDDEN_MODEL
    retrainings: list[int] = field(default_factory=list)
    alerts: int = 0


def _reference(rows: int, feature: str, payload: str, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    charges = rng.normal(50, 10, rows)
    return pd.DataFrame(
        {
            "tenure": rng.integers(0, 72, rows),
            "charges": charges,
            feature: rng.choice(["basic", "pro", f"team{payload}"], rows, p=[0.6, 0.3, 0.1]),
            "prediction": (charges > 55).astype(int),
        }
    )


def _records(t0: int, feature: str, payload: str) -> list:
    """``PER_HOUR`` predictions an hour; from hour 3 charges shift, latency grows, 2% fail."""
    from mlstage.serving.request_log import PredictionRecord

    rng = np.random.default_rng(11)
    out = []
    for hour in range(HOURS):
        shifted = hour >= 3
        for i in range(PER_HOUR):
            charges = float(rng.normal(75 if shifted else 50, 10))
            failed = shifted and i % 50 == 0  # 2% of the calls fail after the shift
            plan = rng.choice(
                ["basic", "pro", f"team{payload}"],
                p=[0.2, 0.3, 0.5] if shifted else [0.6, 0.3, 0.1],
            )
            out.append(
                PredictionRecord(
                    prediction_id=uuid.uuid4().hex,
                    timestamp_ms=t0 + hour * HOUR + i * (HOUR // PER_HOUR),
                    model=MODEL,
                    version=1,
                    deployment=DEPLOYMENT,
                    route="primary",
                    request_key=None,
                    inputs={"tenure": int(rng.integers(0, 72)), "charges": charges, feature: plan},
                    output=None if failed else int(charges > 55),
                    probabilities=None,
                    latency_ms=float(rng.gamma(2.0, 2.0 + 3 * shifted)),
                    error=f"ValueError: charges out of range{payload}" if failed else None,
                )
            )
    return out


def _store_log(settings: Settings, records: list) -> None:
    """The records as the request log writes them: one Parquet file per model and UTC day."""
    from mlstage.artifacts.store import get_artifact_store
    from mlstage.monitoring.check import database_of
    from mlstage.serving.request_log_store import SqlPredictionLogStore, prepare_file, split_by_day

    store = SqlPredictionLogStore(database_of(settings), get_artifact_store(settings.artifact_root))
    for day, group in split_by_day(records).items():
        store.write_file(prepare_file(MODEL, day, group))


def seed_monitoring(settings: Settings, root: Path, payload: str = "") -> Monitored:
    """Six hourly checks of ``churn-prod`` over drifting traffic, alerts, two retrainings."""
    from sklearn.linear_model import LogisticRegression

    from mlstage.monitoring import (
        AlertRule,
        DataQuality,
        FeatureDrift,
        Monitoring,
        Performance,
        PredictionDrift,
        ServiceHealth,
        Staleness,
        run_check,
    )
    from mlstage.monitoring.feedback import get_feedback_store, log_feedback, make_label
    from mlstage.serving.deployments import get_deployment_store

    config.set_settings(settings)
    now = time.time_ns() // 1_000_000
    t0 = (now - 10 * HOUR) // HOUR * HOUR  # labels join predictions of the recent past
    feature = f"plan{payload}"
    seeded = Monitored(t0=t0, feature=feature)
    try:
        reference = _reference(400, feature, payload, 1)
        reference.to_parquet(root / "reference.parquet", index=False)
        mlstage.set_experiment("monitored")
        uris = []
        for c in (1.0, 0.5):
            with mlstage.start_run(name=f"train C={c}"):
                fitted = LogisticRegression(C=c).fit(
                    reference[["tenure", "charges"]], reference["prediction"]
                )
                uris.append(mlstage.log_model(fitted, "model").model_uri)
        for uri in uris:
            mlstage.register_model(uri, MODEL)
        get_deployment_store().deploy(DEPLOYMENT, MODEL, "prod", 1, reason="first release")
        get_deployment_store().deploy(IDLE_DEPLOYMENT, MODEL, "staging", 2, reason="not watched")

        records = _records(t0, feature, payload)
        _store_log(settings, records)
        truth = [(r.prediction_id, int(r.inputs["charges"] > 60)) for r in records]  # errors too
        log_feedback(truth[0][0], truth[0][1])  # one the way users send it, the rest in bulk
        get_feedback_store(settings).add_labels(
            [make_label(pid, label) for pid, label in truth[2 : len(truth) - PER_HOUR : 2]]
        )

        monitoring = Monitoring(
            deployment=DEPLOYMENT,
            monitors=[
                FeatureDrift(reference=str(root / "reference.parquet"), min_rows=50),
                PredictionDrift(reference=str(root / "reference.parquet"), min_rows=50),
                Performance(task="classification", bucket="30m", metrics=["accuracy", "f1"]),
                ServiceHealth(),
                Staleness(),
                DataQuality(name="quality", schema=str(root / f"missing{payload}.yaml")),
            ],
            alerts=[
                AlertRule(
                    name="drift",
                    metric="drift_share",
                    comparison=">=",
                    threshold=0.3,
                    cooldown="1h",
                    webhook={"url": "http://127.0.0.1:9/hook"},
                )
            ],
        )
        for hour in range(1, HOURS + 1):
            report = run_check(
                DEPLOYMENT,
                window="1h",
                monitoring=monitoring,
                settings=settings,
                now_ms=t0 + hour * HOUR,
                retry_delays=(),
                sleep=lambda seconds: None,
            )
            seeded.alerts += len(report.deliveries)
        seeded.retrainings = _retrainings(settings, t0 + HOURS * HOUR, payload)
        _hidden(settings, t0)
        return seeded
    finally:
        from mlstage.tracking import fluent

        fluent._end_all(fluent.RunStatus.FINISHED, "")
        config.set_settings(None)


def _retrainings(settings: Settings, at: int, payload: str) -> list[int]:
    """One retraining rolled back after its canary, one whose pipeline failed."""
    from mlstage.monitoring.check import database_of
    from mlstage.monitoring.sql_retraining import Claim, SqlRetrainingStore

    store = SqlRetrainingStore(database_of(settings))
    claim = Claim(
        deployment=DEPLOYMENT,
        model=MODEL,
        trigger="drift",
        trigger_kind="threshold",
        observed=0.667,
        threshold=0.3,
        pipeline="training.py:training",
        champion_version=1,
        reason=f"drift_share 0.667 >= 0.3{payload}",
    )
    first = store.claim(claim, actor="scheduler", now=at, cooldown_ms=0)
    assert first is not None
    rid = first.retraining_id
    step = 60_000
    store.move(
        rid, {"triggered"}, "training", actor="scheduler", now=at + step, pipeline_run_id="a" * 32
    )
    store.move(
        rid,
        {"training"},
        "validated",
        actor="scheduler",
        now=at + 2 * step,
        candidate_version=2,
        reason="candidate beats the champion",
    )
    store.move(
        rid,
        {"validated"},
        "canary",
        actor="scheduler",
        now=at + 3 * step,
        release_started_at=at + 3 * step,
    )
    decision = {
        "action": "rollback",
        "reasons": [f"candidate error rate 4% is above the champion's 1%{payload}"],
        "figures": {
            "metric": "accuracy",
            "primary": {"version": 1, "predictions": 900, "error_rate": 0.01, "metric": 0.91},
            "candidate": {"version": 2, "predictions": 100, "error_rate": 0.04, "metric": None},
        },
    }
    store.move(
        rid,
        {"canary"},
        "rolled_back",
        actor="scheduler",
        now=at + 4 * step,
        reason=f"rolled back{payload}",
        decision=decision,
    )
    second = store.claim(
        claim.model_copy(
            update={
                "trigger": "weekly",
                "trigger_kind": "schedule",
                "observed": None,
                "threshold": None,
                "reason": "weekly schedule due",
            }
        ),
        actor="scheduler",
        now=at + 5 * step,
        cooldown_ms=0,
    )
    assert second is not None
    store.move(
        second.retraining_id, {"triggered"}, "training", actor="scheduler", now=at + 6 * step
    )
    store.move(
        second.retraining_id,
        {"training"},
        "failed",
        actor="scheduler",
        now=at + 7 * step,
        reason=f"step train failed{payload}",
    )
    return [rid, second.retraining_id]


def _hidden(settings: Settings, t0: int) -> None:
    """A model of another project with results of its own."""
    from mlstage.governance.sql_store import GovernanceStore
    from mlstage.models.api import get_registry_store
    from mlstage.monitoring.check import database_of
    from mlstage.monitoring.results import MetricResult, SqlMonitorResults

    db = database_of(settings)
    GovernanceStore(db).create_project(HIDDEN_PROJECT)
    get_registry_store().create_registered_model(HIDDEN_MODEL, project=HIDDEN_PROJECT)
    SqlMonitorResults(db).add(
        [
            MetricResult(
                subject=HIDDEN_MODEL,
                model=HIDDEN_MODEL,
                monitor="service_health",
                window_start=t0 + (h - 1) * HOUR,
                window_end=t0 + h * HOUR,
                metric="latency_p50_ms",
                value=3.0 + h,
                status="alert",
            )
            for h in range(1, 4)
        ]
    )


def stage_settings(root: Path, template: Path, **overrides: object) -> Settings:
    """A project folder with its own copy of the migrated SQLite template and artifact root."""
    import shutil

    (root / ".mlstage").mkdir(parents=True, exist_ok=True)
    shutil.copy(template, root / "mlstage.db")
    return config.load_settings(
        start=root,
        tracking_uri=f"sqlite:///{root / 'mlstage.db'}",
        artifact_root=str(root / "artifacts"),
        **overrides,
    )
