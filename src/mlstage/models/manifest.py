"""``mlstage-model.yaml``: what a model directory holds and where it came from.

Read with ``yaml.safe_load`` into a pydantic model with unknown keys
refused. Nothing in it is trusted to decide how to load: the flavor picks a
loader from mlstage's own table, and skops' trusted types come from settings.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlstage.errors import InvalidInput
from mlstage.models.signature import Signature

MANIFEST_FILE = "mlstage-model.yaml"
FlavorName = Literal["sklearn", "python"]


class DatasetRef(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    digest: str
    context: str = "training"


class ModelManifest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    format_version: int = 1
    flavor: FlavorName
    model_class: str
    signature: Signature | None = None
    python_version: str = ""
    packages: dict[str, str] = Field(default_factory=dict)
    requirements: list[str] = Field(default_factory=list)
    run_id: str | None = None
    artifact_path: str = ""
    datasets: list[DatasetRef] = Field(default_factory=list)
    metrics: dict[str, float] = Field(default_factory=dict)
    created_at: int = 0
    python_model: dict[str, Any] | None = None
    """For the python flavor: module file, class name and JSON state."""


def dump_manifest(manifest: ModelManifest) -> bytes:
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    text: str = yaml.dump(manifest.model_dump(mode="json"), Dumper=dumper, sort_keys=False)
    return text.encode("utf-8")


def load_manifest(data: bytes) -> ModelManifest:
    import yaml

    # libyaml's safe loader when present: ten times faster, and just as safe.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        raw = yaml.load(data.decode("utf-8"), Loader=loader)  # noqa: S506
        return ModelManifest.model_validate(raw)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{MANIFEST_FILE} is not valid YAML: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"{MANIFEST_FILE}: {where}: {first['msg']}") from exc
