"""The model package: each flavor round-trips, signatures are enforced, tampering is caught."""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mlstage
from mlstage.errors import IntegrityError, InvalidInput
from mlstage.models.manifest import MANIFEST_FILE, load_manifest


def logged(model: Any, example: Any, **kwargs: Any) -> str:
    with mlstage.start_run():
        return mlstage.log_model(model, "model", input_example=example, **kwargs).model_uri


@pytest.mark.parametrize("fixture", ["forest", "pipeline"])
def test_sklearn_round_trip_by_run_and_registry(
    backend: str,
    fixture: str,
    iris: tuple[pd.DataFrame, pd.Series],
    request: pytest.FixtureRequest,
) -> None:
    model = request.getfixturevalue(fixture)
    X, _ = iris
    uri = logged(model, X.head(10))
    expected = model.predict(X)
    assert (mlstage.load_model(uri).predict(X) == expected).all()
    version = mlstage.register_model(uri, "iris")
    mlstage.set_alias("iris", "champion", version.version)
    for address in ("models:/iris@champion", f"models:/iris/{version.version}", "iris@champion"):
        loaded = mlstage.load_model(
            address if address.startswith("models:/") else f"models:/{address}"
        )
        assert (loaded.predict(X) == expected).all()
        assert loaded.version.version == version.version


