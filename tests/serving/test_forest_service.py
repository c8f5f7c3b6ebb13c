"""A served forest is walked flat, and answers exactly as scikit-learn does."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier

import mlstage
from tests.serving import test_service

serve = test_service.serve  # the fixture


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return make_classification(
        n_samples=1500, n_features=12, n_informative=6, n_classes=3, random_state=3
    )


def test_the_service_walks_a_served_forest_flat(
    project: Any, serve: Any, data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = data
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(12)])
    model = RandomForestClassifier(n_estimators=30, random_state=0).fit(frame, y)
    with mlstage.start_run():
        uri = mlstage.log_model(model, "model", input_example=frame).model_uri
    mlstage.register_model(uri, "woods")
    client = serve("woods/1")
    loaded = client.app.state.service.pool.current.versions[1]  # type: ignore[attr-defined]
    assert loaded.flat
    rows = frame.iloc[[0, 5, 900]]
    answer = client.post("/predict", json={"records": rows.to_dict("records")}).json()
    assert np.array_equal(np.array(answer["probabilities"]), model.predict_proba(rows))
    assert answer["predictions"] == model.predict(rows).tolist()
    one = client.post("/predict", json={"records": rows.head(1).to_dict("records")}).json()
    assert one["probabilities"] == model.predict_proba(rows.head(1)).tolist()
