"""Model addresses: ``models:/churn@champion``, ``models:/churn/3``, ``runs:/<run id>/model``.

The short forms ``churn@champion`` and ``churn/3`` are accepted wherever a
model is named on the command line.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlstage.artifacts.paths import canonical_artifact_path
from mlstage.errors import InvalidInput
from mlstage.models.names import check_alias, check_model_name, check_version
from mlstage.tracking.validation import check_run_id


@dataclass(frozen=True)
class RegistryRef:
    """A registered model by version number or by alias (``latest`` is the newest version)."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.alias is not None:
            return f"models:/{self.name}@{self.alias}"
        if self.version is not None:
            return f"models:/{self.name}/{self.version}"
        return f"models:/{self.name}/latest"


@dataclass(frozen=True)
class RunRef:
    """A model directory logged by a run."""

    run_id: str
    path: str

    def __str__(self) -> str:
        return f"runs:/{self.run_id}/{self.path}"


ModelRef = RegistryRef | RunRef


def parse_model_uri(uri: str) -> ModelRef:
    if not isinstance(uri, str) or not uri:
        raise InvalidInput(f"model URI must be a non-empty string, got {uri!r}")
    if uri.startswith("runs:/"):
        run_id, _, path = uri.removeprefix("runs:/").partition("/")
        if not path:
            raise InvalidInput(f"model URI {uri!r} must be runs:/<run id>/<model path>")
        return RunRef(check_run_id(run_id), canonical_artifact_path(path, "model path"))
    body = uri.removeprefix("models:/")
    if "://" in body or body.startswith("/"):
        raise InvalidInput(
            f"model URI {uri!r}: use models:/<name>@<alias>, models:/<name>/<version> "
            "or runs:/<run id>/<path>"
        )
    if "@" in body:
        name, _, alias = body.partition("@")
        return RegistryRef(check_model_name(name), alias=check_alias(alias))
    name, sep, version = body.partition("/")
    if not sep:
        raise InvalidInput(
            f"model URI {uri!r} names no version or alias: use {name}@<alias> or {name}/<version>"
        )
    if version == "latest":
        return RegistryRef(check_model_name(name))
    return RegistryRef(check_model_name(name), version=check_version(version))
