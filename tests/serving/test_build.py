"""``mlstage build``: the generated Dockerfile and Kubernetes manifests, parsed and checked.

No container engine or cluster runs here: the files are parsed (YAML with
``yaml.safe_load``, the Dockerfile instruction by instruction) and their
fields checked against what a cluster and ``docker build`` need.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import mlstage
from mlstage.cli.main import app
from mlstage.errors import InvalidInput, NotFound
from mlstage.models.uri import parse_model_uri
from mlstage.serving.build import BuildSpec, build, check_requirements, render

sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
FEATURES = {"sepal_length", "sepal_width", "petal_length", "petal_width"}


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    joined = dockerfile.replace("\\\n", " ")
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word, " ".join(rest.split())))
    return out


def only(pairs: list[tuple[str, str]], word: str) -> str:
    (found,) = [rest for w, rest in pairs if w == word]
    return found


def k8s(folder: Path) -> dict[str, Any]:
    return {
        name: yaml.safe_load((folder / f"{name}.yaml").read_text())
        for name in ("deployment", "service", "kustomization")
    }


def run_of_version(version: int) -> str:
    """The model URI of the run behind churn's ``version``."""
    from mlstage.models.api import get_registry_store

    run_id = get_registry_store().resolve(parse_model_uri(f"churn/{version}")).run_id
    return f"runs:/{run_id}/model"


@pytest.fixture
def champion(churn_versions: list[int]) -> int:
    mlstage.set_alias("churn", "champion", churn_versions[2])
    return churn_versions[2]


