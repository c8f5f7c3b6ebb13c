"""The prediction service in process: every endpoint, every refusal, on every metadata backend.

The fixtures here (``serve``, ``live``, ``plans``, ``FakeLog``) are shared
with the other ``test_service_*`` modules, which import them.
"""

from __future__ import annotations

import io
import json
import pickle
import re
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi import FastAPI

import mlstage
from mlstage import config
from mlstage.serving.app import PUBLIC_PATHS, create_serving_app, open_routes
from mlstage.serving.options import ServingOptions

with warnings.catch_warnings():
    # Starlette suggests httpx2 for its TestClient; httpx is what mlstage ships with.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

Serve = Callable[..., httpx.Client]
UUID_HEX = re.compile(r"[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}")


class FakeLog:
    """Stands in for the request log: keeps the records, counts nothing as dropped."""

    def __init__(self) -> None:
        self.records: list[Any] = []
        self.dropped = 0

    def log(self, record: Any) -> None:
        self.records.append(record)

    def close(self) -> None:
        pass


def options(**overrides: Any) -> ServingOptions:
    return ServingOptions(**{"log_requests": False, **overrides})


@pytest.fixture
def serve() -> Iterator[Serve]:
    """``serve(target, **options)``: an in-process client of a new serving app."""
    made: list[tuple[FastAPI, TestClient]] = []

    def make(target: str, **overrides: Any) -> httpx.Client:
        app = create_serving_app(target, options=options(**overrides))
        client = TestClient(app, raise_server_exceptions=False)
        made.append((app, client.__enter__()))
        return client

    yield make
    for app, client in made:
        client.__exit__(None, None, None)
        app.state.service.close()


@pytest.fixture
def live() -> Iterator[Callable[..., tuple[str, FastAPI]]]:
    """``live(target, **options)``: the app on a real 127.0.0.1 socket; (base URL, app)."""
    from mlstage.server.testing import start_server

    stops: list[Callable[[], None]] = []

    def make(target: str, **overrides: Any) -> tuple[str, FastAPI]:
        app = create_serving_app(target, options=options(**overrides))
        url, stop = start_server(config.get_settings(), app=app)
        stops.append(stop)
        stops.append(app.state.service.close)
        return url, app

    yield make
    for stop in stops:
        stop()


@pytest.fixture
def plans(project: Path) -> pd.DataFrame:
    """Model 'plans' v1: a categorical, an integer and a float column; its training frame."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "plan": rng.choice(["basic", "pro", "team"], 200),
            "tenure": rng.integers(1, 60, 200),
            "spend": rng.normal(50, 10, 200),
        }
    )
    y = (X.plan == "pro") | (X.tenure > 40)
    encode = ColumnTransformer([("plan", OneHotEncoder(), ["plan"])], remainder="passthrough")
    model = make_pipeline(encode, LogisticRegression(max_iter=1000)).fit(X, y)
    with mlstage.start_run():
        uri = mlstage.log_model(model, "model", input_example=X).model_uri
    mlstage.register_model(uri, "plans")
    return X


def error(response: httpx.Response) -> tuple[int, str, str]:
    """Status, code and message; v2 paths use the protocol's ``{"error": message, "code"}``."""
    body = response.json()
    if response.url.path.startswith("/v2/"):
        assert isinstance(body["error"], str), body
        return response.status_code, body["code"], body["error"]
    return response.status_code, body["error"]["code"], body["error"]["message"]


# -- answers -------------------------------------------------------------------------------


