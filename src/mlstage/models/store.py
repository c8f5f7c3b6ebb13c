"""The registry interface, served by the SQL store and the HTTP store alike."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from mlstage.models.entities import HistoryEntry, ModelVersion, RegisteredModel, VersionStatus
from mlstage.models.uri import RegistryRef


@runtime_checkable
class RegistryStore(Protocol):
    """Registered models, versions, aliases and their history; each change one transaction."""

    def create_registered_model(
        self,
        name: str,
        description: str = "",
        owner: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> RegisteredModel: ...

    def get_registered_model(self, name: str) -> RegisteredModel: ...

    def list_registered_models(self) -> list[RegisteredModel]: ...

    def update_registered_model(
        self, name: str, description: str | None = None, owner: str | None = None
    ) -> RegisteredModel: ...

    def create_model_version(
        self,
        name: str,
        source: str,
        description: str = "",
        created_by: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> ModelVersion: ...

    def get_model_version(self, name: str, version: int) -> ModelVersion: ...

    def resolve(self, ref: RegistryRef) -> ModelVersion: ...

    def list_model_versions(self, name: str) -> list[ModelVersion]: ...

    def set_alias(
        self, name: str, alias: str, version: int, actor: str = "", reason: str = ""
    ) -> None: ...

    def delete_alias(self, name: str, alias: str, actor: str = "", reason: str = "") -> None: ...

    def set_version_status(
        self,
        name: str,
        version: int,
        status: VersionStatus,
        actor: str = "",
        reason: str = "",
        validation: Mapping[str, object] | None = None,
    ) -> ModelVersion: ...

    def set_version_tags(self, name: str, version: int, tags: Mapping[str, str]) -> None: ...

    def update_model_version(
        self,
        name: str,
        version: int,
        description: str | None = None,
        card: Mapping[str, str] | None = None,
    ) -> ModelVersion: ...

    def get_history(self, name: str) -> list[HistoryEntry]: ...

    def read_version_file(self, name: str, version: int, path: str) -> bytes:
        """A file of the version, checked against the hash recorded at registration."""
        ...
