"""Registry entities shared by the stores, the REST API, the CLI and the UI."""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import Field

from mlstage.tracking.entities import Entity


class VersionStatus(StrEnum):
    READY = "READY"
    """Registered, files hashed; not yet through the validation gate."""
    VALIDATED = "VALIDATED"
    """Passed the validation gate: may be promoted to an alias such as champion."""
    REJECTED = "REJECTED"
    """Failed the validation gate."""
    ARCHIVED = "ARCHIVED"


class RegisteredModel(Entity):
    name: str
    description: str = ""
    owner: str = ""
    created_at: int
    updated_at: int
    tags: dict[str, str] = Field(default_factory=dict)
    aliases: dict[str, int] = Field(default_factory=dict)
    latest_version: int | None = None


class ModelVersion(Entity):
    name: str
    version: int
    run_id: str | None
    source: str
    files: dict[str, str]
    """Every file of the model and its sha256, recorded at registration; loads check them."""
    manifest_sha256: str
    flavor: str
    status: VersionStatus
    description: str = ""
    created_by: str = ""
    created_at: int
    updated_at: int
    tags: dict[str, str] = Field(default_factory=dict)
    aliases: list[str] = Field(default_factory=list)
    validation: dict[str, Any] | None = None
    card: dict[str, str] = Field(default_factory=dict)
    """Fields people edit: intended_use, limitations, ethical_considerations, ..."""

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


class HistoryEntry(Entity):
    name: str
    version: int | None
    action: str
    """registered, alias_set, alias_deleted, status_changed."""
    alias: str | None = None
    from_value: str | None = None
    to_value: str | None = None
    actor: str = ""
    reason: str = ""
    at: int


def version_from_row(
    name: str, row: Mapping[str, Any], tags: dict[str, str], aliases: list[str]
) -> ModelVersion:
    """A ``ModelVersion`` from its ``model_versions`` row (any mapping of its columns).

    Rows were checked on the way in: built without validating again (and without
    building the model's schema in a process that only loads a model).
    """
    validation = row["validation"]
    return ModelVersion.model_construct(
        name=name,
        version=int(row["version"]),
        run_id=row["run_id"],
        source=row["source"],
        files=json.loads(row["files"]),
        manifest_sha256=row["manifest_sha256"],
        flavor=row["flavor"],
        status=VersionStatus(row["status"]),
        description=row["description"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        tags=tags,
        aliases=aliases,
        validation=json.loads(validation) if validation else None,
        card=json.loads(row["card"]),
    )
