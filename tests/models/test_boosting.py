"""XGBoost and LightGBM through their scikit-learn API: saved with skops, loaded without pickle.

Each test skips where its library is not installed (both are in the ``dev`` extra).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mlstage
from mlstage.errors import InvalidInput
from mlstage.models.flavors.sklearn import MODEL_FILE, VETTED_TYPES

LIBRARIES = ["xgboost", "lightgbm"]


def fitted(library: str, iris: tuple[pd.DataFrame, pd.Series], kind: str = "classifier") -> Any:
    """A small booster of ``library`` fitted on iris (a regressor predicts petal width)."""
    module = pytest.importorskip(library, reason=f"{library} is not installed (dev extra)")
    X, y = iris
    if kind == "regressor":
        X, y = X.drop(columns="petal_width"), X["petal_width"]
    if library == "xgboost":
        cls = module.XGBClassifier if kind == "classifier" else module.XGBRegressor
        model = cls(n_estimators=8, max_depth=3, n_jobs=1, random_state=0)
    else:
        cls = module.LGBMClassifier if kind == "classifier" else module.LGBMRegressor
        model = cls(n_estimators=8, num_leaves=7, n_jobs=1, random_state=0, verbose=-1)
    return model.fit(X, y)


@pytest.mark.parametrize("library", LIBRARIES)
def test_boosted_classifier_round_trips_by_alias(
    backend: str, library: str, iris: tuple[pd.DataFrame, pd.Series]
) -> None:
    model = fitted(library, iris)
    X, _ = iris
    with mlstage.start_run():
        uri = mlstage.log_model(model, "model", input_example=X.head(10)).model_uri
    version = mlstage.register_model(uri, f"{library}-iris")
    mlstage.set_alias(f"{library}-iris", "champion", version.version)

    loaded = mlstage.load_model(f"models:/{library}-iris@champion")
    assert type(loaded.model) is type(model)
    assert loaded.manifest.flavor == "sklearn"
    assert (loaded.predict(X) == model.predict(X)).all()
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), rtol=1e-6)
    assert loaded.signature is not None
    assert loaded.signature.input_names == list(X.columns)


@pytest.mark.parametrize("library", LIBRARIES)
def test_boosted_regressor_round_trips(
    project: Path, library: str, iris: tuple[pd.DataFrame, pd.Series]
) -> None:
    model = fitted(library, iris, "regressor")
    X = iris[0].drop(columns="petal_width")
    with mlstage.start_run():
        uri = mlstage.log_model(model, "model", input_example=X.head(5)).model_uri
    np.testing.assert_allclose(mlstage.load_model(uri).predict(X), model.predict(X), rtol=1e-6)


@pytest.mark.parametrize("library", LIBRARIES)
def test_boosted_model_signature_names_the_missing_column(
    project: Path, library: str, iris: tuple[pd.DataFrame, pd.Series]
) -> None:
    model = fitted(library, iris)
    X, _ = iris
    with mlstage.start_run():
        uri = mlstage.log_model(model, "model", input_example=X.head(10)).model_uri
    loaded = mlstage.load_model(uri)
    with pytest.raises(InvalidInput, match="petal_width"):
        loaded.predict(X.drop(columns="petal_width"))


@pytest.mark.parametrize("library", LIBRARIES)
def test_boosted_model_file_needs_only_vetted_types(
    library: str, iris: tuple[pd.DataFrame, pd.Series]
) -> None:
    """Every type skops does not trust by itself in such a file is on mlstage's vetted list."""
    import skops.io

    from mlstage.models.flavors.sklearn import SklearnFlavor

    files, _ = SklearnFlavor().save(fitted(library, iris))
    untrusted = set(skops.io.get_untrusted_types(data=files[MODEL_FILE]))
    assert untrusted, "skops trusts these types by itself now: revisit VETTED_TYPES"
    assert untrusted <= set(VETTED_TYPES)


@pytest.mark.parametrize("library", LIBRARIES)
def test_boosted_classifier_is_served_with_probabilities(
    project: Path, library: str, iris: tuple[pd.DataFrame, pd.Series]
) -> None:
    from mlstage.serving.app import create_serving_app
    from mlstage.serving.options import ServingOptions

    model = fitted(library, iris)
    X, _ = iris
    with mlstage.start_run():
        uri = mlstage.log_model(model, "model", input_example=X).model_uri
    mlstage.register_model(uri, "boosted")
    rows = X.sample(7, random_state=3)
    app = create_serving_app("boosted/1", options=ServingOptions(log_requests=False))
    try:
        with warnings.catch_warnings():
            # Starlette suggests httpx2 for its TestClient; httpx is what mlstage ships with.
            warnings.simplefilter("ignore")
            from fastapi.testclient import TestClient

            with TestClient(app) as client:
                answer = client.post("/predict", json={"records": rows.to_dict("records")})
                missing = client.post(
                    "/predict",
                    json={"records": rows.drop(columns="sepal_width").to_dict("records")},
                )
    finally:
        app.state.service.close()
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["predictions"] == model.predict(rows).tolist()
    np.testing.assert_allclose(body["probabilities"], model.predict_proba(rows), rtol=1e-6)
    assert missing.status_code == 422
    assert "sepal_width" in missing.text


@pytest.mark.parametrize("library", LIBRARIES)
def test_the_manifest_requires_the_boosting_library_even_inside_a_pipeline(
    project: Path, library: str, iris: tuple[pd.DataFrame, pd.Series]
) -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = iris
    booster = fitted(library, iris)
    model = make_pipeline(StandardScaler(), type(booster)(**booster.get_params())).fit(X, y)
    with mlstage.start_run():
        info = mlstage.log_model(model, "model", input_example=X.head(5))
    pinned = [r.split("==")[0] for r in info.manifest.requirements]
    assert any(name in (library, f"{library}-cpu") for name in pinned), pinned
    assert "scikit-learn" in pinned
