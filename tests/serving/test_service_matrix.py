"""A scikit-learn estimator fitted on named numeric columns gets each batch as one matrix."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

import mlstage
from mlstage.models.signature import infer_signature
from mlstage.serving.pool import takes_matrix
from mlstage.serving.validation import checker_for
from tests.serving import test_service

serve = test_service.serve  # the fixture


def record_inputs(app: Any) -> list[Any]:
    """Wrap every loaded version's model call to keep what it is given."""
    seen: list[Any] = []
    for version in app.state.service.pool.current.versions.values():
        real = version.model_call

        def model_call(x: Any, _real: Any = real) -> Any:
            seen.append(x)
            return _real(x)

        version.model_call = model_call
    return seen


def test_the_model_gets_a_matrix_and_answers_as_with_a_dataframe(
    churn_versions: list[int], serve: Any, iris: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, _ = iris
    client = serve("churn/2")
    model = client.app.state.service.pool.current.versions[2].loaded.model  # type: ignore[attr-defined]
    seen = record_inputs(client.app)  # type: ignore[attr-defined]
    rows = X.iloc[[0, 60, 120]]
    with warnings.catch_warnings(record=True) as caught:
        answer = client.post("/predict", json={"records": rows.to_dict("records")}).json()
    assert not [w for w in caught if "feature names" in str(w.message)]
    assert seen and all(type(x) is np.ndarray for x in seen)
    expected = model.predict_proba(rows)
    assert np.array_equal(np.array(answer["probabilities"]), expected)
    assert answer["predictions"] == list(model.predict(rows))


def test_a_pipeline_keeps_its_dataframe(
    project: Any, serve: Any, iris: tuple[pd.DataFrame, pd.Series]
) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = iris
    with mlstage.start_run():
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
        uri = mlstage.log_model(model, "model", input_example=X).model_uri
    mlstage.register_model(uri, "piped")
    client = serve("piped/1")
    seen = record_inputs(client.app)  # type: ignore[attr-defined]
    response = client.post("/predict", json={"records": X.head(2).to_dict("records")})
    assert response.status_code == 200, response.text
    assert seen and all(isinstance(x, pd.DataFrame) for x in seen)


def test_names_must_match_the_signature_in_order(iris: tuple[pd.DataFrame, pd.Series]) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    checker = checker_for(infer_signature(X))
    assert takes_matrix(LogisticRegression().fit(X, y), checker)
    assert not takes_matrix(LogisticRegression().fit(X[X.columns[::-1]], y), checker)
    assert takes_matrix(LogisticRegression().fit(X.to_numpy(), y), checker)  # by position
    assert not takes_matrix(LogisticRegression().fit(X.to_numpy()[:, :3], y), checker)
    text = X.assign(kind="a")
    assert not takes_matrix(LogisticRegression().fit(X, y), checker_for(infer_signature(text)))
