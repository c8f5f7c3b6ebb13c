"""Deployment artifacts for the prediction service: a Dockerfile, or Kubernetes manifests.

The image holds mlstage and the model's requirements, not the model: the
service fetches the model from the registry when it starts (hash-checked),
so one image serves every version with the same requirements, and the
tracking URI comes from the environment at run time, never baked in.
Files are rendered by pure functions (``render``) from a ``BuildSpec`` that
``resolve_spec`` reads from the registry; YAML goes through ``yaml.safe_dump``
so no value can break the structure.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlstage.errors import InvalidInput

if TYPE_CHECKING:
    from mlstage.models.manifest import ModelManifest

Target = Literal["docker", "k8s"]
TARGETS: tuple[Target, ...] = ("docker", "k8s")
BASE_IMAGE = "python:3.11-slim"
UID = 10001
HOME = "/home/mlstage"
SECRET_KEYS = {  # env var -> key in the Secret; only the tracking URI is required
    "MLSTAGE_TRACKING_URI": "tracking-uri",
    "MLSTAGE_TRACKING_TOKEN": "tracking-token",
    "MLSTAGE_ARTIFACT_ROOT": "artifact-root",
    "MLSTAGE_S3_ENDPOINT_URL": "s3-endpoint-url",
    "AWS_ACCESS_KEY_ID": "aws-access-key-id",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-access-key",
}
_K8S_NAME = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
_IMAGE = re.compile(
    r"(?:[a-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?"
)
# A PEP 508 name, extras, version clauses and markers; no options (-e, --index-url), no URLs.
_REQUIREMENT = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9._\-]*(\[[A-Za-z0-9._,\- ]+\])?[A-Za-z0-9.*+!=<>~,;:'\"()_ \-]*"
)


@dataclass(frozen=True, slots=True)
class BuildSpec:
    """Everything the generated files depend on; made by ``resolve_spec``, or by hand in tests."""

    model: str
    """The address the service serves, as given (``churn@champion``): an alias follows its moves."""
    model_version: int | None
    """The version the address pointed at when built; its requirements are installed."""
    requirements: tuple[str, ...]
    name: str
    """The Kubernetes name and image name stem."""
    image: str
    port: int = 8080
    replicas: int = 2
    deployment: str | None = None
    mlstage_version: str = "0.0.0"
    example: str = "{}"
    """One input row as JSON, for the README's curl example."""

    @property
    def serve_command(self) -> list[str]:
        served = ["--deployment", self.deployment] if self.deployment else [self.model]
        return ["mlstage", "serve", *served, "--host", "0.0.0.0", "--port", str(self.port)]  # noqa: S104

    @property
    def secret_name(self) -> str:
        return f"{self.name}-mlstage"


# -- checks --------------------------------------------------------------------------------


def check_k8s_name(name: str, what: str = "name") -> str:
    if not _K8S_NAME.fullmatch(name):
        raise InvalidInput(
            f"{what} {name!r} cannot name Kubernetes objects: use 1 to 63 lower-case letters, "
            "digits and '-', starting with a letter and ending with a letter or digit "
            "(give one with --name)"
        )
    return name


def check_image(image: str) -> str:
    if len(image) > 255 or not _IMAGE.fullmatch(image):
        raise InvalidInput(
            f"image {image!r} is not a valid image reference (e.g. registry.example.com/churn:3)"
        )
    return image


def check_requirements(requirements: list[str], source: str) -> tuple[str, ...]:
    """The model's requirements, minus mlstage itself (pinned separately), each one checked."""
    kept = []
    for line in requirements:
        line = line.strip()
        if not line:
            continue
        if not _REQUIREMENT.fullmatch(line) or "://" in line:
            raise InvalidInput(
                f"{source}: requirement {line!r} is not a plain package requirement "
                "(name, extras, versions): options and URLs are refused in generated files"
            )
        if re.split(r"[\[<>=!~;\s]", line, maxsplit=1)[0].lower() != "mlstage":
            kept.append(line)
    return tuple(kept)


