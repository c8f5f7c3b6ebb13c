"""Data for the UI tests: a small sweep, a registered model, a canary deployment.

Written through the public API against the server's own settings (made the
process settings for the duration), so the pages read what a user logged.
``payload`` goes into every user-provided string the pages show.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

import mlstage
from mlstage import config
from mlstage.config import Settings

XSS = ["<img src=x onerror=alert(1)>", "<svg onload=alert(1)>"]


@dataclass
class Seeded:
    experiment_id: str
    run_ids: list[str] = field(default_factory=list)
    model: str = "churn"
    deployment: str = "churn-prod"


def _frame(rows: int = 60) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {"tenure": rng.integers(0, 72, rows), "charges": rng.uniform(18, 118, rows)}
    )
    return frame, (frame["tenure"] < 20).to_numpy().astype(int)


def seed(settings: Settings, payload: str = "", runs: int = 4) -> Seeded:
    """Runs with params, tags, metric histories; a model with two versions; a canary."""
    from sklearn.linear_model import LogisticRegression

    from mlstage.serving.deployments import get_deployment_store

    config.set_settings(settings)
    try:
        mlstage.set_experiment(f"churn{payload}")
        frame, labels = _frame()
        seeded = Seeded(experiment_id="")
        uris = []
        for i in range(runs):
            name = f"rf-{i}{payload}"
            with mlstage.start_run(name=name, tags={"team": f"growth{payload}"}) as run:
                mlstage.log_params({"n_estimators": str(100 + 50 * i), "model": f"rf{payload}"})
                for step in range(12):
                    mlstage.log_metrics(
                        {
                            "auc": 0.7 + 0.02 * i + 0.01 * step,
                            "val loss": 1.0 / (step + 1 + i),
                        },
                        step=step,
                    )
                mlstage.log_input(frame, name="churn-train")
                if i < 2:
                    model = LogisticRegression(C=1.0 + i).fit(frame, labels)
                    uris.append(
                        mlstage.log_model(model, "model", input_example=frame[:5]).model_uri
                    )
                seeded.run_ids.append(run.run_id)
                seeded.experiment_id = run.experiment_id
        for uri in uris:
            mlstage.register_model(uri, seeded.model)
        from mlstage.models.api import get_registry_store

        registry = get_registry_store()
        registry.update_registered_model(seeded.model, description=f"Churn model{payload}")
        registry.update_model_version(seeded.model, 2, description=f"second try{payload}")
        mlstage.set_alias(seeded.model, "champion", 1)
        deployments = get_deployment_store()
        deployments.deploy(seeded.deployment, seeded.model, "prod", 1, reason="first release")
        deployments.deploy(
            seeded.deployment,
            seeded.model,
            "prod",
            1,
            candidate_version=2,
            strategy="canary",
            weight=10,
            reason=f"try v2{payload}",
        )
        return seeded
    finally:
        from mlstage.tracking import fluent

        fluent._end_all(fluent.RunStatus.FINISHED, "")
        config.set_settings(None)
