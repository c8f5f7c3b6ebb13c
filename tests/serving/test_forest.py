"""A served forest is walked flat, and answers exactly as scikit-learn does."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mlstage
from mlstage.serving import forest
from mlstage.serving.forest import compile_forest
from tests.serving import test_service

serve = test_service.serve  # the fixture


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return make_classification(
        n_samples=1500, n_features=12, n_informative=6, n_classes=3, random_state=3
    )


def fresh_rows(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(scale=2.0, size=(n, 12))


@pytest.mark.parametrize(
    "estimator",
    [
        RandomForestClassifier(n_estimators=40, random_state=0),
        RandomForestClassifier(n_estimators=25, max_depth=4, min_samples_leaf=5, random_state=1),
        ExtraTreesClassifier(n_estimators=30, random_state=0),
    ],
    ids=["forest", "shallow", "extra-trees"],
)
def test_classifiers_match_scikit_learn_bit_for_bit(
    estimator: Any, data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = data
    model = estimator.fit(X, y)
    predict = compile_forest(model)
    assert predict is not None
    rows = np.vstack([X[:200], fresh_rows(200, seed=7)])
    for n in (1, 2, 17, forest.MAX_ROWS):
        assert np.array_equal(predict(rows[:n]), model.predict_proba(rows[:n]))
    for i in range(0, 400, 13):  # single rows, as a service sees them
        assert np.array_equal(predict(rows[i : i + 1]), model.predict_proba(rows[i : i + 1]))


@pytest.mark.parametrize("kind", [RandomForestRegressor, ExtraTreesRegressor])
def test_regressors_match_scikit_learn_bit_for_bit(
    kind: Any, data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = data
    model = kind(n_estimators=30, random_state=0).fit(X, X[:, 0] * 2.5 + y)
    predict = compile_forest(model)
    assert predict is not None
    rows = fresh_rows(60, seed=11)
    assert np.array_equal(predict(rows), model.predict(rows))
    assert np.array_equal(predict(rows[:1]), model.predict(rows[:1]))


def test_what_the_flat_walk_does_not_take_goes_to_scikit_learn(
    data: tuple[np.ndarray, np.ndarray],
) -> None:
    X, y = data
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)
    predict = compile_forest(model)
    assert predict is not None
    seen: list[Any] = []
    real = model.predict_proba

    def recorded(x: Any) -> Any:
        seen.append(x)
        return real(x)

    model.predict_proba = recorded  # type: ignore[method-assign]
    predict = compile_forest(model)  # binds the recorder as its fallback
    assert predict is not None
    seen.clear()
    predict(X[:3])
    assert seen == []  # walked flat
    big = X[: forest.MAX_ROWS + 1]
    assert np.array_equal(predict(big), real(big))
    with_nan = X[:2].copy()
    with_nan[1, 4] = np.nan  # scikit-learn's own missing-value rules apply
    assert np.array_equal(predict(with_nan), real(with_nan))
    assert len(seen) == 2


def test_only_forests_with_one_output_are_compiled(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    assert compile_forest(GradientBoostingClassifier(n_estimators=5).fit(X, y)) is None
    piped = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=5)).fit(X, y)
    assert compile_forest(piped) is None
    two_outputs = RandomForestRegressor(n_estimators=5).fit(X, np.c_[X[:, 0], X[:, 1]])
    assert compile_forest(two_outputs) is None
    assert compile_forest(RandomForestClassifier()) is None  # not fitted


def test_a_forest_that_disagrees_on_the_probe_is_not_compiled(
    data: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    X, y = data
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    real = model.predict_proba
    monkeypatch.setattr(model, "predict_proba", lambda x: real(x) * 0.5)
    assert compile_forest(model) is None


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
