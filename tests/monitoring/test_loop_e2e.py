"""The whole Stage 2 loop on a real SQLite store, with simulated time.

v1 serves ``churn-prod``; traffic shifts, labels arrive late, the drift
monitor sees it, the drift trigger fires once, the training pipeline
registers v2, the gate validates it, v2 gets a canary and is promoted when
the window has passed. Then a candidate trained on shuffled labels slips
through a lenient gate, and the canary rolls it back on its accuracy.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import mlstage
from mlstage.artifacts.store import get_artifact_store
from mlstage.config import get_settings
from mlstage.monitoring.check import database_of
from mlstage.monitoring.definitions import FeatureDrift, Monitoring, Performance
from mlstage.monitoring.feedback import get_feedback_store, make_label
from mlstage.monitoring.loop import run_tick, tick
from mlstage.monitoring.retraining import events, list_retrainings, run_in_process
from mlstage.monitoring.trigger_definitions import RetrainSpec, ThresholdTrigger
from mlstage.serving.request_log import PredictionRecord
from mlstage.serving.request_log_store import SqlPredictionLogStore, prepare_file, split_by_day
from mlstage.serving.sql_deployments import SqlDeploymentStore

PIPELINE = Path(__file__).with_name("retrain_pipeline.py")
HOUR = 3_600_000
DAY = 24 * HOUR


def churn_frame(n: int, shifted: bool, seed: int) -> pd.DataFrame:
    """Before the shift y follows x1 + x2; after it x1 moves by 2 and y follows x1 - x2."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(2.0 if shifted else 0.0, 1.0, n)
    x2 = rng.normal(0.0, 1.0, n)
    y = ((x1 - 2.0 - x2) > 0) if shifted else ((x1 + x2) > 0)
    return pd.DataFrame({"x1": x1, "x2": x2, "y": y.astype(int)})


