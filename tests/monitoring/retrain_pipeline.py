"""The training pipeline the retraining tests trigger: mlstage's standard steps on a CSV.

``shuffle=True`` trains on shuffled labels (a model no better than chance) and
``min_auc`` sets the gate: a lenient gate lets such a worse candidate through,
so the canary has to catch it.
"""

import pandas as pd

from mlstage import pipeline, step
from mlstage.pipelines.steps import (
    load_dataset,
    register_model,
    split_data,
    train_model,
    validate_against_champion,
)


@step
def prepare(df: pd.DataFrame, shuffle: bool = False) -> pd.DataFrame:
    if shuffle:
        df = df.assign(y=df["y"].sample(frac=1.0, random_state=1).to_numpy())
    return df


@step
def gate(min_auc: float) -> dict[str, dict[str, float]]:
    return {"roc_auc": {"min": min_auc}}


@pipeline
def training(data: str, shuffle: bool = False, min_auc: float = 0.7) -> None:
    train, test = split_data(prepare(load_dataset(data), shuffle), "y")
    model = train_model(train, "y")
    version = register_model(model, test, "y", "churn")
    validate_against_champion(version, test, "y", "churn", thresholds=gate(min_auc))
