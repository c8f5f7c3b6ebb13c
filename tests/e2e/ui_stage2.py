"""Data for the stage-2 pages: datasets, a validation report, feature views, pipeline runs.

Written through the public API (``mlstage.datasets.register``, a small
``@pipeline`` run, the feature store's ``apply`` and ``materialize``)
against the server's own settings, made the process settings for the
duration. ``payload`` goes into every free-text value: descriptions, tags,
category values, a pipeline parameter, a step's log and error.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

import mlstage
from mlstage import config
from mlstage.config import Settings
from mlstage.pipelines import pipeline, step
from mlstage.pipelines.steps import validate_data

DATASET = "churn-data"


@dataclass
class Stage2:
    dataset: str = DATASET
    versions: list[int] = field(default_factory=list)
    lineage_run: str = ""
    validation_run: str = ""
    ok_run: str = ""
    failed_run: str = ""
    schema: str = ""


def frame(rows: int, shift: float, payload: str, seed: int) -> pd.DataFrame:
    """Numeric, categorical and missing values; ``shift`` moves the numeric distribution."""
    rng = np.random.default_rng(seed)
    plan = ["basic", "pro", f"team{payload}"]
    weights = [0.6, 0.3, 0.1] if shift == 0 else [0.2, 0.3, 0.5]
    charges = rng.normal(50 + shift, 10, rows)
    charges[::17] = np.nan
    return pd.DataFrame(
        {
            "tenure": rng.integers(0, 72, rows),
            "charges": charges,
            "plan": rng.choice(plan, rows, p=weights),
            "churned": rng.integers(0, 2, rows).astype(bool),
        }
    )


@step
def make_rows(n: int, shift: float, plan: str) -> pd.DataFrame:
    print(f"making {n} rows of plan {plan}")
    return frame(n, shift, plan, 3)


@step
def summarise(df: pd.DataFrame) -> dict[str, float]:
    return {"rows": float(len(df)), "mean_charges": float(df["charges"].mean())}


@step
def report(summary: dict[str, float], message: str) -> int:
    print(f"report says {message}")
    return int(summary["rows"])


@step
def fail_loudly(df: pd.DataFrame, message: str) -> int:
    print(f"about to fail with {message}")
    raise RuntimeError(f"refused: {message}")


@pipeline
def ui_training(schema: str, n: int = 40, shift: float = 30.0, message: str = "hello"):
    df = make_rows(n, shift, message)
    checked = validate_data(df, schema, halt=False)
    summary = summarise(checked)
    return report(summary, message)


@pipeline
def ui_broken(message: str = "boom"):
    df = make_rows(5, 0.0, "")
    return fail_loudly(df, message)


FEATURES = """
from datetime import timedelta
from mlstage.features import Entity, FeatureView, Field, Float64, Int64, String

customer = Entity("customer", join_keys=["customer_id"], description="A customer{payload}")
stats = FeatureView(
    "customer_stats",
    entities=[customer],
    source="data/customer_stats.parquet",
    schema=[Field("spend", Float64), Field("orders", Int64), Field("tier", String)],
    ttl=timedelta(days=7),
    description="Spend and orders{payload}",
    tags={{"team": "growth{payload}"}},
)
"""


def write_features(root: Path, payload: str) -> Path:
    base = pd.Timestamp("2026-01-01", tz="UTC")
    rng = np.random.default_rng(0)
    rows = 30
    data = pd.DataFrame(
        {
            "customer_id": rng.integers(1, 6, rows),
            "event_timestamp": base + pd.to_timedelta(rng.integers(0, 240, rows), unit="h"),
            "spend": np.round(rng.random(rows) * 100, 3),
            "orders": rng.integers(0, 50, rows),
            "tier": rng.choice(["gold", "silver"], rows),
        }
    )
    (root / "data").mkdir(exist_ok=True)
    data.to_parquet(root / "data" / "customer_stats.parquet", index=False)
    path = root / "features.py"
    text = FEATURES.format(payload=payload.replace('"', "'"))
    path.write_text(textwrap.dedent(text))
    return path


def seed_stage2(
    settings: Settings, root: Path, payload: str = "", *, pipelines: bool = True
) -> Stage2:
    """Two dataset versions (drifted), a run using v1 with a model, pipelines, feature views."""
    from sklearn.linear_model import LogisticRegression

    from mlstage.data.schema import infer_schema, save_schema
    from mlstage.features import feature_store

    config.set_settings(settings)
    seeded = Stage2()
    try:
        tags = {"owner": f"data team{payload}"}
        v1 = mlstage.datasets.register(
            DATASET, frame(200, 0.0, payload, 1), description=f"Churn rows{payload}", tags=tags
        )
        v2 = mlstage.datasets.register(DATASET, frame(200, 30.0, payload, 2))
        seeded.versions = [v1.version, v2.version]
        mlstage.set_experiment(f"stage2{payload}")
        with mlstage.start_run(name=f"trained-on-v1{payload}") as run:
            mlstage.log_input(v1)
            rows = mlstage.datasets.load(v1)[["tenure"]]
            model = LogisticRegression().fit(rows, np.arange(len(rows)) % 2)
            uri = mlstage.log_model(model, "model").model_uri
            seeded.lineage_run = run.run_id
        mlstage.register_model(uri, "churn-from-data")
        store = feature_store(settings=settings)
        store.apply(write_features(root, payload))
        store.materialize("2026-01-01", "2026-01-05")
        store.close()
        if pipelines:
            schema = infer_schema(frame(200, 0.0, "", 3))
            seeded.schema = str(save_schema(schema, root / "schema.yaml"))
            ok = ui_training.run(schema=seeded.schema, message=f"hi{payload}")
            assert ok.status.value == "SUCCEEDED", ok.error
            seeded.ok_run = ok.run_id
            validation = ok.steps_by_name["validate_data"].tracking_run_id
            assert validation is not None
            seeded.validation_run = validation
            broken = ui_broken.run(message=f"no{payload}")
            assert broken.status.value == "FAILED"
            seeded.failed_run = broken.run_id
            from mlstage.pipelines.scheduler import schedule_store

            schedules = schedule_store()
            target = f"{Path(__file__).resolve()}:ui_training"
            params = {"schema": seeded.schema, "message": f"night{payload}"}
            schedules.save_schedule("nightly", target, "0 2 * * *", params, "local")
            schedules.save_schedule("weekly", target, "0 3 * * 1", params, "local", enabled=False)
        return seeded
    finally:
        from mlstage.tracking import fluent

        fluent._end_all(fluent.RunStatus.FINISHED, "")
        config.set_settings(None)


def stage2_settings(root: Path, template: Path) -> Settings:
    """A project folder with its own copy of the migrated SQLite template and artifact root."""
    import shutil

    (root / ".mlstage").mkdir(parents=True, exist_ok=True)
    shutil.copy(template, root / "mlstage.db")
    return config.load_settings(
        start=root,
        tracking_uri=f"sqlite:///{root / 'mlstage.db'}",
        artifact_root=str(root / "artifacts"),
    )
