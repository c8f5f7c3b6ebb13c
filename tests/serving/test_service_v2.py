"""The Open Inference Protocol v2 with a real client library: tritonclient over a real socket."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi import FastAPI

import mlstage
from tests.serving import test_service

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # gevent and tritonclient warn about their own deprecations
    import tritonclient.http as triton
    from tritonclient.utils import InferenceServerException

Live = Callable[..., tuple[str, FastAPI]]
live = test_service.live  # the fixture
pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def client_for(url: str) -> Any:
    return triton.InferenceServerClient(url.removeprefix("http://"), connection_timeout=10)


def column_inputs(rows: pd.DataFrame, binary: bool) -> list[Any]:
    inputs = []
    for name in rows.columns:
        tensor = triton.InferInput(name, [len(rows)], "FP64")
        tensor.set_data_from_numpy(rows[name].to_numpy(dtype=np.float64), binary_data=binary)
        inputs.append(tensor)
    return inputs


def test_health_metadata_and_inference_with_tritonclient(
    backend: str, churn_versions: list[int], live: Live, iris: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, _ = iris
    rows = X.sample(30, random_state=3)
    model = mlstage.load_model("models:/churn/2")
    url, _ = live("churn/2")
    client = client_for(url)
    try:
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("churn") and client.is_model_ready("churn", "2")
        assert not client.is_model_ready("churn", "3")
        assert client.get_server_metadata()["extensions"] == ["binary_tensor_data"]
        meta = client.get_model_metadata("churn")
        assert [i["name"] for i in meta["inputs"]] == list(X.columns)
        assert {i["datatype"] for i in meta["inputs"]} == {"FP64"}

        # tritonclient's defaults: binary tensors both ways.
        result = client.infer("churn", column_inputs(rows, binary=True))
        assert result.as_numpy("predict").tolist() == model.predict(rows).tolist()
        assert np.allclose(result.as_numpy("predict_proba"), model.predict_proba(rows))
        assert result.as_numpy("predict_proba").shape == (30, 3)
        assert result.get_response()["model_version"] == "2"

        # JSON tensors, one output asked for, a pinned version, a request id.
        wanted = [triton.InferRequestedOutput("predict_proba", binary_data=False)]
        result = client.infer(
            "churn",
            column_inputs(rows, binary=False),
            model_version="2",
            outputs=wanted,
            request_id="r-7",
        )
        response = result.get_response()
        assert [o["name"] for o in response["outputs"]] == ["predict_proba"]
        assert response["id"] == "r-7"
        assert np.allclose(result.as_numpy("predict_proba"), model.predict_proba(rows))

        # Prediction ids on request, as strings (BYTES) in binary.
        ids = client.infer(
            "churn",
            column_inputs(rows.head(3), binary=True),
            outputs=[triton.InferRequestedOutput("prediction_id")],
        ).as_numpy("prediction_id")
        assert len({i.decode() for i in ids}) == 3

        with pytest.raises(InferenceServerException) as refused:
            client.infer("churn", column_inputs(rows, binary=True), model_version="9")
        assert refused.value.status() == "404"
        with pytest.raises(InferenceServerException) as refused:
            client.infer("churn", column_inputs(rows[["sepal_length", "sepal_width"]], True))
        assert refused.value.status() == "422"
        assert "missing column(s) 'petal_length', 'petal_width'" in str(refused.value)
    finally:
        client.close()


def test_an_array_model_takes_one_2d_tensor(
    backend: str, project: Any, live: Live, iris: tuple[pd.DataFrame, pd.Series]
) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    array = X.to_numpy()
    fitted = LogisticRegression(max_iter=500).fit(array, y)
    with mlstage.start_run():
        uri = mlstage.log_model(fitted, "model", input_example=array[:20]).model_uri
    mlstage.register_model(uri, "flowers")
    url, _ = live("flowers/1")
    client = client_for(url)
    try:
        meta = client.get_model_metadata("flowers")
        assert meta["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}]
        tensor = triton.InferInput("input-0", [10, 4], "FP32")
        tensor.set_data_from_numpy(array[:10].astype(np.float32))
        result = client.infer("flowers", [tensor])
        expected = fitted.predict(array[:10].astype(np.float32).astype(np.float64))
        assert result.as_numpy("predict").tolist() == expected.tolist()
    finally:
        client.close()