class Traffic:
    """Scores rows with the versions the deployment routes to, logs them as the service does,
    and sends the true labels half an hour later."""

    def __init__(self) -> None:
        settings = get_settings()
        self.db = database_of(settings)
        self.logs = SqlPredictionLogStore(
            self.db, get_artifact_store(settings.artifact_root, settings.s3_endpoint_url)
        )
        self.deployments = SqlDeploymentStore(self.db)
        self.models: dict[int, Any] = {}
        self.seed = 100

    def serve(self, start: int, hours: int, per_hour: int, shifted: bool) -> None:
        self.seed += 1
        n = hours * per_hour
        frame = churn_frame(n, shifted, self.seed)
        deployment = self.deployments.get_deployment("churn-prod")
        candidate = deployment.candidate_version
        routes = ["candidate" if candidate and i % 4 == 0 else "primary" for i in range(n)]
        versions = [candidate if r == "candidate" else deployment.primary_version for r in routes]
        outputs: list[int] = [0] * n
        for version in set(versions):
            assert version is not None
            model = self.models.get(version) or mlstage.load_model(f"models:/churn/{version}")
            self.models[version] = model
            rows = [i for i, v in enumerate(versions) if v == version]
            predicted = model.predict(frame.loc[rows, ["x1", "x2"]])
            for i, value in zip(rows, predicted, strict=True):
                outputs[i] = int(value)
        step = hours * HOUR // n
        records = [
            PredictionRecord(
                prediction_id=uuid.uuid4().hex,
                timestamp_ms=start + i * step,
                model="churn",
                version=int(versions[i] or 0),
                deployment="churn-prod",
                route=routes[i],
                request_key=None,
                inputs={"x1": float(frame.x1[i]), "x2": float(frame.x2[i])},
                output=outputs[i],
                probabilities=None,
                latency_ms=2.0,
            )
            for i in range(n)
        ]
        for day, group in split_by_day(records).items():
            self.logs.write_file(prepare_file("churn", day, group))
        first = records[0]
        mlstage.log_feedback(
            first.prediction_id, int(frame.y[0]), at=first.timestamp_ms + HOUR // 2
        )
        labels = [
            make_label(r.prediction_id, int(label), r.timestamp_ms + HOUR // 2)
            for r, label in zip(records[1:], frame.y[1:], strict=True)
        ]  # the rest as `mlstage feedback import` sends them: one batch
        found = get_feedback_store().add_labels(
            labels, source="import", key_column="request_key", key_window_ms=DAY
        )
        assert not found.unknown


def declaration(project: Path, reference: pd.DataFrame, **params: Any) -> Monitoring:
    return Monitoring(
        deployment="churn-prod",
        check_every="1h",
        monitors=[
            FeatureDrift(name="input-drift", reference=reference, threshold=0.1, min_rows=50),
            Performance(task="classification", metrics=["accuracy"], min_labels=20),
        ],
        triggers=[
            ThresholdTrigger(name="drift", monitor="input-drift", metric="drift_share", above=0.3)
        ],
        retrain=RetrainSpec(
            pipeline=f"{PIPELINE}:training",
            params={"data": str(project / "new.csv"), **params},
            cooldown="1d",
        ),
        release={
            "strategy": "canary",
            "weight": 25,
            "window": "6h",
            "min_predictions": 30,
            "metric": "accuracy",
            "max_metric_drop": 0.05,
            "min_labels": 20,
        },
    )


def test_drift_retrains_validates_canaries_promotes_and_a_worse_candidate_rolls_back(
    project: Path,
) -> None:
    started = time.perf_counter()
    old = churn_frame(1000, shifted=False, seed=1)
    old.to_csv(project / "old.csv", index=False)
    churn_frame(400, shifted=True, seed=2).to_csv(project / "new.csv", index=False)
    v1 = run_in_process(f"{PIPELINE}:training", {"data": str(project / "old.csv")})
    assert v1.succeeded, v1.error
    mlstage.set_alias("churn", "champion", 1)
    traffic = Traffic()
    traffic.deployments.deploy("churn-prod", "churn", "prod", 1)
    m = declaration(project, old[["x1", "x2"]])
    t0 = (time.time_ns() // 1_000_000 // HOUR) * HOUR

    # an hour of ordinary traffic: checked, nothing fires
    traffic.serve(t0, 1, 120, shifted=False)
    report = run_tick(t0 + HOUR, monitorings=[m])
    assert [c["deployment"] for c in report.checks] == ["churn-prod"]
    assert report.transitions == []
    assert [(o.trigger, o.fired) for o in report.observations] == [("drift", False)]

    # the distribution shifts: drift is detected and the trigger fires once
    traffic.serve(t0 + HOUR, 1, 120, shifted=True)
    fired = tick(t0 + 2 * HOUR, monitorings=[m])
    assert [x.state for x in fired] == ["triggered", "training", "validated", "canary"]
    assert {x.trigger for x in fired} == {"drift"}
    assert fired[0].observed is not None and fired[0].observed > 0.3
    assert fired[0].threshold == 0.3 and fired[0].actor == "scheduler"
    assert tick(t0 + 2 * HOUR, monitorings=[m]) == []
    assert len(list_retrainings(traffic.db, "churn-prod")) == 1
    r = list_retrainings(traffic.db, "churn-prod")[0]
    assert (r.champion_version, r.candidate_version) == (1, 2)
    deployment = traffic.deployments.get_deployment("churn-prod")
    assert (deployment.primary_version, deployment.candidate_version) == (1, 2)
    assert deployment.strategy == "canary" and deployment.weight == 25
    registry = mlstage.models.api.get_registry_store()
    assert registry.get_registered_model("churn").aliases == {"champion": 1, "challenger": 2}

    # the canary serves and is judged: held inside the window, promoted after it
    traffic.serve(t0 + 2 * HOUR, 3, 80, shifted=True)
    assert tick(t0 + 5 * HOUR, monitorings=[m]) == []
    held = list_retrainings(traffic.db, "churn-prod")[0]
    assert held.state == "canary" and held.decision["action"] == "hold"
    assert any("window ends in" in reason for reason in held.decision["reasons"])
    traffic.serve(t0 + 5 * HOUR, 3, 80, shifted=True)
    promoted = tick(t0 + 8 * HOUR + 60_000, monitorings=[m])
    assert [x.state for x in promoted] == ["promoted"]
    deployment = traffic.deployments.get_deployment("churn-prod")
    assert (deployment.primary_version, deployment.candidate_version) == (2, None)
    assert registry.get_registered_model("churn").aliases["champion"] == 2
    history = events(traffic.db, r.retraining_id)
    assert [x.state for x in history] == [
        "triggered", "training", "validated", "canary", "promoted",
    ]  # fmt: skip
    assert [x.at for x in history] == [t0 + 2 * HOUR] * 4 + [t0 + 8 * HOUR + 60_000]

    # a day later: the drift trigger fires again; a worse candidate passes a lenient gate ...
    worse = declaration(project, old[["x1", "x2"]], shuffle=True, min_auc=0.0)
    t1 = t0 + 8 * HOUR + DAY + HOUR
    traffic.serve(t1 - HOUR, 1, 120, shifted=True)
    second = tick(t1, monitorings=[worse])
    assert [x.state for x in second] == ["triggered", "training", "validated", "canary"]
    assert traffic.deployments.get_deployment("churn-prod").candidate_version == 3

    # ... and the canary rolls it back on accuracy before its window ends
    traffic.serve(t1, 2, 80, shifted=True)
    rolled = tick(t1 + 2 * HOUR, monitorings=[worse])
    assert [x.state for x in rolled] == ["rolled_back"]
    assert "accuracy" in rolled[0].reason and "< primary" in rolled[0].reason
    deployment = traffic.deployments.get_deployment("churn-prod")
    assert (deployment.primary_version, deployment.candidate_version) == (2, None)
    assert registry.get_registered_model("churn").aliases["champion"] == 2
    assert [r.state for r in list_retrainings(traffic.db, "churn-prod")] == [
        "rolled_back",
        "promoted",
    ]
    assert time.perf_counter() - started < 60, "keep the loop test fast"
