"""The registry REST API: names checked first, JSON errors, checked downloads, the HTTP store."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

import mlstage
from mlstage import config
from mlstage.artifacts.store import ArtifactStore
from mlstage.config import Settings
from mlstage.errors import Conflict, IntegrityError, InvalidInput, NotFound, Unavailable
from mlstage.models.api import get_registry_store
from mlstage.models.entities import VersionStatus
from mlstage.models.http_store import HttpRegistryStore
from mlstage.models.manifest import MANIFEST_FILE, ModelManifest, dump_manifest
from mlstage.models.uri import RegistryRef
from mlstage.server import create_app
from mlstage.server.auth import PUBLIC_PATHS, Principal, is_protected, live_routes

REGISTRY = "/api/v1/registry"
MODEL = f"{REGISTRY}/models/{{name}}"
VERSION = f"{MODEL}/versions/{{version}}"
REGISTRY_API = {
    ("POST", f"{REGISTRY}/models"),
    ("GET", f"{REGISTRY}/models"),
    ("GET", MODEL),
    ("PATCH", MODEL),
    ("GET", f"{MODEL}/history"),
    ("GET", f"{MODEL}/resolve"),
    ("POST", f"{REGISTRY}/versions"),
    ("GET", f"{MODEL}/versions"),
    ("GET", VERSION),
    ("PATCH", VERSION),
    ("POST", f"{VERSION}/status"),
    ("PATCH", f"{VERSION}/tags"),
    ("GET", f"{VERSION}/files"),
    ("PUT", f"{MODEL}/aliases/{{alias}}"),
    ("DELETE", f"{MODEL}/aliases/{{alias}}"),
}
WEIGHTS = b"0.25 0.75\n"


def error_of(response: httpx.Response, status: int, code: str) -> str:
    """The message of a JSON error body, after checking its status and code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    return str(body["error"]["message"])


@pytest.fixture
def source(api: httpx.Client, make_run: Callable[..., str]) -> str:
    """A model folder a run logged (manifest and one data file), as ``runs:/<id>/model``."""
    run_id = make_run()
    manifest = dump_manifest(ModelManifest(flavor="sklearn", model_class="tests.Fake"))
    for path, data in ((MANIFEST_FILE, manifest), ("weights.txt", WEIGHTS)):
        response = api.put(f"/api/v1/runs/{run_id}/artifacts/model/{path}", content=data)
        assert response.status_code == 200, response.text
    return f"runs:/{run_id}/model"


def register(api: httpx.Client, source: str, name: str = "fraud-model", **body: Any) -> Any:
    response = api.post(f"{REGISTRY}/versions", json={"name": name, "source": source, **body})
    assert response.status_code == 201, response.text
    return response.json()


# -- names, aliases, versions and sources: checked first, JSON errors -------------------------


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("fraud%2Dmodel", "may only contain ASCII letters"),
        ("../x", "must start with a letter or digit"),
        ("fraud..model", "must not contain '..'"),
        ("fraud\u2010model", "may only contain ASCII letters"),
        ("", "must not be empty"),
    ],
)
def test_bad_names_in_a_body_are_400(
    api: httpx.Client, source: str, name: str, problem: str
) -> None:
    response = api.post(f"{REGISTRY}/versions", json={"name": name, "source": source})
    assert problem in error_of(response, 400, "INVALID_INPUT")
    response = api.post(f"{REGISTRY}/models", json={"name": name})
    assert problem in error_of(response, 400, "INVALID_INPUT")
    assert api.get(f"{REGISTRY}/models").json() == {"models": []}


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("fraud%2Dmodel", "is percent-encoded"),  # decodes to a valid name, but was disguised
        ("fraud%252Dmodel", "'fraud%2Dmodel' may only contain ASCII letters"),
        ("%2E%2E", "must start with a letter or digit"),
        ("fraud..model/versions", "must not contain '..'"),
        ("Fraud%E2%80%90model", "may only contain ASCII letters"),
        ("fraud-model/versions/0", "model version must be a whole number from 1, got '0'"),
        ("fraud-model/versions/x/files?path=a", "whole number"),
        ("fraud-model/resolve?alias=Champion", "alias 'Champion' must be"),
        ("fraud-model/resolve?alias=latest", "alias 'latest' is reserved"),
    ],
)
def test_bad_names_versions_and_aliases_in_a_url_are_400(
    api: httpx.Client, source: str, live_server: str, path: str, problem: str
) -> None:
    # Over a real socket: the in-process test client decodes paths twice.
    register(api, source)
    with httpx.Client(base_url=live_server) as client:
        response = client.get(f"{REGISTRY}/models/{path}")
    assert problem in error_of(response, 400, "INVALID_INPUT")