def test_predict_answers_match_the_model_row_for_row(
    churn_versions: list[int], serve: Serve, iris: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, _ = iris
    rows = X.sample(25, random_state=1)
    model = mlstage.load_model("models:/churn/3")
    client = serve("churn/3")
    by_records = client.post("/predict", json={"records": rows.to_dict("records")})
    assert by_records.status_code == 200, by_records.text
    body = by_records.json()
    assert body["predictions"] == model.predict(rows).tolist()
    assert np.allclose(body["probabilities"], model.predict_proba(rows))
    assert body["classes"] == [0, 1, 2]
    assert (body["model"], body["version"], body["deployment"], body["route"]) == (
        "churn",
        3,
        None,
        "primary",
    )
    assert len(set(body["prediction_ids"])) == 25
    assert all(UUID_HEX.fullmatch(i) for i in body["prediction_ids"])
    # Columns in another order, as "columns" + "data"; and bare rows in signature order.
    shuffled = rows[["petal_width", "sepal_length", "petal_length", "sepal_width"]]
    by_table = client.post(
        "/predict", json={"columns": list(shuffled.columns), "data": shuffled.values.tolist()}
    ).json()
    assert by_table["predictions"] == body["predictions"]
    bare = client.post("/predict", json={"data": rows.values.tolist()}).json()
    assert bare["probabilities"] == by_table["probabilities"]
    # Integers where floats were seen are fine; numeric ranges are drift, not errors.
    wild = client.post(
        "/predict",
        json={
            "records": [
                {"sepal_length": 500, "sepal_width": -3, "petal_length": 1e6, "petal_width": 0}
            ]
        },
    )
    assert wild.status_code == 200


def test_alias_targets_resolve_once_at_start(churn_versions: list[int], serve: Serve) -> None:
    mlstage.set_alias("churn", "champion", 2)
    client = serve("churn@champion")
    row = {"sepal_length": 5.0, "sepal_width": 3.0, "petal_length": 1.5, "petal_width": 0.2}
    assert client.post("/predict", json={"records": [row]}).json()["version"] == 2
    assert serve("models:/churn@champion").get("/ready").json()["versions"] == [2]


def test_csv_and_parquet_bodies_and_csv_answers(
    churn_versions: list[int], serve: Serve, iris: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, _ = iris
    rows = X.head(6)
    expected = mlstage.load_model("models:/churn/1").predict(rows).tolist()
    client = serve("churn/1")
    csv_body = rows.to_csv(index=False).encode()
    answer = client.post("/predict", content=csv_body, headers={"content-type": "text/csv"})
    assert answer.json()["predictions"] == expected
    buffer = io.BytesIO()
    rows.to_parquet(buffer)
    for media in ("application/vnd.apache.parquet", "application/x-parquet"):
        answer = client.post("/predict", content=buffer.getvalue(), headers={"content-type": media})
        assert answer.json()["predictions"] == expected, media
    scored = client.post(
        "/predict",
        content=csv_body,
        headers={"content-type": "text/csv; charset=utf-8", "accept": "text/csv"},
    )
    assert scored.headers["content-type"].startswith("text/csv")
    table = pd.read_csv(io.StringIO(scored.text))
    assert list(table.columns) == [
        *rows.columns,
        "prediction",
        "prediction_id",
        "probability_0",
        "probability_1",
        "probability_2",
    ]
    assert table["prediction"].tolist() == expected
    assert np.allclose(table[list(rows.columns)], rows)
    assert np.allclose(table.filter(like="probability_").sum(axis=1), 1)


# -- refusals --------------------------------------------------------------------------------


def test_rows_that_do_not_fit_the_signature_are_422_naming_row_and_column(
    plans: pd.DataFrame, serve: Serve
) -> None:
    client = serve("plans/1")
    good = {"plan": "pro", "tenure": 12, "spend": 40.5}
    assert client.post("/predict", json={"records": [good]}).status_code == 200
    cases = [
        ({"plan": "pro", "tenure": 12}, "row 1: missing column(s) 'spend'"),
        ({**good, "coupon": "x"}, "row 1: unexpected column(s) 'coupon'"),
        ({**good, "spend": "abc"}, "row 1: column 'spend' must be float, got str 'abc'"),
        ({**good, "tenure": 2.5}, "row 1: column 'tenure' must be integer, got float 2.5"),
        ({**good, "spend": True}, "row 1: column 'spend' must be float, got bool True"),
        ({**good, "plan": "gold"}, "row 1: column 'plan' must be one of 'basic', 'pro', 'team'"),
        ({**good, "plan": 3}, "row 1: column 'plan' must be string, got int 3"),
        ({**good, "spend": None}, "row 1: column 'spend' has no value"),
        ({**good, "spend": float("inf")}, "row 1: column 'spend' must be a finite number"),
        ("pro", "row 1: must be an object of column: value, got str"),
    ]
    for bad, message in cases:
        answer = client.post(
            "/predict",
            content=json.dumps({"records": [good, bad]}),
            headers={"content-type": "application/json"},
        )
        status, code, text = error(answer)
        assert (status, code) == (422, "INVALID_INPUT"), (bad, answer.text)
        assert text.startswith(message), (bad, text)
    status, code, text = error(
        client.post("/predict", json={"columns": ["plan", "tenure"], "data": [["pro", 3]]})
    )
    assert (status, text) == (
        422,
        "missing column(s) 'spend'; the model takes 'plan', 'tenure', 'spend'",
    )
    status, _, text = error(client.post("/predict", json={"data": [["pro", 3, 1.0], ["pro", 3]]}))
    assert (status, text) == (422, "row 1: has 2 values, expected 3 (one per column, in order)")
    csv_body = b"plan,tenure,spend\npro,3,1.5\nteam,x,2\n"
    status, _, text = error(
        client.post("/predict", content=csv_body, headers={"content-type": "text/csv"})
    )
    assert (status, text) == (422, "row 1: column 'tenure' must be integer, got str 'x'")


def test_badly_formed_bodies_are_400(churn_versions: list[int], serve: Serve) -> None:
    client = serve("churn/1")
    json_headers = {"content-type": "application/json"}
    cases = [
        (b"{not json", "body is not valid JSON"),
        (b"[" * 10_000 + b"]" * 10_000, "body: JSON nested too deeply"),
        (b'{"records": []}', "the request has no rows"),
        (b'{"rows": []}', "unknown field(s) 'rows'"),
        (b'{"records": {}}', '"records" must be a list'),
        (b'{"records": [{}], "key": 7}', "key must be a string"),
        (b"[1, 2]", "body must be a JSON object"),
    ]
    for body, message in cases:
        started = time.perf_counter()
        status, code, text = error(client.post("/predict", content=body, headers=json_headers))
        assert (status, code) == (400, "INVALID_INPUT"), body[:20]
        assert text.startswith(message), text
        assert time.perf_counter() - started < 0.2
    status, _, text = error(
        client.post("/predict", content=b"\xff\xfe", headers={"content-type": "text/csv"})
    )
    assert (status, text) == (400, text) and "not UTF-8" in text
    status, _, text = error(
        client.post(
            "/predict", content=b"PAR1junk", headers={"content-type": "application/x-parquet"}
        )
    )
    assert status == 400 and "not a readable Parquet file" in text


def test_other_content_types_are_415_and_never_parsed(
    churn_versions: list[int], serve: Serve, tmp_path: Path
) -> None:
    sentinel = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self) -> Any:
            return (open, (str(sentinel), "w"))

    payload = pickle.dumps(Exploit())
    client = serve("churn/1")
    kinds = [
        "application/x-python-pickle",
        "application/octet-stream",
        "application/python-pickle",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=" + "\\" * 50 + "a",
        "application/vnd.mlflow.pickle",
    ]
    paths = [
        "/predict",
        "/v2/models/churn/infer",
        "/v2/models/churn/versions/1/infer",
        "/",
        "/nope",
    ]
    for path in paths:
        for kind in kinds:
            answer = client.post(path, content=payload, headers={"content-type": kind})
            status, code, text = error(answer)
            assert (status, code) == (415, "UNSUPPORTED_MEDIA_TYPE"), (path, kind)
            assert "is not accepted" in text
    # The v2 API takes JSON only; CSV and Parquet are for /predict.
    answer = client.post(
        "/v2/models/churn/infer", content=b"a,b\n1,2\n", headers={"content-type": "text/csv"}
    )
    assert error(answer)[:2] == (415, "UNSUPPORTED_MEDIA_TYPE")
    assert not sentinel.exists()


def test_bodies_and_row_counts_over_the_limits_are_413(
    churn_versions: list[int], serve: Serve
) -> None:
    client = serve("churn/1", max_body_bytes=4096, max_rows=10)
    row = {"sepal_length": 5.0, "sepal_width": 3.0, "petal_length": 1.5, "petal_width": 0.2}
    started = time.perf_counter()
    huge = client.post(
        "/predict",
        content=b"{" + b" " * 100_000 + b"}",
        headers={"content-type": "application/json"},
    )
    assert error(huge)[:2] == (413, "PAYLOAD_TOO_LARGE")
    assert time.perf_counter() - started < 0.2

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(100):
            yield b" " * 1000

    streamed = client.post(
        "/predict", content=chunks(), headers={"content-type": "application/json"}
    )
    assert error(streamed)[:2] == (413, "PAYLOAD_TOO_LARGE")
    status, _, text = error(client.post("/predict", json={"records": [row] * 11}))
    assert (status, text.split(";")[0]) == (
        413,
        "the request has 11 rows, over the limit of 10 per request",
    )
    csv_body = ("a\n" + "1\n" * 11).encode()
    assert (
        client.post("/predict", content=csv_body, headers={"content-type": "text/csv"}).status_code
        == 413
    )
    buffer = io.BytesIO()
    pd.DataFrame([row] * 11).to_parquet(buffer)
    answer = client.post(
        "/predict", content=buffer.getvalue(), headers={"content-type": "application/x-parquet"}
    )
    assert error(answer)[:2] == (413, "PAYLOAD_TOO_LARGE")
    assert client.post("/predict", json={"records": [row] * 10}).status_code == 200


# -- probes, metrics, routes -------------------------------------------------------------------


def test_health_ready_and_metrics(churn_versions: list[int], serve: Serve) -> None:
    client = serve("churn/2")
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready").json()
    assert (ready["status"], ready["model"], ready["versions"]) == ("ready", "churn", [2])
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    row = {"sepal_length": 5.0, "sepal_width": 3.0, "petal_length": 1.5, "petal_width": 0.2}
    client.post("/predict", json={"records": [row, row]})
    client.post("/predict", json={"records": [{"oops": 1}]})
    client.post("/predict", content=b"x", headers={"content-type": "text/plain"})
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    expected = [
        'mlstage_serving_requests_total{endpoint="/predict",method="POST",status="200"} 1.0',
        'mlstage_serving_requests_total{endpoint="/predict",method="POST",status="422"} 1.0',
        'mlstage_serving_errors_total{code="INVALID_INPUT",endpoint="/predict"} 1.0',
        'mlstage_serving_predictions_total{model="churn",route="primary",version="2"} 2.0',
        'mlstage_serving_batch_rows_count{model="churn",version="2"} 1.0',
        'mlstage_serving_model_seconds_count{model="churn",version="2"} 1.0',
        'mlstage_serving_request_seconds_count{endpoint="/predict"} 2.0',
        'mlstage_serving_loaded_versions{model="churn",version="2"} 1.0',
        "mlstage_serving_request_log_dropped 0.0",
        "mlstage_serving_request_log_failed 0.0",
    ]
    for line in expected:
        assert line in text, line
    assert re.search(
        r'mlstage_serving_requests_total\{endpoint="[^"]*",method="POST",status="415"\} 1.0', text
    )


def test_v2_metadata_and_unknown_models(plans: pd.DataFrame, serve: Serve) -> None:
    client = serve("plans/1")
    meta = client.get("/v2/models/plans").json()
    assert meta["name"] == "plans" and meta["versions"] == ["1"]
    assert meta["inputs"] == [
        {"name": "plan", "datatype": "BYTES", "shape": [-1]},
        {"name": "tenure", "datatype": "INT64", "shape": [-1]},
        {"name": "spend", "datatype": "FP64", "shape": [-1]},
    ]
    assert [o["name"] for o in meta["outputs"]] == ["predict", "predict_proba", "prediction_id"]
    assert meta["outputs"][0]["datatype"] == "BOOL"
    assert client.get("/v2/models/plans/versions/1").json() == meta
    assert client.get("/v2/models/plans/ready").json() == {"name": "plans", "ready": True}
    assert error(client.get("/v2/models/churn"))[:2] == (404, "NOT_FOUND")
    assert error(client.get("/v2/models/plans/versions/7/ready"))[:2] == (404, "NOT_FOUND")
    infer = {
        "inputs": [
            {"name": "plan", "shape": [2], "datatype": "BYTES", "data": ["pro", "basic"]},
            {"name": "tenure", "shape": [2, 1], "datatype": "INT64", "data": [[3], [50]]},
            {"name": "spend", "shape": [2], "datatype": "FP32", "data": [10, 20.5]},
        ],
        "id": "req-1",
    }
    answer = client.post("/v2/models/plans/infer", json=infer).json()
    assert (answer["model_name"], answer["model_version"], answer["id"]) == ("plans", "1", "req-1")
    predict = answer["outputs"][0]
    assert (predict["name"], predict["datatype"], predict["shape"]) == ("predict", "BOOL", [2])
    assert predict["data"] == [True, True]
    assert answer["outputs"][1]["shape"] == [2, 2]
    bad = {
        **infer,
        "inputs": [{**infer["inputs"][0], "data": ["gold", "pro"]}, *infer["inputs"][1:]],
    }
    status, code, text = error(client.post("/v2/models/plans/infer", json=bad))
    assert (status, code) == (422, "INVALID_INPUT") and text.startswith("row 0: column 'plan'")
    wrong = {"inputs": [{"name": "plan", "shape": [1], "datatype": "FP32", "data": ["x"]}]}
    assert "datatype FP32 holds str" in error(client.post("/v2/models/plans/infer", json=wrong))[2]


def test_every_route_checks_the_caller_unless_public(churn_versions: list[int]) -> None:
    from mlstage.server.auth import is_protected, live_routes

    app = create_serving_app("churn/1", options=options())
    try:
        assert open_routes(app) == []
        paths = {getattr(r, "path", None): is_protected(r) for r in live_routes(app)}
        for path in ("/predict", "/v2/models/{name}/infer", "/v2/models/{name}", "/"):
            assert paths[path] is True, path
        for path in ("/health", "/ready", "/metrics", "/v2/health/live", "/v2/health/ready"):
            assert path in PUBLIC_PATHS and paths[path] is False

        @app.post("/debug/eval")
        def leak() -> None: ...

        assert open_routes(app) == ["POST '/debug/eval'"]
    finally:
        app.state.service.close()


def test_unknown_targets_are_refused_clearly(churn_versions: list[int]) -> None:
    from mlstage.errors import InvalidInput, NotFound

    with pytest.raises(NotFound, match="no version 9"):
        create_serving_app("churn/9", options=options())
    with pytest.raises(InvalidInput, match="names no version or alias"):
        create_serving_app("churn", options=options())
    with pytest.raises(NotFound, match="deployment 'ghost'"):
        create_serving_app("deployment:ghost", options=options())


def test_a_regressor_gives_no_probabilities(
    project: Path, serve: Serve, iris: tuple[pd.DataFrame, pd.Series]
) -> None:
    from sklearn.linear_model import LinearRegression

    X = iris[0].copy()  # the fixture is shared by the session
    target = X.pop("petal_width")
    fitted = LinearRegression().fit(X, target)
    with mlstage.start_run():
        uri = mlstage.log_model(fitted, "model", input_example=X.head()).model_uri
    mlstage.register_model(uri, "width")
    client = serve("width/1")
    body = client.post("/predict", json={"records": X.head(3).to_dict("records")}).json()
    assert np.allclose(body["predictions"], fitted.predict(X.head(3)))
    assert (body["probabilities"], body["classes"]) == (None, None)
    scored = client.post(
        "/predict", json={"records": X.head(2).to_dict("records")}, headers={"accept": "text/csv"}
    )
    assert (
        scored.text.splitlines()[0]
        == "sepal_length,sepal_width,petal_length,prediction,prediction_id"
    )
    meta = client.get("/v2/models/width").json()
    assert [o["name"] for o in meta["outputs"]] == ["predict", "prediction_id"]
    infer = {
        "inputs": [
            {"name": c, "shape": [2], "datatype": "FP64", "data": X[c].head(2).tolist()}
            for c in X.columns
        ]
    }
    outputs = client.post("/v2/models/width/infer", json=infer).json()["outputs"]
    assert [(o["name"], o["datatype"]) for o in outputs] == [("predict", "FP64")]
