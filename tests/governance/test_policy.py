"""Classifications inherited through lineage, and the policies refusing (and auditing) misuse.

A confidential dataset makes its run, the model version trained there and
the deployment serving it confidential; an ``internal`` environment then
refuses to deploy, serve or export it, through the Python API, the CLI, the
REST API and the UI, each refusal with its audit entry. Public data passes.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

import mlstage
from mlstage import config
from mlstage.cli.main import app as cli
from mlstage.errors import Forbidden, NotFound
from mlstage.governance.environments import EnvironmentStore
from mlstage.governance.policy import PermissionDenied, Policy, policy_for
from mlstage.models.manifest import MANIFEST_FILE
from mlstage.serving.deployments import get_deployment_store

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@dataclass
class Lineage:
    """Model ``churn``: v1 trained on confidential ``patients``, v2 on public ``open-data``."""

    policy: Policy
    runs: dict[str, str]
    secret: int
    public: int

    def refusals(self, action: str = "policy.max_classification") -> list[Any]:
        from mlstage.governance.audit import query

        with self.policy.db.read() as conn:
            return query(conn, action=action)


def _train(dataset: str) -> tuple[str, int]:
    from sklearn.linear_model import LogisticRegression

    X = pd.DataFrame({"a": [0.1 * i for i in range(40)], "b": [(-1) ** i for i in range(40)]})
    y = (X.a > 2).astype(int)
    mlstage.datasets.register(dataset, X.assign(y=y if dataset == "patients" else 1 - y))
    with mlstage.start_run() as run:
        mlstage.log_input(f"{dataset}@1")
        model = LogisticRegression().fit(X, y)
        uri = mlstage.log_model(model, "model", input_example=X[:5]).model_uri
    return run.run_id, mlstage.register_model(uri, "churn").version


@pytest.fixture
def lineage(backend: str) -> Lineage:
    runs, versions = {}, {}
    for dataset in ("patients", "open-data"):
        runs[dataset], versions[dataset] = _train(dataset)
    policy = policy_for()
    assert policy is not None
    policy.declare("dataset", "patients", "confidential", actor="ada")
    policy.declare("dataset", "open-data", "public", actor="ada")
    store = EnvironmentStore(policy.db, policy.levels)
    store.create("dev", "internal", actor="ada")
    store.create("secure", "confidential", executors=["local"], actor="ada")
    return Lineage(policy, runs, versions["patients"], versions["open-data"])


SQLITE = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def in_environment(name: str) -> None:
    config.set_settings(config.get_settings().with_overrides(environment=name))


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_classification_is_inherited_through_run_model_and_deployment(lineage: Lineage) -> None:
    classify = lineage.policy.classify
    run = classify(lambda c: c.run(lineage.runs["patients"]))
    assert (run.level, run.because) == ("confidential", "from dataset 'patients'")
    version = classify(lambda c: c.model_version("churn", lineage.secret))
    assert version.level == "confidential" and "from dataset 'patients'" in version.because
    assert classify(lambda c: c.model_version("churn", lineage.public)).level == "public"
    unlabelled = classify(lambda c: c.dataset("never-labelled"))
    assert (unlabelled.level, unlabelled.because) == ("internal", "unlabelled: the default level")

    deployments = get_deployment_store()
    deployments.deploy("churn-lab", "churn", "lab", lineage.public, actor="ada")
    assert classify(lambda c: c.deployment("churn-lab")).level == "public"
    deployments.deploy(
        "churn-lab", "churn", "lab", lineage.public, candidate_version=lineage.secret,
        strategy="canary", weight=10, actor="ada",
    )  # fmt: skip
    both = classify(lambda c: c.deployment("churn-lab"))
    assert both.level == "confidential"  # the highest of the versions it serves
    assert f"from model churn/{lineage.secret}" in both.because

    lineage.policy.declare("model", f"churn/{lineage.public}", "restricted", actor="bo")
    assert classify(lambda c: c.deployment("churn-lab")).level == "restricted"
    artifacts = classify(lambda c: c.run_artifacts(lineage.runs["open-data"]))
    assert artifacts.level == "restricted"  # the run's files hold the restricted version


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_deploy_refuses_a_confidential_model_in_an_internal_environment(lineage: Lineage) -> None:
    store = get_deployment_store()
    with pytest.raises(PermissionDenied, match="refused by policy max_classification") as caught:
        store.deploy("churn-dev", "churn", "dev", lineage.secret, actor="ada")
    message = caught.value.message
    assert "deployment 'churn-dev' is confidential" in message
    assert "environment 'dev', whose maximum classification is internal" in message
    assert isinstance(caught.value, Forbidden)
    with pytest.raises(NotFound):
        store.get_deployment("churn-dev")  # nothing written
    [entry] = lineage.refusals()
    assert (entry.actor, entry.object_type, entry.object_id) == ("ada", "deployment", "churn-dev")
    assert entry.after["max"] == "internal" and entry.after["classification"] == "confidential"

    assert store.deploy("churn-dev", "churn", "dev", lineage.public).primary_version == 2
    assert store.deploy("churn-secure", "churn", "secure", lineage.secret).revision == 1
    assert len(lineage.refusals()) == 1


@SQLITE
def test_serving_refuses_to_load_a_model_above_the_environment(lineage: Lineage) -> None:
    from mlstage.serving.app import create_serving_app
    from mlstage.serving.options import ServingOptions

    options = ServingOptions(log_requests=False)
    in_environment("dev")
    with pytest.raises(PermissionDenied, match="cannot serve model 'churn/1' is confidential"):
        create_serving_app(f"churn/{lineage.secret}", config.get_settings(), options)
    [entry] = lineage.refusals()
    assert entry.object_id == f"churn/{lineage.secret}" and entry.after["action"] == "serve"

    app = create_serving_app(f"churn/{lineage.public}", config.get_settings(), options)
    with TestClient(app) as client:
        answer = client.post("/predict", json={"records": [{"a": 1.0, "b": 1}]})
    assert answer.status_code == 200, answer.text

    # a deployment's environment decides for it: raising the data's level later stops a load
    get_deployment_store().deploy("churn-dev", "churn", "dev", lineage.public)
    lineage.policy.declare("dataset", "open-data", "restricted", actor="bo")
    in_environment("")
    with pytest.raises(PermissionDenied, match="environment 'dev'"):
        create_serving_app("deployment:churn-dev", config.get_settings(), options)
    assert len(lineage.refusals()) == 2


@SQLITE
def test_the_cli_refuses_serve_deploy_and_export_with_the_policy_named(
    lineage: Lineage, tmp_path: Path
) -> None:
    runner = CliRunner()
    env = {"MLSTAGE_ENVIRONMENT": "dev"}
    served = runner.invoke(cli, ["serve", f"churn/{lineage.secret}"], env=env)
    assert served.exit_code == 1
    assert "refused by policy max_classification" in served.output
    deployed = runner.invoke(
        cli, ["deploy", "churn", "--env", "dev", "--version", str(lineage.secret)]
    )
    assert deployed.exit_code == 1 and "deployment 'churn-dev' is confidential" in deployed.output
    out = tmp_path / "exported"
    exported = runner.invoke(
        cli, ["models", "export", f"churn/{lineage.secret}", "--to", str(out), "--environment",
              "dev"],
    )  # fmt: skip
    assert exported.exit_code == 1, exported.output
    assert "cannot export model 'churn/1' is confidential" in exported.output
    assert not out.exists()
    assert [e.after["action"] for e in lineage.refusals()] == ["serve", "deploy", "export"]

    allowed = runner.invoke(
        cli, ["models", "export", f"churn/{lineage.secret}", "--to", str(out), "--environment",
              "secure"],
    )  # fmt: skip
    assert allowed.exit_code == 0, allowed.output
    assert "(confidential)" in allowed.output and (out / MANIFEST_FILE).is_file()


@SQLITE
def test_export_through_the_python_api_checks_and_copies_the_files(
    lineage: Lineage, tmp_path: Path
) -> None:
    from mlstage.governance.export import export_model

    in_environment("dev")
    with pytest.raises(PermissionDenied, match="maximum classification is internal"):
        export_model(f"churn/{lineage.secret}", tmp_path / "no", actor="ada")
    done = export_model(f"churn/{lineage.public}", tmp_path / "yes", actor="ada")
    assert done.version == lineage.public and done.classification == "public"
    assert sorted(p.name for p in (tmp_path / "yes").iterdir()) == sorted(done.files)
    assert len(lineage.refusals()) == 1


def _server(project: Path, **overrides: Any) -> TestClient:
    from mlstage.server import create_app

    settings = config.load_settings(start=project, allowed_hosts=("testserver",), **overrides)
    config.set_settings(settings)
    return TestClient(create_app(settings), raise_server_exceptions=False)


@SQLITE
def test_rest_and_ui_downloads_are_refused_in_an_internal_environment(
    lineage: Lineage, project: Path
) -> None:
    secret_run, public_run = lineage.runs["patients"], lineage.runs["open-data"]
    with _server(project, environment="dev") as client:
        refused = client.get(f"/api/v1/runs/{secret_run}/artifacts/model/{MANIFEST_FILE}")
        allowed = client.get(f"/api/v1/runs/{public_run}/artifacts/model/{MANIFEST_FILE}")
        page = client.get(f"/runs/{secret_run}/preview", params={"path": f"model/{MANIFEST_FILE}"})
        shown = client.get(f"/runs/{public_run}/preview", params={"path": f"model/{MANIFEST_FILE}"})
        deploy = client.put(
            "/api/v1/deployments/churn-dev",
            json={"model": "churn", "environment": "dev", "primary_version": lineage.secret},
        )
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert error["code"] == "FORBIDDEN"
    assert error["message"].startswith("refused by policy max_classification: cannot download run")
    assert (
        "is confidential" in error["message"]
        and "maximum classification is internal" in (error["message"])
    )
    assert allowed.status_code == 200 and b"flavor" in allowed.content
    assert page.status_code == 403 and "refused by policy max_classification" in page.text
    assert shown.status_code == 200
    assert deploy.status_code == 403 and "max_classification" in deploy.json()["error"]["message"]
    entries = lineage.refusals()
    assert [(e.object_type, e.after["action"]) for e in entries] == [
        ("run", "download"), ("run", "download"), ("deployment", "deploy"),
    ]  # fmt: skip
    assert entries[0].object_id == secret_run and entries[0].address == "testclient"


@SQLITE
def test_downloads_of_confidential_artifacts_need_the_role_from_settings(
    lineage: Lineage, project: Path
) -> None:
    from mlstage.governance.sql_store import GovernanceStore

    gov = GovernanceStore(lineage.policy.db)
    tokens = {}
    for role in ("viewer", "maintainer"):
        gov.create_user(role, role, "correct horse battery")
        tokens[role] = gov.create_token(role, "write" if role != "viewer" else "read", 3_600_000)
    secret_run, public_run = lineage.runs["patients"], lineage.runs["open-data"]
    path = f"artifacts/model/{MANIFEST_FILE}"
    with _server(project, auth_required=True) as client:

        def get(run_id: str, role: str) -> Any:
            headers = {"Authorization": f"Bearer {tokens[role].secret}"}
            return client.get(f"/api/v1/runs/{run_id}/{path}", headers=headers)

        viewer, maintainer = get(secret_run, "viewer"), get(secret_run, "maintainer")
        public = get(public_run, "viewer")
    assert viewer.status_code == 403
    message = viewer.json()["error"]["message"]
    assert message.startswith("refused by policy download_role: cannot download run")
    assert "confidential and above needs the maintainer role" in message
    assert "the caller has viewer" in message
    assert maintainer.status_code == 200 and public.status_code == 200
    [entry] = lineage.refusals("policy.download_role")
    assert entry.actor == "viewer" and entry.after["needs"] == "maintainer"


@SQLITE
def test_loading_a_model_or_a_dataset_in_an_environment_obeys_its_maximum(
    lineage: Lineage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batch scoring, notebooks and scripts load through the same API: the same policy."""
    in_environment("dev")
    with pytest.raises(PermissionDenied, match="cannot use model 'churn/1' is confidential"):
        mlstage.load_model(f"models:/churn/{lineage.secret}")
    with pytest.raises(PermissionDenied, match="cannot use dataset 'patients' is confidential"):
        mlstage.datasets.load("patients@1")
    mlstage.load_model(f"models:/churn/{lineage.public}")  # public: allowed
    mlstage.datasets.load("open-data@1")
    rows = pd.DataFrame({"a": [0.5], "b": [1]})
    rows.to_csv(tmp_path / "in.csv", index=False)
    monkeypatch.setenv("MLSTAGE_ENVIRONMENT", "dev")  # the CLI reads its settings afresh
    monkeypatch.setenv("MLSTAGE_TRACKING_URI", config.get_settings().tracking_uri)
    refused = CliRunner().invoke(
        cli, ["predict", f"churn/{lineage.secret}", "--input", str(tmp_path / "in.csv"),
              "--output", str(tmp_path / "out.csv")],
    )  # fmt: skip
    assert refused.exit_code != 0 and "refused by policy max_classification" in refused.output
    assert not (tmp_path / "out.csv").exists()
    used = [e for e in lineage.refusals() if (e.after or {}).get("action") == "use"]
    assert {e.object_type for e in used} == {"model", "dataset"}
    assert len(used) == 3  # load_model, datasets.load, the CLI's batch scoring

    in_environment("secure")  # up to confidential
    mlstage.load_model(f"models:/churn/{lineage.secret}")
    mlstage.datasets.load("patients@1")
