"""Fixtures of the trigger and retraining tests: a deployed model on SQLite and PostgreSQL.

``loop`` is a project whose model ``churn`` v1 (a small scikit-learn model)
is champion and serves ``churn-prod``, created at ``T0``. Its ``pipeline``
helpers stand in for a team's training pipeline: they register a version
and record the gate's verdict on it, as ``validate_against_champion`` does,
or fail without registering anything.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlstage import config
from mlstage.config import Settings
from mlstage.monitoring.definitions import Monitoring
from mlstage.monitoring.results import MetricResult, SqlMonitorResults
from mlstage.monitoring.retraining import TrainingRun
from mlstage.serving.request_log import PredictionRecord
from mlstage.serving.sql_deployments import SqlDeploymentStore
from mlstage.store.database import Database

T0 = 1_780_000_000_000
"""When ``churn-prod`` was created (2026-05-28, a Thursday)."""
HOUR = 3_600_000
DAY = 24 * HOUR
RELEASE = {"strategy": "canary", "weight": 10, "window": "1h", "min_predictions": 5}


@dataclass
class Loop:
    project: Path
    settings: Settings
    db: Database

    @property
    def deployments(self) -> SqlDeploymentStore:
        return SqlDeploymentStore(self.db)

    def registry(self) -> Any:
        from mlstage.models.api import get_registry_store

        return get_registry_store(self.settings.tracking_uri)

    def result(self, monitor: str, metric: str, value: float | None, at: int) -> None:
        """A stored monitor result of ``churn-prod`` for the window ending at ``at``."""
        SqlMonitorResults(self.db).add(
            [
                MetricResult(
                    subject="churn-prod",
                    model="churn",
                    deployment="churn-prod",
                    monitor=monitor,
                    window_start=at - HOUR,
                    window_end=at,
                    metric=metric,
                    value=value,
                )
            ]
        )

    def monitoring(self, *triggers: dict[str, Any], **fields: Any) -> Monitoring:
        values: dict[str, Any] = {
            "deployment": "churn-prod",
            "triggers": list(triggers),
            "retrain": {"pipeline": "train.py:training", "cooldown": "1d"},
            "release": RELEASE,
            **fields,
        }
        return Monitoring.model_validate(values)


def register_version(status: str = "VALIDATED") -> int:
    """Log and register a small model as the next version of ``churn`` with a verdict."""
    from sklearn.linear_model import LogisticRegression

    import mlstage
    from mlstage.models.api import get_registry_store
    from mlstage.models.entities import VersionStatus

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x1": rng.normal(size=40), "x2": rng.normal(size=40)})
    model = LogisticRegression().fit(X, (X.x1 > 0).astype(int))
    with mlstage.start_run():
        uri = mlstage.log_model(model, "model", input_example=X.head()).model_uri
    version = mlstage.register_model(uri, "churn").version
    if status != "READY":
        passed = status == "VALIDATED"
        reasons = [
            "roc_auc 0.910 >= min 0.700: pass" if passed else "roc_auc 0.500 < min 0.700: FAIL"
        ]
        get_registry_store().set_version_status(
            "churn",
            version,
            VersionStatus(status),
            actor="test",
            reason="gate",
            validation={"passed": passed, "reasons": reasons},
        )
    return int(version)


def registering(
    status: str = "VALIDATED", calls: list[int] | None = None
) -> Callable[..., TrainingRun]:
    """A training pipeline that registers one version with the gate's verdict ``status``."""

    def run(target: str, params: dict[str, Any]) -> TrainingRun:
        version = register_version(status)
        if calls is not None:
            calls.append(version)
        return TrainingRun(
            uuid.uuid4().hex, status != "REJECTED", "" if status != "REJECTED" else "gate"
        )

    return run


def failing(target: str, params: dict[str, Any]) -> TrainingRun:
    """A training pipeline whose data step fails before anything is registered."""
    return TrainingRun(uuid.uuid4().hex, False, "step 'load': no rows in churn@latest")


def canary_traffic(version: int, start: int, n: int, *, primary: int = 1) -> list[PredictionRecord]:
    """``n`` answers of the candidate and ``n`` of the primary of ``churn-prod`` from ``start``."""
    out = []
    for i in range(2 * n):
        candidate = i % 2 == 0
        out.append(
            PredictionRecord(
                prediction_id=uuid.uuid4().hex,
                timestamp_ms=start + i * 1000,
                model="churn",
                version=version if candidate else primary,
                deployment="churn-prod",
                route="candidate" if candidate else "primary",
                request_key=None,
                inputs={"x1": 0.1 * i, "x2": 1.0},
                output=1,
                probabilities=None,
                latency_ms=1.0,
            )
        )
    return out


def write_log(loop: Loop, records: list[PredictionRecord]) -> None:
    from mlstage.artifacts.store import get_artifact_store
    from mlstage.serving.request_log_store import SqlPredictionLogStore, prepare_file, split_by_day

    store = SqlPredictionLogStore(
        loop.db, get_artifact_store(loop.settings.artifact_root, loop.settings.s3_endpoint_url)
    )
    for day, group in split_by_day(records).items():
        store.write_file(prepare_file("churn", day, group))


@pytest.fixture(params=["sqlite", "postgres"])
def loop(request: pytest.FixtureRequest, project: Path) -> Iterator[Loop]:
    """``churn`` v1 is champion and serves ``churn-prod`` (created at T0), on each database."""
    import mlstage

    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        config.set_settings(config.load_settings(start=project, tracking_uri=url))
    settings = config.get_settings()
    db = Database(settings.tracking_uri)
    register_version("VALIDATED")
    mlstage.set_alias("churn", "champion", 1)
    SqlDeploymentStore(db, clock=lambda: T0).deploy("churn-prod", "churn", "prod", 1)
    yield Loop(project, settings, db)
    db.dispose()


@pytest.fixture
def sqlite_loop(project: Path) -> Loop:
    """The same on SQLite only."""
    import mlstage

    settings = config.get_settings()
    db = Database(settings.tracking_uri)
    register_version("VALIDATED")
    mlstage.set_alias("churn", "champion", 1)
    SqlDeploymentStore(db, clock=lambda: T0).deploy("churn-prod", "churn", "prod", 1)
    return Loop(project, settings, db)
