"""Dataset inputs and artifact records of runs, for the SQL tracking store.

Blobs live in the content-addressed artifact store; the ``artifacts`` table
maps each run path to its sha256, which every read checks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from sqlalchemy import Connection, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from mlstage.artifacts.paths import canonical_artifact_path, canonical_prefix
from mlstage.artifacts.store import ArtifactStore
from mlstage.errors import Conflict, NotFound
from mlstage.store import tables as t
from mlstage.store.database import Database
from mlstage.tracking import validation as v
from mlstage.tracking.entities import (
    ArtifactInfo,
    DatasetInput,
)
from mlstage.tracking.sql_rows import like_prefix
from mlstage.tracking.sql_statements import Statements


class RunArtifactsMixin:
    """Inputs and artifacts; mixed into ``SqlTrackingStore``, which sets these attributes."""

    db: Database
    artifacts: ArtifactStore
    clock: Callable[[], int]
    _sql: Statements

    def _check_runs_writable(self, conn: Connection, run_ids: Sequence[str]) -> None:
        found = dict(conn.execute(self._sql.runs_writable, {"b_ids": list(run_ids)}).all())
        for run_id in run_ids:
            if run_id not in found:
                raise NotFound(f"run {run_id!r} does not exist")
            if found[run_id] != "active":
                raise Conflict(f"run {run_id!r} is deleted; nothing can be logged to it")

    def _require_run(self, conn: Connection, run_id: str) -> None:
        if conn.execute(select(t.runs.c.run_id).where(t.runs.c.run_id == run_id)).first() is None:
            raise NotFound(f"run {run_id!r} does not exist")

    def log_inputs(self, run_id: str, inputs: Sequence[DatasetInput]) -> None:
        v.check_run_id(run_id)
        for item in inputs:
            v.check_name(item.dataset.name, "dataset name")
            v.check_key(item.context, "dataset context")
        now = self.clock()

        def work(conn: Connection) -> None:
            self._check_runs_writable(conn, [run_id])
            for item in inputs:
                ds = item.dataset
                d = t.datasets.c
                dataset_id = conn.execute(
                    select(d.dataset_id).where(d.name == ds.name, d.digest == ds.digest)
                ).scalar()
                if dataset_id is None:
                    dataset_id = conn.execute(
                        insert(t.datasets)
                        .values(
                            name=ds.name,
                            digest=ds.digest,
                            num_rows=ds.num_rows,
                            num_columns=ds.num_columns,
                            schema=json.dumps([c.model_dump() for c in ds.schema_]),
                            source=ds.source,
                            created_at=now,
                        )
                        .returning(t.datasets.c.dataset_id)
                    ).scalar_one()
                exists = conn.execute(
                    select(t.run_inputs.c.run_id).where(
                        t.run_inputs.c.run_id == run_id,
                        t.run_inputs.c.dataset_id == dataset_id,
                        t.run_inputs.c.context == item.context,
                    )
                ).first()
                if exists is None:
                    conn.execute(
                        insert(t.run_inputs).values(
                            run_id=run_id, dataset_id=dataset_id, context=item.context
                        )
                    )

        self.db.write(work)

    # -- artifacts ---------------------------------------------------------------

    def log_artifact(self, run_id: str, path: str, data: bytes) -> ArtifactInfo:
        v.check_run_id(run_id)
        path = canonical_artifact_path(path)
        with self.db.read() as conn:
            self._check_runs_writable(conn, [run_id])
        sha, size = self.artifacts.put_bytes(data)
        return self.record_artifact(run_id, path, sha, size)

    def record_artifact(self, run_id: str, path: str, sha: str, size: int) -> ArtifactInfo:
        """Point ``path`` of the run at a blob already in the artifact store."""
        path = canonical_artifact_path(path)
        now = self.clock()
        dialect = sqlite if self.db.dialect == "sqlite" else postgresql

        def work(conn: Connection) -> None:
            self._check_runs_writable(conn, [run_id])
            under = conn.execute(
                select(t.artifacts.c.path)
                .where(
                    t.artifacts.c.run_id == run_id,
                    t.artifacts.c.path.like(like_prefix(path) + "/%", escape="\\"),
                )
                .limit(1)
            ).first()
            if under is not None:
                raise Conflict(f"artifact path {path!r} of run {run_id} is a folder")
            stmt = dialect.insert(t.artifacts)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["run_id", "path"],
                    set_={"sha256": sha, "size": size, "created_at": now},
                ),
                {"run_id": run_id, "path": path, "sha256": sha, "size": size, "created_at": now},
            )

        self.db.write(work)
        return ArtifactInfo(path=path, size=size, sha256=sha)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[ArtifactInfo]:
        """Files and folders directly under ``path`` of the run."""
        v.check_run_id(run_id)
        prefix = canonical_prefix(path)
        a = t.artifacts.c
        query = select(a.path, a.size, a.sha256).where(a.run_id == run_id).order_by(a.path)
        if prefix:
            query = query.where(a.path.like(like_prefix(prefix) + "/%", escape="\\"))
        with self.db.read() as conn:
            self._require_run(conn, run_id)
            rows = conn.execute(query).all()
        start = len(prefix) + 1 if prefix else 0
        seen: dict[str, ArtifactInfo] = {}
        for full, size, sha in rows:
            rest = full[start:]
            head, sep, _ = rest.partition("/")
            name = f"{prefix}/{head}" if prefix else head
            if sep:
                seen.setdefault(name, ArtifactInfo(path=name, is_dir=True))
            else:
                seen[name] = ArtifactInfo(path=name, size=size, sha256=sha)
        return list(seen.values())

    def artifact_files(self, run_id: str, folder: str) -> dict[str, str]:
        """Every file below ``folder`` of the run, by path relative to it, with its sha256."""
        v.check_run_id(run_id)
        prefix = canonical_prefix(folder)
        a = t.artifacts.c
        with self.db.read() as conn:
            self._require_run(conn, run_id)
            rows = conn.execute(
                select(a.path, a.sha256).where(
                    a.run_id == run_id, a.path.like(like_prefix(prefix) + "/%", escape="\\")
                )
            ).all()
        return {path[len(prefix) + 1 :]: sha for path, sha in rows}

    def artifact_sha(self, run_id: str, path: str) -> str:
        v.check_run_id(run_id)
        path = canonical_artifact_path(path)
        with self.db.read() as conn:
            sha = conn.execute(
                select(t.artifacts.c.sha256).where(
                    t.artifacts.c.run_id == run_id, t.artifacts.c.path == path
                )
            ).scalar()
            if sha is None:
                self._require_run(conn, run_id)
                raise NotFound(f"run {run_id} has no artifact {path!r}")
        return str(sha)

    def read_artifact(self, run_id: str, path: str) -> bytes:
        return self.artifacts.get_bytes(self.artifact_sha(run_id, path))
