"""The model registry REST API under ``/api/v1/registry``.

Model names, aliases and version numbers in the URL are checked with
``mlstage.models.names`` before anything else runs, and a percent-encoded
URL is refused: a valid name never needs encoding, so an encoded one can
only be an attempt to slip a look-alike past the check. Who made a change
(``created_by``, ``actor``) is the authenticated principal; the body's claim
is recorded only while auth is off. Handlers are plain ``def`` (the store
is synchronous), each one store call, so errors match the SQL store's.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from mlstage.artifacts.paths import canonical_artifact_path
from mlstage.errors import InvalidInput, NotFound
from mlstage.models.entities import ModelVersion, RegisteredModel
from mlstage.models.names import check_alias, check_model_name, check_version
from mlstage.models.sql_store import SqlRegistryStore
from mlstage.models.uri import RegistryRef
from mlstage.server.auth import Principal, require_principal
from mlstage.server.deps import tracking_store
from mlstage.server.responses import NanJSONResponse, attachment, rendered
from mlstage.server.schemas import (
    Actor,
    CreateModelVersion,
    CreateRegisteredModel,
    ModelHistory,
    ModelVersionList,
    RegisteredModelList,
    SetAlias,
    SetVersionStatus,
    UpdateModelVersion,
    UpdateRegisteredModel,
    VersionTags,
)


async def registry_store(request: Request) -> SqlRegistryStore:
    """Dependency: the registry on the server's own database and artifact root."""
    state = request.app.state
    registry: SqlRegistryStore | None = getattr(state, "registry", None)
    if registry is None:
        tracking = await tracking_store(request)
        registry = SqlRegistryStore(tracking, allow_pickle=state.settings.allow_pickle_models)
        state.registry = registry
    return registry


def _model_name(request: Request, name: str) -> str:
    """The ``{name}`` of the URL, valid and written as it is."""
    check_model_name(name)
    raw = request.scope.get("raw_path")
    if isinstance(raw, bytes) and b"%" in raw:
        raise InvalidInput(
            f"the registry URL {raw.decode('latin-1')[:200]!r} is percent-encoded: model names, "
            "versions and aliases are written as they are"
        )
    return name


def _new_model(body: CreateRegisteredModel) -> CreateRegisteredModel:
    check_model_name(body.name)
    return body


def _new_version(body: CreateModelVersion) -> CreateModelVersion:
    check_model_name(body.name)
    return body


def _alias(alias: str) -> str:
    return check_alias(alias)


def _version(version: str) -> int:
    return check_version(version)


Registry = Annotated[SqlRegistryStore, Depends(registry_store)]
Caller = Annotated[Principal, Depends(require_principal)]
ModelName = Annotated[str, Depends(_model_name)]
NewModel = Annotated[CreateRegisteredModel, Depends(_new_model)]
NewVersion = Annotated[CreateModelVersion, Depends(_new_version)]
AliasName = Annotated[str, Depends(_alias)]
Version = Annotated[int, Depends(_version)]


def _actor(caller: Principal, claimed: str) -> str:
    """The authenticated caller, else what the client says (auth is off)."""
    return caller.name if caller.authenticated else claimed


def build_router() -> APIRouter:
    """The registry routes."""
    router = APIRouter(
        prefix="/api/v1/registry", tags=["registry"], dependencies=[Depends(require_principal)]
    )
    _model_routes(router)
    _version_routes(router)
    _alias_routes(router)
    return router


def _model_routes(router: APIRouter) -> None:
    @router.post("/models", status_code=201)
    def create_registered_model(body: NewModel, store: Registry) -> RegisteredModel:
        return store.create_registered_model(body.name, body.description, body.owner, body.tags)

    @router.get("/models", response_model=RegisteredModelList)
    def list_registered_models(store: Registry) -> Response:
        models = store.list_registered_models()
        return rendered(RegisteredModelList.model_construct(models=models))

    @router.get("/models/{name}")
    def get_registered_model(name: ModelName, store: Registry) -> RegisteredModel:
        return store.get_registered_model(name)

    @router.patch("/models/{name}")
    def update_registered_model(
        name: ModelName, body: UpdateRegisteredModel, store: Registry
    ) -> RegisteredModel:
        return store.update_registered_model(name, body.description, body.owner)

    @router.get("/models/{name}/history", response_model=ModelHistory)
    def get_history(name: ModelName, store: Registry) -> Response:
        return rendered(ModelHistory.model_construct(history=store.get_history(name)))

    @router.get("/models/{name}/resolve", response_model=ModelVersion)
    def resolve(
        name: ModelName,
        store: Registry,
        alias: Annotated[str | None, Query()] = None,
        version: Annotated[str | None, Query()] = None,
    ) -> Response:
        """The version ``alias`` points at, version ``version``, or the newest with neither."""
        if alias is not None and version is not None:
            raise InvalidInput("resolve takes an alias or a version, not both")
        ref = RegistryRef(
            name,
            version=None if version is None else check_version(version),
            alias=None if alias is None else check_alias(alias),
        )
        return _version_response(store.resolve(ref))


