"""The app as a whole: probes, OpenAPI, the auth guard on every route, error shapes, body limits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI

from mlstage import config
from mlstage.errors import ERRORS_BY_CODE, MlstageError, Unauthorized
from mlstage.server import create_app
from mlstage.server.auth import (
    ANONYMOUS,
    PUBLIC_PATHS,
    Principal,
    is_protected,
    live_routes,
    require_principal,
    unprotected_routes,
)
from mlstage.server.errors import STATUS_BY_CODE

EXPECTED_STATUS = {
    "INVALID_INPUT": 400,
    "NOT_FOUND": 404,
    "CONFLICT": 409,
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    "PAYLOAD_TOO_LARGE": 413,
    "UNAVAILABLE": 503,
    "INTEGRITY_ERROR": 500,
    "DATA_LOSS": 500,
    "INTERNAL_ERROR": 500,
}

RUN = "/api/v1/runs/{run_id}"
TRACKING_API = {
    ("POST", "/api/v1/experiments"),
    ("GET", "/api/v1/experiments"),
    ("GET", "/api/v1/experiments/by-name"),
    ("POST", "/api/v1/experiments/get-or-create"),
    ("GET", "/api/v1/experiments/{experiment_id}"),
    ("DELETE", "/api/v1/experiments/{experiment_id}"),
    ("POST", "/api/v1/runs"),
    ("POST", "/api/v1/runs/search"),
    ("POST", "/api/v1/runs/heartbeat"),
    ("GET", RUN),
    ("DELETE", RUN),
    ("POST", f"{RUN}/end"),
    ("POST", f"{RUN}/batch"),
    ("GET", f"{RUN}/metrics/history"),
    ("POST", f"{RUN}/inputs"),
    ("GET", f"{RUN}/artifacts"),
    ("PUT", f"{RUN}/artifacts/{{path:path}}"),
    ("GET", f"{RUN}/artifacts/{{path:path}}"),
}


def error_of(response: Any) -> dict[str, str]:
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return dict(body["error"])


# -- probes and the API description -------------------------------------------------------


def test_health_and_ready(api: httpx.Client) -> None:
    assert api.get("/health").json() == {"status": "ok"}
    assert api.get("/ready").json() == {"status": "ready"}


def test_ready_says_503_while_health_stays_up_when_the_database_is_unreachable(
    tmp_path: Path, client_for: Any
) -> None:
    settings = config.load_settings(
        start=tmp_path,
        tracking_uri="sqlite:////proc/mlstage-no-such-dir/mlstage.db",
        artifact_root=str(tmp_path / "a"),
    )
    client = client_for(create_app(settings))
    assert client.get("/health").status_code == 200
    ready = client.get("/ready")
    assert ready.status_code == 503
    assert error_of(ready)["code"] == "UNAVAILABLE"
    assert ready.headers["retry-after"] == "1"
    listing = client.get("/api/v1/experiments")
    assert listing.status_code == 503
    assert "cannot be opened" in error_of(listing)["message"]


def test_server_refuses_to_track_into_another_server(tmp_path: Path) -> None:
    settings = config.load_settings(start=tmp_path, tracking_uri="http://127.0.0.1:1")
    with pytest.raises(MlstageError, match="must be a database"):
        create_app(settings)


def test_openapi_describes_the_tracking_api(api: httpx.Client) -> None:
    spec = api.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/api/v1/experiments",
        "/api/v1/experiments/{experiment_id}",
        "/api/v1/runs/search",
        "/api/v1/runs/{run_id}/batch",
        "/api/v1/runs/{run_id}/metrics/history",
        "/api/v1/runs/{run_id}/artifacts/{path}",
    ):
        assert path in paths, sorted(paths)
    assert {"Run", "Experiment", "RunPage", "LogBatch"} <= set(spec["components"]["schemas"])
    upload = paths["/api/v1/runs/{run_id}/artifacts/{path}"]["put"]
    assert "application/octet-stream" in upload["requestBody"]["content"]
    assert api.get("/docs").status_code == 200


# -- auth: every route but the public ones checks the caller -------------------------------


def test_every_live_route_but_the_public_ones_requires_a_principal(app: FastAPI) -> None:
    routes = list(live_routes(app))
    paths = {route.path for route in routes}
    assert paths >= PUBLIC_PATHS
    api_routes = [route for route in routes if route.path not in PUBLIC_PATHS]
    served = {(method, route.path) for route in api_routes for method in route.methods}
    assert served >= TRACKING_API  # flattened from the routers, not just the router entries
    for route in api_routes:
        assert is_protected(route), f"{route.methods} {route.path} does not require a principal"
    for route in routes:
        if route.path in PUBLIC_PATHS:
            assert not route.path.startswith("/api/")


def test_a_route_added_without_the_dependency_is_caught(app: FastAPI) -> None:
    assert unprotected_routes(app) == []
    leaky = APIRouter()

    @leaky.get("/api/v1/leak")
    def leak() -> dict[str, str]:
        return {}

    guarded = APIRouter(dependencies=[Depends(require_principal)])

    @guarded.get("/api/v1/guarded")
    def fine() -> dict[str, str]:
        return {}

    app.include_router(leaky)
    app.include_router(guarded)
    assert unprotected_routes(app) == ["GET '/api/v1/leak'"]


def test_callers_are_anonymous_while_auth_is_off(app: FastAPI, api: httpx.Client) -> None:
    seen: list[Principal] = []
    router = APIRouter(dependencies=[Depends(require_principal)])

    @router.get("/api/v1/whoami")
    def whoami(principal: Principal = Depends(require_principal)) -> dict[str, str]:
        seen.append(principal)
        return {"name": principal.name}

    app.include_router(router)
    assert api.get("/api/v1/whoami").json() == {"name": "anonymous"}
    assert seen == [ANONYMOUS]


def test_an_authenticator_that_refuses_closes_every_api_route(
    app: FastAPI, api: httpx.Client
) -> None:
    def refuse(request: Any) -> Principal:
        raise Unauthorized("a bearer token is required")

    app.state.authenticator = refuse
    response = api.get("/api/v1/experiments")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert error_of(response) == {"code": "UNAUTHORIZED", "message": "a bearer token is required"}
    assert api.post("/api/v1/runs/search", json={"experiment_ids": []}).status_code == 401
    assert api.put("/api/v1/runs/" + "0" * 32 + "/artifacts/x", content=b"x").status_code == 401
    assert api.get("/health").status_code == 200
    assert api.get("/openapi.json").status_code == 200


# -- error shapes ------------------------------------------------------------------------


def test_every_error_code_has_its_status() -> None:
    assert set(STATUS_BY_CODE) == set(ERRORS_BY_CODE)
    assert STATUS_BY_CODE == EXPECTED_STATUS


@pytest.mark.parametrize("code", sorted(ERRORS_BY_CODE))
def test_each_mlstage_error_becomes_json_with_its_status(
    app: FastAPI, api: httpx.Client, code: str
) -> None:
    router = APIRouter(dependencies=[Depends(require_principal)])

    @router.get("/api/v1/fail")
    def fail() -> None:
        raise ERRORS_BY_CODE[code](f"it failed with {code}")

    app.include_router(router)
    response = api.get("/api/v1/fail")
    assert response.status_code == EXPECTED_STATUS[code]
    assert error_of(response) == {"code": code, "message": f"it failed with {code}"}


def test_unexpected_exceptions_are_a_bare_500(app: FastAPI, api: httpx.Client) -> None:
    router = APIRouter(dependencies=[Depends(require_principal)])

    @router.get("/api/v1/crash")
    def crash() -> None:
        raise RuntimeError("secret detail at /srv/internal/path.py")

    app.include_router(router)
    response = api.get("/api/v1/crash")
    assert response.status_code == 500
    error = error_of(response)
    assert error["code"] == "INTERNAL_ERROR"
    assert "secret" not in response.text and "Traceback" not in response.text


def test_unknown_routes_and_methods_are_json(api: httpx.Client) -> None:
    missing = api.get("/api/v1/nothing/here")
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "NOT_FOUND"
    assert "GET /api/v1/nothing/here" in error_of(missing)["message"]
    wrong = api.delete("/health")
    assert wrong.status_code == 405
    assert error_of(wrong)["code"] == "METHOD_NOT_ALLOWED"


def test_markup_in_messages_is_escaped(api: httpx.Client) -> None:
    response = api.post(
        "/api/v1/experiments", json={"name": "e", "tags": {"<script>alert(1)</script>": "x"}}
    )
    assert response.status_code == 400
    assert "<script>" not in response.text
    assert "\\u003cscript\\u003e" in response.text
    assert "<script>alert(1)</script>" in error_of(response)["message"]  # decoded, it is intact
    assert response.headers["x-content-type-options"] == "nosniff"
    unknown = api.get("/<img src=x onerror=alert(1)>")
    assert unknown.status_code == 404 and "<img" not in unknown.text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            '{"metrics": [{"key": "a", "value": "nan"}]}',
            "body.metrics.0.value: Input should be a valid number",
        ),
        (
            '{"metrics": [{"key": "a", "value": true}]}',
            "body.metrics.0.value: Input should be a valid number",
        ),
        (
            '{"metrics": [{"key": "a", "value": 1, "step": 1.5}]}',
            "body.metrics.0.step: Input should be a valid integer",
        ),
        ('{"metrics": [{"value": 1}]}', "body.metrics.0.key: Field required"),
        ('{"params": {"p": 3}}', "body.params.p: Input should be a valid string"),
        ('{"surprise": 1}', "body.surprise: Extra inputs are not permitted"),
        ('{"metrics": [', "body: not valid JSON at character"),
    ],
)
def test_validation_errors_name_the_field(
    api: httpx.Client, make_run: Any, body: str, message: str
) -> None:
    run_id = make_run()
    response = api.post(
        f"/api/v1/runs/{run_id}/batch",
        content=body.encode(),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "INVALID_INPUT"
    assert error["message"].startswith(message), error["message"]


# -- body limits ---------------------------------------------------------------------------


@pytest.fixture
def small_api(server_settings: config.Settings, client_for: Any) -> httpx.Client:
    app = create_app(server_settings, max_body_bytes=1024, max_upload_bytes=4096)
    return client_for(app)


def test_json_bodies_over_the_limit_are_413(small_api: httpx.Client) -> None:
    body = json.dumps({"name": "x" * 2000}).encode()
    response = small_api.post(
        "/api/v1/experiments", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "PAYLOAD_TOO_LARGE"
    assert "limit of 1024 bytes" in error["message"]

    def chunks() -> Any:  # no Content-Length: counted as it arrives
        yield b'{"name": "'
        for _ in range(20):
            yield b"x" * 100
        yield b'"}'

    chunked = small_api.post(
        "/api/v1/experiments", content=chunks(), headers={"content-type": "application/json"}
    )
    assert chunked.status_code == 413
    assert small_api.get("/api/v1/experiments").json() == {"experiments": []}


def test_uploads_have_their_own_larger_limit(small_api: httpx.Client) -> None:
    exp = small_api.post("/api/v1/experiments", json={"name": "e"}).json()
    run = small_api.post("/api/v1/runs", json={"experiment_id": exp["experiment_id"]}).json()
    url = f"/api/v1/runs/{run['run_id']}/artifacts/blob.bin"
    assert small_api.put(url, content=b"x" * 4096).status_code == 200  # over the JSON limit
    too_big = small_api.put(url, content=b"x" * 4097)
    assert too_big.status_code == 413
    assert "limit of 4096 bytes" in error_of(too_big)["message"]