def _k8s_name_for(name: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", name.lower()).strip("-")[:63].rstrip("-")


# -- from the registry -------------------------------------------------------------------------


def resolve_spec(
    model: str,
    *,
    port: int = 8080,
    replicas: int = 2,
    deployment: str | None = None,
    name: str | None = None,
    image: str | None = None,
) -> BuildSpec:
    """Read the model's manifest (for its requirements) and check every option."""
    from mlstage import __version__
    from mlstage.models.uri import RegistryRef, parse_model_uri

    if not 1 <= port <= 65535:
        raise InvalidInput(f"port must be from 1 to 65535, got {port}")
    if replicas < 1:
        raise InvalidInput(f"replicas must be at least 1, got {replicas}")
    ref = parse_model_uri(model)
    served = str(ref).removeprefix("models:/")
    manifest, version = _manifest(ref)
    model_name = ref.name if isinstance(ref, RegistryRef) else f"run-{ref.run_id[:8]}"
    if deployment is not None:
        model_name = _check_deployment(deployment, ref)
    app = check_k8s_name(name or _k8s_name_for(deployment or model_name), "name")
    return BuildSpec(
        model=served,
        model_version=version,
        requirements=check_requirements(manifest.requirements, f"the manifest of {model}"),
        name=app,
        image=check_image(image or f"mlstage-{app}:{version or 'latest'}"),
        port=port,
        replicas=replicas,
        deployment=deployment,
        mlstage_version=__version__,
        example=_example(manifest),
    )


def _manifest(ref: Any) -> tuple[ModelManifest, int | None]:
    from mlstage.models.api import get_registry_store
    from mlstage.models.manifest import MANIFEST_FILE, load_manifest
    from mlstage.models.uri import RegistryRef
    from mlstage.tracking.store import get_tracking_store

    if isinstance(ref, RegistryRef):
        registry = get_registry_store()
        version = registry.resolve(ref)
        data = registry.read_version_file(version.name, version.version, MANIFEST_FILE)
        return load_manifest(data), version.version
    data = get_tracking_store().read_artifact(ref.run_id, f"{ref.path}/{MANIFEST_FILE}")
    return load_manifest(data), None


def _example(manifest: ModelManifest) -> str:
    """A plausible input row from the signature: mid-range numbers, a known category."""
    row: dict[str, Any] = {}
    for spec in manifest.signature.inputs if manifest.signature else []:
        if spec.type in ("integer", "float"):
            low = spec.min if spec.min is not None else 0.0
            middle = (low + (spec.max if spec.max is not None else low)) / 2
            row[spec.name] = round(middle) if spec.type == "integer" else round(middle, 3)
        elif spec.type == "boolean":
            row[spec.name] = True
        elif spec.type == "datetime":
            row[spec.name] = "2026-01-01T00:00:00"
        else:
            row[spec.name] = spec.categories[0] if spec.categories else "..."
    return json.dumps(row)


def _check_deployment(deployment: str, ref: Any) -> str:
    from mlstage.models.names import canonical_model_name
    from mlstage.models.uri import RegistryRef
    from mlstage.serving.deployments import check_deployment_name, get_deployment_store

    record = get_deployment_store().get_deployment(check_deployment_name(deployment))
    if not isinstance(ref, RegistryRef) or canonical_model_name(ref.name) != canonical_model_name(
        record.model
    ):
        raise InvalidInput(
            f"deployment {deployment!r} serves model {record.model!r}, not {str(ref)!r}: "
            f"build it with MODEL {record.model}@<alias> or {record.model}/<version>"
        )
    return record.model


# -- rendering (pure) --------------------------------------------------------------------------


def render(spec: BuildSpec, target: Target) -> dict[str, str]:
    """The generated files, by name."""
    if target == "docker":
        return {
            "Dockerfile": _dockerfile(spec),
            "requirements.txt": _requirements(spec),
            ".dockerignore": _template("dockerignore"),
            "README.txt": _readme(spec, target),
        }
    if target == "k8s":
        return {
            "deployment.yaml": _yaml(_deployment(spec), spec),
            "service.yaml": _yaml(_service(spec), spec),
            "kustomization.yaml": _yaml(_kustomization(spec), spec),
            "README.txt": _readme(spec, target),
        }
    raise InvalidInput(f"target {target!r} is not one of {', '.join(TARGETS)}")


def _header(spec: BuildSpec) -> str:
    pinned = f" (version {spec.model_version} when built)" if spec.model_version else ""
    what = f"deployment {spec.deployment}" if spec.deployment else spec.model
    return (
        f"# Generated by mlstage {spec.mlstage_version} for {what}{pinned}.\n"
        "# The service loads the model from the registry at start; set MLSTAGE_TRACKING_URI.\n"
    )


def _requirements(spec: BuildSpec) -> str:
    lines = "".join(f"{r}\n" for r in spec.requirements)
    return f"# The model's requirements, from its manifest.\n{lines}"


def _template(name: str, **values: Any) -> str:
    from importlib.resources import files
    from string import Template

    text = files("mlstage.serving").joinpath("build_templates", name).read_text("utf-8")
    return Template(text).substitute(**values)


def _dockerfile(spec: BuildSpec) -> str:
    probe = (
        "import urllib.request; "
        f"urllib.request.urlopen('http://127.0.0.1:{spec.port}/ready', timeout=4)"
    )
    labels = {
        "org.opencontainers.image.title": spec.name,
        "io.mlstage.model": spec.model,
        "io.mlstage.model-version": str(spec.model_version or ""),
    }
    return _template(
        "Dockerfile.tmpl",
        header=_header(spec),
        base_image=BASE_IMAGE,
        labels=" ".join(f"{k}={json.dumps(v)}" for k, v in labels.items()),
        uid=UID,
        home=HOME,
        mlstage_version=spec.mlstage_version,
        port=spec.port,
        healthcheck=json.dumps(["python", "-c", probe]),
        command=json.dumps(spec.serve_command),
    )


def _labels(spec: BuildSpec) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": spec.name,
        "app.kubernetes.io/component": "prediction-service",
        "app.kubernetes.io/managed-by": "mlstage",
    }


