"""Dataset versions over SQLAlchemy Core, on the tracking store's database.

Blobs go into the content-addressed artifact store *before* the one
transaction that records a version, so a row never points at a missing
snapshot; a failed transaction leaves at most an unreferenced blob, which
the next registration of the same content reuses. Registrations of one name
are serialised by locking its row, which keeps version numbers dense and
makes registering the same content twice return the first version.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection, Row, and_, func, insert, select, update
from sqlalchemy import exc as sa_exc

from mlstage.artifacts.store import ArtifactStore
from mlstage.data.dataset_entities import (
    Column,
    DatasetLineage,
    DatasetSource,
    DatasetVersion,
    ModelUsage,
    RegisteredDataset,
    RunUsage,
)
from mlstage.data.dataset_refs import DatasetRef, canonical_dataset_name
from mlstage.errors import Conflict, InvalidInput, NotFound
from mlstage.store import tables as t
from mlstage.store.database import Database
from mlstage.tracking.sql_store import now_ms

_ATTEMPTS = 3


class SqlDatasetStore:
    """Registered datasets and their versions in one metadata database."""

    def __init__(
        self, db: Database, artifacts: ArtifactStore, *, clock: Callable[[], int] = now_ms
    ) -> None:
        self.db = db
        self.artifacts = artifacts
        self.clock = clock

    # -- writes ---------------------------------------------------------------------------

    def add_version(
        self,
        name: str,
        *,
        digest: str,
        snapshot: tuple[str, int],
        num_rows: int,
        columns: list[Column],
        statistics_sha256: str | None,
        source: DatasetSource,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        created_by: str = "",
    ) -> tuple[DatasetVersion, bool]:
        """Record a version whose blobs are stored; return it and whether it is new.

        If ``name`` already has a version with ``digest``, that version comes
        back unchanged (``False``): registering is idempotent.
        """
        canonical = canonical_dataset_name(name)
        if not self.artifacts.exists(snapshot[0]):
            raise InvalidInput(f"snapshot {snapshot[0]} is not in the artifact store")
        now = self.clock()
        values = {
            "digest": digest,
            "snapshot_sha256": snapshot[0],
            "snapshot_size": snapshot[1],
            "num_rows": num_rows,
            "num_columns": len(columns),
            "columns": json.dumps([c.model_dump() for c in columns]),
            "statistics_sha256": statistics_sha256,
            "source": source.model_dump_json(),
            "description": description,
            "tags": json.dumps(dict(sorted((tags or {}).items()))),
            "created_by": created_by[:250],
            "created_at": now,
        }

        def work(conn: Connection) -> tuple[int, bool]:
            dataset_id = self._lock_or_create(conn, name, canonical, description, now)
            v = t.dataset_versions.c
            existing = conn.execute(
                select(v.version).where(v.dataset_id == dataset_id, v.digest == digest)
            ).scalar()
            if existing is not None:
                return int(existing), False
            latest = conn.execute(
                select(func.max(v.version)).where(v.dataset_id == dataset_id)
            ).scalar()
            version = 1 + (latest or 0)
            conn.execute(
                insert(t.dataset_versions).values(dataset_id=dataset_id, version=version, **values)
            )
            conn.execute(
                update(t.registered_datasets)
                .where(t.registered_datasets.c.dataset_id == dataset_id)
                .values(updated_at=now)
            )
            return version, True

        for attempt in range(_ATTEMPTS):
            try:
                number, created = self.db.write(work)
                break
            except sa_exc.IntegrityError as exc:  # a racing writer created the name or version
                if attempt == _ATTEMPTS - 1:
                    raise Conflict(
                        f"registering dataset {name!r} raced with other writers; try again"
                    ) from exc
        return self.get(DatasetRef(name, version=number)), created

    def _lock_or_create(
        self, conn: Connection, name: str, canonical: str, description: str, now: int
    ) -> int:
        d = t.registered_datasets.c
        row = conn.execute(
            select(d.dataset_id, d.name).where(d.canonical_name == canonical).with_for_update()
        ).first()
        if row is None:
            return int(
                conn.execute(
                    insert(t.registered_datasets)
                    .values(
                        name=name,
                        canonical_name=canonical,
                        description=description,
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(d.dataset_id)
                ).scalar_one()
            )
        if row.name != name:
            raise _clash(name, row.name)
        return int(row.dataset_id)

    # -- reads ----------------------------------------------------------------------------

    def refuse_clash(self, name: str) -> None:
        """Conflict if ``name`` differs only in case from a registered dataset's name."""
        d = t.registered_datasets.c
        with self.db.read() as conn:
            existing = conn.execute(
                select(d.name).where(d.canonical_name == canonical_dataset_name(name))
            ).scalar()
        if existing is not None and existing != name:
            raise _clash(name, existing)

    def find(self, name: str, digest: str) -> DatasetVersion | None:
        """The version of ``name`` holding exactly the content ``digest``, if there is one."""
        d, v = t.registered_datasets.c, t.dataset_versions.c
        query = (
            select(t.dataset_versions)
            .join(t.registered_datasets, d.dataset_id == v.dataset_id)
            .where(d.canonical_name == canonical_dataset_name(name), d.name == name)
            .where(v.digest == digest)
        )
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _version_entity(name, row)

    def get(self, ref: DatasetRef) -> DatasetVersion:
        """The version ``ref`` names; NotFound names the dataset and what exists."""
        with self.db.read() as conn:
            dataset = self._dataset_row(conn, ref.name)
            v = t.dataset_versions.c
            query = select(t.dataset_versions).where(v.dataset_id == dataset.dataset_id)
            if ref.version is not None:
                rows = conn.execute(query.where(v.version == ref.version)).all()
            elif ref.digest_prefix is not None:
                prefix = ref.digest_prefix
                # A range on the (dataset_id, digest) unique index: no LIKE, no collation.
                upper = prefix + "g"
                rows = conn.execute(
                    query.where(and_(v.digest >= prefix, v.digest < upper)).order_by(v.version)
                ).all()
            else:
                rows = conn.execute(query.order_by(v.version.desc()).limit(1)).all()
            if len(rows) > 1:
                versions = ", ".join(str(r.version) for r in rows)
                raise InvalidInput(
                    f"dataset {str(ref)!r} matches versions {versions}; give more hex characters"
                )
            if not rows:
                raise NotFound(self._missing(conn, dataset, ref))
            return _version_entity(dataset.name, rows[0])

    def _dataset_row(self, conn: Connection, name: str) -> Row[Any]:
        d = t.registered_datasets.c
        row = conn.execute(
            select(t.registered_datasets).where(d.canonical_name == canonical_dataset_name(name))
        ).first()
        if row is None or row.name != name:
            hint = f"; did you mean {row.name!r}?" if row is not None else ""
            raise NotFound(f"dataset {name!r} does not exist{hint}")
        return row

    def _missing(self, conn: Connection, dataset: Row[Any], ref: DatasetRef) -> str:
        v = t.dataset_versions.c
        count = conn.execute(
            select(func.count()).where(v.dataset_id == dataset.dataset_id)
        ).scalar_one()
        if ref.digest_prefix is not None:
            return (
                f"dataset {dataset.name!r} has no version whose digest starts {ref.digest_prefix}"
            )
        return f"dataset {dataset.name!r} has no version {ref.version} (versions 1 to {count})"

    def list_versions(self, name: str) -> list[DatasetVersion]:
        with self.db.read() as conn:
            dataset = self._dataset_row(conn, name)
            v = t.dataset_versions.c
            rows = conn.execute(
                select(t.dataset_versions)
                .where(v.dataset_id == dataset.dataset_id)
                .order_by(v.version)
            ).all()
            return [_version_entity(dataset.name, row) for row in rows]

    def list_datasets(self) -> list[RegisteredDataset]:
        d = t.registered_datasets.c
        v = t.dataset_versions.c
        latest = (
            select(
                v.dataset_id,
                func.max(v.version).label("latest"),
                func.count().label("num_versions"),
            )
            .group_by(v.dataset_id)
            .subquery()
        )
        query = (
            select(t.registered_datasets, t.dataset_versions, latest.c.num_versions)
            .join(latest, latest.c.dataset_id == d.dataset_id)
            .join(
                t.dataset_versions,
                and_(v.dataset_id == d.dataset_id, v.version == latest.c.latest),
            )
            .order_by(d.name)
        )
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [
            RegisteredDataset(
                name=row.name,
                description=row._mapping[t.registered_datasets.c.description],
                created_at=row._mapping[t.registered_datasets.c.created_at],
                updated_at=row.updated_at,
                num_versions=int(row.num_versions),
                latest=_version_entity(row.name, row),
            )
            for row in rows
        ]

    def lineage(self, version: DatasetVersion) -> DatasetLineage:
        """Runs that logged exactly this version, and model versions registered from them."""
        ds, ri, r, e = t.datasets.c, t.run_inputs.c, t.runs.c, t.experiments.c
        runs_query = (
            select(
                r.run_id, r.name, r.experiment_id, e.name.label("experiment_name"), r.status,
                ri.context, r.start_time,
            )
            .select_from(t.datasets)
            .join(t.run_inputs, ri.dataset_id == ds.dataset_id)
            .join(t.runs, r.run_id == ri.run_id)
            .join(t.experiments, e.experiment_id == r.experiment_id)
            .where(ds.name == version.name, ds.digest == version.digest)
            .where(r.lifecycle_stage == "active")
            .order_by(r.start_time, r.run_id, ri.context)
        )  # fmt: skip
        m, mv = t.registered_models.c, t.model_versions.c
        with self.db.read() as conn:
            runs = [
                RunUsage(
                    run_id=row.run_id,
                    run_name=row.name,
                    experiment_id=str(row.experiment_id),
                    experiment_name=row.experiment_name,
                    status=row.status,
                    context=row.context,
                    start_time=row.start_time,
                )
                for row in conn.execute(runs_query)
            ]
            run_ids = sorted({u.run_id for u in runs})
            models = []
            if run_ids:
                models_query = (
                    select(m.name, mv.version, mv.run_id, mv.status, mv.created_at)
                    .join(t.registered_models, m.model_id == mv.model_id)
                    .where(mv.run_id.in_(run_ids))
                    .order_by(m.name, mv.version)
                )
                models = [
                    ModelUsage(
                        name=row.name,
                        version=row.version,
                        run_id=row.run_id,
                        status=row.status,
                        created_at=row.created_at,
                    )
                    for row in conn.execute(models_query)
                ]
        return DatasetLineage(dataset=version, runs=runs, models=models)


