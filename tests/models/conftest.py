"""Small real models, trained in milliseconds on data scikit-learn ships."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def iris() -> tuple[pd.DataFrame, pd.Series]:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True, as_frame=True)
    X.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    return X, y


@pytest.fixture(scope="session")
def forest(iris: tuple[pd.DataFrame, pd.Series]) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    X, y = iris
    return RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)


@pytest.fixture(scope="session")
def pipeline(iris: tuple[pd.DataFrame, pd.Series]) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = iris
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