def test_names_are_checked_before_the_database_is_opened(
    tmp_path: Path, client_for: Callable[[FastAPI], httpx.Client]
) -> None:
    settings = config.load_settings(
        start=tmp_path,
        tracking_uri="sqlite:////proc/mlstage-no-such-dir/mlstage.db",
        artifact_root=str(tmp_path / "a"),
    )
    client = client_for(create_app(settings))
    assert client.get(f"{REGISTRY}/models/fraud%252Dmodel").status_code == 400
    assert client.put(f"{REGISTRY}/models/m/aliases/Bad", json={"version": 1}).status_code == 400
    for path, body in (("/versions", {"name": "../m", "source": "x"}), ("/models", {"name": "M!"})):
        assert client.post(REGISTRY + path, json=body).status_code == 400
    assert client.get(f"{REGISTRY}/models/fraud-model").status_code == 503


def test_a_name_differing_only_in_case_is_a_409(api: httpx.Client, source: str) -> None:
    register(api, source)
    for path, body in (
        ("/versions", {"name": "Fraud-Model", "source": source}),
        ("/models", {"name": "Fraud-Model"}),
    ):
        message = error_of(api.post(REGISTRY + path, json=body), 409, "CONFLICT")
        assert "clashes with the registered model 'fraud-model'" in message
    message = error_of(
        api.post(f"{REGISTRY}/models", json={"name": "fraud-model"}), 409, "CONFLICT"
    )
    assert "'fraud-model' already exists" in message
    message = error_of(api.get(f"{REGISTRY}/models/Fraud-Model"), 404, "NOT_FOUND")
    assert "did you mean 'fraud-model'?" in message


def test_unknown_models_versions_and_aliases_are_404(api: httpx.Client, source: str) -> None:
    message = error_of(api.get(f"{REGISTRY}/models/ghost"), 404, "NOT_FOUND")
    assert message == "registered model 'ghost' does not exist"
    assert error_of(api.get(f"{REGISTRY}/models/ghost/history"), 404, "NOT_FOUND")
    register(api, source)
    assert "has no version 9" in error_of(
        api.get(f"{REGISTRY}/models/fraud-model/versions/9"), 404, "NOT_FOUND"
    )
    assert "has no alias 'champion'" in error_of(
        api.get(f"{REGISTRY}/models/fraud-model/resolve", params={"alias": "champion"}),
        404,
        "NOT_FOUND",
    )
    assert "has no alias 'champion'" in error_of(
        api.delete(f"{REGISTRY}/models/fraud-model/aliases/champion"), 404, "NOT_FOUND"
    )
    assert "has no version 9" in error_of(
        api.put(f"{REGISTRY}/models/fraud-model/aliases/champion", json={"version": 9}),
        404,
        "NOT_FOUND",
    )


def test_bad_aliases_are_400(api: httpx.Client, source: str) -> None:
    register(api, source)
    for alias in ("Champion", "champion!", "1st", "latest"):
        response = api.put(f"{REGISTRY}/models/fraud-model/aliases/{alias}", json={"version": 1})
        assert f"alias {alias!r}" in error_of(response, 400, "INVALID_INPUT")
    assert api.get(f"{REGISTRY}/models/fraud-model/history").json()["history"][-1]["action"] == (
        "registered"
    )


@pytest.mark.parametrize(
    "bad_source", ["file:///etc", "http://169.254.169.254/", "models:/other/1", "/etc", "s3://b/k"]
)
def test_sources_must_be_models_a_run_logged(api: httpx.Client, bad_source: str) -> None:
    response = api.post(f"{REGISTRY}/versions", json={"name": "m", "source": bad_source})
    assert "must be a model a run logged: runs:/<run id>/<path>" in error_of(
        response, 400, "INVALID_INPUT"
    )
    assert api.get(f"{REGISTRY}/models").json() == {"models": []}


