"""The deployments REST API: names checked first, JSON errors, history, who changed what.

The HTTP store against a real server is covered by tests/serving/test_deployments.py
(its ``http`` backend); here it runs against the in-process app and a scripted transport.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from mlstage import config
from mlstage.config import Settings
from mlstage.errors import Conflict, InvalidInput, NotFound, Unauthorized, Unavailable
from mlstage.models.manifest import MANIFEST_FILE, ModelManifest, dump_manifest
from mlstage.server import create_app
from mlstage.server.auth import PUBLIC_PATHS, Principal, is_protected, live_routes
from mlstage.serving.deployments import Strategy
from mlstage.serving.http_deployments import HttpDeploymentStore

DEPLOYMENTS = "/api/v1/deployments"
ONE = f"{DEPLOYMENTS}/{{name}}"
DEPLOYMENTS_API = {
    ("GET", DEPLOYMENTS),
    ("GET", ONE),
    ("PUT", ONE),
    ("POST", f"{ONE}/promote"),
    ("POST", f"{ONE}/rollback"),
    ("POST", f"{ONE}/errors"),
    ("GET", f"{ONE}/history"),
}
URL = f"{DEPLOYMENTS}/churn-prod"
RECORD = {"model": "churn", "environment": "prod", "primary_version": 1}
CANARY = {**RECORD, "candidate_version": 2, "strategy": "canary", "weight": 10}


def error_of(response: httpx.Response, status: int, code: str) -> str:
    """The message of a JSON error body, after checking its status and code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    return str(body["error"]["message"])


@pytest.fixture
def churn(api: httpx.Client, make_run: Callable[..., str]) -> list[int]:
    """Model 'churn' with three versions, registered through the API."""
    manifest = dump_manifest(ModelManifest(flavor="sklearn", model_class="tests.Fake"))
    versions = []
    for _ in range(3):
        run_id = make_run()
        for path, data in ((MANIFEST_FILE, manifest), ("weights.txt", b"0.5\n")):
            response = api.put(f"/api/v1/runs/{run_id}/artifacts/model/{path}", content=data)
            assert response.status_code == 200, response.text
        body = {"name": "churn", "source": f"runs:/{run_id}/model"}
        response = api.post("/api/v1/registry/versions", json=body)
        assert response.status_code == 201, response.text
        versions.append(response.json()["version"])
    return versions


def listed(api: httpx.Client) -> list[dict[str, Any]]:
    response = api.get(DEPLOYMENTS)
    assert response.status_code == 200, response.text
    return list(response.json()["deployments"])


# -- the whole life of a deployment -----------------------------------------------------------------


def test_create_update_promote_rollback_and_history(api: httpx.Client, churn: list[int]) -> None:
    assert listed(api) == []
    created = api.put(URL, json={**RECORD, "actor": "ada", "reason": "first release"})
    assert created.status_code == 201, created.text
    assert created.json()["revision"] == 1 and created.json()["strategy"] == "single"
    canary = api.put(URL, json={**CANARY, "actor": "ada"})
    assert canary.status_code == 200, canary.text
    assert (canary.json()["candidate_version"], canary.json()["weight"]) == (2, 10.0)
    assert api.get(URL).json() == canary.json()
    assert [d["name"] for d in listed(api)] == ["churn-prod"]

    promoted = api.post(f"{URL}/promote", json={"actor": "bob", "reason": "canary looked good"})
    assert promoted.status_code == 200, promoted.text
    assert (promoted.json()["primary_version"], promoted.json()["previous_version"]) == (2, 1)
    rolled = api.post(f"{URL}/rollback", json={"actor": "bob", "reason": "latency regression"})
    assert rolled.status_code == 200, rolled.text
    assert (rolled.json()["primary_version"], rolled.json()["revision"]) == (1, 4)

    history = api.get(f"{URL}/history").json()["history"]
    assert [(e["action"], e["actor"], e["revision"]) for e in history] == [
        ("created", "ada", 1),
        ("updated", "ada", 2),
        ("promoted", "bob", 3),
        ("rolled_back", "bob", 4),
    ]
    assert history[0]["reason"] == "first release" and history[0]["before"] is None
    assert history[2]["before"]["candidate_version"] == 2
    assert history[3]["after"]["primary_version"] == 1


