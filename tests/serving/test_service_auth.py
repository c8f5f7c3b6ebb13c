"""Auth on the prediction service: the platform's tokens work, everything but probes needs one.

Checked with the credentials in the service's own database and, for a
service run against a platform server, through that server.
"""

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
from mlstage.governance.sql_store import GovernanceStore
from mlstage.server.auth import live_routes
from mlstage.serving.app import PUBLIC_PATHS, create_serving_app
from mlstage.serving.options import ServingOptions
from mlstage.store.database import get_database

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

DAY = 86_400_000
ROW = {"x1": 0.5, "x2": -1.0}


@pytest.fixture
def model(project: Path) -> str:
    """Model 'scorer' v1 registered in the project's database; returns its target."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x1": rng.normal(size=100), "x2": rng.normal(size=100)})
    y = X.x1 > 0
    with mlstage.start_run():
        uri = mlstage.log_model(LogisticRegression().fit(X, y), "model", input_example=X).model_uri
    mlstage.register_model(uri, "scorer")
    return "scorer/1"


@pytest.fixture
def governance(project: Path) -> GovernanceStore:
    return GovernanceStore(get_database(config.get_settings().tracking_uri))


@pytest.fixture
def secured_service(
    model: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., TestClient]]:
    """``make()``: an in-process client of a serving app with ``auth_required`` on."""
    made: list[tuple[FastAPI, TestClient]] = []

    def make(**overrides: Any) -> TestClient:
        settings = config.load_settings(start=project, auth_required=True, **overrides)
        app = create_serving_app(model, settings, ServingOptions(log_requests=False))
        client = TestClient(app, raise_server_exceptions=False)
        made.append((app, client.__enter__()))
        return client

    yield make
    for app, client in made:
        client.__exit__(None, None, None)
        app.state.service.close()


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_without_credentials_only_the_probes_answer(
    secured_service: Callable[..., TestClient],
) -> None:
    client = secured_service()
    for route in live_routes(client.app):  # type: ignore[arg-type]
        path = getattr(route, "path", "")
        if "{" in path:
            path = path.replace("{name}", "scorer").replace("{version}", "1")
        for method in sorted(getattr(route, "methods", None) or ()):
            if method == "HEAD":
                continue
            answer = client.request(method, path, json={"records": [ROW]})
            if getattr(route, "path", "") in PUBLIC_PATHS:
                assert answer.status_code != 401, (method, path)
            else:
                assert answer.status_code == 401, (method, path, answer.text)
                error = answer.json()["error"]  # v2 routes answer {"error": "<message>"}
                message = error if isinstance(error, str) else error["message"]
                assert "authentication required" in message


def test_a_viewer_token_predicts_and_a_revoked_one_is_refused(
    secured_service: Callable[..., TestClient], governance: GovernanceStore
) -> None:
    governance.create_user("ana", "viewer", "correct horse battery")
    token = governance.create_token("ana", "read", DAY)
    client = secured_service()

    answer = client.post("/predict", json={"records": [ROW]}, headers=bearer(token.secret))
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["predictions"]) == 1
    v2 = client.post(
        "/v2/models/scorer/infer",
        json={
            "inputs": [
                {"name": "x1", "shape": [1], "datatype": "FP64", "data": [0.5]},
                {"name": "x2", "shape": [1], "datatype": "FP64", "data": [-1.0]},
            ]
        },
        headers=bearer(token.secret),
    )
    assert v2.status_code == 200, v2.text

    governance.revoke_token(token.token.token_id)
    client.app.state.authenticator.forget()  # type: ignore[attr-defined]
    refused = client.post("/predict", json={"records": [ROW]}, headers=bearer(token.secret))
    assert refused.status_code == 401
    assert "not valid" in refused.json()["error"]["message"]


def test_a_user_without_a_role_is_forbidden(
    secured_service: Callable[..., TestClient], governance: GovernanceStore
) -> None:
    from sqlalchemy import delete

    from mlstage.store import tables

    governance.create_user("bo", "viewer", "correct horse battery")
    token = governance.create_token("bo", "read", DAY)
    governance.db.write(lambda conn: conn.execute(delete(tables.role_grants)))
    client = secured_service()
    answer = client.post("/predict", json={"records": [ROW]}, headers=bearer(token.secret))
    assert answer.status_code == 403
    assert "may not prediction.predict" in answer.json()["error"]["message"]


def test_a_service_against_a_platform_server_asks_the_server(
    model: str, project: Path, governance: GovernanceStore
) -> None:
    from mlstage.server import create_app
    from mlstage.server.testing import start_server

    governance.create_user("cy", "viewer", "correct horse battery")
    token = governance.create_token("cy", "read", DAY)
    server_settings = config.load_settings(
        start=project,
        auth_required=True,
        allowed_hosts=("127.0.0.1", "localhost"),
    )
    url, stop = start_server(server_settings, app=create_app(server_settings))
    try:
        # the service reaches the registry through the server, with a token of its own
        service_token = governance.create_token("cy", "read", DAY)
        settings = config.load_settings(
            start=project,
            tracking_uri=url,
            tracking_token=service_token.secret,
            auth_required=True,
        )
        config.set_settings(settings)
        app = create_serving_app(model, settings, ServingOptions(log_requests=False))
        try:
            with TestClient(app, raise_server_exceptions=False) as client:
                ok = client.post("/predict", json={"records": [ROW]}, headers=bearer(token.secret))
                bad = client.post("/predict", json={"records": [ROW]}, headers=bearer("mls_x" * 8))
                anon = client.post("/predict", json={"records": [ROW]})
        finally:
            app.state.service.close()
    finally:
        config.set_settings(None)
        stop()
    assert bad.status_code == 401
    assert anon.status_code == 401
    assert ok.status_code == 200, ok.text


def test_with_auth_off_nothing_asks_for_credentials(model: str) -> None:
    app = create_serving_app(model, options=ServingOptions(log_requests=False))
    try:
        with TestClient(app) as client:
            assert client.post("/predict", json={"records": [ROW]}).status_code == 200
    finally:
        app.state.service.close()


def test_remote_identities_treat_an_unreachable_server_as_unavailable() -> None:
    from mlstage.errors import Unavailable
    from mlstage.serving.auth import RemoteIdentities

    remote = RemoteIdentities("http://127.0.0.1:9", timeout=1.0)
    with pytest.raises(Unavailable, match="cannot check credentials"):
        remote.identify_token("mls_" + "x" * 40)
