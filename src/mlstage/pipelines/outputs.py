"""Storing step outputs in the artifact store and reading them back."""

from __future__ import annotations

from typing import Any

from mlstage.artifacts.store import ArtifactStore, get_artifact_store
from mlstage.config import get_settings
from mlstage.pipelines import serializers
from mlstage.pipelines.entities import StoredOutput
from mlstage.pipelines.types import Kind


def artifact_store() -> ArtifactStore:
    settings = get_settings()
    return get_artifact_store(settings.artifact_root, settings.s3_endpoint_url)


def store_output(value: Any, kind: Kind, type_label: str, where: str) -> StoredOutput:
    data = serializers.dump(kind, value, where)
    sha, size = artifact_store().put_bytes(data)
    return StoredOutput(sha256=sha, size=size, kind=kind, type=type_label)


def load_output(stored: StoredOutput, where: str) -> Any:
    data = artifact_store().get_bytes(stored.sha256)
    return serializers.load(stored.kind, data, where)  # type: ignore[arg-type]