def _clash(name: str, existing: str) -> Conflict:
    return Conflict(
        f"dataset name {name!r} clashes with the registered dataset {existing!r} "
        "(names differing only in case are the same dataset)"
    )


def _version_entity(name: str, row: Row[Any]) -> DatasetVersion:
    """The version in ``row``, which may also hold other tables' columns of the same names."""
    mapping = row._mapping
    return DatasetVersion(
        name=name,
        version=mapping[t.dataset_versions.c.version],
        digest=mapping[t.dataset_versions.c.digest],
        num_rows=mapping[t.dataset_versions.c.num_rows],
        num_columns=mapping[t.dataset_versions.c.num_columns],
        columns=[Column(**c) for c in json.loads(mapping[t.dataset_versions.c.columns])],
        snapshot_sha256=mapping[t.dataset_versions.c.snapshot_sha256],
        snapshot_size=mapping[t.dataset_versions.c.snapshot_size],
        statistics_sha256=mapping[t.dataset_versions.c.statistics_sha256],
        source=DatasetSource.model_validate_json(mapping[t.dataset_versions.c.source]),
        description=mapping[t.dataset_versions.c.description],
        tags=json.loads(mapping[t.dataset_versions.c.tags]),
        created_by=mapping[t.dataset_versions.c.created_by],
        created_at=mapping[t.dataset_versions.c.created_at],
    )
