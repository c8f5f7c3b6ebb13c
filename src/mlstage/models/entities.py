"""Registry entities shared by the stores, the REST API, the CLI and the UI."""

from __future__ import annotations

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