def test_manifest_records_signature_lineage_and_requirements(
    project: Path, forest: Any, iris: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, y = iris
    with mlstage.start_run() as run:
        mlstage.log_input(X, name="iris-train")
        mlstage.log_metric("accuracy", 0.97)
        info = mlstage.log_model(forest, "model", input_example=X)
    manifest = info.manifest
    assert manifest.flavor == "sklearn"
    assert manifest.model_class == "sklearn.ensemble._forest.RandomForestClassifier"
    assert manifest.run_id == run.run_id
    assert manifest.metrics == {"accuracy": 0.97}
    assert [d.name for d in manifest.datasets] == ["iris-train"]
    assert any(r.startswith("scikit-learn==") for r in manifest.requirements)
    assert any(r.startswith("skops==") for r in manifest.requirements)
    spec = {c.name: c for c in manifest.signature.inputs}
    assert spec["petal_length"].type == "float"
    assert spec["petal_length"].min == X["petal_length"].min()
    assert spec["petal_length"].max == X["petal_length"].max()
    assert manifest.signature.outputs[0].type == "integer"
    from mlstage.tracking.store import get_tracking_store

    stored = get_tracking_store().read_artifact(run.run_id, f"model/{MANIFEST_FILE}")
    assert load_manifest(stored) == manifest


def test_signature_is_enforced_with_the_column_named(
    project: Path, forest: Any, iris: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, _ = iris
    model = mlstage.load_model(logged(forest, X.head()))
    with pytest.raises(InvalidInput, match="input is missing column\\(s\\) 'petal_width'"):
        model.predict(X.drop(columns=["petal_width"]))
    with pytest.raises(
        InvalidInput, match="column 'sepal_length' must be float, got str value 'x'"
    ):
        model.predict(X.head(2).assign(sepal_length=["x", "y"]))
    with pytest.raises(InvalidInput, match="column 'sepal_width' has 1 missing value"):
        model.predict(X.head(2).assign(sepal_width=[1.0, None]))
    # Extra columns are dropped, order restored, integers accepted where floats were seen.
    shuffled = X.head(3)[list(reversed(X.columns))].assign(extra=1, petal_width=[1, 2, 3])
    assert len(model.predict(shuffled)) == 3
    assert len(model.predict(X.head(3).to_dict("records"))) == 3


def test_models_fitted_on_arrays_take_arrays(
    project: Path, iris: tuple[pd.DataFrame, pd.Series]
) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    model = LogisticRegression(max_iter=500).fit(X.to_numpy(), y)
    loaded = mlstage.load_model(logged(model, X.to_numpy()[:5]))
    assert (loaded.predict(X.to_numpy()) == model.predict(X.to_numpy())).all()
    assert len(loaded.predict([[5.1, 3.5, 1.4, 0.2]])) == 1
    with pytest.raises(InvalidInput, match="missing column\\(s\\) '3'"):
        loaded.predict(np.zeros((2, 3)))
    # A float matrix of the right width goes to the model as it is; a NaN where training
    # had none, or wider rows, still get the full check and its message.
    from mlstage.models.signature import enforce

    matrix = X.to_numpy()[:4]
    assert enforce(loaded.signature, matrix) is matrix
    with_nan = matrix.copy()
    with_nan[1, 2] = np.nan
    with pytest.raises(InvalidInput, match="column '2' has 1 missing value"):
        loaded.predict(with_nan)
    assert enforce(loaded.signature, np.c_[matrix, matrix[:, :1]]).shape == (4, 4)


def test_a_tampered_byte_fails_the_hash_check(
    project: Path, forest: Any, iris: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, _ = iris
    uri = logged(forest, X.head())
    version = mlstage.register_model(uri, "iris")
    from mlstage.tracking.store import get_tracking_store

    blobs = get_tracking_store().artifacts
    blob = Path(blobs._key(version.files["model.skops"]))
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    for address in (uri, "models:/iris/1"):
        with pytest.raises(IntegrityError, match="corrupt"):
            mlstage.load_model(address)


def test_pickle_files_are_refused_by_default(
    project: Path, forest: Any, iris: tuple[pd.DataFrame, pd.Series], tmp_path: Path
) -> None:
    X, _ = iris
    sentinel = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self) -> Any:
            return (open, (str(sentinel), "w"))

    payload = tmp_path / "weights.bin"
    payload.write_bytes(pickle.dumps(Exploit()))
    with mlstage.start_run(), pytest.raises(InvalidInput, match="it is a pickle"):
        mlstage.log_model(forest, "model", artifacts={"weights": payload})
    # A hand-made model folder with a pickle inside: refused at registration and at load.
    uri = logged(forest, X.head())
    run_id = uri.split("/")[1]
    from mlstage.tracking.store import get_tracking_store

    store = get_tracking_store()
    buffer = io.BytesIO()
    np.savez(buffer, a=np.array([Exploit()], dtype=object))
    store.log_artifact(run_id, "model/extra.npz", buffer.getvalue())
    with pytest.raises(InvalidInput, match="model file 'extra.npz' is refused"):
        mlstage.register_model(uri, "evil")
    with pytest.raises(InvalidInput, match="is refused"):
        mlstage.load_model(uri)
    assert not sentinel.exists()


def test_untrusted_skops_types_are_refused(
    project: Path, iris: tuple[pd.DataFrame, pd.Series], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.ensemble import RandomForestClassifier

    from mlstage.models.flavors import sklearn as flavor

    X, y = iris
    uri = logged(RandomForestClassifier(n_estimators=2).fit(X, y), X.head())
    monkeypatch.setattr(flavor, "VETTED_TYPES", ())
    with pytest.raises(InvalidInput, match="not trusted: sklearn.tree._tree.Tree"):
        mlstage.load_model(uri)


def test_python_models_load_only_from_the_registry(
    project: Path, iris: tuple[pd.DataFrame, pd.Series], tmp_path: Path
) -> None:
    from tests.models.model_code import Threshold

    X, _ = iris
    scale = tmp_path / "scale.txt"
    scale.write_text("2.0")
    uri = logged(Threshold("petal_length", 5.0), X.head(), artifacts={"scale": scale})
    with pytest.raises(InvalidInput, match="register it and load it from the registry"):
        mlstage.load_model(uri)
    version = mlstage.register_model(uri, "threshold")
    assert version.flavor == "python"
    loaded = mlstage.load_model("models:/threshold/1")
    expected = (X["petal_length"] * 2.0 > 5.0).astype(int).to_numpy()
    assert (loaded.predict(X) == expected).all()


def test_python_models_defined_in_main_are_refused(project: Path) -> None:
    from mlstage.models import PythonModel

    Local = type("Local", (PythonModel,), {"__module__": "__main__"})
    with mlstage.start_run(), pytest.raises(InvalidInput, match="define Local in a module file"):
        mlstage.log_model(Local(), "model")


def test_unsupported_objects_are_refused(project: Path) -> None:
    with mlstage.start_run(), pytest.raises(InvalidInput, match="cannot save a builtins.dict"):
        mlstage.log_model({"weights": [1, 2]}, "model")
