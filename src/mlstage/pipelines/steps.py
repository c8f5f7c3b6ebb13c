"""Standard steps a team composes instead of writing: data in, gate passed, model released.

    from mlstage.pipelines.steps import load_dataset, validate_data, split_data, train_model, \
        evaluate_model, register_model, validate_against_champion, deploy_model

Each is an ordinary ``@step``: its outputs are stored, it is cached, it runs
as a tracked run, and it works on every executor. The ones that change the
registry or a deployment (``register_model``, ``validate_against_champion``,
``deploy_model``) are never cached. ``validate_data`` and
``validate_against_champion`` halt the pipeline (the step fails with the
reasons) when ``halt`` is on, which is what makes them gates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pandas as pd
from sklearn.base import BaseEstimator

from mlstage.errors import InvalidInput
from mlstage.pipelines.dsl import step

ESTIMATORS = {
    "logistic_regression": ("sklearn.linear_model", "LogisticRegression", {"max_iter": 1000}),
    "random_forest": ("sklearn.ensemble", "RandomForestClassifier", {"random_state": 0}),
    "gradient_boosting": ("sklearn.ensemble", "GradientBoostingClassifier", {"random_state": 0}),
    "linear_regression": ("sklearn.linear_model", "LinearRegression", {}),
    "ridge": ("sklearn.linear_model", "Ridge", {}),
    "random_forest_regressor": ("sklearn.ensemble", "RandomForestRegressor", {"random_state": 0}),
}
"""Estimators ``train_model`` builds by name, with the defaults it gives them."""


@step(cache=False)
def load_dataset(source: str) -> pd.DataFrame:
    """A registered dataset (``name@3``, ``name@latest``) or a CSV/Parquet file or folder.

    The rows are logged as the run's input, so lineage reaches the data. Never
    cached: ``name@latest`` and a file name mean other rows as data arrives;
    the steps after it are cached on the hash of the rows it returns.
    """
    import mlstage

    if _is_dataset_ref(source):
        from mlstage.data import datasets

        version = datasets.get(source)
        frame = datasets.load(source)
        mlstage.log_input(version)  # the exact version: lineage from the dataset reaches the run
        return frame
    frame = _read(source)
    mlstage.log_input(frame, name=Path(source).stem)
    return frame


def _is_dataset_ref(source: str) -> bool:
    return "@" in source and not Path(source).exists()


def _read(source: str) -> pd.DataFrame:
    """A dataset ref (``name@version``) or a CSV/Parquet file or folder, as a DataFrame."""
    from mlstage.data.frames import check_path

    path = Path(source)
    if _is_dataset_ref(source):
        from mlstage.data import datasets

        return datasets.load(source)
    kind = check_path(path)
    return pd.read_csv(path) if kind == "csv" else pd.read_parquet(path)


@step(cache=False)
def validate_data(df: pd.DataFrame, schema: str, halt: bool = True) -> pd.DataFrame:
    """Check the data against a reviewed schema file; anomalies of error severity halt the run.

    Returns the same rows, so the steps after it take validated data and
    cannot start before the check passed. The report is a run artifact.
    """
    import mlstage
    from mlstage.data.schema import load_schema
    from mlstage.data.validation import validate

    report = validate(df, load_schema(schema))
    found = report.to_dict()
    errors = [a for a in report.anomalies if a.severity == "error"]
    mlstage.log_metrics({"anomalies": len(report.anomalies), "anomaly_errors": len(errors)})
    mlstage.log_dict(found, "validation/report.json")
    if errors and halt:
        lines = "; ".join(f"{a.feature}: {a.description}" for a in errors[:5])
        raise InvalidInput(
            f"data validation found {len(errors)} error(s) against {schema}: {lines}"
        )
    return df


@step
def check_drift(df: pd.DataFrame, reference: str, schema: str = "") -> dict[str, Any]:
    """Compare the data with a training reference (a dataset ref or a file); log what drifted."""
    import mlstage
    from mlstage.data.drift import compare
    from mlstage.data.schema import load_schema

    reference_frame = _read(reference)
    report = compare(reference_frame, df, schema=load_schema(schema) if schema else None)
    mlstage.log_metric("drifted_features", len(report.drifted_features))
    mlstage.log_dict(report.to_dict(), "drift/report.json")
    return report.to_dict()  # type: ignore[no-any-return]


@step
def get_features(entities: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """Point-in-time correct features from the feature store, joined to the entity rows."""
    from mlstage.features import feature_store

    return feature_store().get_historical_features(entities, features)  # type: ignore[no-any-return]


@step
def split_data(
    df: pd.DataFrame, target: str, test_size: float = 0.25, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A training and a held-out part, stratified by the target when it is a class label."""
    from sklearn.model_selection import train_test_split

    _require_column(df, target)
    stratify = df[target] if df[target].nunique() <= 20 else None
    train, test = train_test_split(df, test_size=test_size, random_state=seed, stratify=stratify)
    return train.reset_index(drop=True), test.reset_index(drop=True)