def _version_routes(router: APIRouter) -> None:
    @router.post("/versions", status_code=201, response_model=ModelVersion)
    def create_model_version(body: NewVersion, caller: Caller, store: Registry) -> Response:
        """Register the model a run logged at ``source`` as the model's next version."""
        version = store.create_model_version(
            body.name, body.source, body.description, _actor(caller, body.created_by), body.tags
        )
        return _version_response(version, 201)

    @router.get("/models/{name}/versions", response_model=ModelVersionList)
    def list_model_versions(name: ModelName, store: Registry) -> Response:
        versions = store.list_model_versions(name)
        return NanJSONResponse({"versions": [_version_json(v) for v in versions]})

    @router.get("/models/{name}/versions/{version}", response_model=ModelVersion)
    def get_model_version(name: ModelName, version: Version, store: Registry) -> Response:
        return _version_response(store.get_model_version(name, version))

    @router.patch("/models/{name}/versions/{version}", response_model=ModelVersion)
    def update_model_version(
        name: ModelName, version: Version, body: UpdateModelVersion, store: Registry
    ) -> Response:
        """Edit the description and model card fields; card fields not sent are kept."""
        updated = store.update_model_version(name, version, body.description, body.card)
        return _version_response(updated)

    @router.post("/models/{name}/versions/{version}/status", response_model=ModelVersion)
    def set_version_status(
        name: ModelName, version: Version, body: SetVersionStatus, caller: Caller, store: Registry
    ) -> Response:
        """Record the validation gate's verdict (or an archive) in the version and its history."""
        changed = store.set_version_status(
            name, version, body.status, _actor(caller, body.actor), body.reason, body.validation
        )
        return _version_response(changed)

    @router.patch("/models/{name}/versions/{version}/tags", status_code=204)
    def set_version_tags(
        name: ModelName, version: Version, body: VersionTags, store: Registry
    ) -> None:
        """Set the tags sent; other tags of the version are kept."""
        store.set_version_tags(name, version, body.tags)

    @router.get(
        "/models/{name}/versions/{version}/files",
        response_class=Response,
        responses={200: {"content": {"application/octet-stream": {}}}},
    )
    def download_version_file(
        name: ModelName, version: Version, store: Registry, path: Annotated[str, Query()]
    ) -> Response:
        """A file of the version, checked on the server against the hash recorded for it."""
        path = canonical_artifact_path(path, "file path")
        sha = store.get_model_version(name, version).files.get(path)
        if sha is None:
            raise NotFound(f"version {version} of model {name!r} has no file {path!r}")
        return attachment(store.artifacts.get_bytes(sha), sha, path)


def _alias_routes(router: APIRouter) -> None:
    @router.put("/models/{name}/aliases/{alias}", status_code=204)
    def set_alias(
        name: ModelName, alias: AliasName, body: SetAlias, caller: Caller, store: Registry
    ) -> None:
        """Point the alias at ``version``; the move is recorded in the model's history."""
        store.set_alias(name, alias, body.version, _actor(caller, body.actor), body.reason)

    @router.delete("/models/{name}/aliases/{alias}", status_code=204)
    def delete_alias(
        name: ModelName,
        alias: AliasName,
        caller: Caller,
        store: Registry,
        body: Actor | None = None,
    ) -> None:
        """Remove the alias; the body (actor, reason) is optional."""
        body = body or Actor()
        store.delete_alias(name, alias, _actor(caller, body.actor), body.reason)


def _version_json(version: ModelVersion) -> dict[str, Any]:
    """The version as JSON, with ``validation`` as stored.

    pydantic turns NaN under ``Any`` into null; a verdict's NaN delta must
    read back as NaN, as it does from the SQL store.
    """
    data = version.model_dump(mode="json")
    data["validation"] = version.validation
    return data


def _version_response(version: ModelVersion, status_code: int = 200) -> NanJSONResponse:
    return NanJSONResponse(_version_json(version), status_code)
