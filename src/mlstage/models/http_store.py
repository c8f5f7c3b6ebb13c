"""The registry over the platform server's REST API (``http(s)://host:port``).

Same interface and errors as ``SqlRegistryStore``; the transport (pooled
client, retries, error mapping, checked downloads) is ``mlstage.http_client``.
Names, aliases and versions are checked here before they go into a URL, so
no name can change which URL is called. Changes that write the model's
history (alias moves, status changes) and creates are sent twice only when
the first attempt never left, so a retry cannot record a move twice.
A version's files are checked against the hashes the registry recorded for
that version, not only against what the download says of itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mlstage.errors import NotFound
from mlstage.http_client import API, HttpApi, text_map
from mlstage.models.entities import HistoryEntry, ModelVersion, RegisteredModel, VersionStatus
from mlstage.models.names import check_alias, check_model_name, check_version
from mlstage.models.uri import RegistryRef

if TYPE_CHECKING:
    from mlstage.models.store import RegistryStore


class HttpRegistryStore(HttpApi):
    """``RegistryStore`` over HTTP, one pooled ``httpx.Client`` per store."""

    # -- registered models --------------------------------------------------------------

    def create_registered_model(
        self,
        name: str,
        description: str = "",
        owner: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> RegisteredModel:
        body = {
            "name": name,
            "description": description,
            "owner": owner,
            "tags": text_map(tags, "tag"),
        }
        return RegisteredModel.model_validate(self._json("POST", "/registry/models", body))

    def get_registered_model(self, name: str) -> RegisteredModel:
        return RegisteredModel.model_validate(self._json("GET", _model(name)))

    def list_registered_models(self) -> list[RegisteredModel]:
        data = self._json("GET", "/registry/models")
        return [RegisteredModel.model_validate(m) for m in data["models"]]

    def update_registered_model(
        self, name: str, description: str | None = None, owner: str | None = None
    ) -> RegisteredModel:
        body = {"description": description, "owner": owner}
        data = self._json("PATCH", _model(name), body, idempotent=True)
        return RegisteredModel.model_validate(data)

    # -- versions -----------------------------------------------------------------------

    def create_model_version(
        self,
        name: str,
        source: str,
        description: str = "",
        created_by: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> ModelVersion:
        """Register the model directory at ``source``; creates the registered model if needed."""
        body = {
            "name": name,
            "source": source,
            "description": description,
            "created_by": created_by,
            "tags": text_map(tags, "tag"),
        }
        return ModelVersion.model_validate(self._json("POST", "/registry/versions", body))

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        return ModelVersion.model_validate(self._json("GET", _version(name, version)))

    def resolve(self, ref: RegistryRef) -> ModelVersion:
        params: dict[str, str] = {}
        if ref.alias is not None:
            params["alias"] = check_alias(ref.alias)
        elif ref.version is not None:
            params["version"] = str(check_version(ref.version))
        data = self._json("GET", f"{_model(ref.name)}/resolve", params=params)
        return ModelVersion.model_validate(data)

    def list_model_versions(self, name: str) -> list[ModelVersion]:
        data = self._json("GET", f"{_model(name)}/versions")
        return [ModelVersion.model_validate(x) for x in data["versions"]]

    def read_version_file(self, name: str, version: int, path: str) -> bytes:
        """A file of the version, checked against the hash recorded at registration.

        The hash comes from the version's record, fetched apart from the
        download: a server or proxy that swaps the bytes and their header
        together is still caught. Only paths the record lists are asked for.
        """
        number = check_version(version)
        recorded = self.get_model_version(name, number).files.get(path)
        if recorded is None:
            raise NotFound(f"version {number} of model {name!r} has no file {path!r}")
        what = f"file {path!r} of version {number} of model {name!r}"
        url = f"{API}{_version(name, number)}/files"
        return self._download(url, what, params={"path": path}, recorded=recorded)

    # -- aliases, status, tags, history ------------------------------------------------------

    def set_alias(
        self, name: str, alias: str, version: int, actor: str = "", reason: str = ""
    ) -> None:
        body = {"version": check_version(version), "actor": actor, "reason": reason}
        self._json("PUT", _alias(name, alias), body, idempotent=False)

    def delete_alias(self, name: str, alias: str, actor: str = "", reason: str = "") -> None:
        body = {"actor": actor, "reason": reason}
        self._json("DELETE", _alias(name, alias), body, idempotent=False)

    def set_version_status(
        self,
        name: str,
        version: int,
        status: VersionStatus,
        actor: str = "",
        reason: str = "",
        validation: Mapping[str, object] | None = None,
    ) -> ModelVersion:
        body = {
            "status": VersionStatus(status).value,
            "actor": actor,
            "reason": reason,
            "validation": _plain_json(validation),
        }
        data = self._json("POST", f"{_version(name, version)}/status", body)
        return ModelVersion.model_validate(data)

    def set_version_tags(self, name: str, version: int, tags: Mapping[str, str]) -> None:
        url = f"{_version(name, version)}/tags"
        checked = text_map(tags, "tag")
        if checked:
            self._json("PATCH", url, {"tags": checked}, idempotent=True)

    def update_model_version(
        self,
        name: str,
        version: int,
        description: str | None = None,
        card: Mapping[str, str] | None = None,
    ) -> ModelVersion:
        body = {"description": description, "card": None if card is None else dict(card)}
        data = self._json("PATCH", _version(name, version), body, idempotent=True)
        return ModelVersion.model_validate(data)

    def get_history(self, name: str) -> list[HistoryEntry]:
        data = self._json("GET", f"{_model(name)}/history")
        return [HistoryEntry.model_validate(h) for h in data["history"]]


def _model(name: str) -> str:
    """The model's URL path; the name is checked first, so it cannot reshape the URL."""
    return f"/registry/models/{check_model_name(name)}"


def _version(name: str, version: int) -> str:
    return f"{_model(name)}/versions/{check_version(version)}"


def _alias(name: str, alias: str) -> str:
    return f"{_model(name)}/aliases/{check_alias(alias)}"


def _plain_json(value: Mapping[str, object] | None) -> dict[str, Any] | None:
    """``value`` as the SQL store would store it: JSON, with what JSON lacks as text."""
    if value is None:
        return None
    plain: dict[str, Any] = json.loads(json.dumps(value, default=str))
    return plain


if TYPE_CHECKING:
    _conforms: type[RegistryStore] = HttpRegistryStore