def _env(spec: BuildSpec) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = []
    for variable, key in SECRET_KEYS.items():
        ref: dict[str, Any] = {"name": spec.secret_name, "key": key}
        if variable != "MLSTAGE_TRACKING_URI":
            ref["optional"] = True
        env.append({"name": variable, "valueFrom": {"secretKeyRef": ref}})
    env.append({"name": "HOME", "value": HOME})
    return env


def _deployment(spec: BuildSpec) -> dict[str, Any]:
    """The skeleton in build_templates/deployment.yaml, with this build's values filled in."""
    import yaml

    document: dict[str, Any] = yaml.safe_load(_template("deployment.yaml"))
    annotations = {"mlstage.io/model": spec.model}
    if spec.model_version:
        annotations["mlstage.io/model-version"] = str(spec.model_version)
    if spec.deployment:
        annotations["mlstage.io/deployment"] = spec.deployment
    document["metadata"] = {
        "name": spec.name,
        "labels": _labels(spec),
        "annotations": dict(annotations),
    }
    document["spec"]["replicas"] = spec.replicas
    document["spec"]["selector"] = {"matchLabels": {"app.kubernetes.io/name": spec.name}}
    pod = document["spec"]["template"]
    pod["metadata"] = {"labels": _labels(spec), "annotations": annotations}
    (skeleton,) = pod["spec"]["containers"]
    pod["spec"]["containers"] = [
        {
            "name": skeleton.pop("name"),
            "image": spec.image,
            "command": spec.serve_command,
            "ports": [{"name": "http", "containerPort": spec.port, "protocol": "TCP"}],
            "env": _env(spec),
            **skeleton,
        }
    ]
    return document


