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
from mlstage.models.entities import HistoryEntry, ModelVersion, RegisteredModel, VersionStatus
from mlstage.models.manifest import MANIFEST_FILE, load_manifest
from mlstage.models.names import canonical_model_name, check_alias, check_version
from mlstage.models.safety import check_not_pickle
from mlstage.models.uri import RegistryRef, RunRef, parse_model_uri
from mlstage.store import tables as t
from mlstage.tracking import validation as v
from mlstage.tracking.sql_store import SqlTrackingStore, now_ms

MAX_DESCRIPTION = 5000
CARD_FIELDS = ("intended_use", "limitations", "ethical_considerations", "training_data", "notes")


class SqlRegistryStore:
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
    ) -> RegisteredModel:
        canonical = canonical_model_name(name)
        description = _check_text(description, "description")
        checked_tags = _check_tags(tags)
        now = self.clock()

        def work(conn: Connection) -> None:
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
            rows = conn.execute(select(t.registered_models).order_by(t.registered_models.c.name))
            return [self._model_entity(conn, row) for row in rows.all()]

    def update_registered_model(
        self, name: str, description: str | None = None, owner: str | None = None
    ) -> RegisteredModel:
        values: dict[str, Any] = {"updated_at": self.clock()}
        if description is not None:
            values["description"] = _check_text(description, "description")
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
        description = _check_text(description, "description")
        checked_tags = _check_tags(tags)
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
        return self.get_model_version(name, version)

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
        return ModelVersion(
            name=model.name,
            version=number,
            run_id=row.run_id,
            source=row.source,
            files=json.loads(row.files),
            manifest_sha256=row.manifest_sha256,
            flavor=row.flavor,
            status=VersionStatus(row.status),
            description=row.description,
            created_by=row.created_by,
            created_at=row.created_at,
            updated_at=row.updated_at,
            tags=tags,
            aliases=list(aliases),
            validation=json.loads(row.validation) if row.validation else None,
            card=json.loads(row.card),
        )

    def read_version_file(self, name: str, version: int, path: str) -> bytes:
        files = self.get_model_version(name, version).files
        sha = files.get(path)
        if sha is None:
            raise NotFound(f"version {version} of model {name!r} has no file {path!r}")
        return self.artifacts.get_bytes(sha)

    # -- aliases, status, tags, history ------------------------------------------------------

    def set_alias(
        self, name: str, alias: str, version: int, actor: str = "", reason: str = ""
    ) -> None:
        alias = check_alias(alias)
        number = check_version(version)
        now = self.clock()

        def work(conn: Connection) -> None:
            model = self._model_row(conn, name, lock=True)
            self._require_version(conn, model, number)
            a = t.model_aliases.c
            before = conn.execute(
                select(a.version).where(a.model_id == model.model_id, a.alias == alias)
            ).scalar()
            stmt = self._dialect.insert(t.model_aliases)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["model_id", "alias"], set_={"version": stmt.excluded.version}
                ),
                {"model_id": model.model_id, "alias": alias, "version": number},
            )
            self._history(
                conn,
                model.model_id,
                number,
                "alias_set",
                alias,
                None if before is None else str(before),
                str(number),
                actor,
                reason,
                now,
            )

        self.db.write(work)

    def delete_alias(self, name: str, alias: str, actor: str = "", reason: str = "") -> None:
        alias = check_alias(alias)
        now = self.clock()

        def work(conn: Connection) -> None:
            model = self._model_row(conn, name, lock=True)
            a = t.model_aliases.c
            before = conn.execute(
                select(a.version).where(a.model_id == model.model_id, a.alias == alias)
            ).scalar()
            if before is None:
                raise NotFound(f"model {name!r} has no alias {alias!r}")
            conn.execute(
                t.model_aliases.delete().where(a.model_id == model.model_id, a.alias == alias)
            )
            self._history(
                conn,
                model.model_id,
                before,
                "alias_deleted",
                alias,
                str(before),
                None,
                actor,
                reason,
                now,
            )

        self.db.write(work)

    def set_version_status(
        self,
        name: str,
        version: int,
        status: VersionStatus,
        actor: str = "",
        reason: str = "",
        validation: Mapping[str, object] | None = None,
    ) -> ModelVersion:
        number = check_version(version)
        status = VersionStatus(status)
        now = self.clock()

        def work(conn: Connection) -> None:
            model = self._model_row(conn, name, lock=True)
            before = self._require_version(conn, model, number).status
            values: dict[str, Any] = {"status": status.value, "updated_at": now}
            if validation is not None:
                values["validation"] = json.dumps(validation, default=str)
            mv = t.model_versions.c
            conn.execute(
                update(t.model_versions)
                .where(mv.model_id == model.model_id, mv.version == number)
                .values(**values)
            )
            self._history(
                conn,
                model.model_id,
                number,
                "status_changed",
                None,
                before,
                status.value,
                actor,
                reason,
                now,
            )

        self.db.write(work)
        return self.get_model_version(name, number)

    def set_version_tags(self, name: str, version: int, tags: Mapping[str, str]) -> None:
        number = check_version(version)
        checked = _check_tags(tags)

        def work(conn: Connection) -> None:
            model = self._model_row(conn, name)
            self._require_version(conn, model, number)
            stmt = self._dialect.insert(t.model_version_tags)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["model_id", "version", "key"],
                    set_={"value": stmt.excluded.value},
                ),
                [
                    {"model_id": model.model_id, "version": number, "key": k, "value": x}
                    for k, x in checked.items()
                ],
            )

        if checked:
            self.db.write(work)

    def update_model_version(
        self,
        name: str,
        version: int,
        description: str | None = None,
        card: Mapping[str, str] | None = None,
    ) -> ModelVersion:
        number = check_version(version)
        values: dict[str, Any] = {"updated_at": self.clock()}
        checked_card: dict[str, str] = {}
        if description is not None:
            values["description"] = _check_text(description, "description")
        if card is not None:
            unknown = sorted(set(card) - set(CARD_FIELDS))
            if unknown:
                raise InvalidInput(
                    f"unknown model card field(s) {', '.join(unknown)}; editable fields are "
                    f"{', '.join(CARD_FIELDS)}"
                )
            checked_card = {k: _check_text(x, f"card field {k!r}") for k, x in card.items()}

        def work(conn: Connection) -> None:
            model = self._model_row(conn, name)
            row = self._require_version(conn, model, number)
            if card is not None:
                values["card"] = json.dumps({**json.loads(row.card), **checked_card})
            mv = t.model_versions.c
            conn.execute(
                update(t.model_versions)
                .where(mv.model_id == model.model_id, mv.version == number)
                .values(**values)
            )

        self.db.write(work)
        return self.get_model_version(name, number)

    def get_history(self, name: str) -> list[HistoryEntry]:
        h = t.model_history.c
        with self.db.read() as conn:
            model = self._model_row(conn, name)
            rows = conn.execute(
                select(t.model_history).where(h.model_id == model.model_id).order_by(h.entry_id)
            ).all()
        return [
            HistoryEntry(
                name=model.name,
                version=r.version,
                action=r.action,
                alias=r.alias,
                from_value=r.from_value,
                to_value=r.to_value,
                actor=r.actor,
                reason=r.reason,
                at=r.at,
            )
            for r in rows
        ]

    def _require_version(self, conn: Connection, model: Row[Any], number: int) -> Any:
        mv = t.model_versions.c
        row = conn.execute(
            select(mv.status, mv.card).where(mv.model_id == model.model_id, mv.version == number)
        ).first()
        if row is None:
            raise NotFound(f"model {model.name!r} has no version {number}")
        return row

    @staticmethod
    def _history(
        conn: Connection,
        model_id: int,
        version: int | None,
        action: str,
        alias: str | None,
        from_value: str | None,
        to_value: str | None,
        actor: str,
        reason: str,
        at: int,
    ) -> None:
        conn.execute(
            insert(t.model_history).values(
                model_id=model_id,
                version=version,
                action=action,
                alias=alias,
                from_value=from_value,
                to_value=to_value,
                actor=actor[:250],
                reason=_check_text(reason, "reason"),
                at=at,
            )
        )


@functools.lru_cache(maxsize=1024)
def _manifest_flavor(read: Callable[[str], bytes], sha: str) -> str:
    return load_manifest(read(sha)).flavor


@functools.lru_cache(maxsize=4096)
def _check_blob(read: Callable[[str], bytes], path: str, sha: str, allowed: bool) -> None:
    # Content is addressed by hash, so one verdict per (name, content) holds forever.
    check_not_pickle(path, read(sha), allowed=allowed)


def _check_text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string, got {type(value).__name__}")
    if len(value) > MAX_DESCRIPTION:
        raise InvalidInput(f"{field} is {len(value)} characters; the limit is {MAX_DESCRIPTION}")
    if "\x00" in value:
        raise InvalidInput(f"{field} contains a NUL character")
    return value


def _check_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    if not tags:
        return {}
    return {v.check_key(k, "tag key"): v.check_tag_value(k, x) for k, x in tags.items()}