def test_bodies_are_strict(api: httpx.Client, source: str) -> None:
    register(api, source)
    url = f"{REGISTRY}/models/fraud-model/aliases/champion"
    assert "body.version" in error_of(api.put(url, json={"version": "1"}), 400, "INVALID_INPUT")
    assert "body.extra" in error_of(
        api.put(url, json={"version": 1, "extra": 1}), 400, "INVALID_INPUT"
    )
    status = f"{REGISTRY}/models/fraud-model/versions/1/status"
    assert "body.status" in error_of(
        api.post(status, json={"status": "GOOD"}), 400, "INVALID_INPUT"
    )


# -- the version lifecycle through the routes --------------------------------------------------


def test_versions_aliases_status_tags_cards_and_history(api: httpx.Client, source: str) -> None:
    first = register(api, source, description="v1", tags={"team": "risk"}, created_by="ada")
    assert (first["version"], first["status"], first["created_by"]) == (1, "READY", "ada")
    assert set(first["files"]) == {MANIFEST_FILE, "weights.txt"}
    assert register(api, source)["version"] == 2
    model = f"{REGISTRY}/models/fraud-model"
    assert (
        api.put(f"{model}/aliases/champion", json={"version": 1, "actor": "ada"}).status_code == 204
    )
    moved = api.put(f"{model}/aliases/champion", json={"version": 2, "reason": "better auc"})
    assert moved.status_code == 204
    assert api.get(model).json()["aliases"] == {"champion": 2}
    resolved = {
        key: api.get(f"{model}/resolve", params=params).json()["version"]
        for key, params in (
            ("alias", {"alias": "champion"}),
            ("version", {"version": "1"}),
            ("latest", {}),
        )
    }
    assert resolved == {"alias": 2, "version": 1, "latest": 2}
    assert "not both" in error_of(
        api.get(f"{model}/resolve", params={"alias": "champion", "version": "1"}),
        400,
        "INVALID_INPUT",
    )
    status = api.post(
        f"{model}/versions/2/status",
        json={
            "status": "VALIDATED",
            "actor": "gate",
            "reason": "passed",
            "validation": {"auc": 0.9},
        },
    )
    assert status.json()["status"] == "VALIDATED" and status.json()["validation"] == {"auc": 0.9}
    assert (
        api.patch(f"{model}/versions/2/tags", json={"tags": {"stage": "prod"}}).status_code == 204
    )
    updated = api.patch(f"{model}/versions/2", json={"card": {"intended_use": "fraud triage"}})
    assert updated.json()["card"] == {"intended_use": "fraud triage"}
    assert updated.json()["tags"] == {"stage": "prod"}
    assert "unknown model card field(s) owner" in error_of(
        api.patch(f"{model}/versions/2", json={"card": {"owner": "x"}}), 400, "INVALID_INPUT"
    )
    renamed = api.patch(model, json={"description": "Fraud model", "owner": "risk"}).json()
    assert (renamed["description"], renamed["owner"]) == ("Fraud model", "risk")
    assert (
        api.request("DELETE", f"{model}/aliases/champion", json={"reason": "rollback"}).status_code
        == 204
    )
    history = api.get(f"{model}/history").json()["history"]
    assert [(h["action"], h["from_value"], h["to_value"], h["reason"]) for h in history] == [
        ("registered", None, source, ""),
        ("registered", None, source, ""),
        ("alias_set", None, "1", ""),
        ("alias_set", "1", "2", "better auc"),
        ("status_changed", "READY", "VALIDATED", "passed"),
        ("alias_deleted", "2", None, "rollback"),
    ]
    assert [v["version"] for v in api.get(f"{model}/versions").json()["versions"]] == [1, 2]
    assert [m["name"] for m in api.get(f"{REGISTRY}/models").json()["models"]] == ["fraud-model"]


