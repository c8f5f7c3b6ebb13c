"""Training pipeline for a tabular classifier, built from mlstage's standard steps.

    mlstage pipelines run pipeline.py:training                 # local, in-process
    mlstage pipelines run pipeline.py:training --executor dask # the same on a Dask cluster
    mlstage pipelines run pipeline.py:training --param estimator=random_forest

Data in, validated against the reviewed schema (an anomaly of error
severity halts the run), split, trained, evaluated, registered, put through
the validation gate against the champion, and released to staging (not with
``--param dry_run=true``, which CI uses on merge requests).
"""

from pathlib import Path

from mlstage import pipeline
from mlstage.pipelines.steps import (
    deploy_model,
    evaluate_model,
    load_dataset,
    register_model,
    split_data,
    train_model,
    validate_against_champion,
    validate_data,
)

HERE = Path(__file__).resolve().parent
"""Paths are absolute, so worker processes and Dask workers find the files wherever they start.
On a cluster of several machines, register the data (`mlstage datasets register churn
data/churn.csv`) and pass data="churn@latest" instead."""


@pipeline
def training(
    data: str = str(HERE / "data" / "churn.csv"),
    schema: str = str(HERE / "data" / "churn.schema.yaml"),
    target: str = "churned",
    model_name: str = "churn",
    estimator: str = "logistic_regression",
    environment: str = "staging",
    dry_run: bool = False,
) -> None:
    df = validate_data(load_dataset(data), schema)
    train, test = split_data(df, target)
    model = train_model(train, target, estimator)
    evaluate_model(model, test, target)
    version = register_model(model, test, target, model_name)
    verdict = validate_against_champion(
        version,
        test,
        target,
        model_name,
        thresholds={"roc_auc": {"min": 0.7, "min_delta": -0.02}},
        slices=["plan"],
    )
    deploy_model(verdict, deployment="churn-staging", environment=environment, dry_run=dry_run)