@step
def train_model(
    train: pd.DataFrame,
    target: str,
    estimator: str = "logistic_regression",
    params: dict[str, float] | None = None,
) -> BaseEstimator:
    """Fit a named scikit-learn estimator behind one-hot encoding of text columns.

    Params and the training score are tracked in the step's run.
    """
    import importlib

    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    import mlstage

    if estimator not in ESTIMATORS:
        raise InvalidInput(
            f"estimator {estimator!r} is not one of {', '.join(ESTIMATORS)}; "
            "write your own @step for others"
        )
    _require_column(train, target)
    module, name, defaults = ESTIMATORS[estimator]
    cls = getattr(importlib.import_module(module), name)
    chosen = {**defaults, **(params or {})}
    for key, value in chosen.items():
        if isinstance(value, float) and value.is_integer() and key.startswith(("n_", "max_d")):
            chosen[key] = int(value)
    X, y = train.drop(columns=[target]), train[target]
    # the text columns by name (a selector object would be code in the model file)
    text = [str(c) for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    encode = ColumnTransformer(
        [("text", OneHotEncoder(handle_unknown="ignore"), text)], remainder="passthrough"
    )
    model = make_pipeline(encode, cls(**chosen)).fit(X, y)
    mlstage.log_params({"estimator": estimator, **chosen})
    mlstage.log_metric("train_score", float(model.score(X, y)))
    return model  # type: ignore[no-any-return]


@step
def evaluate_model(
    model: BaseEstimator, test: pd.DataFrame, target: str, task: str = "classification"
) -> dict[str, float]:
    """The task's standard metrics on held-out data, logged to the step's run."""
    import mlstage

    uri = _log_model(model, test, target)
    result = mlstage.evaluate(uri, test, targets=target, task=_task(task))
    return {k: float(v) for k, v in result.metrics.items()}


@step(cache=False)
def register_model(model: BaseEstimator, test: pd.DataFrame, target: str, name: str) -> int:
    """Log the model (signature from the held-out data) and register it; the version number."""
    import mlstage

    uri = _log_model(model, test, target)
    return int(mlstage.register_model(uri, name).version)


@step(cache=False)
def validate_against_champion(
    version: int,
    test: pd.DataFrame,
    target: str,
    name: str,
    thresholds: dict[str, dict[str, float]],
    task: str = "classification",
    slices: list[str] | None = None,
    halt: bool = True,
) -> dict[str, Any]:
    """The validation gate: the new version against ``name@champion`` on the same data.

    The verdict is recorded on the version (VALIDATED or REJECTED); a failure
    halts the pipeline when ``halt`` is on, with every reason.
    """
    import mlstage

    verdict = mlstage.validate_candidate(
        f"models:/{name}/{version}",
        test,
        targets=target,
        task=_task(task),
        champion=f"{name}@champion",
        thresholds=thresholds,
        slices=slices,
    )
    if halt and not verdict.passed:
        failing = [r for r in verdict.reasons if "FAIL" in r.upper()] or verdict.reasons
        raise InvalidInput(f"{name}/{version} failed the validation gate: {'; '.join(failing)}")
    return verdict.model_dump(mode="json")  # type: ignore[no-any-return]


@step(cache=False)
def deploy_model(
    verdict: dict[str, Any],
    deployment: str,
    environment: str = "staging",
    strategy: str = "single",
    weight: float = 10.0,
    promote: bool = True,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Release a validated version: it becomes champion and the deployment serves it.

    With ``strategy="single"`` (or ``blue-green``) it takes all traffic at
    once; with ``canary``, ``shadow`` or ``ab`` it joins as the candidate
    beside the current primary (``weight`` % for canary and A/B). ``dry_run``
    checks the verdict and releases nothing.
    """
    import mlstage
    from mlstage.serving.deployments import get_deployment_store

    if not verdict.get("passed"):
        raise InvalidInput("the candidate did not pass the validation gate: not deployed")
    name, version = _version_of(verdict)
    if dry_run:  # CI on a merge request: gated, not released
        return {"deployment": deployment, "model": name, "version": version, "dry_run": True}
    if promote:
        mlstage.promote(f"{name}/{version}", "champion")
    store = get_deployment_store()
    reason = f"pipeline release of {name}/{version} (gate passed)"
    try:
        current = store.get_deployment(deployment)
    except Exception:
        current = None
    if current is None or strategy in ("single", "blue-green"):
        released = store.deploy(
            deployment, name, environment, version, strategy=strategy, actor="pipeline",
            reason=reason,
        )  # fmt: skip
    else:
        released = store.deploy(
            deployment,
            name,
            environment,
            current.primary_version,
            candidate_version=version,
            strategy=strategy,
            weight=weight,
            actor="pipeline",
            reason=reason,
        )
    return released.model_dump(mode="json")  # type: ignore[no-any-return]


def _log_model(model: BaseEstimator, data: pd.DataFrame, target: str) -> str:
    import mlstage

    example = data.drop(columns=[target])
    return str(mlstage.log_model(model, "model", input_example=example).model_uri)


def _version_of(verdict: dict[str, Any]) -> tuple[str, int]:
    uri = str(verdict.get("candidate", ""))
    version = verdict.get("candidate_version")
    if not uri.startswith("models:/") or version is None:
        raise InvalidInput(f"the verdict is not about a registry version: {uri!r}")
    return uri.removeprefix("models:/").split("/", 1)[0], int(version)


def _task(task: str) -> Literal["classification", "regression"]:
    if task == "classification":
        return "classification"
    if task == "regression":
        return "regression"
    raise InvalidInput(f"task must be 'classification' or 'regression', got {task!r}")


def _require_column(df: pd.DataFrame, column: str) -> None:
    if column not in df.columns:
        shown = ", ".join(map(str, df.columns))
        raise InvalidInput(f"target column {column!r} is not in the data; columns are {shown}")