def test_the_authenticated_principal_is_recorded_not_the_claim(
    app: FastAPI, api: httpx.Client, source: str
) -> None:
    anonymous = register(api, source, created_by="ada")
    assert anonymous["created_by"] == "ada"  # auth off: the client's word is all there is
    app.state.authenticator = lambda request: Principal(name="grace", authenticated=True)
    version = register(api, source, created_by="mallory")
    assert version["created_by"] == "grace"
    model = f"{REGISTRY}/models/fraud-model"
    api.put(f"{model}/aliases/champion", json={"version": 2, "actor": "mallory"})
    api.post(f"{model}/versions/2/status", json={"status": "REJECTED", "actor": "mallory"})
    api.request("DELETE", f"{model}/aliases/champion", json={"actor": "mallory"})
    actors = [h["actor"] for h in api.get(f"{model}/history").json()["history"]]
    assert actors == ["ada", "grace", "grace", "grace", "grace"]


# -- file downloads --------------------------------------------------------------------------


def test_a_version_file_downloads_with_its_recorded_hash(api: httpx.Client, source: str) -> None:
    version = register(api, source)
    url = f"{REGISTRY}/models/fraud-model/versions/1/files"
    response = api.get(url, params={"path": "weights.txt"})
    assert response.status_code == 200
    assert response.content == WEIGHTS
    sha = hashlib.sha256(WEIGHTS).hexdigest()
    assert response.headers["x-content-sha256"] == sha == version["files"]["weights.txt"]
    assert response.headers["content-length"] == str(len(WEIGHTS))
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "has no file 'other.txt'" in error_of(
        api.get(url, params={"path": "other.txt"}), 404, "NOT_FOUND"
    )
    for bad in ("../weights.txt", "/etc/passwd", "a\\b"):
        error_of(api.get(url, params={"path": bad}), 400, "INVALID_INPUT")
    assert "path" in error_of(api.get(url), 400, "INVALID_INPUT")


def test_a_tampered_blob_is_refused_by_the_server(
    api: httpx.Client, source: str, server_settings: Settings
) -> None:
    version = register(api, source)
    blobs = ArtifactStore(server_settings.artifact_root)
    path = Path(blobs._key(version["files"]["weights.txt"]))
    path.write_bytes(b"tampered")
    response = api.get(
        f"{REGISTRY}/models/fraud-model/versions/1/files", params={"path": "weights.txt"}
    )
    assert "corrupt" in error_of(response, 500, "INTEGRITY_ERROR")


# -- every registry route checks the caller ---------------------------------------------------


def test_every_registry_route_requires_a_principal(app: FastAPI, api: httpx.Client) -> None:
    routes = [r for r in live_routes(app) if getattr(r, "path", "") not in PUBLIC_PATHS]
    served = {(method, r.path) for r in routes for method in r.methods}
    assert served >= REGISTRY_API
    for route in routes:
        assert is_protected(route), f"{route.methods} {route.path} does not require a principal"

    def refuse(request: Any) -> Principal:
        from mlstage.errors import Unauthorized

        raise Unauthorized("a bearer token is required")

    app.state.authenticator = refuse
    for method, path in sorted(REGISTRY_API):
        url = path.format(name="m", version=1, alias="champion")
        response = api.request(method, url, json={})
        assert error_of(response, 401, "UNAUTHORIZED") == "a bearer token is required", url
    spec_paths = api.get("/openapi.json").json()["paths"]
    assert {p for _, p in REGISTRY_API} <= set(spec_paths)


# -- the HTTP registry store ----------------------------------------------------------------------


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


def mock_registry(script: Script) -> HttpRegistryStore:
    client = httpx.Client(transport=httpx.MockTransport(script))
    return HttpRegistryStore("http://registry", Settings(), client=client, sleep=lambda s: None)


def version_json(files: dict[str, str]) -> dict[str, Any]:
    return {
        "name": "m",
        "version": 1,
        "run_id": "0" * 32,
        "source": "runs:/" + "0" * 32 + "/model",
        "files": files,
        "manifest_sha256": "0" * 64,
        "flavor": "sklearn",
        "status": "READY",
        "created_at": 1,
        "updated_at": 1,
    }


