"""A forest walked flat answers exactly as scikit-learn does."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
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
from mlstage.errors import InvalidInput
from mlstage.models import forest
from mlstage.models.forest import compile_forest


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


# -- a logged forest: load_model predicts from its flat arrays ----------------------------------


def log_and_register(model: Any, example: Any, name: str) -> str:
    with mlstage.start_run():
        uri = mlstage.log_model(model, "model", input_example=example).model_uri
    mlstage.register_model(uri, name)
    return f"models:/{name}/1"


def test_a_logged_forest_answers_from_its_arrays_on_every_backend(
    backend: str, data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = data
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(12)])
    labels = np.array(["low", "mid", "high"], dtype=object)[y]  # scikit-learn keeps objects
    model = RandomForestClassifier(n_estimators=20, random_state=0).fit(frame, labels)
    loaded = mlstage.load_model(log_and_register(model, frame.head(20), "woods"))
    assert loaded.forest is not None
    rows = pd.concat([frame.iloc[:60], pd.DataFrame(fresh_rows(60, 5), columns=frame.columns)])
    for n in (1, 7, 120):
        predicted = loaded.predict(rows.head(n))
        assert predicted.dtype == object
        assert np.array_equal(predicted, model.predict(rows.head(n)))
        assert np.array_equal(loaded.predict_proba(rows.head(n)), model.predict_proba(rows.head(n)))
    assert loaded._build is not None  # the scikit-learn object was not needed yet
    assert type(loaded.model) is RandomForestClassifier
    assert np.array_equal(loaded.model.predict_proba(rows), model.predict_proba(rows))


def test_a_regressor_fitted_on_arrays_answers_from_its_arrays(
    project: Any, data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = data
    model = ExtraTreesRegressor(n_estimators=15, random_state=0).fit(X, X[:, 1] - y)
    loaded = mlstage.load_model(log_and_register(model, X[:10], "flow"))
    assert loaded.forest is not None
    rows = fresh_rows(40, seed=3)
    assert np.array_equal(loaded.predict(rows), model.predict(rows))
    with pytest.raises(InvalidInput, match="gives no probabilities"):
        loaded.predict_proba(rows)


def test_what_the_arrays_do_not_take_rebuilds_the_scikit_learn_object(
    project: Any, data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = data
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)
    example = X[:10].copy()
    example[3, 4] = np.nan  # column 4 may be missing: scikit-learn's own rules then apply
    uri = log_and_register(model, example, "grove")
    big = X[: forest.MAX_ROWS + 1]
    loaded = mlstage.load_model(uri)
    assert np.array_equal(loaded.predict(big), model.predict(big))
    assert loaded._build is None  # a large batch: scikit-learn's own loop
    with_nan = X[:2].copy()
    with_nan[1, 4] = np.nan
    loaded = mlstage.load_model(uri)
    assert np.array_equal(loaded.predict_proba(with_nan), model.predict_proba(with_nan))
    assert loaded._build is None


def test_only_verified_forests_are_logged_with_arrays(
    project: Any, data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = data
    piped = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=5)).fit(X, y)
    boosted = GradientBoostingClassifier(n_estimators=5).fit(X, y)
    for i, model in enumerate((piped, boosted)):
        loaded = mlstage.load_model(log_and_register(model, X[:5], f"other-{i}"))
        assert loaded.forest is None
        assert forest.FOREST_FILE not in loaded.version.files
        assert np.array_equal(loaded.predict(X[:5]), model.predict(X[:5]))


def test_a_forest_file_with_nodes_of_other_kinds_is_loaded_at_once(
    project: Any, data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = data
    # A RandomState as random_state: skops writes a node kind the schema check does not
    # know, so load_model rebuilds the object at once (and skops' own checks apply).
    model = RandomForestClassifier(n_estimators=3, random_state=np.random.RandomState(0))
    model.fit(X, y)
    loaded = mlstage.load_model(log_and_register(model, X[:5], "seeded"))
    assert forest.FOREST_FILE in loaded.version.files
    assert loaded.forest is None
    assert loaded._build is None
    assert np.array_equal(loaded.predict(X[:9]), model.predict(X[:9]))


def test_a_fresh_process_predicts_before_importing_scikit_learn(
    project: Any, data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = data
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)
    log_and_register(model, X[:5], "quick")
    script = (
        "import sys, json, numpy as np, mlstage\n"
        "m = mlstage.load_model('models:/quick/1')\n"
        f"p = m.predict(np.asarray({X[:3].tolist()!r}))\n"
        "before = 'sklearn' in sys.modules\n"
        "name = type(m.model).__name__\n"
        "print(json.dumps([p.tolist(), before, name]))\n"
    )
    # The first process of an environment notes skops' default types beside its bytecode
    # (``skops_defaults``); later ones read them there instead of importing skops.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for _ in range(2):
        out = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True,
            cwd=project, env=env,
        )  # fmt: skip
    predicted, imported_before, name = json.loads(out.stdout)
    assert predicted == model.predict(X[:3]).tolist()
    assert imported_before is False
    assert name == "RandomForestClassifier"


def test_a_malformed_forest_file_is_refused(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    flat = forest.verified_forest(RandomForestClassifier(n_estimators=3).fit(X, y))
    assert flat is not None
    assert np.array_equal(forest.read_forest(flat.to_bytes()).predict(X[:4].astype(np.float32)),
                          flat.predict(X[:4].astype(np.float32)))  # fmt: skip

    def rewritten(**changes: Any) -> bytes:
        arrays = {**flat.arrays, **changes}
        out = io.BytesIO()
        np.savez(out, shape=np.array([12, 1]), **arrays)
        return out.getvalue()

    left = flat.arrays["left"].copy()
    left[left > 0] += 10**6
    feature = flat.arrays["feature"].copy()
    feature[feature >= 0] = 12
    cases = {
        "outside its tree": rewritten(left=left),
        "feature the forest does not have": rewritten(feature=feature),
        "one entry per node": rewritten(threshold=flat.arrays["threshold"][:-1]),
        "not a forest file": rewritten(classes=np.array([{"a": 1}], dtype=object)),
        "not a forest file: ": b"PK\x03\x04 not a zip",
    }
    for problem, payload in cases.items():
        with pytest.raises(InvalidInput, match=problem):
            forest.read_forest(payload)