def test_docker_target_writes_a_non_root_image_serving_the_alias(
    champion: int, tmp_path: Path
) -> None:
    out = tmp_path / "docker"
    spec, files = build("churn@champion", "docker", out)

    assert sorted(p.name for p in files) == [
        ".dockerignore",
        "Dockerfile",
        "README.txt",
        "requirements.txt",
    ]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in files)
    pairs = instructions((out / "Dockerfile").read_text())
    words = [w for w, _ in pairs]
    assert pairs[0] == ("FROM", "python:3.11-slim")
    install = next(rest for w, rest in pairs if w == "RUN" and "pip install" in rest)
    assert f'"mlstage[postgres,s3]=={mlstage.__version__}"' in install
    assert "-r /tmp/requirements.txt" in install
    assert only(pairs, "USER") == "10001:10001"
    assert words.index("USER") > max(i for i, w in enumerate(words) if w == "RUN")
    assert any(w == "RUN" and "useradd" in rest and "10001" in rest for w, rest in pairs)
    assert only(pairs, "EXPOSE") == "8080"
    assert json.loads(only(pairs, "CMD")) == [
        "mlstage",
        "serve",
        "churn@champion",
        "--host",
        "0.0.0.0",
        "--port",
        "8080",
    ]
    health = only(pairs, "HEALTHCHECK")
    probe = json.loads(health.partition(" CMD ")[2])
    assert probe[:2] == ["python", "-c"]
    assert "http://127.0.0.1:8080/ready" in probe[2]
    assert "MLSTAGE_TRACKING_URI" not in "".join(rest for w, rest in pairs if w == "ENV")
    assert f'io.mlstage.model-version="{champion}"' in only(pairs, "LABEL")

    requirements = [
        line
        for line in (out / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    manifest = mlstage.load_model("churn@champion").manifest
    # mlstage itself is pinned in the Dockerfile, at the version that generated it.
    assert requirements == [r for r in manifest.requirements if not r.startswith("mlstage==")]
    assert any(r.startswith("scikit-learn==") for r in requirements)
    assert (out / ".dockerignore").read_text().splitlines()[-2:] == ["*", "!requirements.txt"]
    readme = (out / "README.txt").read_text()
    assert f"docker build -t mlstage-churn:{champion} ." in readme
    assert "MLSTAGE_TRACKING_URI=" in readme
    example = json.loads(readme.split('{"records": [')[1].split("]}'")[0])
    assert set(example) == FEATURES
    assert spec.model_version == champion


@sqlite_only
def test_k8s_target_writes_deployment_service_and_kustomization(
    champion: int, tmp_path: Path
) -> None:
    out = tmp_path / "k8s"
    build("churn@champion", "k8s", out, port=9000, replicas=3)
    docs = k8s(out)
    deployment, service, kustomization = docs["deployment"], docs["service"], docs["kustomization"]

    assert (deployment["apiVersion"], deployment["kind"]) == ("apps/v1", "Deployment")
    assert deployment["metadata"]["name"] == "churn"
    assert deployment["spec"]["replicas"] == 3
    pod = deployment["spec"]["template"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    assert container["image"] == f"mlstage-churn:{champion}"
    assert container["command"] == [
        "mlstage",
        "serve",
        "churn@champion",
        "--host",
        "0.0.0.0",
        "--port",
        "9000",
    ]
    assert container["ports"] == [{"name": "http", "containerPort": 9000, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/health"
    assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
    assert {"cpu", "memory"} <= container["resources"]["limits"].keys()

    env = {e["name"]: e for e in container["env"]}
    tracking = env["MLSTAGE_TRACKING_URI"]["valueFrom"]["secretKeyRef"]
    assert tracking == {"name": "churn-mlstage", "key": "tracking-uri"}  # required, not optional
    assert env["MLSTAGE_ARTIFACT_ROOT"]["valueFrom"]["secretKeyRef"]["optional"] is True
    assert "value" not in env["MLSTAGE_TRACKING_URI"]  # never baked into the manifest

    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == 10001
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["spec"]["automountServiceAccountToken"] is False
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert "/tmp" in mounts  # writable scratch space despite the read-only root
    assert set(mounts.values()) <= set(volumes)

    assert (service["kind"], service["spec"]["type"]) == ("Service", "ClusterIP")
    assert service["metadata"]["name"] == "churn"
    assert service["spec"]["selector"] == selector
    (port,) = service["spec"]["ports"]
    assert (port["port"], port["targetPort"]) == (9000, "http")

    assert kustomization["kind"] == "Kustomization"
    assert kustomization["resources"] == ["deployment.yaml", "service.yaml"]
    assert kustomization["images"] == [{"name": "mlstage-churn", "newTag": str(champion)}]
    readme = (out / "README.txt").read_text()
    assert "kubectl create secret generic churn-mlstage" in readme
    assert "kubectl apply -k ." in readme


@sqlite_only
def test_a_deployment_is_served_by_name(churn_versions: list[int], tmp_path: Path) -> None:
    from mlstage.serving.deployments import get_deployment_store

    get_deployment_store().deploy(
        "churn-prod", "churn", "prod", 1, candidate_version=2, strategy="canary", weight=10
    )
    build("churn/2", "k8s", tmp_path / "k8s", deployment="churn-prod")
    deployment = k8s(tmp_path / "k8s")["deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"][:4] == ["mlstage", "serve", "--deployment", "churn-prod"]
    assert deployment["metadata"]["name"] == "churn-prod"
    assert deployment["metadata"]["annotations"]["mlstage.io/deployment"] == "churn-prod"

    with pytest.raises(NotFound):
        build("churn/2", "docker", tmp_path / "a", deployment="nope")
    mlstage.register_model(run_of_version(1), "fraud")
    with pytest.raises(InvalidInput, match="serves model 'churn', not 'models:/fraud/1'"):
        build("fraud/1", "docker", tmp_path / "a", deployment="churn-prod")
    assert not (tmp_path / "a").exists()


@sqlite_only
def test_output_folder_names_and_image_are_checked(champion: int, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.md").write_text("mine")
    with pytest.raises(InvalidInput, match="not empty .*notes.md.*--force"):
        build("churn@champion", "docker", out)
    assert sorted(p.name for p in out.iterdir()) == ["notes.md"]
    build("churn@champion", "docker", out, force=True)
    assert (out / "notes.md").read_text() == "mine"
    assert (out / "Dockerfile").is_file()
    assert not list(out.glob(".*.partial"))

    (tmp_path / "file").write_text("")
    with pytest.raises(InvalidInput, match="is a file"):
        build("churn@champion", "k8s", tmp_path / "file")
    with pytest.raises(InvalidInput, match="cannot name Kubernetes objects"):
        build("churn@champion", "k8s", tmp_path / "k1", name="Churn_Model")
    with pytest.raises(InvalidInput, match="not a valid image reference"):
        build("churn@champion", "k8s", tmp_path / "k2", image="Registry/UPPER case")
    with pytest.raises(InvalidInput, match="target"):
        build("churn@champion", "helm", tmp_path / "k3")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="names no version"):
        build("churn", "k8s", tmp_path / "k4")
    with pytest.raises(NotFound):
        build("churn@nobody", "k8s", tmp_path / "k5")
    assert not any((tmp_path / f"k{i}").exists() for i in range(1, 6))

    build("churn@champion", "k8s", tmp_path / "k6", name="churn-eu", image="reg.io:5000/ml/churn:7")
    docs = k8s(tmp_path / "k6")
    assert docs["deployment"]["metadata"]["name"] == "churn-eu"
    assert docs["kustomization"]["images"] == [{"name": "reg.io:5000/ml/churn", "newTag": "7"}]


def test_requirements_are_plain_package_pins() -> None:
    assert check_requirements(
        ["scikit-learn==1.5.2", "numpy>=1.26,<3", "mlstage==0.0.9", "pandas[parquet]==2.2", ""],
        "manifest",
    ) == ("scikit-learn==1.5.2", "numpy>=1.26,<3", "pandas[parquet]==2.2")
    for bad in (
        "--index-url https://evil.example/simple",
        "-e git+https://example.com/repo.git",
        "pkg @ https://example.com/pkg.whl",
        "numpy\nRUN curl evil",
    ):
        with pytest.raises(InvalidInput, match="not a plain package requirement"):
            check_requirements([bad], "manifest")


def test_render_needs_no_registry_and_is_deterministic() -> None:
    spec = BuildSpec(
        model="churn_model@champion",
        model_version=4,
        requirements=("scikit-learn==1.5.2",),
        name="churn-model",
        image="mlstage-churn-model:4",
        mlstage_version="1.2.3",
    )
    files = render(spec, "k8s")
    assert set(files) == {"deployment.yaml", "service.yaml", "kustomization.yaml", "README.txt"}
    assert render(spec, "k8s") == files
    for name, text in files.items():
        prefix = "" if name == "README.txt" else "# "
        assert text.startswith(f"{prefix}Generated by mlstage 1.2.3 for churn_model@champion")
    docker = render(spec, "docker")
    assert '"mlstage[postgres,s3]==1.2.3"' in docker["Dockerfile"]
    assert docker["requirements.txt"].splitlines()[1:] == ["scikit-learn==1.5.2"]


@sqlite_only
def test_model_names_with_underscores_get_a_valid_default_name(
    churn_versions: list[int], tmp_path: Path
) -> None:
    mlstage.register_model(run_of_version(1), "Churn_Model.v2")
    spec, _ = build("Churn_Model.v2/1", "k8s", tmp_path / "k8s")
    assert spec.name == "churn-model-v2"
    assert spec.image == "mlstage-churn-model-v2:1"


@sqlite_only
def test_the_command_prints_what_it_wrote(champion: int, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["build", "churn@champion", "--target", "k8s", "--output", str(tmp_path / "k8s")]
    )
    assert result.exit_code == 0, result.output
    assert f"Wrote 4 files for churn@champion (version {champion})" in result.stdout
    assert "deployment.yaml" in result.stdout
    result = runner.invoke(
        app, ["build", "churn@champion", "--target", "helm", "--output", str(tmp_path / "x")]
    )
    assert result.exit_code == 2
    assert "--target 'helm': use one of docker, k8s" in result.stderr
    result = runner.invoke(
        app, ["build", "churn@champion", "--target", "k8s", "--output", str(tmp_path / "k8s")]
    )
    assert result.exit_code == 2
    assert "not empty" in result.stderr