def test_promote_and_rollback_take_no_body(api: httpx.Client, churn: list[int]) -> None:
    api.put(URL, json=CANARY)
    response = api.post(f"{URL}/promote")
    assert response.status_code == 200, response.text
    assert api.post(f"{URL}/rollback").json()["primary_version"] == 1


def test_a_replica_reports_a_load_error_once(api: httpx.Client, churn: list[int]) -> None:
    deployment = api.put(URL, json={**CANARY, "strategy": "blue-green", "weight": 0}).json()
    body = {"revision": deployment["revision"], "error": "model.skops is corrupt"}
    for _ in range(2):
        response = api.post(f"{URL}/errors", json=body)
        assert response.status_code == 204 and response.content == b""
    stale = api.post(f"{URL}/errors", json={"revision": 99, "error": "stale"})
    assert stale.status_code == 204
    assert api.get(URL).json()["error"] == "model.skops is corrupt"
    history = api.get(f"{URL}/history").json()["history"]
    assert [(e["action"], e["reason"]) for e in history][-1] == (
        "load_failed",
        "model.skops is corrupt",
    )
    assert len(history) == 2
    assert api.post(f"{URL}/promote").json()["error"] == ""


# -- errors: JSON, the right status, nothing written -------------------------------------------------


def test_unknown_deployments_are_404(api: httpx.Client, churn: list[int]) -> None:
    for method, suffix, body in (
        ("GET", "", None),
        ("GET", "/history", None),
        ("POST", "/promote", {}),
        ("POST", "/rollback", {}),
        ("POST", "/errors", {"revision": 1, "error": "x"}),
    ):
        response = api.request(method, f"{DEPLOYMENTS}/nope{suffix}", json=body)
        assert error_of(response, 404, "NOT_FOUND") == "deployment 'nope' does not exist"


def test_promote_and_rollback_need_something_to_switch_to(
    api: httpx.Client, churn: list[int]
) -> None:
    api.put(URL, json=RECORD)
    assert "no candidate to promote" in error_of(api.post(f"{URL}/promote"), 409, "CONFLICT")
    assert "no previous version" in error_of(api.post(f"{URL}/rollback"), 409, "CONFLICT")
    assert [e["action"] for e in api.get(f"{URL}/history").json()["history"]] == ["created"]


@pytest.mark.parametrize(
    ("change", "status", "code", "problem"),
    [
        ({"model": "ghost"}, 404, "NOT_FOUND", "registered model 'ghost' does not exist"),
        ({"primary_version": 9}, 404, "NOT_FOUND", "has no version 9"),
        ({"candidate_version": 9, "strategy": "shadow"}, 404, "NOT_FOUND", "has no version 9"),
        ({"model": "../m"}, 400, "INVALID_INPUT", "model name '../m'"),
        ({"environment": "Prod!"}, 400, "INVALID_INPUT", "environment 'Prod!'"),
        ({"primary_version": 0}, 400, "INVALID_INPUT", "whole number from 1"),
        ({"strategy": "rainbow", "candidate_version": 2}, 400, "INVALID_INPUT", "'rainbow'"),
        ({"strategy": "canary"}, 400, "INVALID_INPUT", "needs a candidate"),
        ({"strategy": "canary", "candidate_version": 2}, 400, "INVALID_INPUT", "needs a weight"),
        ({**CANARY, "weight": 150}, 400, "INVALID_INPUT", "percentage from 0 to 100"),
        ({"candidate_version": 2}, 400, "INVALID_INPUT", "takes no candidate"),
        ({"primary_version": "1"}, 400, "INVALID_INPUT", "body.primary_version"),
        ({"weight": "10"}, 400, "INVALID_INPUT", "body.weight"),
        ({"extra": 1}, 400, "INVALID_INPUT", "body.extra"),
        ({"reason": "x" * 2001}, 400, "INVALID_INPUT", "reason must be text"),
    ],
)
def test_bad_records_are_refused_and_nothing_is_written(
    api: httpx.Client,
    churn: list[int],
    change: dict[str, Any],
    status: int,
    code: str,
    problem: str,
) -> None:
    response = api.put(URL, json={**RECORD, **change})
    assert problem in error_of(response, status, code)
    assert listed(api) == []


