"""A registered model with a few versions, for deployment and serving tests."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import mlstage


@pytest.fixture(scope="session")
def iris() -> tuple[pd.DataFrame, pd.Series]:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True, as_frame=True)
    X.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    return X, y


@pytest.fixture
def churn_versions(backend: str, iris: tuple[pd.DataFrame, pd.Series]) -> list[int]:
    """Model 'churn' with three registered versions (logistic regressions, C = 0.1, 1, 10)."""
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    versions = []
    for C in (0.1, 1.0, 10.0):
        with mlstage.start_run():
            model: Any = LogisticRegression(C=C, max_iter=500).fit(X, y)
            uri = mlstage.log_model(model, "model", input_example=X).model_uri
        versions.append(mlstage.register_model(uri, "churn").version)
    return versions