def _service(spec: BuildSpec) -> dict[str, Any]:
    import yaml

    document: dict[str, Any] = yaml.safe_load(_template("service.yaml"))
    document["metadata"] = {"name": spec.name, "labels": _labels(spec)}
    document["spec"]["selector"] = {"app.kubernetes.io/name": spec.name}
    port = {"name": "http", "port": spec.port, "targetPort": "http", "protocol": "TCP"}
    document["spec"]["ports"] = [port]
    return document


def _image_parts(image: str) -> tuple[str, str]:
    """(repository, tag) of an image reference; the tag may be empty."""
    repository, _, tag = image.partition("@")[0].rpartition(":")
    if "/" in tag or not repository:  # no tag: the colon belonged to a registry port
        return image.partition("@")[0], ""
    return repository, tag


def _kustomization(spec: BuildSpec) -> dict[str, Any]:
    repository, tag = _image_parts(spec.image)
    image = {"name": repository, **({"newTag": tag} if tag else {})}
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["deployment.yaml", "service.yaml"],
        "images": [image],
    }


def _yaml(document: dict[str, Any], spec: BuildSpec) -> str:
    import yaml

    text: str = yaml.safe_dump(document, sort_keys=False, default_flow_style=False)
    return _header(spec) + text


def _readme(spec: BuildSpec, target: Target) -> str:
    return _template(
        f"README-{target}.txt",
        header=_header(spec).replace("# ", ""),
        model=f"{spec.model} --deployment {spec.deployment}" if spec.deployment else spec.model,
        image=spec.image,
        image_name=_image_parts(spec.image)[0],
        app=spec.name,
        optional_keys=", ".join(k for k in SECRET_KEYS.values() if k != "tracking-uri"),
        secret=spec.secret_name,
        replicas=spec.replicas,
        uid=UID,
        port=spec.port,
        example=spec.example,
    )


# -- writing -----------------------------------------------------------------------------------


def check_output(output: str | Path, *, force: bool = False) -> Path:
    """The output folder, refused when it is a file, or holds anything and ``force`` is off."""
    folder = Path(output)
    if folder.exists() and not folder.is_dir():
        raise InvalidInput(f"output {str(folder)!r} is a file; give a folder")
    if folder.is_dir() and any(folder.iterdir()) and not force:
        present = ", ".join(sorted(p.name for p in folder.iterdir())[:5])
        raise InvalidInput(
            f"output folder {str(folder)!r} is not empty (it holds {present}); "
            "choose another folder or pass --force to overwrite the generated files"
        )
    return folder


def write_files(files: dict[str, str], output: str | Path, *, force: bool = False) -> list[Path]:
    """Write ``files`` into ``output``; an existing non-empty folder needs ``force``."""
    folder = check_output(output, force=force)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in files.items():
        path = folder / name
        partial = folder / f".{name}.partial"
        partial.write_text(content, encoding="utf-8")
        partial.replace(path)
        written.append(path)
    return written


def build(
    model: str,
    target: Target,
    output: str | Path,
    *,
    port: int = 8080,
    replicas: int = 2,
    deployment: str | None = None,
    name: str | None = None,
    image: str | None = None,
    force: bool = False,
) -> tuple[BuildSpec, list[Path]]:
    """Generate the ``target``'s files for serving ``model`` into the folder ``output``."""
    if target not in TARGETS:
        raise InvalidInput(f"target {target!r} is not one of {', '.join(TARGETS)}")
    folder = check_output(output, force=force)  # before the registry is read
    spec = resolve_spec(
        model, port=port, replicas=replicas, deployment=deployment, name=name, image=image
    )
    return spec, write_files(render(spec, target), folder, force=force)
