"""``POST /features/online`` on the prediction service: lookups, checked input, auth."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi import FastAPI

import mlstage
from mlstage import config
from mlstage.features.store import FeatureStore
from mlstage.governance.sql_store import GovernanceStore
from mlstage.serving.app import create_serving_app
from mlstage.serving.options import ServingOptions
from mlstage.store.database import get_database
from tests.features.conftest import BASE

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture
def materialized(project: Path, repo: Path) -> FeatureStore:
    """The project's features applied and materialised into its default SQLite online store."""
    store = FeatureStore(config.load_settings(start=project))
    store.apply(repo)
    store.materialize(BASE.to_pydatetime(), (BASE + pd.Timedelta(days=30)).to_pydatetime())
    return store


@pytest.fixture
def service(project: Path, materialized: FeatureStore) -> Iterator[Callable[..., TestClient]]:
    """``service(**settings)``: an in-process client of a prediction service of this project."""
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"spend": rng.random(20) * 100, "orders": rng.integers(0, 50, 20)})
    with mlstage.start_run():
        uri = mlstage.log_model(LinearRegression().fit(X, X.spend), "model", input_example=X)
    mlstage.register_model(uri.model_uri, "scorer")
    made: list[tuple[FastAPI, TestClient]] = []

    def make(**overrides: Any) -> TestClient:
        settings = config.load_settings(start=project, **overrides)
        app = create_serving_app("scorer/1", settings, ServingOptions(log_requests=False))
        client = TestClient(app, raise_server_exceptions=False)
        made.append((app, client.__enter__()))
        return client

    yield make
    for app, client in made:
        client.__exit__(None, None, None)
        app.state.service.close()
    materialized.close()


def test_online_lookup_over_http_matches_the_store(
    service: Callable[..., TestClient], materialized: FeatureStore
) -> None:
    client = service()
    features = ["customer_stats:spend", "customer_stats:tier"]
    answer = client.post(
        "/features/online", json={"entities": {"customer_id": [1, 2, 99]}, "features": features}
    )
    assert answer.status_code == 200, answer.text
    expected = materialized.get_online_features({"customer_id": [1, 2, 99]}, features)
    assert answer.json() == expected
    assert expected["spend"][2] is None and expected["spend"][0] is not None
    full = client.post(
        "/features/online",
        json={"entities": {"customer_id": [1]}, "features": features, "full_feature_names": True},
    )
    assert list(full.json()) == ["customer_id", "customer_stats__spend", "customer_stats__tier"]


BAD_LOOKUPS: list[tuple[dict[str, Any], str]] = [
    ({"features": ["customer_stats:spend"]}, "body.entities: Field required"),
    (
        {"entities": {"customer_id": [1]}, "features": []},
        "body.features: List should have at least 1 item",
    ),
    (
        {"entities": {"customer_id": [[1]]}, "features": ["customer_stats:spend"]},
        "body.entities.customer_id.0",
    ),
    (
        {"entities": {"customer_id": [1]}, "features": ["x"], "extra": 1},
        "body.extra: Extra inputs are not permitted",
    ),
    ({"entities": {"customer_id": [1]}, "features": ["nope:spend"]}, "unknown feature view 'nope'"),
    (
        {"entities": {"cid": [1]}, "features": ["customer_stats:spend"]},
        "missing join key 'customer_id'",
    ),
    (
        {"entities": {"customer_id": ["x"]}, "features": ["customer_stats:spend"]},
        "entity key 'customer_id' must be an integer",
    ),
]


def test_bad_lookups_are_422_naming_the_field(service: Callable[..., TestClient]) -> None:
    client = service()
    for body, message in BAD_LOOKUPS:
        answer = client.post("/features/online", json=body)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["code"] == "INVALID_INPUT"
        assert message in answer.json()["error"]["message"], (body, answer.text)
    wrong_type = client.post(
        "/features/online", content=b"a,b\n1,2", headers={"content-type": "text/csv"}
    )
    assert wrong_type.status_code == 415
    broken = client.post(
        "/features/online", content=b'{"entities": ', headers={"content-type": "application/json"}
    )
    assert broken.status_code == 422
    assert "body: not valid JSON" in broken.json()["error"]["message"]


def test_lookups_need_credentials_when_auth_is_required(
    service: Callable[..., TestClient], project: Path
) -> None:
    governance = GovernanceStore(get_database(config.get_settings().tracking_uri))
    governance.create_user("ana", "viewer", "correct horse battery")
    token = governance.create_token("ana", "read", 86_400_000)
    client = service(auth_required=True)
    body = {"entities": {"customer_id": [1]}, "features": ["customer_stats:spend"]}
    assert client.post("/features/online", json=body).status_code == 401
    allowed = client.post(
        "/features/online", json=body, headers={"Authorization": f"Bearer {token.secret}"}
    )
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["spend"][0] is not None


def test_predict_rows_carrying_only_the_entity_key_get_their_features(
    service: Callable[..., TestClient], materialized: FeatureStore
) -> None:
    client = service(serving_features=["customer_stats:spend", "customer_stats:orders"])
    expected = materialized.get_online_features(
        {"customer_id": [1, 2]}, ["customer_stats:spend", "customer_stats:orders"]
    )
    answer = client.post("/predict", json={"records": [{"customer_id": 1}, {"customer_id": 2}]})
    assert answer.status_code == 200, answer.text
    # the model predicts spend from spend and orders, exactly (a linear fit of spend)
    assert answer.json()["predictions"] == pytest.approx(expected["spend"])
    sent = client.post("/predict", json={"records": [{"customer_id": 1, "spend": 5.0}]})
    assert sent.json()["predictions"] == pytest.approx([5.0])  # a value the client sent wins
    table = client.post("/predict", json={"columns": ["customer_id"], "data": [[2]]})
    assert table.status_code == 200, table.text
    assert table.json()["predictions"] == pytest.approx(expected["spend"][1:])
    csv = client.post("/predict", content=b"customer_id\n2\n", headers={"content-type": "text/csv"})
    assert csv.status_code == 200, csv.text
    assert csv.json()["predictions"] == pytest.approx(expected["spend"][1:])

    no_key = client.post("/predict", json={"records": [{"spend": 1.0}]})
    assert no_key.status_code == 422
    assert "row 0: missing entity key 'customer_id'" in no_key.json()["error"]["message"]
    unknown = client.post("/predict", json={"records": [{"customer_id": 99}]})
    assert unknown.status_code == 422  # no online value: the signature check names the column
    assert "has no value" in unknown.json()["error"]["message"]


def test_without_serving_features_predict_rows_are_left_alone(
    service: Callable[..., TestClient],
) -> None:
    answer = service().post("/predict", json={"records": [{"customer_id": 1}]})
    assert answer.status_code == 422
    assert "unexpected column(s) 'customer_id'" in answer.json()["error"]["message"]