def test_a_file_must_match_the_hash_the_registry_recorded() -> None:
    """A server (or proxy) sending other bytes with their own, matching header is caught."""
    recorded = hashlib.sha256(WEIGHTS).hexdigest()
    evil = b"evil weights"
    script = Script(
        httpx.Response(200, json=version_json({"weights.txt": recorded})),
        httpx.Response(
            200, content=evil, headers={"X-Content-SHA256": hashlib.sha256(evil).hexdigest()}
        ),
    )
    with pytest.raises(IntegrityError, match=f"the registry recorded {recorded}"):
        mock_registry(script).read_version_file("m", 1, "weights.txt")
    assert script.requests[1].url.params["path"] == "weights.txt"


def test_a_file_the_version_does_not_list_is_never_asked_for() -> None:
    script = Script(httpx.Response(200, json=version_json({"weights.txt": "0" * 64})))
    with pytest.raises(NotFound, match="has no file '../../etc/passwd'"):
        mock_registry(script).read_version_file("m", 1, "../../etc/passwd")
    assert len(script.requests) == 1


def test_names_are_checked_before_they_reach_a_url() -> None:
    script = Script()
    store = mock_registry(script)
    with pytest.raises(InvalidInput, match="must start with a letter or digit"):
        store.get_registered_model("../admin")
    with pytest.raises(InvalidInput, match="may only contain"):
        store.list_model_versions("m/versions")
    with pytest.raises(InvalidInput, match="alias 'a/b'"):
        store.set_alias("m", "a/b", 1)
    with pytest.raises(InvalidInput, match="whole number"):
        store.get_model_version("m", 0)
    assert script.requests == []


def test_alias_moves_are_not_resent_once_they_may_have_arrived() -> None:
    script = Script(httpx.ReadError("connection reset"))
    with pytest.raises(Unavailable, match="ReadError"):
        mock_registry(script).set_alias("m", "champion", 1)
    assert len(script.requests) == 1
    script = Script(httpx.ReadError("reset"), httpx.Response(200, json=version_json({})))
    assert mock_registry(script).get_model_version("m", 1).version == 1
    assert len(script.requests) == 2


def test_the_registry_store_against_the_in_process_app(
    api: httpx.Client, source: str, server_settings: Settings
) -> None:
    store = HttpRegistryStore("http://testserver", server_settings, client=api, retry_delays=())
    version = store.create_model_version("fraud-model", source, created_by="ada", tags={"k": 1})  # type: ignore[dict-item]
    assert version.tags == {"k": "1"}
    store.set_alias("fraud-model", "champion", 1, "ada", "first")
    assert store.resolve(RegistryRef("fraud-model", alias="champion")).version == 1
    assert store.resolve(RegistryRef("fraud-model")).version == 1
    assert store.read_version_file("fraud-model", 1, "weights.txt") == WEIGHTS
    validated = store.set_version_status(
        "fraud-model", 1, VersionStatus.VALIDATED, "gate", validation={"auc": float("nan")}
    )
    assert validated.status is VersionStatus.VALIDATED
    assert validated.validation is not None and math.isnan(validated.validation["auc"])
    with pytest.raises(Conflict, match="clashes"):
        store.create_registered_model("FRAUD-MODEL")
    with pytest.raises(NotFound, match="has no alias 'challenger'"):
        store.delete_alias("fraud-model", "challenger")


def test_the_fluent_api_goes_through_the_server(project: Path, live_server: str) -> None:
    from sklearn.linear_model import LogisticRegression

    X = [[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]]
    model = LogisticRegression().fit(X, [0, 1, 0, 1])
    config.set_settings(config.load_settings(start=project, tracking_uri=live_server))
    with mlstage.start_run():
        uri = mlstage.log_model(model, "model", input_example=X[:2]).model_uri
    version = mlstage.register_model(uri, "tiny")
    mlstage.set_alias("tiny", "champion", version.version)
    assert isinstance(get_registry_store(), HttpRegistryStore)
    loaded = mlstage.load_model("models:/tiny@champion")
    assert list(loaded.predict(X)) == [0, 1, 0, 1]
    assert loaded.version.created_by  # the user running this, sent while auth is off