def test_a_missing_field_is_named(api: httpx.Client, churn: list[int]) -> None:
    response = api.put(URL, json={"model": "churn", "environment": "prod"})
    assert "body.primary_version: Field required" in error_of(response, 400, "INVALID_INPUT")
    response = api.post(f"{URL}/errors", json={"revision": 1})
    assert "body.error" in error_of(response, 400, "INVALID_INPUT")


def test_a_deployment_serves_one_model(api: httpx.Client, churn: list[int]) -> None:
    api.put(URL, json=RECORD)
    run_source = api.get("/api/v1/registry/models/churn/versions/1").json()["source"]
    api.post("/api/v1/registry/versions", json={"name": "fraud", "source": run_source})
    response = api.put(URL, json={**RECORD, "model": "fraud"})
    assert "serves model 'churn', not 'fraud'" in error_of(response, 409, "CONFLICT")


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("churn%2Dprod", "is percent-encoded"),  # decodes to a valid name, but was disguised
        ("Churn-Prod", "deployment name 'Churn-Prod'"),
        ("%2E%2E", "deployment name '..'"),
        ("churn..prod/history", "deployment name 'churn..prod'"),
        ("-churn", "deployment name '-churn'"),
        ("churn%E2%80%90prod", "deployment name 'churn\u2010prod'"),
    ],
)
def test_bad_names_in_a_url_are_400(live_server: str, path: str, problem: str) -> None:
    # Over a real socket: the in-process test client decodes paths twice.
    with httpx.Client(base_url=live_server) as client:
        response = client.get(f"{DEPLOYMENTS}/{path}")
    assert problem in error_of(response, 400, "INVALID_INPUT")


def test_names_and_records_are_checked_before_the_database_is_opened(
    tmp_path: Path, client_for: Callable[[FastAPI], httpx.Client]
) -> None:
    settings = config.load_settings(
        start=tmp_path,
        tracking_uri="sqlite:////proc/mlstage-no-such-dir/mlstage.db",
        artifact_root=str(tmp_path / "a"),
    )
    client = client_for(create_app(settings))
    assert client.put(f"{DEPLOYMENTS}/Bad", json=RECORD).status_code == 400
    assert client.post(f"{DEPLOYMENTS}/Bad/promote").status_code == 400
    for change in ({"environment": "Prod!"}, {"strategy": "rainbow"}, {"model": "m/x"}):
        assert client.put(URL, json={**RECORD, **change}).status_code == 400
    assert client.get(URL).status_code == 503


# -- who: every route checks the caller, and the principal is the actor ---------------------------


def test_every_deployment_route_requires_a_principal(app: FastAPI, api: httpx.Client) -> None:
    routes = [r for r in live_routes(app) if getattr(r, "path", "") not in PUBLIC_PATHS]
    served = {(method, r.path) for r in routes for method in r.methods}
    assert served >= DEPLOYMENTS_API
    for route in routes:
        assert is_protected(route), f"{route.methods} {route.path} does not require a principal"

    def refuse(request: Any) -> Principal:
        raise Unauthorized("a bearer token is required")

    app.state.authenticator = refuse
    for method, path in sorted(DEPLOYMENTS_API):
        url = path.format(name="churn-prod")
        response = api.request(method, url, json={})
        assert error_of(response, 401, "UNAUTHORIZED") == "a bearer token is required", url
    spec_paths = api.get("/openapi.json").json()["paths"]
    assert {p for _, p in DEPLOYMENTS_API} <= set(spec_paths)


