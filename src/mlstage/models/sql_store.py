"""The model registry over SQLAlchemy Core, next to the tracking tables it links to.

A version's source must be a model directory a run logged (``runs:/<id>/<path>``);
its files and their sha256 are copied into the version at registration, so
a later load can refuse any byte that changed. Changes to one model are
serialised by locking its row, which keeps version numbers dense and alias
moves exact under concurrency.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite

from mlstage.config import Settings
from mlstage.errors import Conflict, InvalidInput, NotFound
from mlstage.governance.scope import check_project, project_id_named, readable_projects
from mlstage.models.entities import (
    ModelVersion,
    RegisteredModel,
    VersionStatus,
    version_from_row,
)
from mlstage.models.manifest import MANIFEST_FILE, load_manifest
from mlstage.models.names import canonical_model_name, check_version
from mlstage.models.safety import check_not_pickle
from mlstage.models.sql_checks import check_tags, check_text
from mlstage.models.sql_lifecycle import RegistryLifecycleMixin
from mlstage.models.uri import RegistryRef, RunRef, parse_model_uri
from mlstage.store import tables as t
from mlstage.tracking.sql_store import SqlTrackingStore, now_ms


class SqlRegistryStore(RegistryLifecycleMixin):
    """``RegistryStore`` on the tracking store's database and artifact store."""

    def __init__(
        self,
        tracking: SqlTrackingStore,
        *,
        allow_pickle: bool = False,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.tracking = tracking
        self.db = tracking.db
        self.artifacts = tracking.artifacts
        self.allow_pickle = allow_pickle
        self.clock = clock
        self._dialect: Any = sqlite if self.db.dialect == "sqlite" else postgresql

    _shared: dict[tuple[str, str], SqlRegistryStore] = {}
    _shared_lock = threading.Lock()

    @classmethod
    def shared(cls, uri: str, settings: Settings) -> SqlRegistryStore:
        key = (uri, settings.artifact_root)
        with cls._shared_lock:
            store = cls._shared.get(key)
            if store is None:
                tracking = SqlTrackingStore.shared(uri, settings)
                store = cls(tracking, allow_pickle=settings.allow_pickle_models)
                cls._shared[key] = store
            return store

    # -- registered models --------------------------------------------------------------

    def create_registered_model(
        self,
        name: str,
        description: str = "",
        owner: str = "",
        tags: Mapping[str, str] | None = None,
        project: str | None = None,
    ) -> RegisteredModel:
        """A new, empty registered model in ``project`` (the default project when ``None``)."""
        canonical = canonical_model_name(name)
        description = check_text(description, "description")
        checked_tags = check_tags(tags)
        now = self.clock()

        def work(conn: Connection) -> None:
            project_id = project_id_named(conn, project)
            self._refuse_clash(conn, name, canonical)
            model_id = conn.execute(
                insert(t.registered_models)
                .values(
                    name=name,
                    canonical_name=canonical,
                    description=description,
                    owner=owner[:250],
                    created_at=now,
                    updated_at=now,
                    project_id=project_id,
                )
                .returning(t.registered_models.c.model_id)
            ).scalar_one()
            if checked_tags:
                conn.execute(
                    insert(t.registered_model_tags),
                    [{"model_id": model_id, "key": k, "value": x} for k, x in checked_tags.items()],
                )

        try:
            self.db.write(work)
        except sa_exc.IntegrityError as exc:
            raise Conflict(f"registered model {name!r} already exists") from exc
        return self.get_registered_model(name)

    def _refuse_clash(self, conn: Connection, name: str, canonical: str) -> None:
        existing = conn.execute(
            select(t.registered_models.c.name).where(
                t.registered_models.c.canonical_name == canonical
            )
        ).scalar()
        if existing == name:
            raise Conflict(f"registered model {name!r} already exists")
        if existing is not None:
            raise Conflict(
                f"model name {name!r} clashes with the registered model {existing!r} "
                "(names differing only in case are the same model)"
            )

    def _model_row(self, conn: Connection, name: str, *, lock: bool = False) -> Row[Any]:
        query = select(t.registered_models).where(
            t.registered_models.c.canonical_name == canonical_model_name(name)
        )
        row = conn.execute(query.with_for_update() if lock else query).first()
        if row is not None:
            check_project(row.project_id, f"registered model {name!r}")
        if row is None or row.name != name:
            hint = f"; did you mean {row.name!r}?" if row is not None else ""
            raise NotFound(f"registered model {name!r} does not exist{hint}")
        return row

    def get_registered_model(self, name: str) -> RegisteredModel:
        with self.db.read() as conn:
            row = self._model_row(conn, name)
            return self._model_entity(conn, row)

    def list_registered_models(self) -> list[RegisteredModel]:
        with self.db.read() as conn:
            query = select(t.registered_models).order_by(t.registered_models.c.name)
            readable = readable_projects()
            if readable is not None:
                query = query.where(t.registered_models.c.project_id.in_(readable))
            rows = conn.execute(query)
            return [self._model_entity(conn, row) for row in rows.all()]

    def update_registered_model(
        self, name: str, description: str | None = None, owner: str | None = None
    ) -> RegisteredModel:
        values: dict[str, Any] = {"updated_at": self.clock()}
        if description is not None:
            values["description"] = check_text(description, "description")
        if owner is not None:
            values["owner"] = owner[:250]

        def work(conn: Connection) -> None:
            row = self._model_row(conn, name, lock=True)
            conn.execute(
                update(t.registered_models)
                .where(t.registered_models.c.model_id == row.model_id)
                .values(**values)
            )

        self.db.write(work)
        return self.get_registered_model(name)

    def _model_entity(self, conn: Connection, row: Row[Any]) -> RegisteredModel:
        tags = dict(
            conn.execute(
                select(t.registered_model_tags.c.key, t.registered_model_tags.c.value).where(
                    t.registered_model_tags.c.model_id == row.model_id
                )
            ).all()
        )  # type: ignore[arg-type]
        aliases = dict(
            conn.execute(
                select(t.model_aliases.c.alias, t.model_aliases.c.version).where(
                    t.model_aliases.c.model_id == row.model_id
                )
            ).all()
        )  # type: ignore[arg-type]
        latest = conn.execute(
            select(func.max(t.model_versions.c.version)).where(
                t.model_versions.c.model_id == row.model_id
            )
        ).scalar()
        return RegisteredModel(
            name=row.name,
            description=row.description,
            owner=row.owner,
            created_at=row.created_at,
            updated_at=row.updated_at,
            tags=tags,
            aliases=aliases,
            latest_version=latest,
        )

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
        canonical = canonical_model_name(name)
        ref = parse_model_uri(source) if str(source).startswith("runs:/") else None
        if not isinstance(ref, RunRef):
            raise InvalidInput(
                f"source {source!r} must be a model a run logged: runs:/<run id>/<path>"
            )
        description = check_text(description, "description")
        checked_tags = check_tags(tags)
        files = self.tracking.artifact_files(ref.run_id, ref.path)
        if MANIFEST_FILE not in files:
            raise InvalidInput(
                f"source {source!r} holds no {MANIFEST_FILE}: log the model with "
                "mlstage.log_model first"
            )
        flavor = self._check_files(files)
        now = self.clock()

        def work(conn: Connection) -> int:
            row = conn.execute(
                select(t.registered_models)
                .where(t.registered_models.c.canonical_name == canonical)
                .with_for_update()
            ).first()
            # a model lives in the project of the run that made its first version
            run_project = conn.execute(
                select(t.experiments.c.project_id)
                .join_from(t.runs, t.experiments)
                .where(t.runs.c.run_id == ref.run_id)
            ).scalar()
            check_project(run_project, f"run {ref.run_id!r}")
            if row is not None:
                check_project(row.project_id, f"registered model {name!r}")
            if row is None:
                model_id = conn.execute(
                    insert(t.registered_models)
                    .values(
                        name=name,
                        canonical_name=canonical,
                        description="",
                        owner=created_by,
                        created_at=now,
                        updated_at=now,
                        project_id=run_project or 1,
                    )
                    .returning(t.registered_models.c.model_id)
                ).scalar_one()
            elif row.name != name:
                raise Conflict(
                    f"model name {name!r} clashes with the registered model {row.name!r} "
                    "(names differing only in case are the same model)"
                )
            else:
                model_id = row.model_id
            version = 1 + (
                conn.execute(
                    select(func.max(t.model_versions.c.version)).where(
                        t.model_versions.c.model_id == model_id
                    )
                ).scalar()
                or 0
            )
            conn.execute(
                insert(t.model_versions).values(
                    model_id=model_id,
                    version=version,
                    run_id=ref.run_id,
                    source=str(ref),
                    files=json.dumps(files, sort_keys=True),
                    manifest_sha256=files[MANIFEST_FILE],
                    flavor=flavor,
                    status=VersionStatus.READY.value,
                    description=description,
                    created_by=created_by[:250],
                    created_at=now,
                    updated_at=now,
                    validation=None,
                    card="{}",
                )
            )
            if checked_tags:
                conn.execute(
                    insert(t.model_version_tags),
                    [
                        {"model_id": model_id, "version": version, "key": k, "value": x}
                        for k, x in checked_tags.items()
                    ],
                )
            self._history(
                conn, model_id, version, "registered", None, None, str(ref), created_by, "", now
            )
            return int(version)

        try:
            version = self.db.write(work)
        except sa_exc.IntegrityError as exc:  # the model row was created by a racing writer
            raise Conflict(f"registering {name!r} raced with another writer; try again") from exc
        # Everything is known: no need to read the new version back.
        return ModelVersion(
            name=name,
            version=version,
            run_id=ref.run_id,
            source=str(ref),
            files=dict(sorted(files.items())),
            manifest_sha256=files[MANIFEST_FILE],
            flavor=flavor,
            status=VersionStatus.READY,
            description=description,
            created_by=created_by[:250],
            created_at=now,
            updated_at=now,
            tags=checked_tags,
        )

    def _check_files(self, files: Mapping[str, str]) -> str:
        """Read the manifest and refuse code-bearing files before anything is recorded."""
        for path, sha in files.items():
            _check_blob(self.artifacts.get_bytes, path, sha, self.allow_pickle)
        return _manifest_flavor(self.artifacts.get_bytes, files[MANIFEST_FILE])

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        number = check_version(version)
        with self.db.read() as conn:
            model = self._model_row(conn, name)
            return self._version(conn, model, number)

    def resolve(self, ref: RegistryRef) -> ModelVersion:
        with self.db.read() as conn:
            model = self._model_row(conn, ref.name)
            if ref.alias is not None:
                number = conn.execute(
                    select(t.model_aliases.c.version).where(
                        t.model_aliases.c.model_id == model.model_id,
                        t.model_aliases.c.alias == ref.alias,
                    )
                ).scalar()
                if number is None:
                    raise NotFound(f"model {ref.name!r} has no alias {ref.alias!r}")
            elif ref.version is not None:
                number = ref.version
            else:
                number = conn.execute(
                    select(func.max(t.model_versions.c.version)).where(
                        t.model_versions.c.model_id == model.model_id
                    )
                ).scalar()
                if number is None:
                    raise NotFound(f"model {ref.name!r} has no versions yet")
            return self._version(conn, model, int(number))

    def list_model_versions(self, name: str) -> list[ModelVersion]:
        with self.db.read() as conn:
            model = self._model_row(conn, name)
            numbers = (
                conn.execute(
                    select(t.model_versions.c.version)
                    .where(t.model_versions.c.model_id == model.model_id)
                    .order_by(t.model_versions.c.version)
                )
                .scalars()
                .all()
            )
            return [self._version(conn, model, n) for n in numbers]

    def _version(self, conn: Connection, model: Row[Any], number: int) -> ModelVersion:
        mv = t.model_versions.c
        row = conn.execute(
            select(t.model_versions).where(mv.model_id == model.model_id, mv.version == number)
        ).first()
        if row is None:
            raise NotFound(f"model {model.name!r} has no version {number}")
        tags = dict(
            conn.execute(
                select(t.model_version_tags.c.key, t.model_version_tags.c.value).where(
                    t.model_version_tags.c.model_id == model.model_id,
                    t.model_version_tags.c.version == number,
                )
            ).all()
        )  # type: ignore[arg-type]
        aliases = (
            conn.execute(
                select(t.model_aliases.c.alias)
                .where(
                    t.model_aliases.c.model_id == model.model_id,
                    t.model_aliases.c.version == number,
                )
                .order_by(t.model_aliases.c.alias)
            )
            .scalars()
            .all()
        )
        return version_from_row(model.name, dict(row._mapping), tags, list(aliases))

    def read_version_file(self, name: str, version: int, path: str) -> bytes:
        files = self.get_model_version(name, version).files
        sha = files.get(path)
        if sha is None:
            raise NotFound(f"version {version} of model {name!r} has no file {path!r}")
        return self.artifacts.get_bytes(sha)


@functools.lru_cache(maxsize=1024)
def _manifest_flavor(read: Callable[[str], bytes], sha: str) -> str:
    return load_manifest(read(sha)).flavor


@functools.lru_cache(maxsize=4096)
def _check_blob(read: Callable[[str], bytes], path: str, sha: str, allowed: bool) -> None:
    # Content is addressed by hash, so one verdict per (name, content) holds forever.
    check_not_pickle(path, read(sha), allowed=allowed)