def test_an_authenticated_caller_is_the_actor_whatever_the_body_says(
    app: FastAPI, api: httpx.Client, churn: list[int]
) -> None:
    app.state.authenticator = lambda request: Principal(name="alice", authenticated=True)
    api.put(URL, json={**CANARY, "actor": "mallory"})
    api.post(f"{URL}/promote", json={"actor": "mallory", "reason": "ok"})
    assert api.get(URL).json()["updated_by"] == "alice"
    history = api.get(f"{URL}/history").json()["history"]
    assert [e["actor"] for e in history] == ["alice", "alice"]


# -- the HTTP store -----------------------------------------------------------------------------------


def test_the_store_against_the_in_process_app(
    api: httpx.Client, churn: list[int], server_settings: Settings
) -> None:
    store = HttpDeploymentStore("http://testserver", server_settings, client=api, retry_delays=())
    created = store.deploy("churn-prod", "churn", "prod", 1, candidate_version=3, strategy="ab",
                           weight=25, actor="ada", reason="A/B test")  # fmt: skip
    assert (created.strategy, created.weight, created.versions) == (Strategy.AB, 25.0, [1, 3])
    assert store.list_deployments() == [created]
    store.report_error("churn-prod", created.revision, "out of memory")
    assert store.get_deployment("churn-prod").error == "out of memory"
    assert store.promote("churn-prod", actor="bob").primary_version == 3
    assert store.rollback("churn-prod", reason="worse").primary_version == 1
    history = store.get_history("churn-prod")
    assert [e.action for e in history] == [
        "created",
        "load_failed",
        "promoted",
        "rolled_back",
    ]
    assert history[0].actor == "ada" and history[3].reason == "worse"
    with pytest.raises(Conflict, match="no previous version|no candidate"):
        store.promote("churn-prod")
    with pytest.raises(NotFound, match="deployment 'nope' does not exist"):
        store.get_history("nope")


class Script:
    """A mock transport answering requests from a fixed list, recording each request."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def scripted(script: Script) -> HttpDeploymentStore:
    client = httpx.Client(transport=httpx.MockTransport(script))
    return HttpDeploymentStore("http://server", Settings(), client=client, sleep=lambda s: None)


def test_names_and_records_are_checked_before_anything_is_sent() -> None:
    script = Script()
    store = scripted(script)
    with pytest.raises(InvalidInput, match="deployment name '../admin'"):
        store.get_deployment("../admin")
    with pytest.raises(InvalidInput, match="deployment name 'a/b'"):
        store.promote("a/b")
    with pytest.raises(InvalidInput, match="strategy 'rainbow'"):
        store.deploy("churn-prod", "churn", "prod", 1, candidate_version=2, strategy="rainbow")
    with pytest.raises(InvalidInput, match="whole number"):
        store.deploy("churn-prod", "churn", "prod", 0)
    with pytest.raises(InvalidInput, match="reason must be text"):
        store.rollback("churn-prod", reason=3)  # type: ignore[arg-type]
    assert script.requests == []


def test_changes_are_not_resent_once_they_may_have_arrived() -> None:
    calls: list[Callable[[HttpDeploymentStore], object]] = [
        lambda s: s.deploy("churn-prod", "churn", "prod", 1),
        lambda s: s.promote("churn-prod"),
        lambda s: s.rollback("churn-prod"),
    ]
    for call in calls:
        script = Script(httpx.ReadError("connection reset"))
        with pytest.raises(Unavailable, match="ReadError"):
            call(scripted(script))
        assert len(script.requests) == 1
    script = Script(httpx.ReadError("reset"), httpx.Response(204))
    scripted(script).report_error("churn-prod", 2, "corrupt")  # kept once by the server
    assert len(script.requests) == 2
